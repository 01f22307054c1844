"""Placeholder demo until the notation demo lands."""

print("einx_typed demo: under construction")

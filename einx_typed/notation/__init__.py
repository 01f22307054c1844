"""einx notation: parse, hoist, expand and solve op strings; pure Python."""

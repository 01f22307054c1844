"""Dtype rules that every backend enforces the same way."""

from __future__ import annotations

from einx_typed.errors import OperationError

__all__ = ["bool_subtraction"]


def bool_subtraction() -> OperationError:
    """The error for ``subtract`` on operands that are all bool (NumPy refuses it too)."""
    return OperationError(
        "subtract is not defined when every operand is bool.",
        hint="Use logical_and/logical_or or not_equal for masks, or cast the operands to an "
        "integer dtype first.",
    )

"""Errors that every backend raises the same way, with the same words.

The engine adds the call's op string and shapes to an error raised while a plan runs.
"""

from __future__ import annotations

from einx_typed.errors import OperationError

__all__ = ["bool_subtraction", "index_out_of_range", "wrong_rng"]


def bool_subtraction() -> OperationError:
    """The error for ``subtract`` on operands that are all bool (NumPy refuses it too)."""
    return OperationError(
        "subtract is not defined when every operand is bool.",
        hint="Use logical_and/logical_or or not_equal for masks, or cast the operands to an "
        "integer dtype first.",
    )


def index_out_of_range(error: IndexError) -> OperationError:
    """The error for an index outside the indexed axis (the backend's ``error`` says which)."""
    return OperationError(
        f"An index lies outside the indexed axis: {error}.",
        hint="Indices must lie in [-n, n) for an axis of length n (negative ones count from "
        "the end). JAX clamps or drops out-of-range indices instead of raising.",
    )


def wrong_rng(library: str, expected: str, rng: object) -> OperationError:
    """The error for a dropout generator that the input's library cannot draw from."""
    got = "None" if rng is None else f"{type(rng).__module__}.{type(rng).__qualname__}"
    return OperationError(
        f"Dropout on a {library} input needs rng to be {expected}, got {got}.",
        hint="Pass the random generator of the input's library as rng=.",
    )

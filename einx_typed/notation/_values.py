"""Axis values given by keyword (``c2=32``, ``s=(4, 2)``), checked and normalised."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeAlias

from einx_typed.errors import SolveError

__all__ = ["AxisValue", "normalize_axis_values", "value_shape"]

if TYPE_CHECKING:
    #: An axis length, or nested tuples of lengths for axes inside ellipses.
    AxisValue: TypeAlias = int | tuple["AxisValue", ...]
else:
    # The same at run time, without the recursive forward reference that runtime type
    # checkers (typeguard) cannot resolve.
    AxisValue = int | tuple


def normalize_axis_values(values: Mapping[str, object]) -> dict[str, AxisValue]:
    """Check axis values and convert them to ints and nested tuples of ints.

    Accepts ints, NumPy integer scalars and arrays (a 0-d array counts as an int), and
    nested lists/tuples of those.  Rejects bools, floats, strings, lengths ``<= 0`` and
    ragged nesting.
    """
    result: dict[str, AxisValue] = {}
    for name, value in values.items():
        converted = _convert(name, value, value)
        value_shape(name, converted)
        result[name] = converted
    return result


def _invalid(name: str, original: object, reason: str) -> SolveError:
    return SolveError(
        f"Invalid value {original!r} for axis '{name}': {reason}.",
        hint=f"Pass {name}=<positive int>, or a tuple of positive ints for an axis inside an "
        "ellipsis.",
    )


def _convert(name: str, value: object, original: object) -> AxisValue:
    if isinstance(value, bool):
        raise _invalid(name, original, "a bool is not an axis length")
    if isinstance(value, int):
        if value <= 0:
            raise _invalid(name, original, "axis lengths must be positive")
        return int(value)
    if isinstance(value, list | tuple):
        return tuple(_convert(name, item, original) for item in value)
    if isinstance(value, float | complex | str | bytes):
        raise _invalid(name, original, f"a {type(value).__name__} is not an axis length")
    to_list = getattr(value, "tolist", None)
    if callable(to_list) and hasattr(value, "dtype"):
        # NumPy (and similar) integer scalars and arrays; 0-d arrays become plain ints.
        kind = getattr(value.dtype, "kind", "i")
        if kind not in ("i", "u"):
            raise _invalid(name, original, f"the array has dtype {value.dtype}, not an integer")
        return _convert(name, to_list(), original)
    raise _invalid(name, original, f"a {type(value).__name__} is not an axis length")


def value_shape(name: str, value: AxisValue) -> tuple[int, ...]:
    """The array shape of a normalised axis value; raises for ragged nesting."""
    if isinstance(value, int):
        return ()
    shapes = {value_shape(name, item) for item in value}
    if len(shapes) > 1:
        raise SolveError(
            f"Invalid value {value!r} for axis '{name}': the nesting is ragged.",
            hint="Every nested tuple at the same level needs the same length.",
        )
    inner = shapes.pop() if shapes else ()
    return (len(value), *inner)

"""Field checks shared by the layer specs; every failure is a SpecError naming the field."""

from __future__ import annotations

import math
import reprlib
from collections.abc import Iterable, Mapping
from typing import Final, TypeAlias

import numpy as np

from einx_typed.errors import EinxError, SpecError
from einx_typed.layers._frozen import FrozenMap
from einx_typed.notation import parse_op
from einx_typed.notation.tree import OpString

__all__ = [
    "AXIS_LENGTH_LIMIT",
    "AXIS_VALUE_RULE",
    "AxisValue",
    "axis_value_or_none",
    "check_axes_used",
    "check_bool",
    "check_rate",
    "check_str",
    "freeze_axes",
    "parse_field",
    "show_value",
]

AxisValue: TypeAlias = int | tuple[int, ...]
"""The length of an axis (``c=64``) or of every instance of an ellipsis (``s=(8, 8)``)."""

AXIS_LENGTH_LIMIT: Final = 2**63
"""Axis lengths lie below this bound (that of int64 shapes in every backend)."""


class _ShortRepr(reprlib.Repr):
    """``repr`` cut to a readable length; huge ints by their size (``repr`` refuses them)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxstring = 80
        self.maxother = 80
        self.maxlong = 40

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 1000:
            return f"an int of about {int(x.bit_length() * math.log10(2)) + 1} digits"
        return super().repr_int(x, level)


_SHORT_REPR: Final = _ShortRepr()


def show_value(value: object) -> str:
    """``value`` for an error message: its repr, shortened, safe for any size and depth."""
    return _SHORT_REPR.repr(value)


def parse_field(owner: str, field: str, text: object) -> OpString:
    """Parse the op string of ``owner.field``, turning notation errors into SpecErrors."""
    if not isinstance(text, str):
        raise SpecError(
            f"{owner} field '{field}' must be an op string (str), got {type(text).__name__}.",
            field=field,
        )
    try:
        return parse_op(text)
    except EinxError as err:
        raise SpecError(
            f"{owner} field '{field}' is not valid einx notation: {err.message}",
            expr=err.expr,
            span=err.span,
            hint=err.hint,
            field=field,
        ) from None


def field_error(
    owner: str, field: str, op: OpString, reason: str, hint: str | None = None
) -> SpecError:
    """A SpecError about the expression in ``owner.field``, shown with the expression."""
    return SpecError(f"{owner} field '{field}' {reason}", expr=op.text, hint=hint, field=field)


def check_str(owner: str, field: str, value: object) -> None:
    """``value`` must be a str (checked before it reaches typed helpers)."""
    if not isinstance(value, str):
        raise SpecError(
            f"{owner} field '{field}' must be an op string (str), got {type(value).__name__}.",
            field=field,
        )


def check_bool(owner: str, field: str, value: object) -> None:
    """``value`` must be exactly True or False (not 0/1, not None)."""
    if not isinstance(value, bool):
        raise SpecError(
            f"{owner} field '{field}' must be True or False, got {value!r}.", field=field
        )


def as_float(owner: str, field: str, value: object) -> float:
    """``value`` as a finite float (ints allowed, bools not)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise SpecError(
            f"{owner} field '{field}' must be a number, got {show_value(value)}.", field=field
        )
    try:
        result = float(value)
    except OverflowError:
        raise SpecError(
            f"{owner} field '{field}' must be finite, got {show_value(value)}, which is too "
            "large for a float.",
            field=field,
        ) from None
    if not math.isfinite(result):
        raise SpecError(f"{owner} field '{field}' must be finite, got {value!r}.", field=field)
    return result


def check_rate(owner: str, field: str, value: float, *, low_open: bool) -> None:
    """``value`` must lie in ``[0, 1)`` (or ``(0, 1)`` when ``low_open``)."""
    low_ok = value > 0 if low_open else value >= 0
    if not (low_ok and value < 1):
        interval = "(0, 1)" if low_open else "[0, 1)"
        raise SpecError(
            f"{owner} field '{field}' must lie in {interval}, got {value!r}.", field=field
        )


def axis_value_or_none(value: object) -> AxisValue | None:
    """``value`` as an axis value (lists and arrays become tuples), ``None`` if it is none.

    An axis value is a positive int below :data:`AXIS_LENGTH_LIMIT`, or a tuple of them.
    """

    def one(v: object) -> int | None:
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            return None
        length = int(v)
        return length if 0 < length < AXIS_LENGTH_LIMIT else None

    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        lengths = [one(v) for v in value]
        return None if None in lengths else tuple(n for n in lengths if n is not None)
    return one(value)


AXIS_VALUE_RULE: Final = "an axis value must be a positive int below 2**63 or a tuple of such ints"


def _axis_value(name: str, value: object) -> AxisValue:
    result = axis_value_or_none(value)
    if result is None:
        raise SpecError(
            f"Layer spec field 'axes' has the value {show_value(value)} for axis {name!r}; "
            f"{AXIS_VALUE_RULE}.",
            hint=f"For example {name}=64 or, for an ellipsis, {name}=(8, 8).",
            field="axes",
        )
    return result


def freeze_axes(value: object) -> FrozenMap[str, AxisValue]:
    """Converter of the ``axes`` field: a read-only mapping of validated values."""
    if value is None:
        return FrozenMap()
    if not isinstance(value, Mapping):
        raise SpecError(
            "Layer spec field 'axes' must be a mapping from axis names to values, got "
            f"{show_value(value)}.",
            field="axes",
        )
    out: dict[str, AxisValue] = {}
    for name, v in value.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise SpecError(
                f"Layer spec field 'axes' has the key {show_value(name)}, which is no axis name.",
                field="axes",
            )
        out[name] = _axis_value(name, v)
    return FrozenMap(out)


def check_axes_used(
    owner: str, axes: Mapping[str, AxisValue], used: Iterable[str], exprs: Iterable[str]
) -> None:
    """Every key of ``axes`` must name an axis of one of the layer's expressions."""
    used_set = set(used)
    unknown = [name for name in axes if name not in used_set]
    if unknown:
        shown = ", ".join(repr(e) for e in exprs)
        known = ", ".join(sorted(n for n in used_set if not n.startswith("_anonymous")))
        raise SpecError(
            f"{owner} field 'axes' gives {', '.join(repr(n) for n in unknown)}, which no "
            f"expression of the layer uses ({shown}).",
            axis_values=dict(axes),
            hint=f"The layer's axes are: {known or 'none'}. Check the spelling.",
            field="axes",
        )

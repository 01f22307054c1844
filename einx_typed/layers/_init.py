"""Initialisers as data: framework-neutral descriptions of a parameter's first value.

Binders translate an :data:`InitSpec` into their framework's initialiser;
:func:`sample_init` draws one with numpy (for tests and for numpy users).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeAlias, final

import attrs
import numpy as np

from einx_typed._dtypes import dtype_name, numpy_dtype
from einx_typed.errors import SpecError

__all__ = [
    "LECUN_TRUNCATION_CORRECTION",
    "Constant",
    "InitSpec",
    "LecunTruncatedNormal",
    "Normal",
    "Ones",
    "TruncatedNormal",
    "Zeros",
    "init_for_op",
    "sample_init",
]

LECUN_TRUNCATION_CORRECTION = 0.87962566103423978
"""Standard deviation of a unit normal truncated at +-2: dividing by it restores variance 1."""

_EMBEDDING_STD = 0.02


def _positive_std(instance: object, attribute: Any, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise SpecError(
            f"{type(instance).__name__} field '{attribute.name}' must be a positive finite "
            f"number, got {value}.",
            field=attribute.name,
        )


def _as_float(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise SpecError(
            f"An initialiser value must be a number, got {value!r} for field '{field}'.",
            field=field,
        )
    return float(value)


def _to_value(value: object) -> float:
    return _as_float("value", value)


def _to_std(value: object) -> float:
    return _as_float("std", value)


def _to_mean(value: object) -> float:
    return _as_float("mean", value)


def _to_axes(value: object) -> tuple[int, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise SpecError(
            f"fan_in_axes must be a sequence of dimension indices, got {value!r}.",
            field="fan_in_axes",
        )
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or int(v) < 0:
            raise SpecError(
                f"fan_in_axes must hold non-negative ints, got {value!r}.", field="fan_in_axes"
            )
        out.append(int(v))
    if len(set(out)) != len(out):
        raise SpecError(
            f"fan_in_axes must not repeat a dimension, got {value!r}.", field="fan_in_axes"
        )
    return tuple(out)


@final
@attrs.frozen
class Zeros:
    """All zeros (``add`` parameters: biases, EMA means)."""


@final
@attrs.frozen
class Ones:
    """All ones (``multiply`` parameters: scales, EMA variances)."""


@final
@attrs.frozen
class Constant:
    """Every element equal to ``value``."""

    value: float = attrs.field(converter=_to_value)

    @value.validator
    def _check(self, attribute: Any, value: float) -> None:
        if not math.isfinite(value):
            raise SpecError(f"Constant field 'value' must be finite, got {value}.", field="value")


@final
@attrs.frozen
class Normal:
    """Normal distribution ``N(mean, std**2)`` (embeddings: ``std=0.02``)."""

    std: float = attrs.field(converter=_to_std, validator=_positive_std)
    mean: float = attrs.field(default=0.0, converter=_to_mean)


@final
@attrs.frozen
class TruncatedNormal:
    """``N(mean, std**2)`` cut at ``mean +- 2 std`` (Keras' ``TruncatedNormal``)."""

    std: float = attrs.field(converter=_to_std, validator=_positive_std)
    mean: float = attrs.field(default=0.0, converter=_to_mean)


@final
@attrs.frozen
class LecunTruncatedNormal:
    """LeCun normal for ``dot`` weights: variance ``1 / fan_in``, truncated at +-2 sigma.

    ``fan_in`` is the product of the parameter's dimensions listed in ``fan_in_axes`` (the
    ``in_axis`` that ``dot`` passes to its factory; 1 when empty).
    """

    fan_in_axes: tuple[int, ...] = attrs.field(converter=_to_axes)

    def fan_in(self, shape: Sequence[int]) -> int:
        """The product of ``shape`` over ``fan_in_axes``."""
        if any(axis >= len(shape) for axis in self.fan_in_axes):
            raise SpecError(
                f"LecunTruncatedNormal: fan_in_axes {self.fan_in_axes} do not fit a parameter "
                f"of shape {tuple(shape)}.",
                field="fan_in_axes",
            )
        return math.prod(int(shape[axis]) for axis in self.fan_in_axes)

    def stddev(self, shape: Sequence[int]) -> float:
        """The sigma of the untruncated normal: ``sqrt(1 / fan_in) / 0.8796...``."""
        return math.sqrt(1.0 / self.fan_in(shape)) / LECUN_TRUNCATION_CORRECTION


InitSpec: TypeAlias = Zeros | Ones | Constant | Normal | TruncatedNormal | LecunTruncatedNormal
"""Every initialiser a :class:`~einx_typed.layers.ParamSpec` can carry."""


def init_for_op(op: str, *, in_axis: Sequence[int] = ()) -> InitSpec:
    """The default initialiser of a parameter that an op's factory creates.

    ``add`` gives zeros, ``multiply`` ones, ``dot`` LeCun normal over ``in_axis``,
    ``get_at``/``rearrange`` a normal with std 0.02; other ops have no default.
    """
    if op == "add":
        return Zeros()
    if op == "multiply":
        return Ones()
    if op == "dot":
        return LecunTruncatedNormal(tuple(in_axis))
    if op in ("get_at", "rearrange"):
        return Normal(_EMBEDDING_STD)
    raise SpecError(
        f"There is no default initialiser for a parameter used in the op {op!r}.",
        hint="Pass an explicit init; defaults exist for dot, add, multiply, get_at, rearrange.",
    )


def _truncated(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Unit normal samples cut at +-2 by redrawing the ones outside."""
    out = rng.standard_normal(shape)
    outside = np.abs(out) > 2.0
    while np.any(outside):
        out[outside] = rng.standard_normal(int(np.count_nonzero(outside)))
        outside = np.abs(out) > 2.0
    return out


def sample_init(
    init: InitSpec,
    shape: Sequence[int],
    dtype: str = "float32",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Draw a numpy array of ``shape`` and ``dtype`` from ``init`` (``bfloat16`` through
    ``ml_dtypes``)."""
    shape = tuple(int(d) for d in shape)
    if rng is None:
        rng = np.random.default_rng()
    match init:
        case Zeros():
            values = np.zeros(shape)
        case Ones():
            values = np.ones(shape)
        case Constant(value=value):
            values = np.full(shape, value)
        case Normal(std=std, mean=mean):
            values = mean + std * rng.standard_normal(shape)
        case TruncatedNormal(std=std, mean=mean):
            values = mean + std * _truncated(rng, shape)
        case LecunTruncatedNormal():
            values = init.stddev(shape) * _truncated(rng, shape)
    return np.asarray(values, dtype=numpy_dtype(dtype_name(dtype)))

"""Shape-and-dtype-only arrays: run ops without any framework, like ``jax.eval_shape``.

Ops called with :class:`AbstractArray` inputs return :class:`AbstractArray` outputs.  The
spec layer uses this to resolve layers into parameter shapes; factories called in this mode
may return abstract arrays too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, final

import attrs
import numpy as np

from einx_typed._dtypes import dtype_name, is_floating_name, result_dtype
from einx_typed.backends.base import (
    ElementwiseName,
    NormLayout,
    ReduceName,
    ScatterMode,
    UnaryName,
)

__all__ = ["AbstractArray", "AbstractBackend"]

_COMPARISONS = frozenset(
    {
        "less",
        "less_equal",
        "greater",
        "greater_equal",
        "equal",
        "not_equal",
        "logical_and",
        "logical_or",
    }
)


def _to_shape(value: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(v) for v in value)


def _to_dtype(value: object) -> str:
    return dtype_name(value)


@final
@attrs.frozen
class AbstractArray:
    """An array known only by its shape and dtype, e.g. ``AbstractArray((16, 32), "float32")``."""

    shape: tuple[int, ...] = attrs.field(converter=_to_shape)
    dtype: str = attrs.field(default="float32", converter=_to_dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def _dtype_of(x: object) -> str | type:
    """The dtype name of an abstract or NumPy array, or a Python scalar's type (weak)."""
    if isinstance(x, AbstractArray):
        return x.dtype
    if isinstance(x, (np.ndarray, np.generic)):
        return x.dtype.name
    if isinstance(x, (bool, int, float, complex)):
        return type(x)
    return np.asarray(x).dtype.name


def _shape_of(x: object) -> tuple[int, ...]:
    if isinstance(x, AbstractArray):
        return x.shape
    return tuple(np.shape(x))  # type: ignore[call-overload]


def _abstract(x: object) -> AbstractArray:
    if isinstance(x, AbstractArray):
        return x
    array = np.asarray(x)
    return AbstractArray(array.shape, str(array.dtype))


def _float_of(dtype: str | type) -> str:
    if isinstance(dtype, type):
        return "float64" if dtype in (bool, int, float) else "complex128"
    return "float64" if _is_int_like(dtype) else dtype


def _is_int_like(dtype: str) -> bool:
    return dtype == "bool" or dtype.startswith(("int", "uint"))


@final
class AbstractBackend:
    """Computes only the shapes and dtypes (NumPy promotion rules) of every step."""

    name = "abstract"

    def is_tensor(self, x: object) -> bool:
        return isinstance(x, AbstractArray)

    def asarray(self, x: object, like: Any | None = None) -> AbstractArray:
        return _abstract(x)

    def shape(self, x: Any) -> tuple[int, ...]:
        return _shape_of(x)

    def dtype_name(self, x: Any) -> str:
        dtype = _dtype_of(x)
        return dtype if isinstance(dtype, str) else result_dtype(dtype)

    def is_floating(self, x: Any) -> bool:
        return is_floating_name(self.dtype_name(x))

    def reshape(self, x: Any, shape: tuple[int, ...]) -> AbstractArray:
        x = _abstract(x)
        if math.prod(shape) != x.size:
            raise ValueError(f"cannot reshape an array of shape {x.shape} into {shape}")
        return AbstractArray(shape, x.dtype)

    def transpose(self, x: Any, perm: tuple[int, ...]) -> AbstractArray:
        x = _abstract(x)
        if sorted(perm) != list(range(x.ndim)):
            raise ValueError(f"invalid permutation {perm} for shape {x.shape}")
        return AbstractArray(tuple(x.shape[p] for p in perm), x.dtype)

    def broadcast_to(self, x: Any, shape: tuple[int, ...]) -> AbstractArray:
        x = _abstract(x)
        if np.broadcast_shapes(x.shape, shape) != tuple(shape):
            raise ValueError(f"cannot broadcast shape {x.shape} to {shape}")
        return AbstractArray(shape, x.dtype)

    def concatenate(self, xs: Sequence[Any], axis: int) -> AbstractArray:
        arrays = [_abstract(x) for x in xs]
        shape = list(arrays[0].shape)
        shape[axis] = sum(a.shape[axis] for a in arrays)
        return AbstractArray(tuple(shape), result_dtype(*(a.dtype for a in arrays)))

    def slice_axis(self, x: Any, axis: int, start: int, stop: int) -> AbstractArray:
        x = _abstract(x)
        shape = list(x.shape)
        shape[axis] = len(range(shape[axis])[start:stop])
        return AbstractArray(tuple(shape), x.dtype)

    def einsum(self, subscripts: str, *xs: Any) -> AbstractArray:
        inputs, output = subscripts.split("->")
        lengths: dict[str, int] = {}
        for letters, x in zip(inputs.split(","), xs):
            for letter, length in zip(letters, _shape_of(x)):
                lengths[letter] = length
        dtype = result_dtype(*(_dtype_of(x) for x in xs))
        return AbstractArray(tuple(lengths[c] for c in output), dtype)

    def matmul(self, a: Any, b: Any) -> AbstractArray:
        """The shape rule of ``numpy.matmul``, 1-D operands included."""
        sa, sb = _shape_of(a), _shape_of(b)
        if not sa or not sb:
            raise ValueError(f"matmul of shapes {sa} and {sb}")
        ma = (1, *sa) if len(sa) == 1 else sa
        mb = (*sb, 1) if len(sb) == 1 else sb
        if ma[-1] != mb[-2]:
            raise ValueError(f"matmul of shapes {sa} and {sb}")
        batch = np.broadcast_shapes(ma[:-2], mb[:-2])
        core = (() if len(sa) == 1 else (ma[-2],)) + (() if len(sb) == 1 else (mb[-1],))
        return AbstractArray((*batch, *core), result_dtype(_dtype_of(a), _dtype_of(b)))

    def reduce(self, op: ReduceName, x: Any, axes: tuple[int, ...]) -> AbstractArray:
        x = _abstract(x)
        shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        dtype: str
        if op in ("any", "all"):
            dtype = "bool"
        elif op == "count_nonzero":
            dtype = "int64"
        elif op in ("mean", "var", "std", "logsumexp"):
            dtype = _float_of(x.dtype)
        elif op in ("sum", "prod") and _is_int_like(x.dtype):
            dtype = result_dtype(x.dtype, "int64")
        else:
            dtype = x.dtype
        return AbstractArray(shape, dtype)

    def elementwise(self, op: ElementwiseName, *xs: Any) -> AbstractArray:
        shape = np.broadcast_shapes(*(_shape_of(x) for x in xs))
        operands = xs[1:] if op == "where" else xs
        dtype = result_dtype(*(_dtype_of(x) for x in operands))
        if op in _COMPARISONS:
            return AbstractArray(shape, "bool")
        if op in ("true_divide", "divide", "logaddexp"):
            return AbstractArray(shape, _float_of(dtype))
        return AbstractArray(shape, dtype)

    def softmax(self, x: Any, axes: tuple[int, ...]) -> AbstractArray:
        x = _abstract(x)
        return AbstractArray(x.shape, _float_of(x.dtype))

    def log_softmax(self, x: Any, axes: tuple[int, ...]) -> AbstractArray:
        return self.softmax(x, axes)

    def flip(self, x: Any, axes: tuple[int, ...]) -> AbstractArray:
        return _abstract(x)

    def roll(self, x: Any, shifts: tuple[int, ...], axes: tuple[int, ...]) -> AbstractArray:
        return _abstract(x)

    def arange(self, n: int, dtype: str) -> AbstractArray:
        return AbstractArray((n,), dtype)

    def apply(self, x: Any, func: Callable[..., Any], axes: tuple[int, ...]) -> AbstractArray:
        return _abstract(x)

    def gather(self, x: Any, indices: tuple[Any, ...]) -> AbstractArray:
        x = _abstract(x)
        index_shape = np.broadcast_shapes(*(_shape_of(i) for i in indices))
        return AbstractArray((*index_shape, *x.shape[len(indices) :]), x.dtype)

    def scatter(
        self, x: Any, indices: tuple[Any, ...], updates: Any, mode: ScatterMode
    ) -> AbstractArray:
        return _abstract(x)

    def normalize(
        self,
        x: Any,
        layout: NormLayout,
        scale: Any | None,
        bias: Any | None,
        *,
        epsilon: float,
        center: bool,
        mean: Any | None = None,
        var: Any | None = None,
        with_stats: bool = False,
    ) -> tuple[AbstractArray, AbstractArray | None, AbstractArray | None]:
        x = _abstract(x)
        size = layout.batch * layout.length * layout.channels
        if x.size != size or layout.channels % layout.groups != 0:
            raise ValueError(f"normalisation layout {layout} does not fit shape {x.shape}")
        operands = [x, *(t for t in (scale, bias, mean, var) if t is not None)]
        dtype = _float_of(result_dtype(*(_dtype_of(t) for t in operands)))
        y = AbstractArray(x.shape, dtype)
        if var is not None or not with_stats:
            return y, None, None
        stats = AbstractArray(layout.stats_shape, dtype)
        return y, stats if center else None, stats

    def unary(self, op: UnaryName, x: Any) -> AbstractArray:
        x = _abstract(x)
        return x if op == "square" else AbstractArray(x.shape, _float_of(x.dtype))

    def stop_gradient(self, x: Any) -> AbstractArray:
        return _abstract(x)

    def linear(self, x: Any, weight: Any, bias: Any) -> AbstractArray:
        product = self.matmul(x, weight)
        return self.elementwise("add", product, bias)

    def ema(
        self, olds: tuple[Any, ...], news: tuple[Any, ...], keep: float
    ) -> tuple[AbstractArray, ...]:
        return tuple(_abstract(old) for old in olds)

    def dropout(self, x: Any, drop_rate: float, rng: object) -> AbstractArray:
        return _abstract(x)

    def keep_mask(
        self, rng: object, shape: tuple[int, ...], keep_rate: float, like: Any
    ) -> AbstractArray:
        return AbstractArray(shape, _abstract(like).dtype)

    def split_rng(self, rng: object, index: int) -> object:
        return rng

"""The NumPy backend."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, final

import numpy as np

from einx_typed.backends._errors import bool_subtraction, index_out_of_range, wrong_rng
from einx_typed.backends._plain_norm import PlainNormalize
from einx_typed.backends.base import ElementwiseName, ReduceName, ScatterMode, UnaryName


def _subtract(*xs: Any) -> Any:
    try:
        return np.subtract(*xs)
    except TypeError:
        if all(np.result_type(x) == np.bool_ for x in xs):
            raise bool_subtraction() from None
        raise


_ELEMENTWISE: dict[str, Callable[..., Any]] = {
    "add": np.add,
    "subtract": _subtract,
    "multiply": np.multiply,
    "true_divide": np.true_divide,
    "divide": np.true_divide,
    "floor_divide": np.floor_divide,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "logaddexp": np.logaddexp,
    "where": np.where,
    "less": np.less,
    "less_equal": np.less_equal,
    "greater": np.greater,
    "greater_equal": np.greater_equal,
    "equal": np.equal,
    "not_equal": np.not_equal,
    "logical_and": np.logical_and,
    "logical_or": np.logical_or,
}


def _inexact(x: Any) -> Any:
    """Integer and bool arrays as float64 (NumPy's promotion of ints; bools would fail)."""
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.inexact) else x.astype(np.float64)


def _logsumexp(x: Any, axis: tuple[int, ...]) -> Any:
    peak = np.max(x, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0)
    total = np.sum(np.exp(x - peak), axis=axis, keepdims=True)
    return np.squeeze(np.log(total) + peak, axis=axis)


_REDUCE: dict[str, Callable[..., Any]] = {
    "sum": np.sum,
    "mean": np.mean,
    "var": np.var,
    "std": np.std,
    "prod": np.prod,
    "max": np.max,
    "min": np.min,
    "logsumexp": _logsumexp,
    "any": np.any,
    "all": np.all,
    "count_nonzero": np.count_nonzero,
}


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _gelu(x: Any) -> Any:
    return 0.5 * x * (1 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3)))


_UNARY: dict[str, Callable[[Any], Any]] = {
    "square": np.square,
    "rsqrt": lambda x: 1 / np.sqrt(x),
    "gelu": _gelu,
    "relu": lambda x: np.maximum(x, 0),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
}


def _generator(rng: object) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise wrong_rng("numpy", "a numpy.random.Generator", rng)
    return rng


@final
class NumpyBackend(PlainNormalize):
    """Executes plans with NumPy; results are new arrays or views, never in-place writes."""

    namespace: ClassVar[Any] = np

    name = "numpy"

    def is_tensor(self, x: object) -> bool:
        return isinstance(x, (np.ndarray, np.generic))

    def asarray(self, x: object, like: Any | None = None) -> Any:
        if like is not None and isinstance(x, (bool, int, float)):
            return np.asarray(x, dtype=np.result_type(np.asarray(like).dtype, x))
        return np.asarray(x)

    def shape(self, x: Any) -> tuple[int, ...]:
        return tuple(np.shape(x))

    def dtype_name(self, x: Any) -> str:
        dtype = x.dtype if isinstance(x, (np.ndarray, np.generic)) else np.asarray(x).dtype
        return str(dtype)

    def is_floating(self, x: Any) -> bool:
        return bool(np.issubdtype(np.asarray(x).dtype, np.floating))

    def reshape(self, x: Any, shape: tuple[int, ...]) -> Any:
        return x.reshape(shape)

    def transpose(self, x: Any, perm: tuple[int, ...]) -> Any:
        return x.transpose(perm)

    def broadcast_to(self, x: Any, shape: tuple[int, ...]) -> Any:
        return np.broadcast_to(x, shape)

    def concatenate(self, xs: Sequence[Any], axis: int) -> Any:
        return np.concatenate(list(xs), axis=axis)

    def slice_axis(self, x: Any, axis: int, start: int, stop: int) -> Any:
        index = (slice(None),) * axis + (slice(start, stop),)
        return x[index]

    def einsum(self, subscripts: str, *xs: Any) -> Any:
        return np.einsum(subscripts, *xs, optimize=len(xs) > 2)

    def matmul(self, a: Any, b: Any) -> Any:
        return np.matmul(a, b)

    def reduce(self, op: ReduceName, x: Any, axes: tuple[int, ...]) -> Any:
        return _REDUCE[op](x, axis=axes)

    def elementwise(self, op: ElementwiseName, *xs: Any) -> Any:
        return _ELEMENTWISE[op](*xs)

    def softmax(self, x: Any, axes: tuple[int, ...]) -> Any:
        x = _inexact(x)
        shifted = np.exp(x - np.max(x, axis=axes, keepdims=True))
        return shifted / np.sum(shifted, axis=axes, keepdims=True)

    def log_softmax(self, x: Any, axes: tuple[int, ...]) -> Any:
        x = _inexact(x)
        shifted = x - np.max(x, axis=axes, keepdims=True)
        return shifted - np.log(np.sum(np.exp(shifted), axis=axes, keepdims=True))

    def flip(self, x: Any, axes: tuple[int, ...]) -> Any:
        return np.flip(x, axis=axes)

    def roll(self, x: Any, shifts: tuple[int, ...], axes: tuple[int, ...]) -> Any:
        return np.roll(x, shifts, axis=axes)

    def arange(self, n: int, dtype: str) -> Any:
        return np.arange(n, dtype=dtype)

    def apply(self, x: Any, func: Callable[..., Any], axes: tuple[int, ...]) -> Any:
        return func(x, axis=axes)

    def gather(self, x: Any, indices: tuple[Any, ...]) -> Any:
        try:
            return np.asarray(x)[tuple(indices)]
        except IndexError as error:
            raise index_out_of_range(error) from error

    def scatter(self, x: Any, indices: tuple[Any, ...], updates: Any, mode: ScatterMode) -> Any:
        out = np.array(x, copy=True)
        index = tuple(indices)
        try:
            if mode == "set":
                out[index] = updates
            elif mode == "add":
                np.add.at(out, index, updates)
            else:
                np.subtract.at(out, index, updates)
        except IndexError as error:
            raise index_out_of_range(error) from error
        return out

    def unary(self, op: UnaryName, x: Any) -> Any:
        return np.asarray(_UNARY[op](x))

    def stop_gradient(self, x: Any) -> Any:
        return x

    def linear(self, x: Any, weight: Any, bias: Any) -> Any:
        return np.matmul(x, weight) + bias

    def ema(self, olds: tuple[Any, ...], news: tuple[Any, ...], keep: float) -> tuple[Any, ...]:
        return tuple(old * keep + new * (1.0 - keep) for old, new in zip(olds, news))

    def dropout(self, x: Any, drop_rate: float, rng: object) -> Any:
        return x * self.keep_mask(rng, tuple(np.shape(x)), 1.0 - drop_rate, x)

    def keep_mask(self, rng: object, shape: tuple[int, ...], keep_rate: float, like: Any) -> Any:
        draws = _generator(rng).random(shape)
        return np.asarray((draws < keep_rate) * (1.0 / keep_rate), dtype=np.asarray(like).dtype)

    def split_rng(self, rng: object, index: int) -> object:
        return rng  # a Generator advances with every draw: one is enough for all items

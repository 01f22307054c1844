"""The Keras 3 backend: everything through ``keras.ops`` so KerasTensors trace symbolically."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, final

import keras
from keras import ops

from einx_typed.backends._errors import bool_subtraction, wrong_rng
from einx_typed.backends._plain_norm import PlainNormalize
from einx_typed.backends.base import ElementwiseName, ReduceName, ScatterMode, UnaryName
from einx_typed.errors import OperationError


def _subtract(*xs: Any) -> Any:
    try:
        return ops.subtract(*xs)
    except TypeError:
        dtypes = [keras.backend.standardize_dtype(getattr(x, "dtype", type(x))) for x in xs]
        if all(dtype == "bool" for dtype in dtypes):
            raise bool_subtraction() from None
        raise


_ELEMENTWISE: dict[str, Callable[..., Any]] = {
    "add": ops.add,
    "subtract": _subtract,
    "multiply": ops.multiply,
    "true_divide": ops.true_divide,
    "divide": ops.true_divide,
    "floor_divide": ops.floor_divide,
    "maximum": ops.maximum,
    "minimum": ops.minimum,
    "logaddexp": ops.logaddexp,
    "where": ops.where,
    "less": ops.less,
    "less_equal": ops.less_equal,
    "greater": ops.greater,
    "greater_equal": ops.greater_equal,
    "equal": ops.equal,
    "not_equal": ops.not_equal,
    "logical_and": ops.logical_and,
    "logical_or": ops.logical_or,
}

_REDUCE: dict[str, Callable[..., Any]] = {
    "sum": ops.sum,
    "mean": ops.mean,
    "var": ops.var,
    "std": ops.std,
    "prod": ops.prod,
    "max": ops.max,
    "min": ops.min,
    "logsumexp": ops.logsumexp,
    "any": ops.any,
    "all": ops.all,
    "count_nonzero": ops.count_nonzero,
}


_UNARY: dict[str, Callable[[Any], Any]] = {
    "square": ops.square,
    "rsqrt": ops.rsqrt,
    "gelu": lambda x: ops.gelu(x, approximate=True),
    "relu": ops.relu,
    "silu": ops.silu,
    "tanh": ops.tanh,
    "sigmoid": ops.sigmoid,
}


def _seed(rng: object) -> Any:
    """A seed that ``keras.random`` takes: a ``SeedGenerator``, an int, or ``None``."""
    if rng is None or isinstance(rng, keras.random.SeedGenerator):
        return rng
    if isinstance(rng, int) and not isinstance(rng, bool):
        return rng
    raise wrong_rng("keras", "a keras.random.SeedGenerator, an int seed or None", rng)


OutputSpec = tuple[tuple[int | None, ...], str]
"""The shape (``None`` for unknown lengths) and dtype name of one output."""


@final
class _Deferred(keras.Operation):
    """A Python function as one Keras operation (see :func:`call_deferred`)."""

    def __init__(self, fn: Callable[..., Any], output_spec: Callable[..., Any]) -> None:
        super().__init__(name="einx_typed")
        self._fn = fn
        self._output_spec = output_spec

    def call(self, *args: Any) -> Any:
        return self._fn(*args)

    def compute_output_spec(self, *args: Any) -> Any:
        def symbolic(spec: OutputSpec) -> keras.KerasTensor:
            return keras.KerasTensor(spec[0], dtype=spec[1])

        return _map_specs(symbolic, self._output_spec(*args))


def _map_specs(fn: Callable[[OutputSpec], Any], specs: Any) -> Any:
    if isinstance(specs, dict):
        return {k: _map_specs(fn, v) for k, v in specs.items()}
    if isinstance(specs, tuple) and len(specs) == 2 and isinstance(specs[1], str):
        return fn(specs)
    return tuple(_map_specs(fn, v) for v in specs)


def call_deferred(fn: Callable[..., Any], output_spec: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` as one Keras operation.

    On symbolic tensors (``keras.Input((16,))``, whose batch size is unknown) Keras records
    one node of a functional model, whose outputs ``output_spec(*args)`` describes as
    nested tuples and dicts of :data:`OutputSpec`; when the model runs, ``fn`` gets
    concrete tensors.
    """
    return _Deferred(fn, output_spec)(*args)


@final
class KerasBackend(PlainNormalize):
    """Executes plans with keras.ops (any Keras backend, symbolic or eager)."""

    namespace: ClassVar[Any] = ops

    name = "keras"

    def is_tensor(self, x: object) -> bool:
        return isinstance(x, (keras.KerasTensor, keras.Variable)) or bool(keras.ops.is_tensor(x))

    def asarray(self, x: object, like: Any | None = None) -> Any:
        return ops.convert_to_tensor(x)

    def shape(self, x: Any) -> tuple[int, ...]:
        shape = tuple(x.shape)
        if any(d is None for d in shape):
            raise OperationError(
                f"A Keras tensor of shape {shape} has dimensions of unknown length (None); "
                "einx_typed solves axis lengths from static shapes.",
                hint="Give the symbolic input a fixed shape: keras.Input(shape, batch_size=32).",
            )
        return tuple(int(d) for d in shape)

    def dtype_name(self, x: Any) -> str:
        return str(keras.backend.standardize_dtype(x.dtype))

    def is_floating(self, x: Any) -> bool:
        return self.dtype_name(x).startswith(("float", "bfloat"))

    def _floating(self, x: Any) -> Any:
        """Integer and bool tensors in Keras' float dtype (``keras.config.floatx()``)."""
        return x if self.is_floating(x) else ops.cast(x, keras.config.floatx())

    def reshape(self, x: Any, shape: tuple[int, ...]) -> Any:
        return ops.reshape(x, shape)

    def transpose(self, x: Any, perm: tuple[int, ...]) -> Any:
        return ops.transpose(x, perm)

    def broadcast_to(self, x: Any, shape: tuple[int, ...]) -> Any:
        return ops.broadcast_to(x, shape)

    def concatenate(self, xs: Sequence[Any], axis: int) -> Any:
        return ops.concatenate(list(xs), axis=axis)

    def slice_axis(self, x: Any, axis: int, start: int, stop: int) -> Any:
        shape = list(self.shape(x))
        starts = [0] * len(shape)
        starts[axis] = start
        shape[axis] = stop - start
        return ops.slice(x, starts, shape)

    def einsum(self, subscripts: str, *xs: Any) -> Any:
        return ops.einsum(subscripts, *xs)

    def matmul(self, a: Any, b: Any) -> Any:
        return ops.matmul(a, b)

    def reduce(self, op: ReduceName, x: Any, axes: tuple[int, ...]) -> Any:
        return _REDUCE[op](x, axis=axes)

    def elementwise(self, op: ElementwiseName, *xs: Any) -> Any:
        return _ELEMENTWISE[op](*xs)

    def softmax(self, x: Any, axes: tuple[int, ...]) -> Any:
        x = self._floating(x)
        shifted = ops.exp(x - ops.stop_gradient(ops.max(x, axis=axes, keepdims=True)))
        return shifted / ops.sum(shifted, axis=axes, keepdims=True)

    def log_softmax(self, x: Any, axes: tuple[int, ...]) -> Any:
        x = self._floating(x)
        shifted = x - ops.stop_gradient(ops.max(x, axis=axes, keepdims=True))
        return shifted - ops.logsumexp(shifted, axis=axes, keepdims=True)

    def flip(self, x: Any, axes: tuple[int, ...]) -> Any:
        return ops.flip(x, axis=axes)

    def roll(self, x: Any, shifts: tuple[int, ...], axes: tuple[int, ...]) -> Any:
        for shift, axis in zip(shifts, axes):
            x = ops.roll(x, shift, axis=axis)
        return x

    def arange(self, n: int, dtype: str) -> Any:
        return ops.arange(n, dtype=dtype)

    def apply(self, x: Any, func: Callable[..., Any], axes: tuple[int, ...]) -> Any:
        return func(x, axis=axes)

    def _linear_index(self, x: Any, indices: tuple[Any, ...]) -> tuple[Any, tuple[int, ...]]:
        """Fold ``k`` index tensors into one index into ``x`` reshaped to ``(-1, *rest)``."""
        shape = self.shape(x)
        k = len(indices)
        linear: Any = 0
        for axis, index in enumerate(indices):
            index = ops.cast(ops.convert_to_tensor(index), "int32")
            index = ops.where(index < 0, index + shape[axis], index)
            linear = linear + index * math.prod(shape[axis + 1 : k])
        return linear, shape[k:]

    def gather(self, x: Any, indices: tuple[Any, ...]) -> Any:
        linear, rest = self._linear_index(x, indices)
        flat = ops.reshape(x, (-1, *rest))
        return ops.take(flat, linear, axis=0)

    def scatter(self, x: Any, indices: tuple[Any, ...], updates: Any, mode: ScatterMode) -> Any:
        linear, rest = self._linear_index(x, indices)
        flat = ops.reshape(x, (-1, *rest))
        index_shape = self.shape(linear)
        values = ops.broadcast_to(ops.cast(updates, flat.dtype), (*index_shape, *rest))
        positions = ops.reshape(linear, (-1, 1))
        values = ops.reshape(values, (-1, *rest))
        if mode == "set":
            out = ops.scatter_update(flat, positions, values)
        else:
            delta = ops.scatter(positions, values, self.shape(flat))
            out = flat + delta if mode == "add" else flat - delta
        return ops.reshape(out, self.shape(x))

    def unary(self, op: UnaryName, x: Any) -> Any:
        return _UNARY[op](x)

    def stop_gradient(self, x: Any) -> Any:
        return ops.stop_gradient(x)

    def linear(self, x: Any, weight: Any, bias: Any) -> Any:
        return ops.add(ops.matmul(x, weight), bias)

    def ema(self, olds: tuple[Any, ...], news: tuple[Any, ...], keep: float) -> tuple[Any, ...]:
        # keras.ops throughout: an operator on a backend array and a symbolic tensor fails.
        return tuple(
            ops.stop_gradient(ops.add(ops.multiply(old, keep), ops.multiply(new, 1.0 - keep)))
            for old, new in zip(olds, news)
        )

    def dropout(self, x: Any, drop_rate: float, rng: object) -> Any:
        return keras.random.dropout(x, drop_rate, seed=_seed(rng))

    def keep_mask(self, rng: object, shape: tuple[int, ...], keep_rate: float, like: Any) -> Any:
        draws = keras.random.uniform(shape, seed=_seed(rng))
        return ops.cast(draws < keep_rate, like.dtype) * (1.0 / keep_rate)

    def split_rng(self, rng: object, index: int) -> object:
        return rng  # a SeedGenerator advances with every draw: one is enough for all items

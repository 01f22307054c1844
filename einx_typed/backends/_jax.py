"""The JAX backend: pure jax.numpy, so it works under jit, grad and vmap."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, final

import jax
import jax.numpy as jnp
import numpy as np

from einx_typed.backends import _jax_norm
from einx_typed.backends._errors import bool_subtraction, wrong_rng
from einx_typed.backends.base import (
    ElementwiseName,
    NormLayout,
    ReduceName,
    ScatterMode,
    UnaryName,
)


def _subtract(*xs: Any) -> Any:
    try:
        return jnp.subtract(*xs)
    except TypeError:
        if all(jnp.result_type(x) == jnp.bool_ for x in xs):
            raise bool_subtraction() from None
        raise


_ELEMENTWISE: dict[str, Callable[..., Any]] = {
    "add": jnp.add,
    "subtract": _subtract,
    "multiply": jnp.multiply,
    "true_divide": jnp.true_divide,
    "divide": jnp.true_divide,
    "floor_divide": jnp.floor_divide,
    "maximum": jnp.maximum,
    "minimum": jnp.minimum,
    "logaddexp": jnp.logaddexp,
    "where": jnp.where,
    "less": jnp.less,
    "less_equal": jnp.less_equal,
    "greater": jnp.greater,
    "greater_equal": jnp.greater_equal,
    "equal": jnp.equal,
    "not_equal": jnp.not_equal,
    "logical_and": jnp.logical_and,
    "logical_or": jnp.logical_or,
}

_REDUCE: dict[str, Callable[..., Any]] = {
    "sum": jnp.sum,
    "mean": jnp.mean,
    "var": jnp.var,
    "std": jnp.std,
    "prod": jnp.prod,
    "max": jnp.max,
    "min": jnp.min,
    "logsumexp": jax.nn.logsumexp,
    "any": jnp.any,
    "all": jnp.all,
    "count_nonzero": jnp.count_nonzero,
}


_UNARY: dict[str, Callable[[Any], Any]] = {
    "square": jnp.square,
    "rsqrt": jax.lax.rsqrt,
    "gelu": lambda x: jax.nn.gelu(x, approximate=True),
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
}


def _key(rng: object) -> Any:
    if not isinstance(rng, jax.Array):
        raise wrong_rng("jax", "a JAX PRNG key (jax.random.key or jax.random.PRNGKey)", rng)
    return rng


def _inexact(x: Any) -> Any:
    """Integer and bool arrays in JAX's default float dtype (jax.nn rejects bools)."""
    if jnp.issubdtype(x.dtype, jnp.inexact):
        return x
    return x.astype(jnp.result_type(float))


@final
class JaxBackend:
    """Executes plans with jax.numpy; shapes in plans are static Python ints."""

    name = "jax"

    def is_tensor(self, x: object) -> bool:
        return isinstance(x, jax.Array)

    def asarray(self, x: object, like: Any | None = None) -> Any:
        if like is not None and isinstance(x, (bool, int, float)):
            return jnp.asarray(x, dtype=jnp.result_type(like, x))
        return jnp.asarray(x)

    def shape(self, x: Any) -> tuple[int, ...]:
        return tuple(x.shape)

    def dtype_name(self, x: Any) -> str:
        return str(np.dtype(x.dtype))

    def is_floating(self, x: Any) -> bool:
        return bool(jnp.issubdtype(x.dtype, jnp.floating))

    def reshape(self, x: Any, shape: tuple[int, ...]) -> Any:
        return jnp.reshape(x, shape)

    def transpose(self, x: Any, perm: tuple[int, ...]) -> Any:
        return jnp.transpose(x, perm)

    def broadcast_to(self, x: Any, shape: tuple[int, ...]) -> Any:
        return jnp.broadcast_to(x, shape)

    def concatenate(self, xs: Sequence[Any], axis: int) -> Any:
        return jnp.concatenate(list(xs), axis=axis)

    def slice_axis(self, x: Any, axis: int, start: int, stop: int) -> Any:
        return jax.lax.slice_in_dim(x, start, stop, axis=axis)

    def einsum(self, subscripts: str, *xs: Any) -> Any:
        return jnp.einsum(subscripts, *xs)

    def matmul(self, a: Any, b: Any) -> Any:
        return _matmul(a, b)

    def reduce(self, op: ReduceName, x: Any, axes: tuple[int, ...]) -> Any:
        return _REDUCE[op](x, axis=axes)

    def elementwise(self, op: ElementwiseName, *xs: Any) -> Any:
        return _ELEMENTWISE[op](*xs)

    def softmax(self, x: Any, axes: tuple[int, ...]) -> Any:
        return jax.nn.softmax(_inexact(x), axis=axes)

    def log_softmax(self, x: Any, axes: tuple[int, ...]) -> Any:
        return jax.nn.log_softmax(_inexact(x), axis=axes)

    def flip(self, x: Any, axes: tuple[int, ...]) -> Any:
        return jnp.flip(x, axis=axes)

    def roll(self, x: Any, shifts: tuple[int, ...], axes: tuple[int, ...]) -> Any:
        return jnp.roll(x, shifts, axis=axes)

    def arange(self, n: int, dtype: str) -> Any:
        return jnp.arange(n, dtype=dtype)

    def apply(self, x: Any, func: Callable[..., Any], axes: tuple[int, ...]) -> Any:
        return func(x, axis=axes)

    def gather(self, x: Any, indices: tuple[Any, ...]) -> Any:
        return jnp.asarray(x)[tuple(indices)]

    def scatter(self, x: Any, indices: tuple[Any, ...], updates: Any, mode: ScatterMode) -> Any:
        ref = jnp.asarray(x).at[tuple(indices)]
        if mode == "set":
            return ref.set(updates)
        if mode == "add":
            return ref.add(updates)
        return ref.add(-jnp.asarray(updates))

    def unary(self, op: UnaryName, x: Any) -> Any:
        return _UNARY[op](x)

    def stop_gradient(self, x: Any) -> Any:
        return jax.lax.stop_gradient(x)

    def linear(self, x: Any, weight: Any, bias: Any) -> Any:
        # Eagerly one jitted kernel (matmul and bias add fused), as normalize.
        return (_linear_jit if _concrete(x, weight, bias) else _linear)(x, weight, bias)

    def ema(self, olds: tuple[Any, ...], news: tuple[Any, ...], keep: float) -> tuple[Any, ...]:
        return tuple(
            jax.lax.stop_gradient(old * keep + new * (1.0 - keep)) for old, new in zip(olds, news)
        )

    def dropout(self, x: Any, drop_rate: float, rng: object) -> Any:
        keep = jax.random.bernoulli(_key(rng), 1.0 - drop_rate, jnp.shape(x))
        return jnp.where(keep, x / (1.0 - drop_rate), jnp.zeros((), x.dtype))

    def keep_mask(self, rng: object, shape: tuple[int, ...], keep_rate: float, like: Any) -> Any:
        keep = jax.random.bernoulli(_key(rng), keep_rate, shape)
        return keep.astype(like.dtype) * (1.0 / keep_rate)

    def split_rng(self, rng: object, index: int) -> object:
        # Independent masks per item from one key; anything else is checked where it is used.
        return jax.random.fold_in(rng, index) if isinstance(rng, jax.Array) else rng

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
    ) -> tuple[Any, Any | None, Any | None]:
        """XLA-friendly views and float32 statistics (see ``_jax_norm``).

        On concrete arrays (an eager call, e.g. Flax's ``init``) the whole normalisation
        runs as one jitted function instead of a dozen eager ops: a (16, 56, 56, 32) layer
        norm 17 -> 1.3 ms of CPU time (Flax's eager LayerNorm: 6 ms). Under a trace it is
        inlined into the caller's program.
        """
        eager = _concrete(x, scale, bias, mean, var)
        return (_normalize_jit if eager else _jax_norm.normalize)(
            x,
            layout,
            scale,
            bias,
            epsilon=epsilon,
            center=center,
            mean=mean,
            var=var,
            with_stats=with_stats,
        )


def _concrete(*values: Any) -> bool:
    """Whether no value is a tracer: an eager call, not one inside ``jit``/``grad``/..."""
    return not any(isinstance(v, jax.core.Tracer) for v in values)


def _linear(x: Any, weight: Any, bias: Any) -> Any:
    return _matmul(x, weight) + bias


_linear_jit: Callable[[Any, Any, Any], Any] = jax.jit(_linear)
_normalize_jit: Callable[..., tuple[Any, Any | None, Any | None]] = jax.jit(
    _jax_norm.normalize, static_argnames=("layout", "epsilon", "center", "with_stats")
)


def _matmul(a: Any, b: Any) -> Any:
    """``jnp.matmul`` with the leading axes of ``a`` flattened into one for a 2-D ``b``.

    The same numbers; XLA's CPU gradient of ``b`` then contracts over one axis instead of
    several: ``grad`` of ``(16, 56, 56, 32) @ (32, 64)`` 22 ms -> 8 ms, forward unchanged.
    """
    if jnp.ndim(a) > 2 and jnp.ndim(b) == 2:
        lead = jnp.shape(a)[:-1]
        flat = jnp.reshape(a, (math.prod(lead), jnp.shape(a)[-1]))
        return jnp.reshape(jnp.matmul(flat, b), (*lead, jnp.shape(b)[-1]))
    return jnp.matmul(a, b)

"""The backend primitives that layers call besides the einx ops.

The einx ops cover everything that involves axes; what remains inside the layers is math
on whole tensors (``rsqrt``, activations, the EMA blend, dropout, the fused
normalisation).  Each helper calls the primitive on the backend of its tensor argument, so
resolving (abstract arrays) and tracing (program recording) see it like any op step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from einx_typed.backends import get_backend, tensor_kind
from einx_typed.backends.base import Backend, ElementwiseName, NormLayout, UnaryName
from einx_typed.errors import OperationError

__all__ = [
    "ACTIVATIONS",
    "backend_of",
    "dropout",
    "elementwise",
    "ema",
    "keep_mask",
    "normalize",
    "split_rng",
    "stop_gradient",
    "unary",
]

Tensor = Any

ACTIVATIONS: tuple[str, ...] = ("gelu", "relu", "silu", "tanh", "sigmoid")
"""Pointwise activations by name (``softmax`` needs an axis and is an einx op instead)."""


def backend_of(x: Tensor) -> Backend:
    """The backend whose tensor ``x`` is."""
    kind = tensor_kind(x)
    if kind is None:
        raise OperationError(
            f"Expected a tensor of numpy, JAX, PyTorch or Keras, got {type(x).__name__}."
        )
    return get_backend(kind)


def unary(op: UnaryName, x: Tensor) -> Tensor:
    """Pointwise ``op`` (``square``, ``rsqrt``, or an activation of :data:`ACTIVATIONS`)."""
    return backend_of(x).unary(op, x)


def elementwise(op: ElementwiseName, x: Tensor, other: Tensor | float) -> Tensor:
    """``op(x, other)`` for operands that are aligned already (or a Python number)."""
    return backend_of(x).elementwise(op, x, other)


def stop_gradient(x: Tensor) -> Tensor:
    """``x`` without gradient."""
    return backend_of(x).stop_gradient(x)


def ema(olds: Sequence[Tensor], news: Sequence[Tensor], keep: float) -> list[Tensor]:
    """``keep * old + (1 - keep) * new`` of each pair, without gradient (one kernel on torch)."""
    if not olds:
        return []
    return list(backend_of(olds[0]).ema(tuple(olds), tuple(news), keep))


def dropout(x: Tensor, drop_rate: float, rng: object) -> Tensor:
    """Dropout of single elements, drawing from ``rng``."""
    return backend_of(x).dropout(x, drop_rate, rng)


def keep_mask(rng: object, shape: tuple[int, ...], keep_rate: float, like: Tensor) -> Tensor:
    """A mask of ``shape``: ``1 / keep_rate`` with probability ``keep_rate``, else ``0``."""
    return backend_of(like).keep_mask(rng, shape, keep_rate, like)


def split_rng(rng: object, index: int, like: Tensor) -> object:
    """The generator of item ``index`` of a sequence of layers (``like``: its input)."""
    return backend_of(like).split_rng(rng, index)


def normalize(
    x: Tensor,
    layout: NormLayout,
    scale: Tensor | None,
    bias: Tensor | None,
    *,
    epsilon: float,
    center: bool,
    mean: Tensor | None = None,
    var: Tensor | None = None,
    with_stats: bool = False,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """The backend's fused normalisation (:meth:`~einx_typed.backends.base.Backend.normalize`)."""
    return backend_of(x).normalize(
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

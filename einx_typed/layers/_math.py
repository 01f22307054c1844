"""Shape-preserving math on one array of numpy, JAX or PyTorch (or an abstract array).

The einx ops cover everything that involves axes; what remains inside the layers is
elementwise math on a single tensor (``rsqrt``, activations, the EMA blend).  Each helper
picks the library from the argument's type, imports it only then, and returns an abstract
array of the same shape and dtype when resolving.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from einx_typed.backends.base import NormLayout

__all__ = [
    "ACTIVATIONS",
    "activation",
    "add_scalar",
    "blend",
    "blend_all",
    "clip_min_zero",
    "dropout",
    "library_of",
    "normalize",
    "rsqrt",
    "scale",
    "square",
    "stop_gradient",
    "subtract_same",
]

Tensor = Any
Library = Literal["abstract", "numpy", "jax", "torch"]

ACTIVATIONS: tuple[str, ...] = ("gelu", "relu", "silu", "tanh", "sigmoid")
"""Pointwise activations by name (``softmax`` needs an axis and is an einx op instead)."""

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def library_of(x: Tensor) -> Library:
    """Which library ``x`` belongs to, from its type alone (tracers included)."""
    from einx_typed.backends.abstract import AbstractArray

    if isinstance(x, AbstractArray):
        return "abstract"
    module = type(x).__module__
    if module.startswith("torch"):
        return "torch"
    if module.startswith(("jax", "jaxlib")):
        return "jax"
    return "numpy"


def _same(x: Tensor) -> Tensor:
    from einx_typed.backends.abstract import AbstractArray

    return AbstractArray(tuple(x.shape), x.dtype)


def square(x: Tensor) -> Tensor:
    """``x * x``."""
    if library_of(x) == "abstract":
        return _same(x)
    return x * x


def subtract_same(a: Tensor, b: Tensor) -> Tensor:
    """``a - b`` for tensors of one shape."""
    if library_of(a) == "abstract":
        return _same(a)
    return a - b


def add_scalar(x: Tensor, value: float) -> Tensor:
    """``x + value``."""
    if library_of(x) == "abstract":
        return _same(x)
    return x + value


def scale(x: Tensor, factor: float) -> Tensor:
    """``x * factor``."""
    if library_of(x) == "abstract":
        return _same(x)
    return x * factor


def blend(old: Tensor, new: Tensor, keep: float) -> Tensor:
    """``keep * old + (1 - keep) * new``: one exponential-moving-average step."""
    lib = library_of(old)
    if lib == "abstract":
        return _same(old)
    if lib == "torch" and getattr(new, "dtype", None) == old.dtype:
        import torch

        return torch.lerp(old, new, 1.0 - keep)  # one kernel
    return old * keep + new * (1.0 - keep)


def blend_all(olds: Sequence[Tensor], news: Sequence[Tensor], keep: float) -> list[Tensor]:
    """:func:`blend` of each pair ``(olds[i], news[i])``; one kernel for all on torch."""
    if olds and all(library_of(t) == "torch" for t in (*olds, *news)):
        import torch

        dtypes = {(t.dtype, t.device) for t in (*olds, *news)}
        if len(dtypes) == 1:
            return list(torch._foreach_lerp(list(olds), list(news), 1.0 - keep))
    return [blend(old, new, keep) for old, new in zip(olds, news)]


def clip_min_zero(x: Tensor) -> Tensor:
    """``max(x, 0)``."""
    lib = library_of(x)
    if lib == "abstract":
        return _same(x)
    if lib == "torch":
        return x.clamp_min(0)
    if lib == "jax":
        import jax.numpy as jnp

        return jnp.maximum(x, 0)
    return np.maximum(x, 0)


def dropout(x: Tensor, drop_rate: float) -> Tensor | None:
    """Zero each element with probability ``drop_rate``, scale the rest by ``1 / (1 - rate)``.

    Draws from the library's global generator in one fused kernel (``torch`` only);
    ``None`` for libraries without one (NumPy and JAX need an explicit generator).
    """
    if library_of(x) != "torch":
        return None
    import torch

    return torch.nn.functional.dropout(x, drop_rate, training=True)


def rsqrt(x: Tensor) -> Tensor:
    """``1 / sqrt(x)``."""
    lib = library_of(x)
    if lib == "abstract":
        return _same(x)
    if lib == "torch":
        import torch

        return torch.rsqrt(x)
    if lib == "jax":
        import jax

        return jax.lax.rsqrt(x)
    return 1 / np.sqrt(x)


def stop_gradient(x: Tensor) -> Tensor:
    """``x`` without gradient (EMA updates)."""
    lib = library_of(x)
    if lib == "torch":
        return x.detach()
    if lib == "jax":
        import jax

        return jax.lax.stop_gradient(x)
    return x


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
    from einx_typed.backends import get_backend

    return get_backend(library_of(x)).normalize(
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


def activation(name: str, x: Tensor) -> Tensor:
    """Apply the pointwise activation ``name`` (one of :data:`ACTIVATIONS`).

    ``gelu`` is the tanh approximation on every library (Flax's default), so that a model
    gives the same outputs everywhere.
    """
    lib = library_of(x)
    if lib == "abstract":
        return _same(x)
    if lib == "torch":
        import torch

        torch_fns = {
            "gelu": lambda t: torch.nn.functional.gelu(t, approximate="tanh"),
            "relu": torch.relu,
            "silu": torch.nn.functional.silu,
            "tanh": torch.tanh,
            "sigmoid": torch.sigmoid,
        }
        return torch_fns[name](x)
    if lib == "jax":
        import jax

        jax_fns = {
            "gelu": lambda t: jax.nn.gelu(t, approximate=True),
            "relu": jax.nn.relu,
            "silu": jax.nn.silu,
            "tanh": jax.numpy.tanh,
            "sigmoid": jax.nn.sigmoid,
        }
        return jax_fns[name](x)
    return _numpy_activation(name, np.asarray(x))


def _numpy_activation(name: str, x: np.ndarray) -> np.ndarray:
    if name == "gelu":
        return np.asarray(0.5 * x * (1 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3))))
    if name == "relu":
        return np.asarray(np.maximum(x, 0))
    if name == "silu":
        return np.asarray(x / (1 + np.exp(-x)))
    if name == "tanh":
        return np.asarray(np.tanh(x))
    return np.asarray(1 / (1 + np.exp(-x)))

"""Random keep-masks for dropout from an explicit generator of the input's library."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from einx_typed.errors import OperationError
from einx_typed.layers._math import library_of

__all__ = ["keep_mask_factory", "split_rng"]

Tensor = Any


def _is_jax_key(rng: object) -> bool:
    if "jax" not in sys.modules:
        return False
    import jax

    return isinstance(rng, jax.Array)


def _is_torch_generator(rng: object) -> bool:
    if "torch" not in sys.modules:
        return False
    import torch

    return isinstance(rng, torch.Generator)


def _describe(rng: object) -> str:
    return f"{type(rng).__module__}.{type(rng).__qualname__}"


def keep_mask_factory(
    rng: object, keep_rate: float, like: Tensor
) -> Callable[[Sequence[int]], Tensor]:
    """A tensor factory that draws a scaled keep-mask: ``1 / keep_rate`` or ``0``.

    Each element is kept with probability ``keep_rate``.  ``like`` is the input: the mask
    has its library, dtype and device.  ``rng`` is a ``numpy.random.Generator`` (numpy
    input), a ``torch.Generator`` or ``None`` for the global generator (torch input) or a
    JAX PRNG key (JAX input).
    """
    lib = library_of(like)
    inverse = 1.0 / keep_rate

    def wrong_rng(expected: str) -> OperationError:
        return OperationError(
            f"Dropout on a {lib} input needs rng to be {expected}, got "
            f"{'None' if rng is None else _describe(rng)}.",
            hint="Pass the random generator of the input's library as rng=.",
        )

    def factory(shape: Sequence[int]) -> Tensor:
        dims = tuple(int(d) for d in shape)
        if lib == "abstract":
            from einx_typed.backends.abstract import AbstractArray

            return AbstractArray(dims, like.dtype)
        if lib == "torch":
            import torch

            if rng is not None and not _is_torch_generator(rng):
                raise wrong_rng("a torch.Generator or None")
            if isinstance(rng, torch.Generator):
                draws = torch.rand(dims, generator=rng, device=rng.device).to(like.device)
            else:
                draws = torch.rand(dims, device=like.device)
            return (draws < keep_rate).to(like.dtype) * inverse
        if lib == "jax":
            if not _is_jax_key(rng):
                raise wrong_rng("a JAX PRNG key (jax.random.key or jax.random.PRNGKey)")
            import jax

            keep = jax.random.bernoulli(rng, keep_rate, dims)  # type: ignore[arg-type]
            return keep.astype(like.dtype) * inverse
        if not isinstance(rng, np.random.Generator):
            raise wrong_rng("a numpy.random.Generator")
        return np.asarray((rng.random(dims) < keep_rate) * inverse, dtype=like.dtype)

    return factory


def split_rng(rng: object, index: int) -> object:
    """The generator that item ``index`` of a sequential model uses.

    JAX keys are folded with the index (independent masks per layer); stateful numpy and
    torch generators are shared, since every draw advances them anyway.
    """
    if _is_jax_key(rng):
        import jax

        return jax.random.fold_in(rng, index)  # type: ignore[arg-type]
    return rng

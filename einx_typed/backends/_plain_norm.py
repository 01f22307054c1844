"""Normalisation written once for array namespaces with numpy's API (numpy, keras.ops).

The JAX backend has its own (``_jax_norm``) built on the same :func:`norm_plan`; the torch
backend maps :class:`NormLayout` to its fused kernels instead.

The input is viewed as ``(batch, length, channels)`` without size-1 axes, and statistics
are reduced over ``length`` first, then over each group's channels: under XLA (Keras on
JAX) reductions over size-1 axes compile to slow kernels, and on NumPy the two small
reductions beat one over two strided axes (group norm 5x).
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar, final

import attrs

from einx_typed.backends.base import NormLayout

__all__ = ["NormPlan", "PlainNormalize", "norm_plan"]


def _nonunit(*sizes: int) -> tuple[int, ...]:
    return tuple(n for n in sizes if n != 1)


@final
@attrs.frozen
class NormPlan:
    """A :class:`NormLayout` as arrays without size-1 axes.

    ``view`` is the input as ``(batch?, length?, channels?)`` (``?``: left out when 1);
    ``length_axes`` is where ``length`` is in it (or nothing).  Per-channel values have
    shape ``channel_shape`` ``(batch?, channels?)``, statistics ``stats``
    ``(batch?, groups?)``; ``grouped`` ``(batch?, groups?, group_size?)`` relates the two,
    with the group's channels at ``size_axes``.  ``count`` elements make one statistic.
    """

    view: tuple[int, ...]
    length_axes: tuple[int, ...]
    channel_shape: tuple[int, ...]
    channels: tuple[int, ...]
    grouped: tuple[int, ...]
    size_axes: tuple[int, ...]
    stats: tuple[int, ...]
    count: int

    @property
    def broadcast_shape(self) -> tuple[int, ...]:
        """``channel_shape`` with a 1 for ``length``: broadcasts against ``view``."""
        shape = list(self.channel_shape)
        for axis in self.length_axes:
            shape.insert(axis, 1)
        return tuple(shape)


@functools.lru_cache(maxsize=256)
def norm_plan(layout: NormLayout) -> NormPlan:
    """The :class:`NormPlan` of ``layout``."""
    batch, length, size = layout.batch, layout.length, layout.group_size
    grouped = _nonunit(batch, layout.groups, size)
    return NormPlan(
        view=_nonunit(batch, length, layout.channels),
        length_axes=(len(_nonunit(batch)),) if length != 1 else (),
        channel_shape=_nonunit(batch, layout.channels),
        channels=_nonunit(layout.channels),
        grouped=grouped,
        size_axes=(len(grouped) - 1,) if size != 1 else (),
        stats=_nonunit(batch, layout.groups),
        count=length * size,
    )


class PlainNormalize:
    """Mixin: ``Backend.normalize`` in plain array math on the class's ``namespace``."""

    namespace: ClassVar[Any]

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
        """Plain math in the input's dtype; two-pass population variance."""
        xp = self.namespace
        plan = norm_plan(layout)
        v = xp.reshape(x, plan.view)

        def stat_mean(t: Any) -> Any:
            for axis in plan.length_axes:
                t = xp.sum(t, axis=axis)
            t = xp.reshape(t, plan.grouped)
            for axis in plan.size_axes:
                t = xp.sum(t, axis=axis)
            return t * (1 / plan.count)

        def full(stat: Any) -> Any:
            """Statistics ``(batch?, groups?)`` reshaped to broadcast against ``v``."""
            if layout.groups == 1 and layout.group_size != 1:  # one statistic per row
                return xp.reshape(stat, (*plan.broadcast_shape[:-1], 1))
            if plan.size_axes:  # repeated over each group's channels
                stat = xp.broadcast_to(xp.reshape(stat, (*plan.stats, 1)), plan.grouped)
            return xp.reshape(stat, plan.broadcast_shape)

        batch_stats = var is None
        if var is None:
            mean = stat_mean(v) if center else None
            centered = v if mean is None else v - full(mean)
            var = stat_mean(xp.square(centered))
        else:
            var = xp.reshape(var, plan.stats)
            mean = None if mean is None or not center else xp.reshape(mean, plan.stats)
            centered = v if mean is None else v - full(mean)
        mul = full(1 / xp.sqrt(var + epsilon))
        if scale is not None:
            mul = mul * xp.reshape(scale, plan.channels)
        y = centered * mul
        if bias is not None:
            y = y + xp.reshape(bias, plan.channels)
        y = xp.reshape(y, tuple(xp.shape(x)))
        if not (batch_stats and with_stats):
            return y, None, None
        return (
            y,
            None if mean is None else xp.reshape(mean, layout.stats_shape),
            xp.reshape(var, layout.stats_shape),
        )

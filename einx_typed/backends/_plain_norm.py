"""Normalisation written once for array namespaces with numpy's API (numpy, jax.numpy, keras.ops).

Backends whose compiler fuses elementwise code (XLA) or that have no fused kernel use this;
the torch backend maps the same :class:`NormLayout` to its fused kernels instead.
"""

from __future__ import annotations

from typing import Any, ClassVar

from einx_typed.backends.base import NormLayout

__all__ = ["PlainNormalize"]


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
        """Plain math (XLA fuses it under jit); two-pass population variance."""
        xp = self.namespace
        shape = tuple(xp.shape(x))
        xg = xp.reshape(x, (layout.batch, layout.length, layout.groups, layout.group_size))
        stats = (layout.batch, 1, layout.groups, 1)
        batch_stats = var is None
        if var is None:
            mean = xp.mean(xg, axis=(1, 3), keepdims=True) if center else None
            if center:
                var = xp.var(xg, axis=(1, 3), keepdims=True)
            else:
                var = xp.mean(xg * xg, axis=(1, 3), keepdims=True)
        else:
            var = xp.reshape(var, stats)
            mean = None if mean is None or not center else xp.reshape(mean, stats)
        y = xg - mean if mean is not None else xg
        y = y / xp.sqrt(var + epsilon)
        y = xp.reshape(y, (layout.batch, layout.length, layout.channels))
        if scale is not None:
            y = y * xp.reshape(scale, (layout.channels,))
        if bias is not None:
            y = y + xp.reshape(bias, (layout.channels,))
        y = xp.reshape(y, shape)
        if not (batch_stats and with_stats):
            return y, None, None
        return (
            y,
            None if mean is None else xp.reshape(mean, layout.stats_shape),
            xp.reshape(var, layout.stats_shape),
        )

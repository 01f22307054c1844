"""``Backend.normalize`` for JAX, shaped for what XLA compiles well.

The input is viewed as ``(batch, length, channels)`` with every size-1 axis dropped: XLA
on CPU turns reductions over size-1 axes, and the broadcasts back from them, into layout
copies and slow kernels (a layer norm through ``(batch, 1, 1, channels)`` ran 2-3x slower
than Flax's, its gradient up to 20x).  Statistics are reduced in two steps: over
``length`` to one value per batch row and channel (the reduction XLA does fastest, as in
instance and batch norm), then over each group's channels, which is small (group norm
this way is 5-7x faster than reducing both at once, as Flax does).  They are broadcast
back with ``broadcast_in_dim`` from their own shape, never through keep-dims axes.

Everything is computed in float32 (or wider, if the input or parameters are): bfloat16
and float16 inputs are upcast inside the fused kernels, as in Flax.  The output gets the
dtype that promoting the input with the parameters (and given statistics) gives; returned
statistics get the input's dtype.

The variance is the population variance:

* statistics over channels only (layer, RMS and channel-group norm), small inputs, and
  every platform but CPU: two-pass, ``mean((x - mean)^2)``, exact whatever the mean, with
  a derivative rule that leaves out the ``sum(x - mean)`` term, which is zero;
* statistics over a length axis (instance, batch, group norm) of inputs with 4096 or more
  elements on CPU: ``E[x^2] - E[x]^2`` in float32, clipped at 0, exactly as Flax computes
  it by default (``use_fast_variance=True``).  On XLA's CPU kernels a second pass over
  ``x - mean`` made the whole layer 1.5-2x slower than Flax's, and a ``lax.cond`` that
  re-ran it only where cancellation bites cost 0-25% per call in thread scheduling.  Its
  relative error is up to about ``3e-7 * (1 + mean^2 / var)``: 1e-4 for a mean 20
  standard deviations from zero, a few percent at 200.  Centre inputs with such offsets
  first (activations rarely have them).  Where JAX's default backend is the CPU the
  choice is made when tracing; elsewhere ``lax.platform_dependent`` makes it when
  lowering (tracing both branches cost a large group norm 30% more compile time).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from einx_typed.backends._plain_norm import NormPlan, norm_plan
from einx_typed.backends.base import NormLayout

__all__ = ["normalize"]

_ONE_PASS_MIN_SIZE = 1 << 12
"""Smaller inputs get the two-pass variance everywhere: its second pass costs nothing there."""


def _mean(plan: NormPlan, t: Any) -> Any:
    """The mean of ``t`` (``plan.view``) per statistic: over length, then group channels."""
    if plan.length_axes:
        t = jnp.sum(t, plan.length_axes)
    t = jnp.reshape(t, plan.grouped)
    if plan.size_axes:
        t = jnp.sum(t, plan.size_axes)
    return t * (1 / plan.count)


def _per_channel(plan: NormPlan, t: Any) -> Any:
    """Statistics ``(batch?, groups?)`` repeated over each group's channels."""
    if plan.size_axes:
        t = lax.broadcast_in_dim(t, plan.grouped, tuple(range(len(plan.stats))))
    return jnp.reshape(t, plan.channel_shape)


def _full(plan: NormPlan, t: Any) -> Any:
    """Per-channel values ``(batch?, channels?)`` broadcast over ``plan.view``."""
    if not plan.length_axes:
        return t
    kept = tuple(i for i in range(len(plan.view)) if i not in plan.length_axes)
    return lax.broadcast_in_dim(t, plan.view, kept)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _mean_var(plan: NormPlan, v: Any) -> tuple[Any, Any]:
    """Mean and two-pass variance; its derivative skips the zero ``sum(x - mean)`` term."""
    mean = _mean(plan, v)
    return mean, _two_pass_var(plan, v, mean)


@_mean_var.defjvp
def _mean_var_jvp(plan: NormPlan, primals: tuple[Any], tangents: tuple[Any]) -> Any:
    (v,), (dv,) = primals, tangents
    mean, var = _mean_var(plan, v)
    centered = v - _full(plan, _per_channel(plan, mean))
    return (mean, var), (_mean(plan, dv), 2 * _mean(plan, centered * dv))


def _two_pass_var(plan: NormPlan, v: Any, mean: Any) -> Any:
    return _mean(plan, lax.square(v - _full(plan, _per_channel(plan, mean))))


def _one_pass_mean_var(plan: NormPlan, v: Any) -> tuple[Any, Any]:
    """``E[x^2] - E[x]^2``, clipped at 0: Flax's default.

    ``x^2`` comes first: the gradient adds up the terms of ``x``'s uses last to first, and
    this order puts the two broadcast terms (from the output and from the mean) next to
    each other, where XLA merges them; the input gradient is then ``x * a + b``, one
    multiply and add per element, as in Flax.
    """
    square = lax.square(v)
    mean = _mean(plan, v)
    return mean, jnp.maximum(_mean(plan, square) - lax.square(mean), 0)


Statistics = Callable[[NormPlan, Any], tuple[Any, Any]]


def _normalized(
    plan: NormPlan,
    v: Any,
    mean: Any | None,
    var: Any,
    scale: Any | None,
    bias: Any | None,
    epsilon: float,
    *,
    scale_last: bool = False,
) -> Any:
    """``(v - mean) / sqrt(var + epsilon) * scale + bias`` in ``plan.view``.

    The scale joins the per-statistic factor before it is broadcast (one full-size
    multiply), unless ``scale_last``: then the full-size product ``v * rsqrt`` is scaled.
    Centred norms want the former; RMS norms the latter, whose gradient for the scale alone
    (a frozen input, as Keras' ``fit`` asks) then needs no full-size intermediate of
    ``rsqrt * scale`` written and read back.
    """
    mul = _per_channel(plan, lax.rsqrt(var + epsilon))
    if scale is not None and not scale_last:
        mul = mul * scale
    y = v if mean is None else v - _full(plan, _per_channel(plan, mean))
    y = y * _full(plan, mul)
    if scale is not None and scale_last:
        y = y * scale
    return y if bias is None else y + bias


def _inexact_dtype(x: Any) -> Any:
    return x.dtype if jnp.issubdtype(x.dtype, jnp.inexact) else jnp.result_type(float)


def normalize(
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
    """:meth:`einx_typed.backends.base.Backend.normalize` on JAX arrays."""
    x = jnp.asarray(x)
    plan = norm_plan(layout)
    given = var is not None
    if not (given and center):
        mean = None
    dtype = _inexact_dtype(x)
    out_dtype = jnp.result_type(dtype, *(t for t in (scale, bias, mean, var) if t is not None))
    compute = jnp.promote_types(out_dtype, jnp.float32)
    v = jnp.reshape(x, plan.view).astype(compute)
    if scale is not None:
        scale = jnp.reshape(scale, plan.channels).astype(compute)
    if bias is not None:
        bias = jnp.reshape(bias, plan.channels).astype(compute)

    def run(statistics: Statistics) -> Callable[[Any], tuple[Any, Any, Any]]:
        def normalize_batch(v: Any) -> tuple[Any, Any, Any]:
            mean, var = statistics(plan, v)
            return _normalized(plan, v, mean, var, scale, bias, epsilon), mean, var

        return normalize_batch

    if var is not None:
        var = jnp.reshape(var, plan.stats).astype(compute)
        mean = None if mean is None else jnp.reshape(mean, plan.stats).astype(compute)
        y = _normalized(plan, v, mean, var, scale, bias, epsilon)
    elif not center:
        var = _mean(plan, lax.square(v))
        y = _normalized(plan, v, None, var, scale, bias, epsilon, scale_last=True)
    elif not plan.length_axes or v.size < _ONE_PASS_MIN_SIZE:
        y, mean, var = run(_mean_var)(v)
    elif jax.default_backend() == "cpu":
        # Only CPUs here: no branch per platform, whose tracing (both branches, forward and
        # gradient) cost a large group norm 1.3x of Flax's compile time.
        y, mean, var = run(_one_pass_mean_var)(v)
    else:
        # The whole layer per platform, not only its statistics: otherwise the gradient of
        # the statistics comes out of the branch as one term, which XLA cannot merge with
        # the output's (see _one_pass_mean_var).
        y, mean, var = lax.platform_dependent(
            v, cpu=run(_one_pass_mean_var), default=run(_mean_var)
        )
    y = jnp.reshape(y.astype(out_dtype), x.shape)
    if given or not with_stats:
        return y, None, None
    stats = layout.stats_shape
    return (
        y,
        None if mean is None else jnp.reshape(mean.astype(dtype), stats),
        jnp.reshape(var.astype(dtype), stats),
    )

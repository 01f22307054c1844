"""NormSpec: normalisation by statistics over marked axes, with optional EMA (NOTATION 5.1, 5.4)."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Literal, final

import attrs

import einx_typed.ops as ops
from einx_typed.backends.abstract import AbstractArray
from einx_typed.backends.base import NormLayout
from einx_typed.errors import EinxError, SpecError
from einx_typed.layers import _math
from einx_typed.layers._base import (
    Binding,
    LayerSpec,
    ParamTables,
    axes_subset,
    resolve_single,
    static_tables_by_probing,
)
from einx_typed.layers._exprs import (
    Items,
    broadcast_against,
    marked_part,
    named_axes,
    require_marker,
    unmarked_part,
)
from einx_typed.layers._frozen import FrozenMap
from einx_typed.layers._init import Ones, Zeros
from einx_typed.layers._resolved import Resolved, Tensor
from einx_typed.layers._validate import (
    AxisValue,
    as_float,
    check_axes_used,
    check_bool,
    check_rate,
    check_str,
    field_error,
    freeze_axes,
    parse_field,
)
from einx_typed.notation import (
    Composition,
    Concat,
    Marker,
    Named,
    Node,
    OpString,
    Unnamed,
    iter_nodes,
    node_length,
    parse_op,
    solve,
)

__all__ = ["NormSpec"]

_OWNER = "NormSpec"


@final
@attrs.frozen
class _StatsPlan:
    """``stats`` reduced by mean/var, and the broadcast back onto the input."""

    names: frozenset[str]
    items: Items
    reduced_items: Items
    broadcast_expr: str


@final
@attrs.frozen
class _ParamsPlan:
    """``params``: where scale and bias live (its marked part)."""

    names: frozenset[str]
    param_items: Items
    broadcast_expr: str


def _single_expression(field: str, op: OpString) -> None:
    if op.outputs is not None:
        raise field_error(
            _OWNER, field, op, "must be one expression without '->'.", hint="Write e.g. 'b... [c]'."
        )
    if len(op.inputs) != 1:
        raise field_error(_OWNER, field, op, "must be one expression without ','.")


@functools.lru_cache(maxsize=256)
def _stats_plan(stats: str) -> _StatsPlan:
    op = parse_field(_OWNER, "stats", stats)
    _single_expression("stats", op)
    items = require_marker(
        _OWNER,
        "stats",
        op,
        "marks no axes to compute the statistics over.",
        hint="Put the reduced axes in brackets: 'b... [c]' (layer norm), '[b...] c' (batch norm).",
    )
    reduced = unmarked_part(items)
    return _StatsPlan(
        names=frozenset(named_axes(items)),
        items=items,
        reduced_items=reduced,
        broadcast_expr=broadcast_against(items, reduced),
    )


@functools.lru_cache(maxsize=256)
def _params_plan(params: str) -> _ParamsPlan:
    op = parse_field(_OWNER, "params", params)
    _single_expression("params", op)
    items = require_marker(
        _OWNER,
        "params",
        op,
        "marks no axes for the scale and bias.",
        hint="Put the parameters' axes in brackets: 'b... [c]'.",
    )
    param_items = marked_part(items)
    return _ParamsPlan(
        names=frozenset(named_axes(items)),
        param_items=param_items,
        broadcast_expr=broadcast_against(items, param_items),
    )


_DimKind = tuple[Literal["keep", "reduce", "group"], int]
"""A root dimension: kept, reduced, or ``(g [c])``-split into ``g`` kept groups."""


def _has_marker(node: Node) -> bool:
    return any(isinstance(n, Marker) for n in iter_nodes(node))


def _composition_kind(node: Composition, lengths: Mapping[str, int]) -> _DimKind | None:
    """``(a b)`` kept, ``([a b])`` reduced, ``(g [c])`` grouped; other mixes: ``None``."""
    items = node.items
    split = next((i for i, item in enumerate(items) if _has_marker(item)), len(items))
    if split == len(items):
        return ("keep", 1)
    marked = items[split:]
    if not all(isinstance(n, Marker) and not any(map(_has_marker, n.items)) for n in marked):
        return None
    if split == 0:
        return ("reduce", 1)
    return ("group", math.prod(node_length(n, lengths) for n in items[:split]))


def _dim_kinds(
    text: str, shape: tuple[int, ...], axes: Mapping[str, AxisValue]
) -> list[_DimKind] | None:
    """What the marks of the one-expression ``text`` do to each dimension of ``shape``."""
    op = parse_op(text)
    try:
        solution = solve(op.inputs, [shape], axes, text=op.text, cse=False, check_unknown=False)
    except EinxError:
        return None  # the general path reports it
    expr = solution.exprs[0]
    if any(isinstance(n, Concat) for n in iter_nodes(expr)):
        return None
    kinds: list[_DimKind] = []
    for node in expr.items:
        if isinstance(node, Marker):
            if any(map(_has_marker, node.items)):
                return None
            kinds.extend(("reduce", 1) for _ in node.items)
        elif isinstance(node, Named | Unnamed):
            kinds.append(("keep", 1))
        elif isinstance(node, Composition):
            kind = _composition_kind(node, solution.lengths)
            if kind is None:
                return None
            kinds.append(kind)
        else:
            return None
    return kinds if len(kinds) == len(shape) else None


def _channel_start(spec: NormSpec, shape: tuple[int, ...]) -> int | None:
    """Where the trailing dimensions that scale and bias cover begin (the last one if none)."""
    if not (spec.scale or spec.bias):
        return len(shape) - 1
    plan = _params_plan(spec.params)
    kinds = _dim_kinds(spec.params, shape, axes_subset(spec.axes, plan.names))
    if kinds is None or any(kind == "group" for kind, _ in kinds):
        return None
    marked = [i for i, (kind, _) in enumerate(kinds) if kind == "reduce"]
    if not marked or marked != list(range(marked[0], len(shape))):
        return None
    return marked[0]


def _groups(kinds: Sequence[_DimKind], channels: int) -> int | None:
    """Statistic groups along the channel dimensions: 1 if all reduced, else one dim's split."""
    if all(kind == "reduce" for kind, _ in kinds):
        return 1
    if len(kinds) != 1:
        return None
    kind, groups = kinds[0]
    return channels if kind == "keep" else groups


@functools.lru_cache(maxsize=256)
def _norm_layout(spec: NormSpec, shape: tuple[int, ...]) -> NormLayout | None:
    """``spec`` on ``shape`` as a backend normalisation layout, or ``None`` if it is none.

    It is one when the statistics are taken over (leading kept dims, then reduced dims,
    then the channel dims that scale and bias cover, reduced whole or per group): layer,
    RMS, group, instance and batch norm in channels-last layout.
    """
    if not spec.var:
        return None
    stats_axes = axes_subset(spec.axes, _stats_plan(spec.stats).names)
    kinds = _dim_kinds(spec.stats, shape, stats_axes)
    start = _channel_start(spec, shape)
    if kinds is None or start is None:
        return None
    channels = math.prod(shape[start:])
    groups = _groups(kinds[start:], channels)
    leading = [kind for kind, _ in kinds[:start]]
    kept = leading.index("reduce") if "reduce" in leading else len(leading)
    if groups is None or channels % groups != 0 or "keep" in leading[kept:] or "group" in leading:
        return None
    batch, length = math.prod(shape[:kept]), math.prod(shape[kept:start])
    if length == 1 and groups == channels:
        return None  # nothing is reduced
    stats = ops.mean(spec.stats, AbstractArray(shape, "float32"), **stats_axes)
    if stats.size != batch * groups:
        return None
    return NormLayout(batch, length, channels, groups, tuple(stats.shape))


def _to_float(value: object) -> float:
    return as_float(_OWNER, "epsilon", value)


def _to_rate(value: object) -> float | None:
    return None if value is None else as_float(_OWNER, "decay_rate", value)


@final
@attrs.frozen
class NormSpec(LayerSpec):
    """Normalise over the axes marked in ``stats``; scale and shift over ``params``' marks.

    Layer norm ``NormSpec("b... [c]")``, instance norm ``NormSpec("b [s...] c")``, group norm
    ``NormSpec("b [s...] (g [c])", axes={"g": 8})``, batch norm with EMA statistics
    ``NormSpec("[b...] c", decay_rate=0.9)``, RMS norm
    ``NormSpec("b... [c]", mean=False, bias=False)``.

    Where the statistics run over (kept dims, reduced dims, channel dims reduced whole or
    per group) and scale/bias cover the channel dims -- all of the above -- the layer is
    one backend ``normalize`` call (a single fused kernel on PyTorch), which picks the
    population variance's algorithm itself: Welford or two-pass, except on JAX on CPU,
    where instance, batch and group norm of larger inputs use ``E[x^2] - E[x]^2`` in
    float32, as Flax does (see ``einx_typed.backends._jax_norm``).  ``fastvar``
    (``E[x^2] - E[x]^2``, clipped at 0) applies to the other layouts.  They agree to float
    tolerance unless the mean is far (hundreds of standard deviations) from zero.
    """

    stats: str
    params: str = "b... [c]"
    mean: bool = True
    var: bool = True
    scale: bool = True
    bias: bool = True
    epsilon: float = attrs.field(default=1e-5, converter=_to_float)
    fastvar: bool = True
    decay_rate: float | None = attrs.field(default=None, converter=_to_rate)
    axes: FrozenMap[str, AxisValue] = attrs.field(factory=FrozenMap, converter=freeze_axes)

    def __attrs_post_init__(self) -> None:
        check_str(_OWNER, "stats", self.stats)
        check_str(_OWNER, "params", self.params)
        stats_plan = _stats_plan(self.stats)
        for field in ("mean", "var", "scale", "bias", "fastvar"):
            check_bool(_OWNER, field, getattr(self, field))
        names = set(stats_plan.names)
        exprs = [self.stats]
        if self.scale or self.bias:
            names |= _params_plan(self.params).names
            exprs.append(self.params)
        else:
            parse_field(_OWNER, "params", self.params)
        if self.epsilon < 0:
            raise SpecError(
                f"NormSpec field 'epsilon' must be >= 0, got {self.epsilon!r}.", field="epsilon"
            )
        if self.decay_rate is not None:
            check_rate(_OWNER, "decay_rate", self.decay_rate, low_open=True)
            if not (self.mean or self.var):
                raise SpecError(
                    "NormSpec field 'decay_rate' is set, but mean and var are both False, so "
                    "there are no statistics to average.",
                    hint="Drop decay_rate or enable mean/var.",
                    field="decay_rate",
                )
        check_axes_used(_OWNER, self.axes, names, exprs)

    def _build(self, input_shape: tuple[int, ...], dtype: str) -> Resolved:
        layout = _norm_layout(self, input_shape)
        if layout is None:
            return resolve_single(self, self._forward, input_shape, dtype)

        def forward(
            ctx: Binding, x: Tensor, training: bool, initializing: bool, rng: object
        ) -> tuple[Tensor, dict[str, Tensor]]:
            fused = self._fused_forward(layout, ctx, x, training, initializing)
            if fused is None:
                return self._forward(ctx, x, training, initializing, rng)
            return fused

        return resolve_single(self, forward, input_shape, dtype)

    def variables(self) -> tuple[tuple[str, bool], ...]:
        trainable = [(name, True) for name in ("scale", "bias") if getattr(self, name)]
        if self.decay_rate is None:
            return tuple(trainable)
        state = [(name, False) for name, used in (("mean", self.mean), ("var", self.var)) if used]
        return (*trainable, *state)

    def _floating_input(self) -> bool:
        return True

    def _static_tables(self, dtype: str) -> ParamTables | None:
        stats = _stats_plan(self.stats)
        variables = [stats.reduced_items] if self.decay_rate is not None else []
        if self.scale or self.bias:
            variables.append(_params_plan(self.params).param_items)
        return static_tables_by_probing(self, stats.items, self.axes, dtype, variables)

    def _batch_statistics(self, x: Tensor) -> tuple[Tensor | None, Tensor | None]:
        plan = _stats_plan(self.stats)
        axes = axes_subset(self.axes, plan.names)
        mean = ops.mean(self.stats, x, **axes) if self.mean else None
        if not self.var:
            return mean, None
        if mean is None:
            return None, ops.mean(self.stats, _math.unary("square", x), **axes)
        if self.fastvar:
            mean_of_squares = ops.mean(self.stats, _math.unary("square", x), **axes)
            var = _math.elementwise("subtract", mean_of_squares, _math.unary("square", mean))
            return mean, _math.unary("relu", var)  # E[x^2] - E[x]^2 may round below 0
        return mean, ops.var(self.stats, x, **axes)

    def _fused_forward(
        self, layout: NormLayout, ctx: Binding, x: Tensor, training: bool, initializing: bool
    ) -> tuple[Tensor, dict[str, Tensor]] | None:
        """The forward as one backend ``normalize`` call; ``None`` when given factories.

        Factories (resolution, lazily created parameters) go through the ops, which create
        them.  The backend picks the variance's algorithm whatever ``fastvar`` says (see
        the class docstring).
        """
        params_items = _params_plan(self.params).param_items
        scale = ctx.param("scale", params_items) if self.scale else None
        bias = ctx.param("bias", params_items) if self.bias else None
        if callable(scale) or callable(bias):
            return None
        stats_items = _stats_plan(self.stats).reduced_items
        decay_rate = self.decay_rate
        new_state: dict[str, Tensor] = {}
        if decay_rate is not None and (initializing or not training):
            if self.mean:
                new_state["mean"] = ctx.state("mean", stats_items, Zeros(), None)
            new_state["var"] = ctx.state("var", stats_items, Ones(), None)
            y, _, _ = _math.normalize(
                x,
                layout,
                scale,
                bias,
                epsilon=self.epsilon,
                center=self.mean,
                mean=new_state.get("mean"),
                var=new_state["var"],
            )
            return y, new_state
        y, mean, var = _math.normalize(
            x,
            layout,
            scale,
            bias,
            epsilon=self.epsilon,
            center=self.mean,
            with_stats=decay_rate is not None,
        )
        if decay_rate is not None:
            pairs = {
                name: (ctx.state(name, stats_items, init, batch), batch)
                for name, batch, init in (("mean", mean, Zeros()), ("var", var, Ones()))
                if batch is not None
            }
            emas = [ema for ema, _ in pairs.values()]
            blended = _math.ema(emas, [batch for _, batch in pairs.values()], decay_rate)
            new_state = dict(zip(pairs, blended))
        return y, new_state

    def _forward(
        self, ctx: Binding, x: Tensor, training: bool, initializing: bool, rng: object
    ) -> tuple[Tensor, dict[str, Tensor]]:
        plan = _stats_plan(self.stats)
        stats_axes = axes_subset(self.axes, plan.names)
        use_ema = self.decay_rate is not None and (initializing or not training)
        new_state: dict[str, Tensor] = {}
        mean: Tensor | None = None
        var: Tensor | None = None
        if use_ema:
            if self.mean:
                mean = new_state["mean"] = ctx.state("mean", plan.reduced_items, Zeros(), None)
            if self.var:
                var = new_state["var"] = ctx.state("var", plan.reduced_items, Ones(), None)
        else:
            mean, var = self._batch_statistics(x)
            if self.decay_rate is not None:
                names, emas, batches = [], [], []
                for name, batch, init in (("mean", mean, Zeros()), ("var", var, Ones())):
                    if batch is not None:
                        names.append(name)
                        emas.append(ctx.state(name, plan.reduced_items, init, batch))
                        batches.append(batch)
                new_state = dict(zip(names, _math.ema(emas, batches, self.decay_rate)))
        y = x
        if mean is not None:
            y = ops.subtract(plan.broadcast_expr, y, mean, **stats_axes)
        if var is not None:
            inv_std = _math.unary("rsqrt", _math.elementwise("add", var, self.epsilon))
            y = ops.multiply(plan.broadcast_expr, y, inv_std, **stats_axes)
        if self.scale or self.bias:
            params_plan = _params_plan(self.params)
            params_axes = axes_subset(self.axes, params_plan.names)
            if self.scale:
                scale = ctx.param("scale", params_plan.param_items)
                y = ops.multiply(params_plan.broadcast_expr, y, scale, **params_axes)
            if self.bias:
                bias = ctx.param("bias", params_plan.param_items)
                y = ops.add(params_plan.broadcast_expr, y, bias, **params_axes)
        return y, new_state

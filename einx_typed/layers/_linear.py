"""LinearSpec: ``y = dot(expr, x, weight) + bias`` (NOTATION 5.2)."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import final

import attrs

import einx_typed.ops as ops
from einx_typed.errors import SpecError
from einx_typed.layers._base import (
    Binding,
    LayerSpec,
    ParamTables,
    axes_subset,
    resolve_single,
    static_tables_by_probing,
)
from einx_typed.layers._exprs import Items, demark, has_marker, named_axes, walk_named
from einx_typed.layers._frozen import FrozenMap
from einx_typed.layers._resolved import Resolved, Tensor
from einx_typed.layers._validate import (
    AxisValue,
    check_axes_used,
    check_bool,
    check_str,
    field_error,
    freeze_axes,
    parse_field,
)
from einx_typed.notation import render_items, solve
from einx_typed.notation.tree import (
    Composition,
    Concat,
    EllipsisNode,
    Expr,
    Marker,
    Named,
    Node,
    Unnamed,
)

__all__ = ["LinearSpec"]

_OWNER = "LinearSpec"


@final
@attrs.frozen
class _LinearPlan:
    """The op strings of one Linear expression.

    ``bias_expr`` is ``None`` when the bias cannot be written with the output's ellipses
    (two bias axes repeat together, as in ``b [c1->(h c2)]...``: the bias is
    ``h.0 c2.0 h.1 c2.1``); the bias op is then built per input shape from ``solve_exprs``
    (input, weight, output) by :func:`_expanded_bias`.
    """

    names: frozenset[str]
    input_items: Items
    weight_items: Items
    bias_items: Items
    bias_expr: str | None
    bias_names: frozenset[str]
    solve_exprs: tuple[Expr, Expr, Expr]
    text: str


def _wrap(node: Node, ellipses: Sequence[EllipsisNode]) -> Node:
    for ellipsis in reversed(ellipses):
        node = EllipsisNode(node, ellipsis.ident)
    return node


def _marked_named(
    items: Sequence[Node], marked: bool, ellipses: tuple[EllipsisNode, ...]
) -> Iterator[tuple[Named | Unnamed, bool, tuple[EllipsisNode, ...]]]:
    """Every leaf with whether it is marked and the ellipses around it."""
    for node in items:
        match node:
            case Named() | Unnamed():
                yield node, marked, ellipses
            case Marker(items=inner):
                yield from _marked_named(inner, True, ellipses)
            case Composition(items=inner):
                yield from _marked_named(inner, marked, ellipses)
            case Concat(branches=branches):
                for branch in branches:
                    yield from _marked_named(branch, marked, ellipses)
            case EllipsisNode(inner=inner):
                yield from _marked_named((inner,), marked, (*ellipses, node))


def _implicit_weight(inp: Items, out: Items, owner_error: SpecError) -> Items:
    """NOTATION 3.2: marked named axes of input then output, once each, in their ellipses."""
    weight: list[Node] = []
    seen: set[str] = set()
    for items in (inp, out):
        for leaf, marked, ellipses in _marked_named(items, False, ()):
            if not marked:
                continue
            if isinstance(leaf, Unnamed):
                if leaf.value != 1:
                    raise owner_error
                continue
            if leaf.name not in seen:
                seen.add(leaf.name)
                weight.append(_wrap(Named(leaf.name), ellipses))
    return tuple(weight)


def _bias_items(out: Items, weight_names: set[str]) -> Items:
    """NOTATION 5.2: output axes whose name the weight uses, flattened, in output order."""
    bias: list[Node] = []
    for leaf, _, ellipses in _marked_named(out, False, ()):
        if isinstance(leaf, Named) and leaf.name in weight_names:
            bias.append(_wrap(Named(leaf.name), ellipses))
    return tuple(bias)


@functools.lru_cache(maxsize=256)
def _plan(expr: str) -> _LinearPlan:
    op = parse_field(_OWNER, "expr", expr)
    if op.outputs is None:
        raise field_error(
            _OWNER,
            "expr",
            op,
            "needs '->' between the input and the output, as in 'b... [c1->c2]'.",
        )
    if len(op.outputs) != 1 or len(op.inputs) not in (1, 2):
        raise field_error(
            _OWNER,
            "expr",
            op,
            f"must describe one input (and optionally the weight) and one output; it has "
            f"{len(op.inputs)} input(s) and {len(op.outputs)} output(s).",
        )
    out = op.outputs[0].items
    if len(op.inputs) == 1:
        inp = op.inputs[0].items
        if not (has_marker(inp) or has_marker(out)):
            raise field_error(
                _OWNER,
                "expr",
                op,
                "marks no axes, so the weight would be empty.",
                hint="Put the axes the weight maps between in brackets: 'b... [c1->c2]'.",
            )
        unnamed_error = field_error(
            _OWNER, "expr", op, "marks an unnamed axis other than 1, which a weight cannot use."
        )
        weight = _implicit_weight(inp, out, unnamed_error)
    else:
        if has_marker(out):
            raise field_error(_OWNER, "expr", op, "must not use brackets in the output.")
        weight = demark(op.inputs[1].items)
    out_plain = demark(out)
    weight_names = set(named_axes(weight))
    bias = _bias_items(out_plain, weight_names)
    bias_expr: str | None = None
    if not _bias_needs_expansion(out, weight_names):
        bias_expr = f"{render_items(out_plain)}, {render_items(bias)} -> {render_items(out_plain)}"
    names = {name for e in (*op.inputs, *op.outputs) for name in named_axes(e.items)}
    weight_expr = op.inputs[1] if len(op.inputs) == 2 else Expr(weight)
    return _LinearPlan(
        names=frozenset(names),
        input_items=op.inputs[0].items,
        weight_items=weight,
        bias_items=bias,
        bias_expr=bias_expr,
        bias_names=frozenset(named_axes(out_plain)),
        solve_exprs=(op.inputs[0], weight_expr, op.outputs[0]),
        text=op.text,
    )


def _bias_needs_expansion(out: Items, weight_names: set[str]) -> bool:
    """Whether one ellipsis repeats two bias axes together, or a bracket of several axes.

    ``(h c2)...`` flattens to ``h.0 c2.0 h.1 c2.1`` and ``[h c2]...`` stands for that
    list too; neither has a bracket-free text with ellipses that keeps that order.
    """
    for node in _ellipses(out):
        inner = node.inner
        while isinstance(inner, EllipsisNode):
            inner = inner.inner
        if isinstance(inner, Marker) and len(inner.items) > 1:
            return True
        bias_leaves = [n for n in walk_named((inner,)) if n.name in weight_names]
        if len(bias_leaves) > 1:
            return True
    return False


def _ellipses(items: Sequence[Node]) -> Iterator[EllipsisNode]:
    """Every ellipsis below ``items``, outer ones first."""
    for node in items:
        match node:
            case EllipsisNode(inner=inner):
                yield node
                yield from _ellipses((inner,))
            case Composition(items=inner) | Marker(items=inner):
                yield from _ellipses(inner)
            case Concat(branches=branches):
                for branch in branches:
                    yield from _ellipses(branch)
            case Named() | Unnamed():
                pass


@final
@attrs.frozen
class _BiasOp:
    """The bias of one Linear layer for one input shape, with every ellipsis expanded."""

    items: Items
    expr: str
    lengths: tuple[tuple[str, int], ...]


@functools.lru_cache(maxsize=256)
def _expanded_bias(
    plan: _LinearPlan,
    axes: FrozenMap[str, AxisValue],
    input_shape: tuple[int, ...],
    output_shape: tuple[int, ...],
) -> _BiasOp:
    """The bias op with the output's ellipses written out (``a0 (a1 a2) (a3 a4)``)."""
    solution = solve(
        plan.solve_exprs,
        [input_shape, None, output_shape],
        axes_subset(axes, plan.names),
        text=plan.text,
        cse=False,
        check_unknown=False,
        arguments=1,
    )
    out = solution.exprs[-1].items
    weight_names = set(named_axes(plan.weight_items))
    fresh: dict[str, str] = {}
    for node in walk_named(out):
        fresh.setdefault(node.name, f"a{len(fresh)}")
    bias = [n for n in fresh if n.split(".")[0] in weight_names]
    out_text = render_items(_renamed(demark(out), fresh))
    return _BiasOp(
        items=tuple(Named(name) for name in bias),
        expr=f"{out_text}, {' '.join(fresh[n] for n in bias)} -> {out_text}",
        lengths=tuple((fresh[n], solution.lengths[n]) for n in fresh),
    )


def _renamed(items: Items, names: Mapping[str, str]) -> Items:
    """``items`` (expanded, without brackets) with every axis renamed by ``names``."""
    out: list[Node] = []
    for node in items:
        match node:
            case Named(name=name):
                out.append(Named(names[name]))
            case Composition(items=inner):
                out.append(Composition(_renamed(inner, names)))
            case Concat(branches=branches):
                out.append(Concat(tuple(_renamed(branch, names) for branch in branches)))
            case Unnamed() | Marker() | EllipsisNode():
                out.append(node)
    return tuple(out)


@final
@attrs.frozen
class LinearSpec(LayerSpec):
    """A linear layer: ``dot(expr, x, weight)`` plus a bias over the weight's output axes.

    ``LinearSpec("b... [c1->c2]", axes={"c2": 64})`` maps the last axis to 64 channels;
    ``LinearSpec("b [s...->s2] c", axes={"s2": 64})`` mixes the spatial axes.
    """

    expr: str
    bias: bool = True
    axes: FrozenMap[str, AxisValue] = attrs.field(factory=FrozenMap, converter=freeze_axes)

    def __attrs_post_init__(self) -> None:
        check_str(_OWNER, "expr", self.expr)
        plan = _plan(self.expr)
        check_bool(_OWNER, "bias", self.bias)
        check_axes_used(_OWNER, self.axes, plan.names, [self.expr])

    def variables(self) -> tuple[tuple[str, bool], ...]:
        return (("weight", True), ("bias", True)) if self.bias else (("weight", True),)

    def _build(self, input_shape: tuple[int, ...], dtype: str) -> Resolved:
        return resolve_single(self, self._forward, input_shape, dtype)

    def _static_tables(self, dtype: str) -> ParamTables | None:
        plan = _plan(self.expr)
        variables = (plan.weight_items, plan.bias_items) if self.bias else (plan.weight_items,)
        return static_tables_by_probing(self, plan.input_items, self.axes, dtype, variables)

    def _forward(
        self, ctx: Binding, x: Tensor, training: bool, initializing: bool, rng: object
    ) -> tuple[Tensor, dict[str, Tensor]]:
        plan = _plan(self.expr)
        weight = ctx.param("weight", plan.weight_items)
        y = ops.dot(self.expr, x, weight, **axes_subset(self.axes, plan.names))
        if not self.bias:
            return y, {}
        if plan.bias_expr is not None:
            bias = ctx.param("bias", plan.bias_items)
            y = ops.add(plan.bias_expr, y, bias, **axes_subset(self.axes, plan.bias_names))
            return y, {}
        shapes = tuple(int(d) for d in x.shape), tuple(int(d) for d in y.shape)
        expanded = _expanded_bias(plan, self.axes, *shapes)
        bias = ctx.param("bias", expanded.items)
        return ops.add(expanded.expr, y, bias, **dict(expanded.lengths)), {}

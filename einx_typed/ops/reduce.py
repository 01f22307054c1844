"""The reduce family: ``sum``, ``mean``, ``var``, ``std``, ``max``, ``logsumexp``, ...

Marked axes are reduced jointly.  Without ``->`` the output is the input with every
bracket removed (or replaced by an axis of length 1 with ``keepdims=True``).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Any

from einx_typed.backends.base import REDUCE_NAMES
from einx_typed.errors import OperationError
from einx_typed.notation.tree import Composition, Expr, Marker, Node, Unnamed
from einx_typed.ops._common import (
    build_plan,
    check_operand_count,
    find_node,
    op_name,
    parse,
    reject_concat,
    solve,
)
from einx_typed.ops._engine import Plan, Request, execute
from einx_typed.ops._layout import (
    LeafNamer,
    align,
    check_marking,
    expr_leaves,
    has_marker,
    root_shape,
)
from einx_typed.ops._program import ProgramBuilder

__all__ = [
    "all",
    "any",
    "count_nonzero",
    "logsumexp",
    "max",
    "mean",
    "min",
    "prod",
    "reduce",
    "std",
    "sum",
    "var",
]


def reduce(
    op_string: str,
    *tensors: Any,
    op: str | Callable[..., Any],
    keepdims: bool | None = None,
    backend: str | None = None,
    cse: bool = True,
    **axis_values: Any,
) -> Any:
    """Reduce the marked axes with ``op`` (a name such as ``"mean"``, or e.g. ``np.mean``)."""
    name = op_name(op, REDUCE_NAMES, "reduce", op_string)
    return execute(_plan, name, op_string, tensors, (keepdims,), backend, cse, axis_values)


def _strip_markers(items: Sequence[Node], keepdims: bool) -> tuple[Node, ...]:
    out: list[Node] = []
    for item in items:
        if isinstance(item, Marker):
            if keepdims:
                out.append(Unnamed(1, item.span))
        elif isinstance(item, Composition):
            out.append(Composition(_strip_markers(item.items, keepdims), item.span))
        else:
            out.append(item)
    return tuple(out)


def _plan(request: Request) -> Plan:
    name = request.op
    (keepdims,) = request.params
    op = parse(request)
    check_operand_count(op, op.inputs, request)
    if len(op.inputs) != 1:
        raise OperationError(
            f"{name} reduces one tensor, but the op string has {len(op.inputs)} input expressions.",
            expr=op.text,
            hint="Reduce each tensor in its own call, or combine them first with an "
            "elementwise op.",
        )
    if op.outputs is None:
        if not has_marker(op.inputs[0]):
            raise OperationError(
                f"{name} without '->' reduces the marked axes, but no axis is marked.",
                expr=op.text,
                span=op.inputs[0].span,
                hint=f"Mark the axes to reduce, e.g. {name}('b [c]', x).",
            )
        reject_concat(op, op.inputs, name)
        exprs, lengths = solve(request, op, op.inputs, (), cse_in_markers=True)
        expr = exprs[0]
        if not has_marker(expr):
            raise OperationError(
                f"{name} without '->' reduces the marked axes, but after expanding the "
                "ellipses no axis is marked.",
                expr=op.text,
                span=find_node(op.inputs, Marker).span,
                hint="A marked ellipsis that repeats zero times marks nothing, and brackets "
                "inside an ellipsis that stays unexpanded in a composition (as in '([s]...)') "
                "are lost.",
            )
        out = Expr(_strip_markers(expr.items, bool(keepdims)), expr.span)
        explicit_output = False
    else:
        if keepdims is not None:
            raise OperationError(
                "keepdims cannot be combined with an output expression ('->').",
                expr=op.text,
                hint="Write the kept axes as 1 in the output expression instead.",
            )
        if len(op.outputs) != 1:
            raise OperationError(
                f"{name} has exactly one output expression, got {len(op.outputs)}.",
                expr=op.text,
            )
        marker = find_node(op.outputs, Marker)
        if marker is not None:
            raise OperationError(
                f"The output of {name} cannot contain brackets.",
                expr=op.text,
                span=marker.span,
            )
        reject_concat(op, (*op.inputs, *op.outputs), name)
        exprs, lengths = solve(request, op, op.inputs, op.outputs, cse_in_markers=True)
        expr, out = exprs
        explicit_output = True
    namer = LeafNamer()
    leaves = expr_leaves(expr, lengths, namer)
    if explicit_output:
        out_leaves = expr_leaves(out, lengths, namer)
    else:
        # The same nodes minus the marked ones: unnamed axes such as `2` keep their identity.
        out_leaves = [leaf for leaf in leaves if not leaf.marked]
    out_names = {leaf.name for leaf in out_leaves}
    if explicit_output and not builtins.any(leaf.marked for leaf in leaves):
        leaves = [
            type(leaf)(leaf.name, leaf.length, leaf.name not in out_names, leaf.span)
            for leaf in leaves
        ]
    check_marking(
        op.text,
        leaves,
        out_names,
        marked_kept="Axis '{axis}' is reduced (marked) but also occurs in the output.",
        unmarked_dropped=(
            "Axis '{axis}' does not occur in the output but is not marked for reduction."
        ),
        hint="Mark every axis that is reduced, or mark none at all.",
    )
    if explicit_output and not builtins.any(leaf.marked for leaf in leaves):
        raise OperationError(
            f"{name} reduces no axis: every input axis occurs in the output.",
            expr=op.text,
            hint="Use rearrange to only reorder axes.",
        )
    shape = root_shape(expr, lengths)
    builder = ProgramBuilder([shape])
    value = builder.reshape(0, [leaf.length for leaf in leaves])
    axes = tuple(i for i, leaf in enumerate(leaves) if leaf.marked)
    kept = [leaf for leaf in leaves if not leaf.marked]
    if axes:
        value = builder.emit(
            "reduce",
            (value,),
            tuple(leaf.length for leaf in kept),
            leading=(name,),
            trailing=(axes,),
        )
    value = align(builder, value, kept, out_leaves, broadcast=True)
    value = builder.reshape(value, root_shape(out, lengths))
    return build_plan(request, op, builder, [value], factory_shapes=[shape])


def _make(name: str, doc: str) -> Callable[..., Any]:
    def op(
        op_string: str,
        *tensors: Any,
        keepdims: bool | None = None,
        backend: str | None = None,
        cse: bool = True,
        **axis_values: Any,
    ) -> Any:
        return execute(_plan, name, op_string, tensors, (keepdims,), backend, cse, axis_values)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


sum = _make("sum", 'Sum over the marked axes, e.g. ``sum("b [c]", x)``.')
mean = _make("mean", 'Mean over the marked axes, e.g. ``mean("b... [c]", x)``.')
var = _make("var", "Population variance over the marked axes.")
std = _make("std", "Population standard deviation over the marked axes.")
prod = _make("prod", "Product over the marked axes.")
max = _make("max", "Maximum over the marked axes.")
min = _make("min", "Minimum over the marked axes.")
logsumexp = _make("logsumexp", "``log(sum(exp(x)))`` over the marked axes, computed stably.")
any = _make("any", "Whether any element over the marked axes is true.")
all = _make("all", "Whether all elements over the marked axes are true.")
count_nonzero = _make("count_nonzero", "Number of non-zero elements over the marked axes.")

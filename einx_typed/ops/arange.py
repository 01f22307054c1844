"""``arange``: coordinate grids, e.g. ``arange("c... [2]", c=(4, 3), backend="numpy")``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from einx_typed.errors import OperationError
from einx_typed.notation.tree import Composition, EllipsisNode, Expr, Marker, Node, OpString
from einx_typed.ops._common import build_plan, find_node, parse, solve
from einx_typed.ops._engine import Operand, Plan, Request, execute
from einx_typed.ops._layout import LeafNamer, align, expr_leaves, root_shape
from einx_typed.ops._program import ProgramBuilder
from einx_typed.ops._shorthand import marked_operand

__all__ = ["arange"]


def arange(
    op_string: str,
    *,
    dtype: str = "int32",
    backend: str | None = None,
    cse: bool = True,
    **axis_values: Any,
) -> Any:
    """A grid of coordinates: the marked axis indexes the unmarked (input) axes.

    ``arange("a b [2]", a=5, b=6, backend="numpy")[i, j]`` is ``[i, j]``.
    """
    return execute(_plan, "arange", op_string, (), (dtype,), backend, cse, axis_values)


def _drop_marked(items: Sequence[Node]) -> tuple[Node, ...]:
    out: list[Node] = []
    for item in items:
        if isinstance(item, Marker):
            continue
        if isinstance(item, Composition):
            out.append(Composition(_drop_marked(item.items), item.span))
        elif isinstance(item, EllipsisNode) and isinstance(item.inner, Marker):
            continue
        else:
            out.append(item)
    return tuple(out)


_DTYPES = frozenset(
    {"int8", "int16", "int32", "int64", "uint8", "float16", "bfloat16", "float32", "float64"}
)


def _plan(request: Request) -> Plan:
    from einx_typed.notation import solve as solve_exprs

    (dtype,) = request.params
    op = parse(request)
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise OperationError(
            f"arange needs dtype as the name of an integer or float dtype, got {dtype!r}.",
            expr=op.text,
            hint=f"One of {', '.join(sorted(_DTYPES))}.",
        )
    if len(op.inputs) != 1 or (op.outputs is not None and len(op.outputs) != 1):
        raise OperationError(
            "arange takes one input and at most one output expression.", expr=op.text
        )
    if op.outputs is None:
        source, output = Expr(_drop_marked(op.inputs[0].items), op.inputs[0].span), op.inputs[0]
    else:
        source, output = op.inputs[0], op.outputs[0]
        marker = find_node((source,), Marker)
        if marker is not None:
            raise OperationError(
                "The input of arange cannot contain brackets.", expr=op.text, span=marker.span
            )
    coordinate = marked_operand(op, output, keep_empty=False)
    if not coordinate.items and op.outputs is None:
        return _plain(request, op)
    if len(coordinate.items) != 1:
        raise OperationError(
            "arange needs exactly one marked axis: the coordinate axis.",
            expr=op.text,
            span=output.span,
        )
    first = solve_exprs(
        (source,),
        (None,),
        request.axis_values,
        text=op.text,
        cse=False,
        check_unknown=False,
        arguments=0,
    )
    count = len(expr_leaves(first.exprs[0], first.lengths, LeafNamer()))
    operands = (Operand("factory", None, None), Operand("numpy", (count,), "int64"))
    probe = Request(request.op, request.text, operands, (), request.axis_values, request.cse)
    exprs, lengths = solve(probe, op, (source, coordinate), (output,), arguments=0)
    src, out = exprs[0], exprs[2]
    namer = LeafNamer()
    leaves = expr_leaves(src, lengths, namer)
    out_leaves = expr_leaves(out, lengths, namer)
    marked = [leaf for leaf in out_leaves if leaf.marked]
    if not leaves:
        raise OperationError(
            "arange needs at least one unmarked axis to take coordinates of.", expr=op.text
        )
    output_names = {leaf.name for leaf in out_leaves}
    for leaf in leaves:
        if leaf.name not in output_names:
            raise OperationError(
                f"The input axis {leaf.shown!r} of arange does not occur in the output.",
                expr=op.text,
                span=leaf.span,
                hint="An unnamed axis such as '2' is a new axis wherever it is written; "
                "name it (e.g. 'a', with a=2) to use it in both places."
                if leaf.shown.isdigit()
                else None,
            )
    builder = ProgramBuilder([])
    grid_shape = [leaf.length for leaf in leaves]
    parts: list[int] = []
    for axis, leaf in enumerate(leaves):
        value = builder.emit("arange", (), (leaf.length,), trailing=(leaf.length, dtype))
        shape = [1] * len(leaves) + [1]
        shape[axis] = leaf.length
        value = builder.reshape(value, shape)
        parts.append(builder.broadcast_to(value, [*grid_shape, 1]))
    if len(parts) == 1:
        grid = parts[0]
    else:
        grid = builder.emit(
            "concatenate",
            parts,
            (*grid_shape, len(parts)),
            trailing=(len(leaves),),
            pack=(0, len(parts)),
        )
    grid_leaves = [*leaves, *marked]
    grid = builder.reshape(grid, [leaf.length for leaf in grid_leaves])
    value = align(builder, grid, grid_leaves, out_leaves, broadcast=True)
    value = builder.reshape(value, root_shape(out, lengths))
    return build_plan(request, op, builder, [value], factory_shapes=[])


def _plain(request: Request, op: OpString) -> Plan:
    """``arange("c", c=5)``: one unmarked axis and no coordinate axis is a plain range."""
    (dtype,) = request.params
    exprs, lengths = solve(request, op, (), op.inputs)
    leaves = expr_leaves(exprs[0], lengths, LeafNamer())
    if len(leaves) != 1:
        raise OperationError(
            "arange needs exactly one marked axis: the coordinate axis.",
            expr=op.text,
            hint="Write e.g. arange('a b [2]', a=5, b=6).",
        )
    builder = ProgramBuilder([])
    n = leaves[0].length
    value = builder.emit("arange", (), (n,), trailing=(n, dtype))
    value = builder.reshape(value, root_shape(exprs[0], lengths))
    return build_plan(request, op, builder, [value], factory_shapes=[])

"""``dot``: a generalised einsum; two operands compile to a single matmul."""

from __future__ import annotations

import math
import string
from collections.abc import Mapping, Sequence
from typing import Any

from einx_typed.errors import OperationError
from einx_typed.notation.tree import Expr, Marker, Named, OpString
from einx_typed.ops._common import (
    build_plan,
    check_operand_count,
    find_node,
    parse,
    reject_concat,
    require_arrow,
    solve,
)
from einx_typed.ops._engine import Plan, Request, execute
from einx_typed.ops._layout import (
    Leaf,
    LeafNamer,
    align,
    check_marking,
    expr_leaves,
    root_shape,
)
from einx_typed.ops._program import ProgramBuilder
from einx_typed.ops._shorthand import weight_operand

__all__ = ["dot"]


def dot(
    op_string: str,
    *tensors: Any,
    backend: str | None = None,
    cse: bool = True,
    **axis_values: Any,
) -> Any:
    """Contract tensors, e.g. ``dot("b... [c1->c2]", x, w)`` (``w`` has shape ``(c1, c2)``).

    Marked axes are summed over.  With one input expression and two tensors, the second
    tensor's expression is built from the marked axes (the implicit weight).
    """
    return execute(_plan, "dot", op_string, tensors, (), backend, cse, axis_values)


def _plan(request: Request) -> Plan:
    op = parse(request)
    outputs = require_arrow(op, "dot")
    if len(outputs) != 1:
        raise OperationError(
            f"dot has exactly one output expression, got {len(outputs)}.",
            expr=op.text,
            span=(outputs[0].span[0], outputs[-1].span[1]),
        )
    inputs: tuple[Expr, ...] = op.inputs
    shorthand = len(inputs) == 1 and len(request.operands) == 2
    if shorthand:
        inputs = (inputs[0], weight_operand(op, inputs, outputs))
    check_operand_count(op, inputs, request)
    reject_concat(op, (*inputs, *outputs), "dot")
    if not shorthand:
        marker = find_node(outputs, Marker)
        if marker is not None:
            raise OperationError(
                "The output of dot cannot contain brackets.",
                expr=op.text,
                span=marker.span,
                hint="Mark the contracted axes in the inputs only.",
            )
    exprs, lengths = solve(request, op, inputs, outputs)
    ins, out = exprs[: len(inputs)], exprs[-1]
    namer = LeafNamer()
    in_leaves = [expr_leaves(e, lengths, namer) for e in ins]
    out_leaves = expr_leaves(out, lengths, namer)
    _check_marking(op, in_leaves, out_leaves, ignore_markers=shorthand)

    shapes = [root_shape(e, lengths) for e in ins]
    builder = ProgramBuilder(shapes)
    flat = [
        builder.reshape(i, [leaf.length for leaf in leaves]) for i, leaves in enumerate(in_leaves)
    ]
    if len(ins) == 2:
        result, result_leaves = _matmul(builder, flat, in_leaves, out_leaves)
    else:
        result, result_leaves = _einsum(op, builder, flat, in_leaves, out_leaves)
    result = align(builder, result, result_leaves, out_leaves, broadcast=True)
    result = builder.reshape(result, root_shape(out, lengths))
    return build_plan(
        request,
        op,
        builder,
        [result],
        factory_shapes=shapes,
        factory_kwargs={
            i: _factory_kwargs(ins, out, i)
            for i, operand in enumerate(request.operands)
            if operand.kind == "factory"
        },
        spans=[e.span for e in inputs],
    )


def _check_marking(
    op: OpString, inputs: Sequence[list[Leaf]], output: Sequence[Leaf], *, ignore_markers: bool
) -> None:
    out_names = {leaf.name for leaf in output}
    any_marked = not ignore_markers and any(leaf.marked for leaves in inputs for leaf in leaves)
    if not any_marked:
        return
    check_marking(
        op.text,
        (leaf for leaves in inputs for leaf in leaves),
        out_names,
        marked_kept="Axis '{axis}' is marked (contracted) but also occurs in the output.",
        unmarked_dropped=(
            "Axis '{axis}' does not occur in the output, so it is reduced, but it is not marked."
        ),
        hint="Put the contracted axes in brackets, or mark none at all.",
    )


def _sum_private(
    builder: ProgramBuilder, value: int, leaves: list[Leaf], keep: set[str]
) -> tuple[int, list[Leaf]]:
    """Sum out the axes of one operand that occur nowhere else."""
    axes = tuple(i for i, leaf in enumerate(leaves) if leaf.name not in keep)
    if not axes:
        return value, leaves
    kept = [leaf for leaf in leaves if leaf.name in keep]
    shape = tuple(leaf.length for leaf in kept)
    return builder.emit("reduce", (value,), shape, leading=("sum",), trailing=(axes,)), kept


def _matmul(
    builder: ProgramBuilder,
    values: Sequence[int],
    inputs: Sequence[list[Leaf]],
    output: Sequence[Leaf],
) -> tuple[int, list[Leaf]]:
    out_names = [leaf.name for leaf in output]
    a_names = {leaf.name for leaf in inputs[0]}
    b_names = {leaf.name for leaf in inputs[1]}
    a, a_leaves = _sum_private(builder, values[0], inputs[0], b_names | set(out_names))
    b, b_leaves = _sum_private(builder, values[1], inputs[1], a_names | set(out_names))
    by_name = {leaf.name: leaf for leaf in (*a_leaves, *b_leaves)}
    batch = [n for n in out_names if n in a_names and n in b_names]
    left = [n for n in out_names if n in a_names and n not in b_names]
    right = [n for n in out_names if n in b_names and n not in a_names]
    inner = [leaf.name for leaf in a_leaves if leaf.name in b_names and leaf.name not in batch]

    def arrange(value: int, leaves: list[Leaf], order: list[str]) -> int:
        position = {leaf.name: i for i, leaf in enumerate(leaves)}
        return builder.transpose(value, [position[n] for n in order])

    def size(names: list[str]) -> int:
        return math.prod(by_name[n].length for n in names)

    a = arrange(a, a_leaves, [*batch, *left, *inner])
    b = arrange(b, b_leaves, [*batch, *inner, *right])
    batch_shape = [by_name[n].length for n in batch]
    if batch:
        a = builder.reshape(a, [*batch_shape, size(left), size(inner)])
        result_shape = (*batch_shape, size(left), size(right))
    else:
        left_shape = [by_name[n].length for n in left]
        a = builder.reshape(a, [*left_shape, size(inner)])
        result_shape = (*left_shape, size(right))
    b = builder.reshape(b, [*batch_shape, size(inner), size(right)])
    result = builder.emit("matmul", (a, b), result_shape)
    names = [*batch, *left, *right]
    result = builder.reshape(result, [by_name[n].length for n in names])
    return result, [by_name[n] for n in names]


_LETTERS = string.ascii_letters


def _einsum(
    op: OpString,
    builder: ProgramBuilder,
    values: Sequence[int],
    inputs: Sequence[list[Leaf]],
    output: Sequence[Leaf],
) -> tuple[int, list[Leaf]]:
    letters: dict[str, str] = {}
    by_name: dict[str, Leaf] = {}
    for leaves in inputs:
        for leaf in leaves:
            by_name.setdefault(leaf.name, leaf)
            if leaf.name not in letters:
                if len(letters) == len(_LETTERS):
                    raise OperationError(
                        f"dot supports at most {len(_LETTERS)} distinct axes.", expr=op.text
                    )
                letters[leaf.name] = _LETTERS[len(letters)]
    kept = [leaf for leaf in output if leaf.name in letters]
    subscripts = ",".join("".join(letters[leaf.name] for leaf in leaves) for leaves in inputs)
    subscripts += "->" + "".join(letters[leaf.name] for leaf in kept)
    shape = tuple(leaf.length for leaf in kept)
    return builder.emit("einsum", values, shape, leading=(subscripts,)), kept


def _names(expr: Expr | Any) -> set[str]:
    from einx_typed.notation import axis_names

    return set(axis_names(expr))


def _factory_kwargs(inputs: Sequence[Expr], output: Expr, index: int) -> Mapping[str, Any]:
    from einx_typed.notation import dims

    others: set[str] = set()
    for i, expr in enumerate(inputs):
        if i != index:
            others |= _names(expr)
    out_names = _names(output)
    in_axis: list[int] = []
    out_axis: list[int] = []
    batch_axis: list[int] = []
    for position, dim in enumerate(dims(inputs[index])):
        names = _names(dim) if not isinstance(dim, Named) else {dim.name}
        meets_other, meets_out = bool(names & others), bool(names & out_names)
        if meets_other and not meets_out:
            in_axis.append(position)
        elif meets_out and not meets_other:
            out_axis.append(position)
        else:
            batch_axis.append(position)
    return {
        "name": "weight",
        "init": "dot",
        "in_axis": tuple(in_axis),
        "out_axis": tuple(out_axis),
        "batch_axis": tuple(batch_axis),
    }

"""``rearrange``: reshape, transpose, broadcast, split and concatenate in einx notation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from einx_typed.errors import OperationError
from einx_typed.notation.tree import Concat, OpString
from einx_typed.ops._common import (
    build_plan,
    check_operand_count,
    parse,
    reject_markers,
    require_arrow,
    solve,
)
from einx_typed.ops._engine import Plan, Request, execute
from einx_typed.ops._layout import (
    Leaf,
    LeafNamer,
    align,
    assemble,
    piece_leaves,
    root_shape,
    split,
)
from einx_typed.ops._program import ProgramBuilder

__all__ = ["rearrange"]


def rearrange(
    op_string: str,
    *tensors: Any,
    backend: str | None = None,
    cse: bool = True,
    **axis_values: Any,
) -> Any:
    """Rearrange tensors, e.g. ``rearrange("b (h w) c -> b h w c", x, h=8)``.

    Returns one tensor per output expression (a tuple when there are several).
    """
    return execute(_plan, "rearrange", op_string, tensors, (), backend, cse, axis_values)


def _assign(sources: Sequence[set[str]], targets: Sequence[set[str]]) -> list[int] | None:
    """For each target piece the index of a distinct source piece whose axes it covers."""
    used = [False] * len(sources)
    chosen: list[int] = []

    def search(t: int) -> bool:
        if t == len(targets):
            return True
        for s, names in enumerate(sources):
            if not used[s] and names <= targets[t]:
                used[s] = True
                chosen.append(s)
                if search(t + 1):
                    return True
                used[s] = False
                chosen.pop()
        return False

    return chosen if search(0) else None


def _plan(request: Request) -> Plan:
    op = parse(request)
    outputs = require_arrow(op, "rearrange")
    reject_markers(
        op,
        (*op.inputs, *outputs),
        "rearrange does not use brackets: it marks no axes.",
        "Remove the brackets, or use an op that acts on marked axes (sum, dot, ...).",
    )
    check_operand_count(op, op.inputs, request)
    _reject_empty_branches(op)
    exprs, lengths = solve(request, op, op.inputs, outputs, cse_concat=True)
    inputs, outs = exprs[: len(op.inputs)], exprs[len(op.inputs) :]
    shapes = [root_shape(e, lengths) for e in inputs]
    builder = ProgramBuilder(shapes)
    namer = LeafNamer()
    sources: list[tuple[int, list[Leaf]]] = []
    for index, expr in enumerate(inputs):
        sources.extend(split(builder, index, expr, lengths, namer))
    targets = [leaves for expr in outs for leaves in piece_leaves(expr, lengths, namer)]
    if len(sources) != len(targets):
        raise OperationError(
            f"rearrange needs as many input pieces as output pieces, got {len(sources)} input "
            f"and {len(targets)} output pieces (each operand and each branch of a "
            "concatenation is one piece).",
            expr=op.text,
            hint="rearrange neither duplicates nor drops operands.",
        )
    source_names = [{leaf.name for leaf in leaves} for _, leaves in sources]
    target_names = [{leaf.name for leaf in leaves} for leaves in targets]
    assignment = _assign(source_names, target_names)
    if assignment is None:
        raise _unassignable(op.text, sources, target_names)
    pieces = [
        align(builder, sources[s][0], sources[s][1], targets[t], broadcast=True)
        for t, s in enumerate(assignment)
    ]
    results: list[int] = []
    position = 0
    for expr in outs:
        count = len(piece_leaves(expr, lengths, LeafNamer()))
        results.append(assemble(builder, pieces[position : position + count], expr, lengths, namer))
        position += count
    return build_plan(
        request,
        op,
        builder,
        results,
        factory_shapes=shapes,
        factory_kwargs={i: {"name": "embedding", "init": "rearrange"} for i in range(len(inputs))},
        spans=[e.span for e in op.inputs],
    )


def _unassignable(
    text: str, sources: Sequence[tuple[int, list[Leaf]]], targets: Sequence[set[str]]
) -> OperationError:
    everything = set().union(*targets) if targets else set()
    for _, leaves in sources:
        for leaf in leaves:
            if leaf.name not in everything:
                return OperationError(
                    f"Input axis '{leaf.shown}' does not occur in the output; rearrange cannot "
                    "drop axes.",
                    expr=text,
                    span=leaf.span,
                    hint="Use a reduce op such as sum or mean to remove an axis; an unnamed "
                    "axis other than 1 never matches another axis.",
                )
    return OperationError(
        "rearrange cannot match the input pieces to the output pieces: every output piece "
        "must contain all axes of one input piece.",
        expr=text,
    )


def _reject_empty_branches(op: OpString) -> None:
    from einx_typed.notation import iter_nodes

    for expr in (*op.inputs, *(op.outputs or ())):
        for node in iter_nodes(expr):
            if isinstance(node, Concat) and any(not branch for branch in node.branches):
                raise OperationError(
                    "A concatenation has an empty branch; every branch must be one dimension.",
                    expr=op.text,
                    span=node.span,
                )

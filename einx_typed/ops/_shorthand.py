"""Shorthand expansion on unexpanded trees: implicit operands and inferred outputs.

These rewrite the parsed op string before solving, so implicit operands take part in
solving like written ones (``dot("b... [c1->c2]", x, w)`` reads ``c2`` from ``w``).
"""

from __future__ import annotations

from collections.abc import Sequence

from einx_typed.errors import OperationError
from einx_typed.notation.tree import (
    Composition,
    Concat,
    EllipsisNode,
    Expr,
    Marker,
    Named,
    Node,
    OpString,
    Unnamed,
)

__all__ = ["infer_output", "marked_operand", "weight_operand"]


def weight_operand(op: OpString, inputs: Sequence[Expr], outputs: Sequence[Expr]) -> Expr:
    """The implicit second operand of ``dot``: every marked named axis, once, in order.

    Each axis keeps the ellipses around its first appearance:
    ``b [(s s2)->s]... [c1->c2]`` gives ``s... s2... c1 c2``.
    """
    seen: set[str] = set()
    items: list[Node] = []

    def walk(node: Node, chain: tuple[EllipsisNode, ...], marked: bool) -> None:
        if isinstance(node, Named):
            if marked and node.name not in seen:
                seen.add(node.name)
                wrapped: Node = node
                for ellipsis in reversed(chain):
                    wrapped = EllipsisNode(wrapped, ellipsis.ident, ellipsis.span)
                items.append(wrapped)
        elif isinstance(node, Unnamed):
            if marked and node.value != 1:
                raise OperationError(
                    "The implicit weight of dot cannot contain an unnamed axis other than 1.",
                    expr=op.text,
                    span=node.span,
                    hint="Give the marked axis a name.",
                )
        elif isinstance(node, Composition):
            for item in node.items:
                walk(item, chain, marked)
        elif isinstance(node, Marker):
            for item in node.items:
                walk(item, chain, True)
        elif isinstance(node, Concat):
            for branch in node.branches:
                for item in branch:
                    walk(item, chain, marked)
        else:
            walk(node.inner, (*chain, node), marked)

    for expr in (*inputs, *outputs):
        for item in expr.items:
            walk(item, (), False)
    span = inputs[0].span if inputs else (0, len(op.text))
    return Expr(tuple(items), span)


def _marked_parts(node: Node, op: OpString, inside: bool, keep_empty: bool) -> list[Node]:
    if isinstance(node, Named | Unnamed):
        return [node] if inside else []
    if isinstance(node, Marker):
        return [p for item in node.items for p in _marked_parts(item, op, True, keep_empty)]
    if isinstance(node, Composition):
        parts = [p for item in node.items for p in _marked_parts(item, op, inside, keep_empty)]
        if not parts and not inside and not keep_empty:
            return []
        return [Composition(tuple(parts), node.span)]
    if isinstance(node, Concat):
        if inside or any(_marked_parts(i, op, False, False) for b in node.branches for i in b):
            raise OperationError(
                "Concatenations are not allowed in this op.", expr=op.text, span=node.span
            )
        return []
    inner = _marked_parts(node.inner, op, inside, keep_empty)
    if not inner:
        return []
    if len(inner) != 1:
        raise OperationError(
            "A repeated bracket with several axes such as '[a b]...' cannot be used in the "
            "bracket shorthand.",
            expr=op.text,
            span=node.span,
            hint="Write the second operand's expression explicitly.",
        )
    return [EllipsisNode(inner[0], node.ident, node.span)]


def marked_operand(op: OpString, expr: Expr, *, keep_empty: bool = True) -> Expr:
    """The second operand of the elementwise bracket shorthand: the marked parts of
    ``expr`` with the compositions and ellipses around them (``b... (g [c])`` -> ``(c)``).

    With ``keep_empty`` (einx 0.3.0's rule for the shorthand) every composition stays, one
    without marked axes as ``()``: ``b (h w) [c]`` -> ``() c``, an operand of shape
    ``(1, c)``; without, such compositions are dropped (``c``).  An ellipsis stays when
    its content does.
    """
    parts = [p for item in expr.items for p in _marked_parts(item, op, False, keep_empty)]
    return Expr(tuple(parts), expr.span)


def _written_names(expr: Expr) -> frozenset[str]:
    from einx_typed.notation import axis_names

    return frozenset(axis_names(expr))


def infer_output(op: OpString, inputs: Sequence[Expr]) -> Expr:
    """The input whose axis names contain every other input's (the only such one)."""
    from einx_typed.notation import render

    names = [_written_names(e) for e in inputs]
    candidates: dict[str, Expr] = {}
    for expr, own in zip(inputs, names):
        if all(other <= own for other in names):
            candidates.setdefault(render(expr).replace("[", "").replace("]", ""), expr)
    if len(candidates) != 1:
        reason = (
            "no input contains the axes of all others"
            if not candidates
            else "several different inputs contain the axes of all others"
        )
        raise OperationError(
            f"Cannot infer the output expression: {reason}.",
            expr=op.text,
            hint=f"Add the output explicitly, e.g. '{op.text} -> ...'.",
        )
    return next(iter(candidates.values()))

"""Small queries on notation trees that ops and the solver share."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from einx_typed.errors import SolveError
from einx_typed.notation._render import render
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

__all__ = ["axis_depths", "axis_names", "dims", "flat_nodes", "iter_nodes", "node_length"]


def _unwrap_markers(items: Iterable[Node]) -> Iterator[Node]:
    for item in items:
        if isinstance(item, Marker):
            yield from _unwrap_markers(item.items)
        else:
            yield item


def dims(expr: Expr | Composition | Marker) -> tuple[Node, ...]:
    """The items that stand for one dimension each: markers unwrapped (recursively).

    For an :class:`Expr` these are its root-level dimensions; for a composition, the
    factors of its length.
    """
    return tuple(_unwrap_markers(expr.items))


def flat_nodes(items: Iterable[Node], marked: bool = False) -> Iterator[tuple[Node, bool]]:
    """The nodes of ``items`` with compositions and markers split open, in written order.

    Each comes with whether a marker encloses it; axes, concatenations and ellipses are
    yielded whole.
    """
    for item in items:
        if isinstance(item, Composition):
            yield from flat_nodes(item.items, marked)
        elif isinstance(item, Marker):
            yield from flat_nodes(item.items, True)
        else:
            yield item, marked


def iter_nodes(tree: Node | Expr) -> Iterator[Node]:
    """Every node below ``tree`` (and ``tree`` itself unless it is an Expr), depth first."""
    stack: list[Node] = [tree] if not isinstance(tree, Expr) else list(reversed(tree.items))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, Composition | Marker):
            stack.extend(reversed(node.items))
        elif isinstance(node, Concat):
            for branch in reversed(node.branches):
                stack.extend(reversed(branch))
        elif isinstance(node, EllipsisNode):
            stack.append(node.inner)


def axis_names(tree: Node | Expr) -> list[str]:
    """Names of the named axes below ``tree``, in written order (with repeats)."""
    return [node.name for node in iter_nodes(tree) if isinstance(node, Named)]


def axis_depths(op: OpString | Iterable[Expr]) -> dict[str, int]:
    """Every axis name of an op mapped to the number of ellipses around it (0 or 1).

    ``axis_depths(parse_op("b s... c"))`` is ``{"b": 0, "s": 1, "c": 0}``; the anonymous
    ellipsis appears under ``ANONYMOUS_ELLIPSIS``.  If a name has inconsistent depths the
    larger one is reported (the solver rejects such ops).
    """
    exprs = (*op.inputs, *(op.outputs or ())) if isinstance(op, OpString) else tuple(op)
    depths: dict[str, int] = {}

    def walk(node: Node, depth: int) -> None:
        if isinstance(node, Named):
            depths[node.name] = max(depth, depths.get(node.name, 0))
        elif isinstance(node, Composition | Marker):
            for item in node.items:
                walk(item, depth)
        elif isinstance(node, Concat):
            for branch in node.branches:
                for item in branch:
                    walk(item, depth)
        elif isinstance(node, EllipsisNode):
            walk(node.inner, depth + 1)

    for expr in exprs:
        for item in expr.items:
            walk(item, 0)
    return depths


def node_length(node: Node, lengths: Mapping[str, int]) -> int:
    """Length of the dimension ``node`` stands for, given the lengths of named axes."""
    if isinstance(node, Named):
        try:
            return lengths[node.name]
        except KeyError:
            raise SolveError(f"Axis '{node.name}' has no known length.") from None
    if isinstance(node, Unnamed):
        return node.value
    if isinstance(node, Composition | Marker):
        result = 1
        for item in node.items:
            result *= node_length(item, lengths)
        return result
    if isinstance(node, Concat):
        total = 0
        for branch in node.branches:
            product = 1
            for item in branch:
                product *= node_length(item, lengths)
            total += product
        return total
    raise SolveError(f"The ellipsis '{render(node)}' has not been expanded by solving.")

"""The flattening model shared by all ops (NOTATION section 3.0).

Each solved expression is viewed as a flat list of :class:`Leaf` axes: compositions are
split into their leaves, unnamed axes of length 1 are dropped, and concatenations split
the tensor into pieces (one per branch).  Ops work on leaves matched by name and the
result is reshaped / re-concatenated into the output expression.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Container, Iterable, Mapping, Sequence
from typing import cast, final

import attrs

from einx_typed.errors import OperationError
from einx_typed.notation import flat_nodes
from einx_typed.notation.tree import (
    Composition,
    Concat,
    EllipsisNode,
    Expr,
    Marker,
    Named,
    Node,
    Span,
    Unnamed,
)
from einx_typed.ops._program import ProgramBuilder

__all__ = [
    "Leaf",
    "LeafNamer",
    "align",
    "assemble",
    "check_marking",
    "expr_leaves",
    "has_concat",
    "has_marker",
    "node_length",
    "piece_leaves",
    "root_shape",
    "split",
]


@final
@attrs.frozen
class Leaf:
    """One flat axis: its (unique within the op) name, length and whether it is marked."""

    name: str
    length: int
    marked: bool
    span: Span = attrs.field(eq=False)

    @property
    def shown(self) -> str:
        """The name as written (an unnamed axis without its ``#n`` suffix)."""
        return self.name.split("#")[0]


def check_marking(
    text: str,
    leaves: Iterable[Leaf],
    out_names: Container[str],
    *,
    marked_kept: str,
    unmarked_dropped: str,
    hint: str,
) -> None:
    """Marked input axes must leave the output and unmarked ones must stay in it.

    ``marked_kept`` and ``unmarked_dropped`` are the messages of the two mistakes, with
    ``{axis}`` where the axis name goes; ``hint`` comes with the second.
    """
    for leaf in leaves:
        if leaf.marked and leaf.name in out_names:
            raise OperationError(marked_kept.format(axis=leaf.shown), expr=text, span=leaf.span)
        if not leaf.marked and leaf.name not in out_names:
            raise OperationError(
                unmarked_dropped.format(axis=leaf.shown), expr=text, span=leaf.span, hint=hint
            )


class LeafNamer:
    """Gives every unnamed axis (other than 1) its own name: they never match anything."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def unnamed(self, value: int) -> str:
        return f"{value}#{next(self._counter)}"


def node_length(node: Node, lengths: Mapping[str, int]) -> int:
    """The length of one dimension described by ``node``."""
    if isinstance(node, Named):
        return lengths[node.name]
    if isinstance(node, Unnamed):
        return node.value
    if isinstance(node, Composition | Marker):
        return math.prod(node_length(item, lengths) for item in node.items)
    if isinstance(node, Concat):
        return sum(
            math.prod(node_length(item, lengths) for item in branch) for branch in node.branches
        )
    return lengths[_opaque_name(node)]


def _opaque_name(node: EllipsisNode) -> str:
    from einx_typed.notation import opaque_name

    return opaque_name(node)


def root_shape(expr: Expr, lengths: Mapping[str, int]) -> tuple[int, ...]:
    """The tensor shape of a solved expression (markers at the root are transparent)."""
    shape: list[int] = []
    for item in expr.items:
        if isinstance(item, Marker):
            shape.extend(root_shape(Expr(item.items), lengths))
        else:
            shape.append(node_length(item, lengths))
    return tuple(shape)


def has_concat(node: Node | Expr) -> bool:
    if isinstance(node, Concat):
        return True
    if isinstance(node, Named | Unnamed):
        return False
    if isinstance(node, EllipsisNode):
        return has_concat(node.inner)
    return any(has_concat(item) for item in node.items)


def first_concat(node: Node | Expr) -> Concat | None:
    if isinstance(node, Concat):
        return node
    if isinstance(node, Named | Unnamed):
        return None
    if isinstance(node, EllipsisNode):
        return first_concat(node.inner)
    for item in node.items:
        found = first_concat(item)
        if found is not None:
            return found
    return None


def has_marker(node: Node | Expr) -> bool:
    if isinstance(node, Marker):
        return True
    if isinstance(node, Named | Unnamed):
        return False
    if isinstance(node, EllipsisNode):
        return has_marker(node.inner)
    if isinstance(node, Concat):
        return any(has_marker(item) for branch in node.branches for item in branch)
    return any(has_marker(item) for item in node.items)


# A unit of a semi-flat view: a leaf, or a concatenation not yet split.
Unit = Leaf | Concat


def _units(
    items: Sequence[Node], lengths: Mapping[str, int], namer: LeafNamer, marked: bool
) -> list[Unit]:
    units: list[Unit] = []
    for item, in_marker in flat_nodes(items, marked):
        if isinstance(item, Named):
            units.append(Leaf(item.name, lengths[item.name], in_marker, item.span))
        elif isinstance(item, Unnamed):
            if item.value != 1:
                units.append(Leaf(namer.unnamed(item.value), item.value, in_marker, item.span))
        elif isinstance(item, Concat):
            units.append(item)
        elif isinstance(item, EllipsisNode):
            name = _opaque_name(item)
            units.append(Leaf(name, lengths[name], in_marker, item.span))
    return units


def _unit_length(unit: Unit, lengths: Mapping[str, int]) -> int:
    return unit.length if isinstance(unit, Leaf) else node_length(unit, lengths)


def expr_leaves(expr: Expr, lengths: Mapping[str, int], namer: LeafNamer) -> list[Leaf]:
    """The leaves of an expression without concatenation."""
    units = _units(expr.items, lengths, namer, False)
    return [u for u in units if isinstance(u, Leaf)]


def piece_leaves(expr: Expr, lengths: Mapping[str, int], namer: LeafNamer) -> list[list[Leaf]]:
    """The leaves of every piece of an expression, in depth-first branch order."""

    def walk(units: list[Unit]) -> list[list[Leaf]]:
        position = next((i for i, u in enumerate(units) if isinstance(u, Concat)), None)
        if position is None:
            return [[u for u in units if isinstance(u, Leaf)]]
        concat = cast(Concat, units[position])
        pieces: list[list[Leaf]] = []
        for branch in concat.branches:
            inner = _units(branch, lengths, namer, False)
            pieces.extend(walk([*units[:position], *inner, *units[position + 1 :]]))
        return pieces

    return walk(_units(expr.items, lengths, namer, False))


def split(
    builder: ProgramBuilder,
    value: int,
    expr: Expr,
    lengths: Mapping[str, int],
    namer: LeafNamer,
) -> list[tuple[int, list[Leaf]]]:
    """Reshape / slice ``value`` into one flat tensor per piece, with its leaves."""

    def walk(value: int, units: list[Unit]) -> list[tuple[int, list[Leaf]]]:
        value = builder.reshape(value, [_unit_length(u, lengths) for u in units])
        position = next((i for i, u in enumerate(units) if isinstance(u, Concat)), None)
        if position is None:
            return [(value, [u for u in units if isinstance(u, Leaf)])]
        concat = cast(Concat, units[position])
        pieces: list[tuple[int, list[Leaf]]] = []
        start = 0
        shape = builder.shape(value)
        for branch in concat.branches:
            size = math.prod(node_length(item, lengths) for item in branch)
            sliced_shape = (*shape[:position], size, *shape[position + 1 :])
            sliced = builder.emit(
                "slice_axis", (value,), sliced_shape, trailing=(position, start, start + size)
            )
            start += size
            inner = _units(branch, lengths, namer, False)
            pieces.extend(walk(sliced, [*units[:position], *inner, *units[position + 1 :]]))
        return pieces

    return walk(value, _units(expr.items, lengths, namer, False))


def assemble(
    builder: ProgramBuilder,
    pieces: Sequence[int],
    expr: Expr,
    lengths: Mapping[str, int],
    namer: LeafNamer,
) -> int:
    """Inverse of :func:`split`: concatenate flat pieces into the expression's tensor."""
    remaining = iter(pieces)

    def walk(units: list[Unit]) -> int:
        unit_shape = [_unit_length(u, lengths) for u in units]
        position = next((i for i, u in enumerate(units) if isinstance(u, Concat)), None)
        if position is None:
            return builder.reshape(next(remaining), unit_shape)
        concat = cast(Concat, units[position])
        parts: list[int] = []
        for branch in concat.branches:
            inner = _units(branch, lengths, namer, False)
            part = walk([*units[:position], *inner, *units[position + 1 :]])
            size = math.prod(node_length(item, lengths) for item in branch)
            parts.append(
                builder.reshape(part, [*unit_shape[:position], size, *unit_shape[position + 1 :]])
            )
        shape = tuple(unit_shape)
        return builder.emit("concatenate", parts, shape, trailing=(position,), pack=(0, len(parts)))

    result = walk(_units(expr.items, lengths, namer, False))
    return builder.reshape(result, root_shape(expr, lengths))


def align(
    builder: ProgramBuilder,
    value: int,
    leaves: Sequence[Leaf],
    target: Sequence[Leaf],
    *,
    broadcast: bool,
) -> int:
    """Transpose ``value`` (with ``leaves``) into ``target`` order, inserting missing axes.

    Every leaf must occur in ``target``.  Missing axes get length 1, or their full length
    when ``broadcast`` is set.
    """
    position = {leaf.name: i for i, leaf in enumerate(target)}
    order = sorted(range(len(leaves)), key=lambda i: position[leaves[i].name])
    value = builder.reshape(value, [leaf.length for leaf in leaves])
    value = builder.transpose(value, order)
    present = {leaf.name for leaf in leaves}
    value = builder.reshape(value, [t.length if t.name in present else 1 for t in target])
    if broadcast:
        value = builder.broadcast_to(value, [t.length for t in target])
    return value

"""Plans of the index family (``get_at``, ``set_at``, ``add_at``, ``subtract_at``).

A plan is built once per call signature from the *solved* expressions and says, without
any framework, how to reshape and transpose each operand so that a single backend
``gather``/``scatter`` does the work (NOTATION 3.0 flattening model, 3.6 index family):

* the first operand is flattened to its leaf axes and laid out as
  ``[shared batch axes..., indexed axes..., free batch axes...]``;
* every leading dimension gets one integer index tensor shaped over the *grid* (the
  batch axes shared with coordinates plus the coordinate tensors' own axes): an
  ``arange`` for a shared batch axis, one slice of a coordinate tensor for an indexed axis;
* ``x[indices]`` (or its scatter twin) then has the grid axes first and the free batch
  axes last, and is rearranged into the output expression.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NoReturn, TypeAlias, final

import attrs

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

__all__ = [
    "Fail",
    "GatherPlan",
    "IndexSource",
    "Leaf",
    "OperandLayout",
    "OutputLayout",
    "ScatterPlan",
    "UpdatesLayout",
    "index_count_equation",
    "leaves_of",
    "plan_gather",
    "plan_scatter",
]

Fail: TypeAlias = Callable[..., NoReturn]
"""Raises an OperationError for the call: ``fail(message, span=..., hint=...)``."""


@final
@attrs.frozen(slots=True)
class Leaf:
    """One leaf axis of a flattened expression.

    ``key`` is the axis name; unnamed axes get a key that matches nothing else, because
    unnamed axes other than ``1`` never correspond across operands.
    """

    key: str
    length: int
    marked: bool
    unnamed: bool
    span: Span

    @property
    def droppable(self) -> bool:
        """An unmarked unnamed ``1``: inserted and dropped freely."""
        return self.unnamed and self.length == 1 and not self.marked

    @property
    def label(self) -> str:
        return str(self.length) if self.unnamed else self.key


def leaves_of(
    expr: Expr, lengths: Callable[[str], int], operand: int, fail: Fail
) -> tuple[Leaf, ...]:
    """Flatten a solved expression into its leaves (compositions split, markers noted)."""
    out: list[Leaf] = []
    for node, marked in flat_nodes(expr.items):
        if isinstance(node, Named):
            out.append(Leaf(node.name, lengths(node.name), marked, False, node.span))
        elif isinstance(node, Unnamed):
            key = f"#{operand}.{len(out)}"
            out.append(Leaf(key, node.value, marked, True, node.span))
        elif isinstance(node, Concat):
            fail(
                "Concatenations are not allowed in index operations.",
                span=node.span,
                hint="Concatenate the tensors with rearrange first.",
            )
        elif isinstance(node, EllipsisNode):  # pragma: no cover - solve expands every ellipsis
            fail("An ellipsis was left unexpanded.", span=node.span)
    return tuple(out)


def _kept(leaves: Sequence[Leaf]) -> tuple[Leaf, ...]:
    return tuple(leaf for leaf in leaves if not leaf.droppable)


def _names(leaves: Sequence[Leaf]) -> str:
    return ", ".join(repr(leaf.label) for leaf in leaves)


def index_count_equation(
    exprs: Sequence[Expr], n_coordinates: int
) -> list[tuple[list[tuple[int, int]], int]]:
    """The extra solver equation: coordinate-axis lengths (or 1 each) sum to #indexed axes.

    Root-level coordinate axes become unknowns of the equation; nested unnamed ones are
    constants.  When the equation cannot be written over root dimensions (a named
    coordinate axis inside a composition) or has no unknown, nothing is returned and
    the plan checks the count after solving.
    """
    total = _count_marked(exprs[0].items)
    terms: list[tuple[int, int]] = []
    for operand in range(1, 1 + n_coordinates):
        items = exprs[operand].items
        n_marked = _count_marked(items)
        if n_marked == 0:
            total -= 1
            continue
        if n_marked > 1:
            return []
        root_dim = next(d for d, item in enumerate(items) if _count_marked((item,)) > 0)
        root = items[root_dim]
        if isinstance(root, Marker) and len(root.items) == 1:
            terms.append((operand, root_dim))
        else:
            leaf = _marked_leaf(root)
            if not isinstance(leaf, Unnamed):
                return []
            total -= leaf.value
    return [(terms, total)] if terms else []


def _count_marked(items: Sequence[Node], marked: bool = False) -> int:
    count = 0
    for node in items:
        if isinstance(node, Named | Unnamed):
            count += int(marked)
        elif isinstance(node, Composition):
            count += _count_marked(node.items, marked)
        elif isinstance(node, Marker):
            count += _count_marked(node.items, True)
        elif isinstance(node, Concat):
            count += sum(_count_marked(branch, marked) for branch in node.branches)
        else:
            count += _count_marked((node.inner,), marked)
    return count


def _marked_leaf(node: Node, marked: bool = False) -> Node | None:
    if isinstance(node, Named | Unnamed):
        return node if marked else None
    children: Sequence[Node]
    if isinstance(node, Composition | Marker):
        children = node.items
    elif isinstance(node, Concat):
        children = [item for branch in node.branches for item in branch]
    else:
        children = (node.inner,)
    for child in children:
        found = _marked_leaf(child, marked or isinstance(node, Marker))
        if found is not None:
            return found
    return None


# ---------------------------------------------------------------------------- layouts


@final
@attrs.frozen(slots=True)
class OperandLayout:
    """How to bring an input operand into plan layout: reshape, then transpose, then reshape."""

    flat_shape: tuple[int, ...] | None
    perm: tuple[int, ...] | None
    final_shape: tuple[int, ...] | None


@final
@attrs.frozen(slots=True)
class IndexSource:
    """Where one index tensor comes from.

    ``coordinate`` is the position among the coordinate operands, ``component`` the
    position along its coordinate axis (``None``: the whole tensor is one index), or
    ``coordinate is None`` for an ``arange`` of ``length`` shaped ``grid_shape``.
    """

    coordinate: int | None
    component: int | None
    length: int
    grid_shape: tuple[int, ...]


@final
@attrs.frozen(slots=True)
class OutputLayout:
    """From the plan's result to the output: transpose, insert/broadcast, reshape."""

    perm: tuple[int, ...] | None
    expand_shape: tuple[int, ...] | None
    broadcast_shape: tuple[int, ...] | None
    final_shape: tuple[int, ...] | None


@final
@attrs.frozen(slots=True)
class UpdatesLayout:
    """Updates to the shape of ``x[indices]``: reshape, transpose, insert, broadcast."""

    operand: OperandLayout
    broadcast_shape: tuple[int, ...] | None


@final
@attrs.frozen(slots=True)
class GatherPlan:
    """Everything ``get_at`` does after solving, for one call signature."""

    tensor: OperandLayout
    coordinates: tuple[OperandLayout, ...]
    sources: tuple[IndexSource, ...]
    output: OutputLayout


@final
@attrs.frozen(slots=True)
class ScatterPlan:
    """Everything ``set_at``/``add_at``/``subtract_at`` do after solving."""

    tensor: OperandLayout
    coordinates: tuple[OperandLayout, ...]
    sources: tuple[IndexSource, ...]
    updates: UpdatesLayout
    output: OutputLayout


# ---------------------------------------------------------------------------- analysis


@attrs.frozen(slots=True)
class _Roles:
    """The roles of the axes of one call, shared by get and update plans."""

    tensor: tuple[Leaf, ...]  # kept leaves of the first operand
    indexed: tuple[Leaf, ...]
    batch: tuple[Leaf, ...]
    coordinates: tuple[tuple[Leaf, ...], ...]  # kept leaves of each coordinate operand
    coordinate_axes: tuple[Leaf | None, ...]
    grid_keys: frozenset[str]  # axes of coordinate operands that are not in the tensor
    shared_keys: frozenset[str]  # batch axes that also occur in a coordinate operand
    coordinate_axis_keys: frozenset[str]


def _analyse(
    tensor: tuple[Leaf, ...], coordinates: Sequence[tuple[Leaf, ...]], fail: Fail
) -> _Roles:
    for leaf in tensor:
        if leaf.marked and leaf.unnamed and leaf.length == 1:
            fail(
                "The first operand may not contain a marked unnamed axis '1'.",
                span=leaf.span,
                hint="Marked axes of the first operand are the indexed axes; remove the '[1]'.",
            )
    kept_tensor = _kept(tensor)
    indexed = tuple(leaf for leaf in kept_tensor if leaf.marked)
    batch = tuple(leaf for leaf in kept_tensor if not leaf.marked)
    indexed_keys = {leaf.key for leaf in indexed}
    tensor_keys = {leaf.key for leaf in kept_tensor}
    if not indexed:
        fail(
            "The first operand has no marked axes, so there is nothing to index into.",
            span=None,
            hint="Mark the indexed axes of the first operand, e.g. 'b [h w] c, b p [2] -> b p c'.",
        )

    kept_coordinates: list[tuple[Leaf, ...]] = []
    coordinate_axes: list[Leaf | None] = []
    for leaves in coordinates:
        kept = _kept(leaves)
        marked = [leaf for leaf in kept if leaf.marked]
        if len(marked) > 1:
            fail(
                f"A coordinate operand may mark at most one axis (its coordinate axis), "
                f"but {_names(marked)} are marked.",
                span=marked[1].span,
                hint="Use one coordinate operand per group of indices, or mark a single axis.",
            )
        axis = marked[0] if marked else None
        if axis is not None and axis.key in tensor_keys:
            fail(
                f"The coordinate axis {axis.label!r} also occurs in the first operand.",
                span=axis.span,
                hint="Give the coordinate axis its own name or a literal length such as '[2]'.",
            )
        for leaf in kept:
            if not leaf.marked and leaf.key in indexed_keys:
                fail(
                    f"Axis {leaf.label!r} is indexed in the first operand and cannot also "
                    f"be an axis of a coordinate operand.",
                    span=leaf.span,
                )
        kept_coordinates.append(kept)
        coordinate_axes.append(axis)

    coordinate_axis_keys = frozenset(a.key for a in coordinate_axes if a is not None)
    grid: set[str] = set()
    shared: set[str] = set()
    for kept in kept_coordinates:
        for leaf in kept:
            if leaf.marked:
                continue
            if leaf.key in coordinate_axis_keys:
                fail(
                    f"Axis {leaf.label!r} is a coordinate axis and cannot be used elsewhere.",
                    span=leaf.span,
                )
            (shared if leaf.key in tensor_keys else grid).add(leaf.key)

    supplied = sum(1 if a is None else a.length for a in coordinate_axes)
    if supplied != len(indexed):
        fail(
            f"The first operand has {len(indexed)} indexed axes ({_names(indexed)}), but the "
            f"coordinate operands supply {supplied} indices.",
            span=None,
            hint="Each coordinate operand supplies the length of its marked axis, or 1 "
            "without a marked axis.",
        )
    return _Roles(
        tensor=kept_tensor,
        indexed=indexed,
        batch=batch,
        coordinates=tuple(kept_coordinates),
        coordinate_axes=tuple(coordinate_axes),
        grid_keys=frozenset(grid),
        shared_keys=frozenset(shared),
        coordinate_axis_keys=coordinate_axis_keys,
    )


def _identity(perm: Sequence[int]) -> bool:
    return tuple(perm) == tuple(range(len(perm)))


def _operand_layout(
    root_shape: tuple[int, ...],
    leaves: Sequence[Leaf],
    order: Sequence[str],
    final_shape: tuple[int, ...],
) -> OperandLayout:
    """Reshape ``root_shape`` to ``leaves``, transpose them into ``order``, reshape."""
    flat_shape = tuple(leaf.length for leaf in leaves)
    position = {leaf.key: i for i, leaf in enumerate(leaves)}
    perm = tuple(position[key] for key in order)
    permuted = tuple(flat_shape[p] for p in perm)
    return OperandLayout(
        flat_shape=None if flat_shape == root_shape else flat_shape,
        perm=None if _identity(perm) else perm,
        final_shape=None if final_shape == permuted else final_shape,
    )


def _tensor_layout(
    roles: _Roles, root_shape: tuple[int, ...]
) -> tuple[OperandLayout, tuple[Leaf, ...], tuple[Leaf, ...]]:
    """Lay the first operand out as ``[shared..., indexed..., free...]``."""
    shared = tuple(leaf for leaf in roles.batch if leaf.key in roles.shared_keys)
    free = tuple(leaf for leaf in roles.batch if leaf.key not in roles.shared_keys)
    order = [leaf.key for leaf in (*shared, *roles.indexed, *free)]
    shape = tuple(leaf.length for leaf in (*shared, *roles.indexed, *free))
    return _operand_layout(root_shape, roles.tensor, order, shape), shared, free


def _index_sources(
    roles: _Roles,
    shared: Sequence[Leaf],
    grid: Sequence[Leaf],
    coordinate_shapes: Sequence[tuple[int, ...]],
) -> tuple[tuple[OperandLayout, ...], tuple[IndexSource, ...]]:
    """Coordinate layouts and one index source per leading dimension of the tensor."""
    grid_position = {leaf.key: i for i, leaf in enumerate(grid)}

    def grid_shape(keys: set[str]) -> tuple[int, ...]:
        return tuple(leaf.length if leaf.key in keys else 1 for leaf in grid)

    sources = [IndexSource(None, None, leaf.length, grid_shape({leaf.key})) for leaf in shared]
    layouts = []
    for number, (kept, axis, root_shape) in enumerate(
        zip(roles.coordinates, roles.coordinate_axes, coordinate_shapes)
    ):
        others = sorted(
            (leaf for leaf in kept if not leaf.marked), key=lambda leaf: grid_position[leaf.key]
        )
        keys = {leaf.key for leaf in others}
        order = ([] if axis is None else [axis.key]) + [leaf.key for leaf in others]
        prefix = () if axis is None else (axis.length,)
        layouts.append(_operand_layout(root_shape, kept, order, prefix + grid_shape(keys)))
        if axis is None:
            sources.append(IndexSource(number, None, 0, grid_shape(keys)))
        else:
            sources.extend(
                IndexSource(number, component, 0, grid_shape(keys))
                for component in range(axis.length)
            )
    return tuple(layouts), tuple(sources)


def _check_no_markers(leaves: Sequence[Leaf], what: str, fail: Fail) -> None:
    for leaf in leaves:
        if leaf.marked:
            fail(f"Brackets are not allowed in the {what}.", span=leaf.span)


def _check_not_indexed(leaves: Sequence[Leaf], roles: _Roles, what: str, fail: Fail) -> None:
    indexed_keys = {leaf.key for leaf in roles.indexed}
    for leaf in leaves:
        if leaf.key in indexed_keys:
            fail(
                f"The {what} cannot contain the indexed axis {leaf.label!r}: indexing consumes it.",
                span=leaf.span,
            )
        if leaf.key in roles.coordinate_axis_keys:
            fail(
                f"The {what} cannot contain the coordinate axis {leaf.label!r}: its entries "
                f"are consumed as indices.",
                span=leaf.span,
            )


def plan_gather(
    tensor: tuple[Leaf, ...],
    coordinates: Sequence[tuple[Leaf, ...]],
    output: tuple[Leaf, ...],
    input_shapes: Sequence[tuple[int, ...]],
    output_shape: tuple[int, ...],
    output_span: Span,
    fail: Fail,
) -> GatherPlan:
    """Plan ``get_at`` from the leaves of the solved expressions."""
    roles = _analyse(tensor, coordinates, fail)
    _check_no_markers(output, "output expression of get_at", fail)
    kept_output = _kept(output)
    _check_not_indexed(kept_output, roles, "output expression", fail)
    output_keys = {leaf.key for leaf in kept_output}
    required = [leaf for leaf in roles.batch if leaf.key not in output_keys]
    for kept in roles.coordinates:
        required += [
            leaf
            for leaf in kept
            if not leaf.marked and leaf.key in roles.grid_keys and leaf.key not in output_keys
        ]
    if required:
        fail(
            f"Every batch axis of the first operand and every axis of the coordinate "
            f"operands must appear in the output, which lacks {_names(required)}.",
            span=output_span,
            hint="Add the missing axes to the output; unnamed axes other than 1 never "
            "match and need a name.",
        )
    grid = tuple(leaf for leaf in kept_output if leaf.key in roles.grid_keys | roles.shared_keys)
    tensor_layout, shared, free = _tensor_layout(roles, input_shapes[0])
    coordinate_layouts, sources = _index_sources(roles, shared, grid, input_shapes[1:])
    return GatherPlan(
        tensor=tensor_layout,
        coordinates=coordinate_layouts,
        sources=sources,
        output=_output_layout((*grid, *free), kept_output, output_shape),
    )


def _output_layout(
    result: Sequence[Leaf], output: Sequence[Leaf], output_shape: tuple[int, ...]
) -> OutputLayout:
    """Rearrange a result whose axes are ``result`` into the output leaves."""
    position = {leaf.key: i for i, leaf in enumerate(result)}
    present = [leaf for leaf in output if leaf.key in position]
    perm = tuple(position[leaf.key] for leaf in present)
    permuted_shape = tuple(leaf.length for leaf in present)
    full_shape = tuple(leaf.length for leaf in output)
    if len(present) == len(output):
        return OutputLayout(
            perm=None if _identity(perm) else perm,
            expand_shape=None,
            broadcast_shape=None,
            final_shape=None if full_shape == output_shape else output_shape,
        )
    expand_shape = tuple(leaf.length if leaf.key in position else 1 for leaf in output)
    return OutputLayout(
        perm=None if _identity(perm) else perm,
        expand_shape=None if expand_shape == permuted_shape else expand_shape,
        broadcast_shape=full_shape,
        final_shape=None if full_shape == output_shape else output_shape,
    )


def plan_scatter(
    tensor: tuple[Leaf, ...],
    coordinates: Sequence[tuple[Leaf, ...]],
    updates: tuple[Leaf, ...],
    output: tuple[Leaf, ...],
    input_shapes: Sequence[tuple[int, ...]],
    output_shape: tuple[int, ...],
    output_span: Span,
    fail: Fail,
) -> ScatterPlan:
    """Plan ``set_at``/``add_at``/``subtract_at`` from the leaves of the solved expressions."""
    roles = _analyse(tensor, coordinates, fail)
    _check_no_markers(updates, "updates expression", fail)
    kept_updates = _kept(updates)
    _check_not_indexed(kept_updates, roles, "updates expression", fail)
    known = {leaf.key for leaf in roles.batch} | roles.grid_keys
    for leaf in kept_updates:
        if leaf.key not in known:
            fail(
                f"The updates expression may only use axes of the first operand and of the "
                f"coordinate operands, but {leaf.label!r} is in neither.",
                span=leaf.span,
                hint="Unnamed axes other than 1 never match; give the axis a name.",
            )

    kept_output = _kept(output)
    indexed_keys = {leaf.key for leaf in roles.indexed}
    for leaf in kept_output:
        if leaf.marked and leaf.key not in indexed_keys:
            fail(
                f"Axis {leaf.label!r} is marked in the output but not indexed in the first "
                f"operand.",
                span=leaf.span,
            )
    tensor_keys = {leaf.key for leaf in roles.tensor}
    output_keys = {leaf.key for leaf in kept_output}
    missing = [leaf for leaf in roles.tensor if leaf.key not in output_keys]
    if missing:
        fail(
            f"The output of an index update must contain every axis of the first operand, "
            f"but {_names(missing)} are missing.",
            span=output_span,
            hint="Leave the output out to keep the first operand's expression.",
        )
    extra = [leaf for leaf in kept_output if leaf.key not in tensor_keys]
    if extra:
        fail(
            f"The output of an index update may only rearrange the first operand, but "
            f"{_names(extra)} are not axes of it.",
            span=extra[0].span,
        )

    tensor_layout, shared, free = _tensor_layout(roles, input_shapes[0])
    update_keys = [leaf.key for leaf in kept_updates]
    grid_keys = roles.grid_keys | roles.shared_keys
    appearance = [key for key in update_keys if key in grid_keys]
    for kept in roles.coordinates:
        appearance += [leaf.key for leaf in kept if not leaf.marked and leaf.key not in appearance]
    lengths = {leaf.key: leaf.length for kept in roles.coordinates for leaf in kept}
    grid = tuple(Leaf(key, lengths[key], False, False, (0, 0)) for key in appearance)
    coordinate_layouts, sources = _index_sources(roles, shared, grid, input_shapes[1:-1])

    # Updates: grid axes first (grid order), then free batch axes; missing ones broadcast.
    target = (*grid, *free)
    present_keys = set(update_keys)
    order = [leaf.key for leaf in target if leaf.key in present_keys]
    expanded = tuple(leaf.length if leaf.key in present_keys else 1 for leaf in target)
    full = tuple(leaf.length for leaf in target)
    updates_layout = UpdatesLayout(
        operand=_operand_layout(input_shapes[-1], kept_updates, order, expanded),
        broadcast_shape=None if expanded == full else full,
    )
    layout_leaves = (*shared, *roles.indexed, *free)
    return ScatterPlan(
        tensor=tensor_layout,
        coordinates=coordinate_layouts,
        sources=sources,
        updates=updates_layout,
        output=_output_layout(layout_leaves, kept_output, output_shape),
    )

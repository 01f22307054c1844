"""The typed tree of einx notation.

A parsed op string is an :class:`OpString` of root :class:`Expr` s (one per operand).
Each node keeps ``span``: the half-open character range ``[start, end)`` of its text in the
*normalised* op string (``OpString.text``), so errors can put a caret under it.

Before solving, a tree may contain :class:`EllipsisNode` nodes.  Expansion (see
``notation.solve``) replaces ``x...`` with ``n`` copies of ``x`` whose named axes are
renamed ``name.0``, ``name.1``, ... (nested: ``name.i.j``, outer index first); after
expansion no :class:`EllipsisNode` remains and every :class:`Named` axis has a length in
``Solution.lengths``.  Common-subexpression elimination may replace a run of axes inside a
composition by a single :class:`Named` whose ``name`` is the run's text (``"a b"``).
"""

from __future__ import annotations

from typing import TypeAlias, final

import attrs

Span: TypeAlias = tuple[int, int]

ANONYMOUS_ELLIPSIS = "_anonymous_ellipsis_axis"


@final
@attrs.frozen(slots=True)
class Named:
    """A named axis such as ``b`` or ``c1`` (after expansion also ``s.0``)."""

    name: str
    span: Span = attrs.field(default=(0, 0), eq=False)


@final
@attrs.frozen(slots=True)
class Unnamed:
    """An unnamed axis of fixed length such as ``1`` or ``3``; every occurrence is distinct."""

    value: int
    span: Span = attrs.field(default=(0, 0), eq=False)


@final
@attrs.frozen(slots=True)
class Composition:
    """``(a b)``: one dimension whose length is the product of its items (row-major)."""

    items: tuple[Node, ...]
    span: Span = attrs.field(default=(0, 0), eq=False)


@final
@attrs.frozen(slots=True)
class Concat:
    """``a + b``: one dimension whose length is the sum of its branches.

    Each branch is a tuple of items (a list); a valid branch describes exactly one dimension.
    """

    branches: tuple[tuple[Node, ...], ...]
    span: Span = attrs.field(default=(0, 0), eq=False)


@final
@attrs.frozen(slots=True)
class Marker:
    """``[a b]``: marks its items for the op; transparent for shapes."""

    items: tuple[Node, ...]
    span: Span = attrs.field(default=(0, 0), eq=False)


@final
@attrs.frozen(slots=True)
class EllipsisNode:
    """``x...``: ``inner`` repeated a solved number of times.

    ``ident`` identifies the ellipsis across hoisting copies: copies of one written
    ellipsis share it and always expand to the same count.
    """

    inner: Node
    ident: int
    span: Span = attrs.field(default=(0, 0), eq=False)


Node: TypeAlias = Named | Unnamed | Composition | Concat | Marker | EllipsisNode


@final
@attrs.frozen(slots=True)
class Expr:
    """One operand: the root-level items, one per tensor dimension after expansion."""

    items: tuple[Node, ...]
    span: Span = attrs.field(default=(0, 0), eq=False)


@final
@attrs.frozen(slots=True)
class OpString:
    """A whole op string after hoisting: ``inputs -> outputs``.

    ``outputs`` is ``None`` when the string has no ``->``.  ``text`` is the normalised
    string that every ``span`` refers to.
    """

    text: str
    inputs: tuple[Expr, ...]
    outputs: tuple[Expr, ...] | None

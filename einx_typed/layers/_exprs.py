"""Small rewrites of parsed expressions that the layers need, rendered back to op strings.

The layers build the op strings they pass to the functional ops from the user's
expressions: the input without brackets, the marked part (a parameter's expression), the
unmarked part (a statistic's expression), a Linear layer's implicit weight and its bias.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence

from einx_typed.layers._validate import AxisValue, field_error
from einx_typed.notation import render, render_items
from einx_typed.notation.tree import (
    Composition,
    Concat,
    EllipsisNode,
    Marker,
    Named,
    Node,
    OpString,
    Unnamed,
)

__all__ = [
    "broadcast_against",
    "demark",
    "dim_names",
    "fill_shape",
    "has_marker",
    "marked_part",
    "named_axes",
    "render_list",
    "require_marker",
    "unmarked_part",
    "walk_named",
]

Items = tuple[Node, ...]


render_list = render_items
"""Old name of :func:`einx_typed.notation.render_items`, kept until every layer imports that."""


def walk_named(items: Sequence[Node]) -> Iterator[Named]:
    """Every named axis below ``items`` (the anonymous ellipsis included)."""
    for node in items:
        match node:
            case Named():
                yield node
            case Unnamed():
                pass
            case Composition(items=inner) | Marker(items=inner):
                yield from walk_named(inner)
            case Concat(branches=branches):
                for branch in branches:
                    yield from walk_named(branch)
            case EllipsisNode(inner=inner):
                yield from walk_named((inner,))


def named_axes(items: Sequence[Node]) -> list[str]:
    """The distinct axis names below ``items`` in order of first appearance."""
    seen: dict[str, None] = {}
    for node in walk_named(items):
        seen.setdefault(node.name, None)
    return list(seen)


def has_marker(items: Sequence[Node]) -> bool:
    """Whether any bracket with content occurs below ``items``."""
    for node in items:
        match node:
            case Marker(items=inner):
                if inner:
                    return True
            case Composition(items=inner):
                if has_marker(inner):
                    return True
            case Concat(branches=branches):
                if any(has_marker(branch) for branch in branches):
                    return True
            case EllipsisNode(inner=inner):
                if has_marker((inner,)):
                    return True
            case Named() | Unnamed():
                pass
    return False


def require_marker(owner: str, field: str, op: OpString, reason: str, hint: str) -> Items:
    """The items of the single expression ``op`` of ``owner.field``, which must mark axes.

    Raises a :class:`SpecError` with ``reason`` and ``hint`` when nothing is bracketed.
    """
    items = op.inputs[0].items
    if not has_marker(items):
        raise field_error(owner, field, op, reason, hint=hint)
    return items


def broadcast_against(items: Sequence[Node], part: Sequence[Node]) -> str:
    """The op string that combines a tensor of ``items`` with one of ``part`` (broadcast)."""
    full = render_list(demark(items))
    return f"{full}, {render_list(part)} -> {full}"


def demark(items: Sequence[Node]) -> Items:
    """``items`` with every bracket removed and its content kept: ``b [c]`` -> ``b c``."""
    return _without_markers(items, keep_content=True)


def unmarked_part(items: Sequence[Node]) -> Items:
    """``items`` with every bracket and its content removed: ``b [s...] (g [c])`` -> ``b (g)``.

    A composition that loses all content stays as ``()``, a dimension of length 1.
    """
    return _without_markers(items, keep_content=False)


def _without_markers(items: Sequence[Node], keep_content: bool) -> Items:
    """``items`` with every bracket removed, with or without its content.

    An ellipsis whose repeated part loses all content is dropped along with it.
    """
    out: list[Node] = []
    for node in items:
        match node:
            case Marker(items=inner):
                if keep_content:
                    out.extend(_without_markers(inner, keep_content))
            case Composition(items=inner):
                out.append(Composition(_without_markers(inner, keep_content)))
            case Concat(branches=branches):
                out.append(
                    Concat(tuple(_without_markers(branch, keep_content) for branch in branches))
                )
            case EllipsisNode(inner=inner, ident=ident):
                new_inner = _without_markers((inner,), keep_content)
                if new_inner:
                    out.append(EllipsisNode(_single(new_inner), ident))
            case Named() | Unnamed():
                out.append(node)
    return tuple(out)


def marked_part(items: Sequence[Node]) -> Items:
    """The content of every bracket, flattened, in order: ``[b] ... [c]`` -> ``b c``.

    Brackets inside a repeated atom stay repeated: ``b (s [r])... c`` -> ``r...``.
    """
    out: list[Node] = []
    for node in items:
        match node:
            case Marker(items=inner):
                out.extend(demark(inner))
            case Composition(items=inner):
                out.extend(marked_part(inner))
            case Concat(branches=branches):
                for branch in branches:
                    out.extend(marked_part(branch))
            case EllipsisNode(inner=inner, ident=ident):
                out.extend(EllipsisNode(n, ident) for n in marked_part((inner,)))
            case Named() | Unnamed():
                pass
    return tuple(out)


def _single(items: Items) -> Node:
    return items[0] if len(items) == 1 else Composition(items)


def dim_names(items: Sequence[Node], shape: Sequence[int]) -> tuple[str, ...]:
    """A name for every dimension of a tensor described by ``items`` (without brackets).

    Ellipsis instances are numbered (``s...`` on two dimensions -> ``s.0 s.1``); other
    dimensions are named by their text (``(h c)``; a one-item composition by its item).
    When the repeat counts cannot be told from the rank alone the dimensions are
    numbered ``dim0``, ``dim1``, ...
    """
    items = demark(items)
    fixed = sum(1 for node in items if not isinstance(node, EllipsisNode))
    ellipses = [node for node in items if isinstance(node, EllipsisNode)]
    count = 0
    if ellipses:
        idents = {node.ident for node in ellipses}
        free = len(shape) - fixed
        if len(idents) != 1 or free < 0 or free % len(ellipses) != 0:
            return tuple(f"dim{i}" for i in range(len(shape)))
        count = free // len(ellipses)
    elif fixed != len(shape):
        return tuple(f"dim{i}" for i in range(len(shape)))
    names: list[str] = []
    for node in items:
        if isinstance(node, EllipsisNode):
            names.extend(_dim_name(node.inner, f".{i}") for i in range(count))
        else:
            names.append(_dim_name(node, ""))
    return tuple(names)


def _dim_name(node: Node, suffix: str) -> str:
    match node:
        case Named(name=name):
            return name + suffix
        case Unnamed(value=value):
            return str(value)
        case Composition(items=inner) if len(inner) == 1:
            return _dim_name(inner[0], suffix)
        case Composition(items=inner):
            return "(" + " ".join(_dim_name(n, suffix) for n in inner) + ")"
        case Concat(branches=branches):
            return (
                "(" + " + ".join(" ".join(_dim_name(n, suffix) for n in b) for b in branches) + ")"
            )
        case Marker(items=inner):
            return " ".join(_dim_name(n, suffix) for n in inner)
        case EllipsisNode():
            return render(node)


def fill_shape(
    items: Sequence[Node],
    axes: Mapping[str, AxisValue],
    open_length: Callable[[str], int],
    open_count: Callable[[int], int],
) -> tuple[int, ...] | None:
    """A shape that fits ``items`` (brackets ignored) with the axis values ``axes``.

    An axis without a value gets ``open_length(key)`` (``key`` is ``"s.1"`` for an
    ellipsis instance; equal keys must get equal lengths); an ellipsis whose count no
    tuple value fixes repeats ``open_count(ident)`` times.  ``None`` for nested ellipses.
    """

    def repeats(node: EllipsisNode) -> int:
        for named in walk_named((node.inner,)):
            value = axes.get(named.name)
            if isinstance(value, tuple):
                return len(value)
        return open_count(node.ident)

    def length(node: Node, instance: int | None) -> int | None:
        match node:
            case Named(name=name):
                value = axes.get(name)
                if isinstance(value, int):
                    return value
                if isinstance(value, tuple):
                    if instance is None or instance >= len(value):
                        return None
                    return value[instance]
                return open_length(name if instance is None else f"{name}.{instance}")
            case Unnamed(value=value):
                return value
            case Composition(items=inner) | Marker(items=inner):
                return _product([length(n, instance) for n in inner])
            case Concat(branches=branches):
                sums = [_product([length(n, instance) for n in b]) for b in branches]
                return None if None in sums else sum(p for p in sums if p is not None)
            case EllipsisNode(inner=inner):
                if instance is not None:
                    return None
                return _product([length(inner, i) for i in range(repeats(node))])

    shape: list[int | None] = []
    for node in demark(items):
        if isinstance(node, EllipsisNode):
            shape.extend(length(node.inner, i) for i in range(repeats(node)))
        else:
            shape.append(length(node, None))
    if None in shape:
        return None
    return tuple(d for d in shape if d is not None)


def _product(values: Sequence[int | None]) -> int | None:
    return None if None in values else math.prod(v for v in values if v is not None)

"""Common-subexpression elimination (NOTATION 2.5).

A run of items inside a composition whose named axes occur nowhere except in identical
copies of that run is replaced by one :class:`Named` axis named by the run's text, so
``(a b) c -> c (a b)`` solves without knowing ``a`` or ``b``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from einx_typed.notation._render import render_items
from einx_typed.notation._walk import iter_nodes
from einx_typed.notation.tree import (
    Composition,
    Concat,
    EllipsisNode,
    Expr,
    Marker,
    Named,
    Node,
    Unnamed,
)

__all__ = ["base_name", "merge_common_subexpressions"]

_Run = tuple[int, int, int]  # (composition number, start, stop)


def base_name(name: str) -> str:
    """The written name behind an expanded one: ``s.0`` -> ``s``, ``s...`` -> ``s``."""
    return name.split(".", 1)[0]


def _eligible(node: Node, fixed: Collection[str], allow_concat: bool) -> bool:
    for inner in iter_nodes(node):
        if isinstance(inner, Marker):
            return False
        if isinstance(inner, Concat) and not allow_concat:
            return False
        if isinstance(inner, Named) and base_name(inner.name) in fixed:
            return False
    return True


def _is_candidate(run: Sequence[Node]) -> bool:
    if len(run) == 1 and isinstance(run[0], Named | Unnamed | Composition):
        return False  # a lone axis, or a composition whose content is its own candidate
    return any(isinstance(n, Named) for item in run for n in iter_nodes(item))


def merge_common_subexpressions(
    exprs: Sequence[Expr],
    fixed: Collection[str],
    *,
    allow_concat: bool = False,
    in_markers: bool = False,
) -> tuple[Expr, ...]:
    """Merge every maximal mergeable run into one :class:`Named` axis.

    ``fixed`` holds the base names of axes with keyword values; runs that contain them are
    never merged.  Runs containing a marker, and (unless ``allow_concat``) runs containing a
    concatenation, are never merged either.  With ``in_markers`` (the reduce ops, rule 4)
    a run lying entirely inside a marker may merge, e.g. ``a b`` in ``([a b]) c``; a
    marker at root level keeps its items, so that the rank is preserved (rule 6).
    """
    totals: dict[str, int] = {}
    item_lists: list[tuple[tuple[Node, ...], bool]] = []  # (items, whole runs allowed)

    def collect(node: Node, nested: bool) -> None:
        """``nested``: ``node`` lies inside a composition, so its runs keep the rank."""
        if isinstance(node, Named):
            totals[node.name] = totals.get(node.name, 0) + 1
        elif isinstance(node, Composition):
            item_lists.append((node.items, True))
            for item in node.items:
                collect(item, True)
        elif isinstance(node, Marker):
            item_lists.append((node.items, in_markers and nested))
            for item in node.items:
                collect(item, nested)
        elif isinstance(node, Concat):
            for branch in node.branches:
                for item in branch:
                    collect(item, nested)
        elif isinstance(node, EllipsisNode):
            collect(node.inner, nested)

    for expr in exprs:
        item_lists.append((expr.items, False))
        for item in expr.items:
            collect(item, False)

    occurrences: dict[str, list[_Run]] = {}
    first_run: dict[str, Sequence[Node]] = {}
    for number, (items, runs_allowed) in enumerate(item_lists):
        if not runs_allowed:
            # Outside compositions only a lone concatenation may merge (rule 6).
            for start, item in enumerate(items):
                if allow_concat and isinstance(item, Concat) and _eligible(item, fixed, True):
                    key = render_items((item,))
                    occurrences.setdefault(key, []).append((number, start, start + 1))
                    first_run.setdefault(key, (item,))
            continue
        if len(items) < 2 and not allow_concat:
            continue
        eligible = [_eligible(item, fixed, allow_concat) for item in items]
        for start in range(len(items)):
            for stop in range(start + 1, len(items) + 1):
                if not eligible[stop - 1]:
                    break
                run = items[start:stop]
                if not _is_candidate(run):
                    continue
                key = render_items(run)
                occurrences.setdefault(key, []).append((number, start, stop))
                first_run.setdefault(key, run)
    if not occurrences:
        return tuple(exprs)

    def valid(key: str) -> bool:
        counts: dict[str, int] = {}
        for item in first_run[key]:
            for node in iter_nodes(item):
                if isinstance(node, Named):
                    counts[node.name] = counts.get(node.name, 0) + 1
        copies = len(occurrences[key])
        return all(totals[name] == copies * count for name, count in counts.items())

    def size(key: str) -> int:
        return sum(1 for item in first_run[key] for _ in iter_nodes(item))

    claimed: dict[int, list[tuple[int, int, str]]] = {}
    for key in sorted((k for k in occurrences if valid(k)), key=size, reverse=True):
        runs = occurrences[key]
        if any(
            start < other_stop and other_start < stop
            for number, start, stop in runs
            for other_start, other_stop, _ in claimed.get(number, ())
        ):
            continue
        for number, start, stop in runs:
            claimed.setdefault(number, []).append((start, stop, key))
    return _rebuild(exprs, claimed)


def _rebuild(
    exprs: Sequence[Expr], claimed: dict[int, list[tuple[int, int, str]]]
) -> tuple[Expr, ...]:
    counter = iter(range(1 << 62))

    def replace(items: tuple[Node, ...], visit: Callable[[Node], Node]) -> tuple[Node, ...]:
        number = next(counter)
        new_items = [visit(item) for item in items]
        for start, stop, key in sorted(claimed.get(number, ()), reverse=True):
            span = (items[start].span[0], items[stop - 1].span[1])
            new_items[start:stop] = [Named(key, span)]
        return tuple(new_items)

    def visit(node: Node) -> Node:
        if isinstance(node, Composition):
            return Composition(replace(node.items, visit), node.span)
        if isinstance(node, Marker):
            return Marker(replace(node.items, visit), node.span)
        if isinstance(node, Concat):
            branches = tuple(tuple(visit(item) for item in branch) for branch in node.branches)
            return Concat(branches, node.span)
        if isinstance(node, EllipsisNode):
            return EllipsisNode(visit(node.inner), node.ident, node.span)
        return node

    return tuple(Expr(replace(expr.items, visit), expr.span) for expr in exprs)

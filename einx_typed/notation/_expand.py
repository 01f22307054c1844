"""Phases A and B of solving: ellipsis depth and expansion (NOTATION 2.3, 2.4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, final

import attrs

from einx_typed.errors import AxisSizeError, RankError
from einx_typed.notation._context import ErrorContext, display_name
from einx_typed.notation._render import render
from einx_typed.notation._values import AxisValue, value_shape
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

__all__ = ["Expansion", "expand", "render_value"]

_NOT_ROOT: Final = -1


@final
@attrs.frozen(slots=True)
class _EllipsisSite:
    """One written ellipsis occurrence: its node, its expression and its place."""

    node: EllipsisNode
    expr_index: int
    rank_per_repeat: int  # dimensions per repetition at root level, _NOT_ROOT inside a group


@final
@attrs.frozen(slots=True)
class Expansion:
    """Result of phases A and B."""

    exprs: tuple[Expr, ...]
    depths: dict[str, int]
    ellipsis_counts: dict[int, int]
    repeats: dict[str, int]


@final
class _Scan:
    """Phase A: depths of names, ellipsis sites and per-expression rank terms."""

    def __init__(self, exprs: Sequence[Expr], context: ErrorContext) -> None:
        self.context = context
        self.depths: dict[str, int] = {}
        self.first: dict[str, Named] = {}
        self.sites: list[_EllipsisSite] = []
        self.fixed_rank: list[int] = []
        self.names_by_ident: dict[int, list[str]] = {}
        self.any_ellipsis = False
        for index, expr in enumerate(exprs):
            self.fixed_rank.append(self.root_items(expr.items, index))

    def root_items(self, items: Sequence[Node], index: int) -> int:
        rank = 0
        for item in items:
            if isinstance(item, Marker):
                rank += self.root_items(item.items, index)
            elif isinstance(item, EllipsisNode):
                self.ellipsis(item, index, _root_rank(item.inner))
            else:
                self.node(item, 0, index)
                rank += 1
        return rank

    def ellipsis(self, node: EllipsisNode, index: int, rank_per_repeat: int) -> None:
        self.any_ellipsis = True
        self.sites.append(_EllipsisSite(node, index, rank_per_repeat))
        self.names_by_ident.setdefault(node.ident, [])
        self.node(node.inner, 1, index, node.ident)

    def node(self, node: Node, depth: int, index: int, ident: int | None = None) -> None:
        if isinstance(node, Named):
            self.name(node, depth)
            if ident is not None:
                self.names_by_ident[ident].append(node.name)
        elif isinstance(node, Unnamed):
            if node.value <= 0:
                raise self.context.error(
                    AxisSizeError,
                    f"The unnamed axis '{node.value}' has length {node.value}; axis lengths "
                    "must be positive.",
                    node.span,
                )
        elif isinstance(node, Composition | Marker):
            for item in node.items:
                self.node(item, depth, index, ident)
        elif isinstance(node, Concat):
            for branch in node.branches:
                for item in branch:
                    self.node(item, depth, index, ident)
        else:
            if depth > 0:
                raise self.context.error(
                    RankError,
                    "Nested ellipses such as '(s...)...' are not supported.",
                    node.span,
                    hint="Use at most one level of '...' around an axis.",
                )
            self.ellipsis(node, index, _NOT_ROOT)

    def name(self, node: Named, depth: int) -> None:
        known = self.depths.get(node.name)
        if known is None:
            self.depths[node.name] = depth
            self.first[node.name] = node
        elif known != depth:
            shown = display_name(node.name)
            raise self.context.error(
                RankError,
                f"Axis {shown} is used inside an ellipsis in one place and outside of an "
                "ellipsis in another.",
                node.span,
                hint=f"Write {shown} with the same number of '...' everywhere.",
            )


def _root_rank(node: Node) -> int:
    if isinstance(node, Marker):
        return sum(_root_rank(item) for item in node.items)
    return 1


@final
class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, ident: int) -> int:
        parent = self.parent.setdefault(ident, ident)
        if parent != ident:
            parent = self.find(parent)
            self.parent[ident] = parent
        return parent

    def union(self, first: int, second: int) -> None:
        self.parent[self.find(first)] = self.find(second)


def expand(
    exprs: Sequence[Expr],
    shapes: Sequence[tuple[int, ...] | None],
    values: Mapping[str, AxisValue],
    context: ErrorContext,
) -> Expansion:
    """Check depths, solve ellipsis repetition counts and expand every ellipsis."""
    scan = _Scan(exprs, context)
    _check_value_ranks(scan, values, context)
    if not scan.any_ellipsis:
        for index, shape in enumerate(shapes):
            if shape is not None and len(shape) != scan.fixed_rank[index]:
                raise _rank_mismatch(exprs[index], index, shape, scan.fixed_rank[index], context)
        return Expansion(tuple(exprs), scan.depths, {}, {})
    counts = _solve_counts(exprs, shapes, values, scan, context)
    expanded = tuple(Expr(_expand_items(expr.items, counts), expr.span) for expr in exprs)
    repeats = {
        name: counts[ident]
        for ident, names in scan.names_by_ident.items()
        if ident in counts
        for name in names
    }
    return Expansion(expanded, scan.depths, counts, repeats)


def _check_value_ranks(scan: _Scan, values: Mapping[str, AxisValue], context: ErrorContext) -> None:
    for name, value in values.items():
        depth = scan.depths.get(name)
        if depth is None:
            continue
        rank = len(value_shape(name, value))
        if rank > depth:
            node = scan.first[name]
            if depth == 0:
                message = (
                    f"Axis {display_name(name)} is not inside an ellipsis, so its value must be "
                    f"one int, not {value!r}."
                )
            else:
                message = (
                    f"Axis {display_name(name)} is inside one ellipsis, so its value must be an "
                    f"int or a flat tuple of ints, not {value!r}."
                )
            raise context.error(RankError, message, node.span)


@final
@attrs.frozen(slots=True)
class _CountEquation:
    """``fixed + sum(coefficient * count(class)) == rank`` for one input tensor."""

    expr_index: int
    fixed: int
    coefficients: dict[int, int]
    rank: int


def _solve_counts(
    exprs: Sequence[Expr],
    shapes: Sequence[tuple[int, ...] | None],
    values: Mapping[str, AxisValue],
    scan: _Scan,
    context: ErrorContext,
) -> dict[int, int]:
    """Repetition count of every ellipsis ident that can be determined."""
    classes = _UnionFind()
    for site in scan.sites:
        classes.find(site.node.ident)
    owner: dict[str, int] = {}
    for ident, names in scan.names_by_ident.items():
        for name in names:
            if name in owner:
                classes.union(ident, owner[name])
            else:
                owner[name] = ident

    known: dict[int, tuple[int, str]] = {}  # class -> (count, where it came from)
    for name, value in values.items():
        if name not in owner or isinstance(value, int):
            continue
        cls = classes.find(owner[name])
        count = len(value)
        previous = known.get(cls)
        if previous is not None and previous[0] != count:
            raise context.error(
                RankError,
                f"The ellipsis around {display_name(name)} repeats {previous[0]} times "
                f"({previous[1]}), but {name}={value!r} has {count} entries.",
                scan.first[name].span,
            )
        known[cls] = (count, f"from {name}={render_value(value)}")

    equations: list[_CountEquation] = []
    for index, shape in enumerate(shapes):
        if shape is None:
            continue
        coefficients: dict[int, int] = {}
        for site in scan.sites:
            if site.expr_index == index and site.rank_per_repeat != _NOT_ROOT:
                cls = classes.find(site.node.ident)
                coefficients[cls] = coefficients.get(cls, 0) + site.rank_per_repeat
        equations.append(_CountEquation(index, scan.fixed_rank[index], coefficients, len(shape)))

    pending = equations
    while pending:
        remaining: list[_CountEquation] = []
        for equation in pending:
            rest = equation.rank - equation.fixed
            unknown: dict[int, int] = {}
            for cls, coefficient in equation.coefficients.items():
                if cls in known:
                    rest -= coefficient * known[cls][0]
                elif coefficient:
                    unknown[cls] = coefficient
            if not unknown:
                if rest != 0:
                    raise _count_mismatch(exprs, equation, known, scan, classes, context)
            elif len(unknown) == 1 or rest == 0:
                for cls, coefficient in unknown.items():
                    if rest < 0 or rest % coefficient:
                        raise _count_mismatch(exprs, equation, known, scan, classes, context)
                    known[cls] = (
                        rest // coefficient,
                        f"from the rank of input {equation.expr_index + 1}",
                    )
            else:
                remaining.append(equation)
        if len(remaining) == len(pending):
            break
        pending = remaining
    if pending:
        equation = pending[0]
        raise _undetermined_counts(exprs, equation, known, scan, classes, context)

    counts: dict[int, int] = {}
    for site in scan.sites:
        cls = classes.find(site.node.ident)
        if cls in known:
            counts[site.node.ident] = known[cls][0]
        elif site.rank_per_repeat != _NOT_ROOT:
            shown = render(site.node)
            names = scan.names_by_ident[site.node.ident]
            fix = names[0] if names else None
            hint = (
                f"Pass {fix}=(...) with one length per repetition to fix how often "
                f"'{shown}' repeats."
                if fix is not None
                else None
            )
            raise context.error(
                RankError,
                f"Cannot determine how many axes the ellipsis '{shown}' stands for: it "
                "does not occur in an input with a known shape.",
                site.node.span,
                hint=hint,
            )
    return counts


def render_value(value: AxisValue) -> str:
    if isinstance(value, int):
        return str(value)
    inner = ", ".join(render_value(item) for item in value)
    return f"({inner},)" if len(value) == 1 else f"({inner})"


def _rank_mismatch(
    expr: Expr, index: int, shape: tuple[int, ...], axes: int, context: ErrorContext
) -> RankError:
    return context.error(
        RankError,
        f"Input {index + 1} has rank {len(shape)}, but its expression '{render(expr)}' has "
        f"{_axes(axes)}.",
        expr.span,
        hint=f"The tensor has rank {len(shape)} but the expression has {_axes(axes)}; use an "
        "ellipsis such as 'b...' for a variable number of axes.",
    )


def _ellipses_in(equation: _CountEquation, scan: _Scan) -> list[EllipsisNode]:
    return [
        site.node
        for site in scan.sites
        if site.expr_index == equation.expr_index and site.rank_per_repeat != _NOT_ROOT
    ]


def _count_mismatch(
    exprs: Sequence[Expr],
    equation: _CountEquation,
    known: Mapping[int, tuple[int, str]],
    scan: _Scan,
    classes: _UnionFind,
    context: ErrorContext,
) -> RankError:
    expr = exprs[equation.expr_index]
    rank = equation.rank
    details = []
    for node in _ellipses_in(equation, scan):
        cls = classes.find(node.ident)
        if cls in known:
            details.append(f"'{render(node)}' repeats {known[cls][0]} times ({known[cls][1]})")
    fixed = equation.fixed
    steps = sorted(set(c for c in equation.coefficients.values() if c))
    hint = None
    if not steps:
        reason = f"has {_axes(fixed)}"
        hint = (
            "An ellipsis inside a composition such as '(s...)' is one axis of the tensor; "
            "put the ellipsis at the root (e.g. 's...') for a variable number of axes."
            if _ellipses_inside(expr)
            else None
        )
    elif rank < fixed:
        reason = f"needs at least {_axes(fixed)}"
    elif details:
        reason = "does not fit: " + "; ".join(details)
    else:
        each = " or ".join(map(str, steps))
        unit = "axis" if steps == [1] else "axes"
        reason = f"has {_axes(fixed)} plus {each} {unit} per repetition of its ellipses"
    return context.error(
        RankError,
        f"Input {equation.expr_index + 1} has rank {rank}, but its expression "
        f"'{render(expr)}' {reason}.",
        expr.span,
        hint=hint,
    )


def _axes(count: int) -> str:
    return f"{count} axis" if count == 1 else f"{count} axes"


def _ellipses_inside(expr: Expr) -> bool:
    """Whether ``expr`` has an ellipsis below the root (inside a composition)."""

    def inside(node: Node, nested: bool) -> bool:
        if isinstance(node, EllipsisNode):
            return nested or inside(node.inner, True)
        if isinstance(node, Composition):
            return any(inside(item, True) for item in node.items)
        if isinstance(node, Marker):
            return any(inside(item, nested) for item in node.items)
        if isinstance(node, Concat):
            return any(inside(item, True) for b in node.branches for item in b)
        return False

    return any(inside(item, False) for item in expr.items)


def _undetermined_counts(
    exprs: Sequence[Expr],
    equation: _CountEquation,
    known: Mapping[int, tuple[int, str]],
    scan: _Scan,
    classes: _UnionFind,
    context: ErrorContext,
) -> RankError:
    expr = exprs[equation.expr_index]
    open_ellipses = [
        node for node in _ellipses_in(equation, scan) if classes.find(node.ident) not in known
    ]
    shown = " and ".join(f"'{render(node)}'" for node in open_ellipses)
    names = [n for node in open_ellipses for n in scan.names_by_ident[node.ident][:1]]
    hint = None
    if names:
        hint = (
            "Fix the number of repetitions with " + " or ".join(f"{n}=(...)" for n in names) + "."
        )
    return context.error(
        RankError,
        f"Cannot determine how many axes each of the ellipses {shown} stands for in input "
        f"{equation.expr_index + 1} ('{render(expr)}', rank {equation.rank}).",
        open_ellipses[0].span if open_ellipses else expr.span,
        hint=hint,
    )


def _expand_items(items: tuple[Node, ...], counts: Mapping[int, int]) -> tuple[Node, ...]:
    """Expand the ellipses in ``items``; a marker left empty (``[s...]`` repeated zero
    times) disappears, so it marks nothing and yields no ``keepdims`` axis."""
    result: list[Node] = []
    for item in items:
        if isinstance(item, EllipsisNode):
            count = counts.get(item.ident)
            if count is None:
                result.append(Named(opaque_name(item), item.span))
            else:
                result.extend(_rename(item.inner, f".{i}") for i in range(count))
        elif isinstance(item, Marker):
            inner = _expand_items(item.items, counts)
            if inner:
                result.append(Marker(inner, item.span))
        else:
            result.append(_expand_node(item, counts))
    return tuple(result)


def opaque_name(node: EllipsisNode) -> str:
    """The axis name of an ellipsis left unexpanded inside a composition: its text without
    brackets, so ``([s]...)`` and ``(s...)`` are one axis ``s...``.

    As in einx 0.3.0, a marker inside such an ellipsis is lost with its brackets.
    """
    return render(_unmarked(node))


def _unmarked(node: Node) -> Node:
    if isinstance(node, Marker):
        items = tuple(_unmarked(item) for item in node.items)
        return items[0] if len(items) == 1 else Composition(items, node.span)
    if isinstance(node, Composition):
        return Composition(tuple(_unmarked(item) for item in node.items), node.span)
    if isinstance(node, EllipsisNode):
        return EllipsisNode(_unmarked(node.inner), node.ident, node.span)
    if isinstance(node, Concat):
        branches = tuple(tuple(_unmarked(item) for item in b) for b in node.branches)
        return Concat(branches, node.span)
    return node


def _expand_node(node: Node, counts: Mapping[int, int]) -> Node:
    if isinstance(node, Composition):
        return Composition(_expand_items(node.items, counts), node.span)
    if isinstance(node, Concat):
        return Concat(tuple(_expand_items(b, counts) for b in node.branches), node.span)
    return node


def _rename(node: Node, suffix: str) -> Node:
    if isinstance(node, Named):
        return Named(node.name + suffix, node.span)
    if isinstance(node, Composition):
        return Composition(tuple(_rename(item, suffix) for item in node.items), node.span)
    if isinstance(node, Marker):
        return Marker(tuple(_rename(item, suffix) for item in node.items), node.span)
    if isinstance(node, Concat):
        return Concat(
            tuple(tuple(_rename(item, suffix) for item in b) for b in node.branches), node.span
        )
    return node

"""Phase D of solving: axis lengths by propagation (NOTATION 2.6).

Every equation says that a node has a given length.  An equation whose node has exactly
one unknown axis is solved exactly: a quotient must divide, a remainder must be positive.
Equations with several unknowns wait until others have fixed enough axes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import final

import attrs

from einx_typed.errors import AxisSizeError, RankError, SolveError
from einx_typed.notation._context import ErrorContext, display_name
from einx_typed.notation._cse import base_name
from einx_typed.notation._expand import render_value
from einx_typed.notation._render import render, render_items
from einx_typed.notation._values import AxisValue
from einx_typed.notation._walk import dims, iter_nodes
from einx_typed.notation.tree import (
    ANONYMOUS_ELLIPSIS,
    Composition,
    Concat,
    Expr,
    Marker,
    Named,
    Node,
    Unnamed,
)

__all__ = ["solve_lengths"]


@final
@attrs.frozen(slots=True)
class _Equation:
    """``node`` has length ``target``; ``origin`` says where ``target`` came from."""

    node: Node
    target: int
    origin: str
    known_shape: bool = True


@final
class _LengthSolver:
    def __init__(self, context: ErrorContext) -> None:
        self.context = context
        self.lengths: dict[str, int] = {}
        self.sources: dict[str, str] = {}

    def value(self, node: Node) -> int | None:
        if isinstance(node, Named):
            return self.lengths.get(node.name)
        if isinstance(node, Unnamed):
            return node.value
        if isinstance(node, Composition | Marker):
            return self.product(node.items)
        if isinstance(node, Concat):
            total = 0
            for branch in node.branches:
                length = self.product(branch)
                if length is None:
                    return None
                total += length
            return total
        return None  # pragma: no cover - no ellipsis is left after expansion

    def product(self, items: Sequence[Node]) -> int | None:
        result = 1
        for item in items:
            length = self.value(item)
            if length is None:
                return None
            result *= length
        return result

    def solve(self, node: Node, target: int, equation: _Equation) -> bool:
        """Apply ``node == target``; False while too many axes are unknown."""
        if isinstance(node, Named):
            self.assign(node, target, equation)
            return True
        if isinstance(node, Unnamed):
            if node.value != target:
                raise self.mismatch(node, target, equation, node.value)
            return True
        if isinstance(node, Composition | Marker):
            return self.solve_product(node, node.items, target, equation)
        if isinstance(node, Concat):
            return self.solve_sum(node, node.branches, target, equation)
        return True  # pragma: no cover - no ellipsis is left after expansion

    def solve_product(
        self, node: Node, items: Sequence[Node], target: int, equation: _Equation
    ) -> bool:
        known = 1
        unknown: list[Node] = []
        for item in items:
            length = self.value(item)
            if length is None:
                unknown.append(item)
            else:
                known *= length
        if not unknown:
            if known != target:
                raise self.mismatch(node, target, equation, known)
            return True
        if len(unknown) > 1:
            return False
        if target % known:
            raise self.context.error(
                AxisSizeError,
                f"{self.subject(node, target, equation)}, which is not divisible by {known}, "
                f"the product of the known lengths in '{render(node)}' "
                f"({self.known_names(node)}).",
                node.span,
            )
        return self.solve(unknown[0], target // known, equation)

    def solve_sum(
        self,
        node: Node,
        branches: Sequence[Sequence[Node]],
        target: int,
        equation: _Equation,
    ) -> bool:
        known = 0
        unknown: list[Sequence[Node]] = []
        for branch in branches:
            length = self.product(branch)
            if length is None:
                unknown.append(branch)
            else:
                known += length
        if not unknown:
            if known != target:
                raise self.mismatch(node, target, equation, known)
            return True
        if len(unknown) > 1:
            return self.solve_repeated_sum(unknown, target - known, equation)
        if known >= target:
            raise self.context.error(
                AxisSizeError,
                f"{self.subject(node, target, equation)}, but the known parts of "
                f"'{render(node)}' already add up to {known} ({self.known_names(node)}), "
                "leaving no positive length for the rest.",
                node.span,
            )
        return self.solve_product(node, unknown[0], target - known, equation)

    def solve_repeated_sum(
        self, branches: Sequence[Sequence[Node]], rest: int, equation: _Equation
    ) -> bool:
        """Solve ``(a + a)``-like sums whose unknown branches share one unknown axis."""
        unknown_name: str | None = None
        unknown_axis: Named | None = None
        factor_sum = 0
        for branch in branches:
            factor = 1
            unknown_in_branch = 0
            for item in branch:
                length = self.value(item)
                if length is not None:
                    factor *= length
                elif isinstance(item, Named) and unknown_name in (None, item.name):
                    unknown_name, unknown_axis = item.name, item
                    unknown_in_branch += 1
                else:
                    return False
            if unknown_in_branch != 1:
                return False
            factor_sum += factor
        if unknown_axis is None:
            return False
        if rest <= 0 or rest % factor_sum:
            raise self.context.error(
                AxisSizeError,
                f"{self.subject(equation.node, equation.target, equation)}, which cannot be "
                f"split into positive lengths for {display_name(unknown_axis.name)}.",
                equation.node.span,
            )
        return self.solve(unknown_axis, rest // factor_sum, equation)

    def assign(self, node: Named, length: int, equation: _Equation) -> None:
        previous = self.lengths.get(node.name)
        source = self.source(node, equation)
        if previous is None:
            self.lengths[node.name] = length
            self.sources[node.name] = source
        elif previous != length:
            raise self.context.error(
                AxisSizeError,
                f"Axis {display_name(node.name)} has contradictory lengths: {previous} "
                f"({self.sources[node.name]}) and {length} ({source}).",
                node.span,
            )

    def source(self, node: Node, equation: _Equation) -> str:
        if node is equation.node:
            return f"from {equation.origin}"
        return f"from '{render(equation.node)}' = {equation.target} in {equation.origin}"

    def subject(self, node: Node, target: int, equation: _Equation) -> str:
        if node is equation.node or target == equation.target:
            return f"{equation.origin[0].upper()}{equation.origin[1:]} has length {target}"
        return (
            f"'{render(node)}' must have length {target} (from {equation.origin} = "
            f"{equation.target})"
        )

    def known_names(self, node: Node) -> str:
        shown = [
            f"{n.name}={self.lengths[n.name]}"
            for n in iter_nodes(node)
            if isinstance(n, Named) and n.name in self.lengths
        ]
        return ", ".join(dict.fromkeys(shown)) or "unnamed axes only"

    def mismatch(self, node: Node, target: int, equation: _Equation, actual: int) -> AxisSizeError:
        if isinstance(node, Unnamed):
            detail = f"the unnamed axis '{node.value}' has length {node.value}"
        else:
            detail = f"'{render(node)}' has length {actual} ({self.known_names(node)})"
        return self.context.error(
            AxisSizeError, f"{self.subject(node, target, equation)}, but {detail}.", node.span
        )


def solve_lengths(
    exprs: Sequence[Expr],
    shapes: Sequence[tuple[int, ...] | None],
    values: Mapping[str, AxisValue],
    depths: Mapping[str, int],
    repeats: Mapping[str, int],
    extra: Sequence[tuple[Sequence[tuple[int, int]], int]],
    context: ErrorContext,
) -> dict[str, int]:
    """Length of every named axis of the expanded ``exprs``."""
    solver = _LengthSolver(context)
    present: dict[str, Named] = {}
    for expr in exprs:
        for node in iter_nodes(expr):
            if isinstance(node, Named):
                present.setdefault(node.name, node)
            elif isinstance(node, Concat):
                _check_branches(node, context)
    for name, value in values.items():
        if name not in depths:
            continue
        shown = f"from {name}={render_value(value)}"
        if isinstance(value, int):
            instances = (
                [name]
                if depths[name] == 0
                else [f"{name}.{i}" for i in range(repeats.get(name, 0))]
            )
            for instance in instances:
                if instance in present:
                    solver.lengths[instance] = value
                    solver.sources[instance] = shown
        else:
            for i, length in enumerate(value):
                instance = f"{name}.{i}"
                if instance in present and isinstance(length, int):
                    solver.lengths[instance] = length
                    solver.sources[instance] = shown

    pending: list[_Equation] = []
    for index, (expr, shape) in enumerate(zip(exprs, shapes)):
        if shape is None:
            continue
        for axis, (node, length) in enumerate(zip(dims(expr), shape)):
            origin = f"dimension {axis} of input {index + 1}"
            if length <= 0:
                raise context.error(
                    AxisSizeError,
                    f"Dimension {axis} of input {index + 1} has length {length}; zero-size "
                    "dimensions are not supported.",
                    node.span,
                )
            pending.append(_Equation(node, length, origin))
    for number, (terms, total) in enumerate(extra):
        branches = []
        for expr_index, axis in terms:
            try:
                branches.append((dims(exprs[expr_index])[axis],))
            except IndexError:
                raise SolveError(
                    f"Extra equation {number} refers to dimension {axis} of expression "
                    f"{expr_index}, which does not exist."
                ) from None
        node = Concat(tuple(branches), branches[0][0].span if branches else (0, 0))
        pending.append(_Equation(node, total, f"extra equation {number + 1} of the op"))

    while pending:
        waiting = [eq for eq in pending if not solver.solve(eq.node, eq.target, eq)]
        if len(waiting) == len(pending):
            break
        pending = waiting

    for name, node in present.items():
        if name not in solver.lengths:
            raise _undetermined(name, node, pending, solver, exprs, shapes, context)
    return solver.lengths


def _check_branches(node: Concat, context: ErrorContext) -> None:
    for branch in node.branches:
        count = len(dims(Marker(tuple(branch))))
        if count != 1:
            shown = render_items(branch)
            raise context.error(
                RankError,
                f"Each part of the concatenation '{render(node)}' must be exactly one axis, but "
                f"'{shown}' is {count} axes.",
                node.span,
                hint="Wrap several axes in parentheses, e.g. '(a + (b c))'.",
            )


def _undetermined(
    name: str,
    node: Named,
    pending: Sequence[_Equation],
    solver: _LengthSolver,
    exprs: Sequence[Expr],
    shapes: Sequence[tuple[int, ...] | None],
    context: ErrorContext,
) -> AxisSizeError:
    for equation in pending:
        unknown = [
            n.name
            for n in iter_nodes(equation.node)
            if isinstance(n, Named) and n.name not in solver.lengths
        ]
        if name in unknown:
            unknown = list(dict.fromkeys(unknown))
            listed = " and ".join(display_name(n) for n in unknown)
            return context.error(
                AxisSizeError,
                f"Cannot determine the lengths of axes {listed}: only '{render(equation.node)}' "
                f"= {equation.target} is known ({equation.origin}).",
                equation.node.span,
                hint="Pass all but one of " + ", ".join(f"{_fix(n)}=..." for n in unknown) + ".",
            )
    in_known_shape = any(
        isinstance(n, Named) and n.name == name
        for expr, shape in zip(exprs, shapes)
        if shape is not None
        for n in iter_nodes(expr)
    )
    where = "" if in_known_shape else ": it occurs only in expressions without a known shape"
    base = _fix(name)
    if name.endswith("..."):
        hint = f"Pass {base}=(...) with one length per repetition of '{name}'."
    elif " " in name:
        hint = f"Pass the lengths of the axes in '{name}', e.g. {name.split()[0]}=...."
    elif base != name:
        hint = f"Pass {base}=(...) with one length per repetition to fix the length of {name}."
    else:
        hint = f"Pass {name}=... to fix the length of {name}."
    return context.error(
        AxisSizeError,
        f"Cannot determine the length of axis {display_name(name)}{where}.",
        node.span,
        hint=hint,
    )


def _fix(name: str) -> str:
    base = base_name(name)
    return ANONYMOUS_ELLIPSIS if base == "" else base

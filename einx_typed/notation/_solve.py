"""Solve expressions against shapes and axis values: depth, expansion, CSE, lengths."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TypeAlias, final

import attrs

from einx_typed.errors import SolveError
from einx_typed.notation._context import ErrorContext
from einx_typed.notation._cse import merge_common_subexpressions
from einx_typed.notation._expand import expand
from einx_typed.notation._lengths import solve_lengths
from einx_typed.notation._values import normalize_axis_values
from einx_typed.notation._walk import axis_depths, dims, node_length
from einx_typed.notation.tree import ANONYMOUS_ELLIPSIS, Expr

__all__ = ["ExtraEquations", "Solution", "check_axis_names", "solve"]

#: Extra linear equations of an op: each is ``([(expr index, root dim index), ...], total)``
#: and says that the lengths of those dimensions add up to ``total``.
ExtraEquations: TypeAlias = Callable[
    [tuple[Expr, ...]], Sequence[tuple[Sequence[tuple[int, int]], int]]
]


def _frozen_mapping(value: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(value))


def _frozen_int_mapping(value: Mapping[int, int]) -> Mapping[int, int]:
    return MappingProxyType(dict(value))


@final
@attrs.frozen(slots=True)
class Solution:
    """Expanded expressions and the length of every named axis in them.

    ``exprs`` keep the order they were given in, contain no ellipsis (``s...`` became
    ``s.0 s.1 ...``; an undetermined ellipsis inside a composition became one axis named by
    its text, e.g. ``s...``) and, with CSE, merged runs as one axis named by their text
    (``a b``).  ``ellipsis_counts`` maps ellipsis idents to repetition counts and
    ``repeats`` maps each written axis inside an expanded ellipsis to its count.
    """

    exprs: tuple[Expr, ...]
    lengths: Mapping[str, int] = attrs.field(converter=_frozen_mapping)
    ellipsis_counts: Mapping[int, int] = attrs.field(factory=dict, converter=_frozen_int_mapping)
    repeats: Mapping[str, int] = attrs.field(factory=dict, converter=_frozen_mapping)

    def shape(self, index: int) -> tuple[int, ...]:
        """Lengths of the root-level dimensions of ``exprs[index]`` (markers unwrapped)."""
        return tuple(node_length(node, self.lengths) for node in dims(self.exprs[index]))


def check_axis_names(
    exprs: Sequence[Expr],
    axis_values: Mapping[str, object],
    text: str,
    shapes: Sequence[tuple[int, ...] | None] | None = None,
) -> None:
    """Raise a :class:`SolveError` for an axis value whose name no expression uses."""
    if not axis_values:
        return
    known = axis_depths(exprs)
    known.setdefault(ANONYMOUS_ELLIPSIS, 1)
    for name in axis_values:
        if name in known:
            continue
        existing = sorted(n for n in known if n != ANONYMOUS_ELLIPSIS)
        hint = f"The axes of this call are: {', '.join(existing) or 'none'}."
        close = difflib.get_close_matches(name, existing, n=1, cutoff=0.5)
        if close:
            hint = f"Did you mean '{close[0]}'? " + hint
        raise SolveError(
            f"Axis '{name}' is given a value, but no expression of this call uses it.",
            expr=text,
            span=None,
            shapes=shapes,
            axis_values=axis_values,
            hint=hint,
        )


def solve(
    exprs: Sequence[Expr],
    shapes: Sequence[tuple[int, ...] | None],
    axis_values: Mapping[str, object],
    *,
    text: str,
    cse: bool = True,
    extra: ExtraEquations | None = None,
    check_unknown: bool = True,
    cse_concat: bool = False,
    cse_in_markers: bool = False,
    arguments: int | None = None,
) -> Solution:
    """Expand and solve ``exprs`` against tensor ``shapes`` (``None``: unknown) and values.

    Raises :class:`~einx_typed.errors.RankError` when ranks, ellipsis counts or depths do
    not fit and :class:`~einx_typed.errors.AxisSizeError` when lengths are contradictory,
    undetermined or not positive.  ``cse_concat`` lets CSE also merge concatenations
    (einx's rule for ``rearrange``/``solve``; ops that forbid concatenation leave it off);
    ``cse_in_markers`` lets it merge runs inside a nested marker, e.g. ``([a b]) c``
    (einx's rule for the reduce ops).  ``arguments`` is the number of leading expressions
    that describe the call's arguments (the rest are outputs); errors show the shapes of
    those only (default: all ``shapes``, where ``None`` reads "factory").
    """
    if len(shapes) != len(exprs):
        raise SolveError(
            f"Got {len(shapes)} shapes for {len(exprs)} expressions.", expr=text, shapes=shapes
        )
    values = normalize_axis_values(axis_values) if axis_values else {}
    shown = tuple(shapes if arguments is None else shapes[:arguments])
    context = ErrorContext(text, shown, axis_values)
    if check_unknown:
        check_axis_names(exprs, values, text, shown)
    expansion = expand(exprs, shapes, values, context)
    expanded = expansion.exprs
    if cse:
        expanded = merge_common_subexpressions(
            expanded, values.keys(), allow_concat=cse_concat, in_markers=cse_in_markers
        )
    equations = extra(expanded) if extra is not None else ()
    lengths = solve_lengths(
        expanded,
        shapes,
        values,
        expansion.depths,
        expansion.repeats,
        equations,
        context,
    )
    return Solution(expanded, lengths, expansion.ellipsis_counts, expansion.repeats)

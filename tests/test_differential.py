"""Property-based differential tests: einx_typed against einx 0.3.0 on numpy.

Hypothesis builds random op strings out of named axes, unnamed axes, compositions,
ellipses and markers, together with tensor shapes built from chosen axis lengths and the
axis values a call needs, so that most calls are valid.  A controlled fraction is then
perturbed (a wrong dimension, a wrong rank, a contradicting axis value, a corrupted
character, an axis value that no expression uses) to exercise error paths.

For every call both libraries run: results must agree in shape and value, and einx_typed
must raise an :class:`einx_typed.EinxError` exactly when einx 0.3.0 raises anything.
Calls that hit a deliberate difference between the two (DESIGN.md section 3,
NOTATION.md "[0.3.0 quirk]") are recognised by :func:`deliberate_difference`, which names
the difference; they are checked against einx_typed's own rule or left out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any, Final, final

import attrs
import numpy as np
import pytest
from hypothesis import Phase, assume, currently_in_test_context, given, note, settings
from hypothesis import strategies as st

import einx_typed

einx = pytest.importorskip("einx")

NAMES: Final = ("a", "b", "c", "d", "e", "f", "g", "h")
ANONYMOUS: Final = "..."
NAME_PATTERN: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MARKER: Final = re.compile(r"\[([^\[\]]*)\]")
MARKER_WITH_DOTS: Final = re.compile(r"\[([^\[\]]*)\](\.\.\.)?")
ELEMENTWISE_OPS: Final = ("add", "multiply", "subtract")
PERTURB_PROBABILITY: Final = 0.2


# --- the building blocks of an expression ------------------------------------------------


@final
@attrs.frozen
class Atom:
    """One named axis, unnamed axis or ellipsis, with the lengths it stands for.

    A plain or unnamed axis has one length; an ellipsis has one length per repetition.
    """

    name: str
    lengths: tuple[int, ...]
    ellipsis: bool = False

    @property
    def unnamed(self) -> bool:
        return self.name.isdigit()

    @property
    def size(self) -> int:
        return math.prod(self.lengths)

    def text(self, marked: bool, marker_inside: bool) -> str:
        if not self.ellipsis:
            return f"[{self.name}]" if marked else self.name
        base = ANONYMOUS if self.name == ANONYMOUS else self.name
        if self.name == ANONYMOUS:
            return f"[{base}]" if marked else base
        if not marked:
            return f"{base}..."
        return f"[{base}...]" if marker_inside else f"[{base}]..."


@final
@attrs.frozen
class Group:
    """One root-level item: a single atom, or a composition of atoms in parentheses."""

    atoms: tuple[Atom, ...]
    composed: bool

    def dims(self) -> tuple[int, ...]:
        if self.composed:
            return (math.prod(atom.size for atom in self.atoms),)
        (atom,) = self.atoms
        return atom.lengths if atom.ellipsis else (atom.lengths[0],)


@final
@attrs.frozen
class Layout:
    """An expression: root-level groups, which atoms are marked, and how markers are written."""

    groups: tuple[Group, ...]
    marked: frozenset[str] = frozenset()
    marker_inside: bool = True
    merge_markers: bool = False

    def shape(self) -> tuple[int, ...]:
        return tuple(d for group in self.groups for d in group.dims())

    def atoms(self) -> tuple[Atom, ...]:
        return tuple(atom for group in self.groups for atom in group.atoms)

    def text(self) -> str:
        words: list[str] = []
        open_run: list[str] = []
        for group in self.groups:
            if group.composed:
                inner = " ".join(
                    a.text(a.name in self.marked, self.marker_inside) for a in group.atoms
                )
                word = f"({inner})"
            else:
                (atom,) = group.atoms
                marked = atom.name in self.marked
                if self.merge_markers and marked and not atom.ellipsis:
                    open_run.append(atom.name)
                    continue
                word = atom.text(marked, self.marker_inside)
            if open_run:
                words.append("[" + " ".join(open_run) + "]")
                open_run = []
            words.append(word)
        if open_run:
            words.append("[" + " ".join(open_run) + "]")
        return " ".join(words)


@final
@attrs.frozen
class Call:
    """One op call, ready to run on both libraries."""

    op: str
    expr: str
    shapes: tuple[tuple[int, ...], ...]
    kwargs: dict[str, Any]
    params: dict[str, Any] = attrs.field(factory=dict)
    perturbation: str | None = None
    marked_axes: int | None = None
    """Number of marked axes after ellipsis expansion (softmax/flip calls only)."""


# --- strategies ------------------------------------------------------------------------

lengths = st.integers(1, 4)


@st.composite
def atoms(
    draw: st.DrawFn,
    min_named: int = 1,
    max_named: int = 4,
    allow_ellipsis: bool = True,
    allow_unnamed: bool = True,
    exclude: Sequence[str] = (),
) -> list[Atom]:
    """Distinct named axes, optionally one ellipsis and an unnamed axis (mostly ``1``)."""
    pool = [n for n in NAMES if n not in exclude]
    names = draw(
        st.lists(st.sampled_from(pool), min_size=min_named, max_size=max_named, unique=True)
    )
    result = [Atom(n, (draw(lengths),)) for n in names]
    if allow_ellipsis and draw(st.booleans()):
        name = draw(st.sampled_from(["s", "t", ANONYMOUS]))
        reps = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
        result.append(Atom(name, reps, ellipsis=True))
    if allow_unnamed and draw(st.integers(0, 4)) == 0:
        value = draw(st.sampled_from([1, 1, 1, 2, 3]))
        result.append(Atom(str(value), (value,)))
    return result


@st.composite
def layouts(draw: st.DrawFn, members: Sequence[Atom], compose: bool = True) -> Layout:
    """The atoms in a random order, grouped into random compositions."""
    order = draw(st.permutations(list(members)))
    groups: list[Group] = []
    i = 0
    while i < len(order):
        size = draw(st.integers(1, 3)) if compose else 1
        chunk = tuple(order[i : i + size])
        i += size
        composed = len(chunk) > 1 or (compose and draw(st.integers(0, 5)) == 0)
        groups.append(Group(chunk, composed))
    # At most one ellipsis may expand at root level per expression.
    root_ellipses = [g for g in groups if not g.composed and g.atoms[0].ellipsis]
    assume(len(root_ellipses) <= 1)
    return Layout(tuple(groups))


def needed_kwargs(inputs: Sequence[Layout], output_only: Sequence[Atom]) -> dict[str, Any]:
    """Axis values that make the call determinable: all but one atom of each composition."""
    known: dict[str, Any] = {}
    root_named = {
        a.name for layout in inputs for g in layout.groups if not g.composed for a in g.atoms
    }
    for layout in inputs:
        for group in layout.groups:
            if not group.composed:
                continue
            unknown = [a for a in group.atoms if a.name not in root_named and not a.unnamed]
            for atom in unknown[1:]:
                known[atom.name] = _value_of(atom)
    for atom in output_only:
        known[atom.name] = _value_of(atom)
    return known


def _value_of(atom: Atom) -> Any:
    return list(atom.lengths) if atom.ellipsis else atom.lengths[0]


@st.composite
def extra_kwargs(draw: st.DrawFn, members: Sequence[Atom], known: dict[str, Any]) -> dict[str, Any]:
    """``known`` plus a random selection of further (consistent) axis values."""
    result = dict(known)
    for atom in members:
        if atom.unnamed or atom.name == ANONYMOUS or atom.name in result:
            continue
        if draw(st.integers(0, 4)) == 0:
            result[atom.name] = _value_of(atom)
    return result


@st.composite
def perturbed(draw: st.DrawFn, call: Call) -> Call:
    """``call`` itself, or (with probability PERTURB_PROBABILITY) a corrupted variant."""
    if draw(st.floats(0, 1)) >= PERTURB_PROBABILITY:
        return call
    kind = draw(st.sampled_from(["shape", "rank", "kwarg", "syntax", "unknown-kwarg"]))
    if kind == "shape" and call.shapes and any(call.shapes):
        i = draw(st.sampled_from([k for k, s in enumerate(call.shapes) if s]))
        j = draw(st.integers(0, len(call.shapes[i]) - 1))
        grown = list(call.shapes[i])
        grown[j] += draw(st.integers(1, 2))
        shapes = (*call.shapes[:i], tuple(grown), *call.shapes[i + 1 :])
        return attrs.evolve(call, shapes=shapes, perturbation="shape")
    if kind == "rank" and call.shapes:
        i = draw(st.integers(0, len(call.shapes) - 1))
        old = call.shapes[i]
        drop = bool(old) and draw(st.booleans())
        changed = old[:-1] if drop else (*old, 2)
        shapes = (*call.shapes[:i], changed, *call.shapes[i + 1 :])
        return attrs.evolve(call, shapes=shapes, perturbation="rank")
    if kind == "kwarg" and call.kwargs:
        name = draw(st.sampled_from(sorted(call.kwargs)))
        value = call.kwargs[name]
        bumped = [v + 1 for v in value] if isinstance(value, list) else value + 1
        return attrs.evolve(call, kwargs={**call.kwargs, name: bumped}, perturbation="kwarg")
    if kind == "unknown-kwarg":
        return attrs.evolve(call, kwargs={**call.kwargs, "z": 2}, perturbation="unknown-kwarg")
    position = draw(st.integers(0, len(call.expr)))
    if draw(st.booleans()) and call.expr:
        expr = call.expr[: max(0, position - 1)] + call.expr[position:]
    else:
        char = draw(st.sampled_from(list("()[],+-> .1a")))
        expr = call.expr[:position] + char + call.expr[position:]
    return attrs.evolve(call, expr=expr, perturbation="syntax")


def _marked_layout(draw: st.DrawFn, layout: Layout, at_least_one: bool) -> Layout:
    candidates = [a.name for a in layout.atoms() if not a.unnamed]
    minimum = 1 if at_least_one and candidates else 0
    marked = (
        draw(st.lists(st.sampled_from(candidates), min_size=minimum, unique=True))
        if candidates
        else []
    )
    return attrs.evolve(
        layout,
        marked=frozenset(marked),
        marker_inside=draw(st.booleans()),
        merge_markers=draw(st.booleans()),
    )


@st.composite
def rearrange_calls(draw: st.DrawFn) -> Call:
    members = draw(atoms())
    source = draw(layouts(members))
    kept = [a for a in members if not a.unnamed or draw(st.booleans())]
    new = [Atom("n", (draw(lengths),))] if draw(st.integers(0, 3)) == 0 else []
    if draw(st.integers(0, 4)) == 0:
        kept.append(Atom("1", (1,)))
    target = draw(layouts(kept + new))
    kwargs = draw(extra_kwargs(members, needed_kwargs([source], new)))
    call = Call("rearrange", f"{source.text()} -> {target.text()}", (source.shape(),), kwargs)
    return draw(perturbed(call))


@st.composite
def concat_calls(draw: st.DrawFn) -> Call:
    """``G x, G y -> G (x + y)``: rearrange with a concatenation."""
    shared = draw(
        atoms(
            min_named=0, max_named=2, allow_ellipsis=False, allow_unnamed=False, exclude=("x", "y")
        )
    )
    x, y = Atom("x", (draw(lengths),)), Atom("y", (draw(lengths),))
    first = draw(layouts([*shared, x], compose=False))
    second = draw(layouts([*shared, y], compose=False))
    out = Layout(
        (
            *(Group((a,), False) for a in shared),
            Group((x,), True),
        )
    )
    out_text = out.text().replace("(x)", "(x + y)")
    call = Call(
        "rearrange",
        f"{first.text()}, {second.text()} -> {out_text}",
        (first.shape(), second.shape()),
        {},
    )
    return draw(perturbed(call))


@st.composite
def dot_calls(draw: st.DrawFn) -> Call:
    names = draw(st.permutations(list(NAMES)))
    counts = draw(
        st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2), st.integers(0, 2))
    )
    pools: list[list[Atom]] = []
    offset = 0
    for count in counts:
        pools.append([Atom(n, (draw(lengths),)) for n in names[offset : offset + count]])
        offset += count
    batch, contracted, x_only, w_only = pools
    if draw(st.booleans()):
        # Bracket shorthand: ``x-items [contracted -> w_only] x-items``.
        left = draw(layouts(batch + x_only, compose=False))
        split = draw(st.integers(0, len(left.groups)))
        before = Layout(left.groups[:split]).text()
        after = Layout(left.groups[split:]).text()
        inner = " ".join(a.name for a in contracted) + "->" + " ".join(a.name for a in w_only)
        expr = " ".join(p for p in (before, f"[{inner}]", after) if p)
        x_layout = Layout(
            left.groups[:split]
            + tuple(Group((a,), False) for a in contracted)
            + left.groups[split:]
        )
        w_shape = tuple(a.lengths[0] for a in contracted + w_only)
        call = Call("dot", expr, (x_layout.shape(), w_shape), {})
        return draw(perturbed(call))
    x = draw(layouts(batch + contracted + x_only))
    w_batch = [a for a in batch if draw(st.booleans())]
    w = draw(layouts(w_batch + contracted + w_only))
    out = draw(layouts(batch + x_only + w_only))
    kwargs = draw(extra_kwargs(batch + contracted + x_only + w_only, needed_kwargs([x, w], [])))
    call = Call("dot", f"{x.text()}, {w.text()} -> {out.text()}", (x.shape(), w.shape()), kwargs)
    return draw(perturbed(call))


@st.composite
def elementwise_calls(draw: st.DrawFn) -> Call:
    op = draw(st.sampled_from(["add", "multiply", "subtract"]))
    members = draw(atoms(allow_unnamed=False))
    x = draw(layouts(members))
    if draw(st.integers(0, 2)) == 0:
        # Bracket shorthand: the second operand is the marked part of x.
        marked = _marked_layout(draw, x, at_least_one=True)
        y_shape = _marked_shape(marked)
        kwargs = draw(extra_kwargs(members, needed_kwargs([x], [])))
        call = Call(op, marked.text(), (x.shape(), y_shape), kwargs)
        return draw(perturbed(call))
    subset = [a for a in members if draw(st.booleans())]
    y = draw(layouts(subset, compose=False))
    kwargs = draw(extra_kwargs(members, needed_kwargs([x], [])))
    if draw(st.booleans()):
        expr = f"{x.text()}, {y.text()}"
    else:
        new = [Atom("n", (draw(lengths),))] if draw(st.integers(0, 3)) == 0 else []
        out = draw(layouts(members + new))
        kwargs.update(needed_kwargs([], new))
        expr = f"{x.text()}, {y.text()} -> {out.text()}"
    return draw(perturbed(Call(op, expr, (x.shape(), y.shape()), kwargs)))


def _marked_shape(layout: Layout) -> tuple[int, ...]:
    """Shape of the second operand of the elementwise bracket shorthand."""
    dims: list[int] = []
    for group in layout.groups:
        chosen = [a for a in group.atoms if a.name in layout.marked]
        if group.composed:
            # A composition keeps its parentheses even when nothing in it is marked: `()`.
            dims.append(math.prod(a.size for a in chosen))
        else:
            dims.extend(group.dims())
    return tuple(dims)


@st.composite
def reduce_calls(draw: st.DrawFn) -> Call:
    op = draw(st.sampled_from(["sum", "mean"]))
    members = draw(atoms())
    x = draw(layouts(members))
    kwargs = draw(extra_kwargs(members, needed_kwargs([x], [])))
    if draw(st.booleans()):
        marked = _marked_layout(draw, x, at_least_one=True)
        keepdims = draw(st.sampled_from([None, True, False]))
        params = {} if keepdims is None else {"keepdims": keepdims}
        call = Call(op, marked.text(), (x.shape(),), kwargs, params)
    else:
        kept = [a for a in members if draw(st.booleans())]
        out = draw(layouts(kept))
        call = Call(op, f"{x.text()} -> {out.text()}", (x.shape(),), kwargs)
    return draw(perturbed(call))


@st.composite
def vmap_calls(draw: st.DrawFn) -> Call:
    op = draw(st.sampled_from(["softmax", "log_softmax", "flip"]))
    members = draw(atoms())
    x = _marked_layout(draw, draw(layouts(members)), at_least_one=True)
    kwargs = draw(extra_kwargs(members, needed_kwargs([x], [])))
    expr = x.text()
    if draw(st.booleans()):
        order = draw(st.permutations(list(x.groups)))
        expr = f"{expr} -> {attrs.evolve(x, groups=tuple(order)).text()}"
    call = Call(op, expr, (x.shape(),), kwargs, marked_axes=_effective_marks(x, kwargs))
    return draw(perturbed(call))


def _effective_marks(layout: Layout, kwargs: dict[str, Any]) -> int:
    """Marked axes after expansion.  An ellipsis inside a composition whose count nothing
    fixes stays one opaque axis, and a marker written inside it (``([t]...)``) is lost."""
    count = 0
    for group in layout.groups:
        for atom in group.atoms:
            if atom.name not in layout.marked:
                continue
            opaque = atom.ellipsis and group.composed and atom.name not in kwargs
            if opaque and not layout.marker_inside:
                continue
            count += 1 if opaque else len(atom.lengths)
    return count


# --- deliberate differences ------------------------------------------------------------


def _names(text: str) -> set[str]:
    return set(NAME_PATTERN.findall(text))


def _marks_only_ellipses(expr: str) -> bool:
    """Whether every marker of ``expr`` holds only ellipses or is repeated by one."""
    return all(
        dots or all(word.endswith("...") for word in content.split())
        for content, dots in MARKER_WITH_DOTS.findall(expr)
    )


def deliberate_difference(call: Call) -> str | None:
    """The name of the documented difference that ``call`` runs into, if any."""
    if set(call.kwargs) - _names(call.expr):
        # DESIGN.md §3: unused axis keywords are an error (0.3.0 ignored them).
        return "unknown-axis-keyword"
    if "|" in call.expr:
        # DESIGN.md §3: `|` is not an alias of `->`.
        return "bar-is-not-an-arrow"
    left = call.expr.partition("->")[0]
    shorthand = call.op in ELEMENTWISE_OPS and "," not in left and len(call.shapes) == 2
    markers = MARKER.findall(left)
    unmarked = MARKER.sub("", left)
    if (
        shorthand
        and "->" not in call.expr
        and not _names(unmarked)
        and any(" " in m for m in markers)
    ):
        # NOTATION §3.3: textually identical output candidates count once.  0.3.0 breaks
        # this when everything is marked and a marker holds several axes (`[a] [e d]`
        # fails with "Could not implicitly determine output expression for 'a e d, a e d'").
        return "identical-shorthand-operands"
    if call.op == "dot" and "," in call.expr.partition("->")[2]:
        # NOTATION §3.2: dot has exactly one output.  0.3.0 accepted some strings that
        # hoist to several outputs (`dot("[->,] a", x, 2.0)` returned one array).
        return "dot-with-several-outputs"
    vmap_ops = ("softmax", "log_softmax", "flip", "roll")
    marks_something = any(_names(m) or "..." in m for m in MARKER.findall(call.expr))
    # `marked_axes` counts for the unperturbed shapes: a rank perturbation can make a
    # marked ellipsis (`[...]`, `[s...]`, `[s]...`) repeat zero times, leaving none marked.
    may_mark_nothing = call.perturbation == "rank" and _marks_only_ellipses(call.expr)
    if call.op in vmap_ops and (not marks_something or call.marked_axes == 0 or may_mark_nothing):
        # NOTATION §3.5 [0.3.0 quirk]: without a marked axis 0.3.0 acts on the whole tensor.
        return "vmap-op-without-marked-axis"
    if call.op in vmap_ops and "->" in call.expr:
        left, _, right = call.expr.partition("->")
        unnamed = [len(re.findall(r"\b\d+\b", side)) for side in (left, right)]
        if _names(left) - _names(right) or unnamed[0] > unnamed[1]:
            # NOTATION §3.5 [0.3.0 quirk]: a dropped axis (named, or unnamed as in
            # `[a] 2 -> [a]`) gave a wrongly shaped result.
            return "vmap-op-drops-an-axis"
    if call.op in ("sum", "mean") and "," in call.expr.partition("->")[0]:
        # NOTATION §3.0/§3.4: the operand count must equal the tensor count, and a reduce
        # takes exactly one tensor.  0.3.0's reduce accepted one tensor for strings that
        # hoist to several operands (`([a,] s...) (1)`), and returned one result for two.
        return "reduce-operand-count"
    if call.op != "rearrange" and "+" in call.expr and "..." in call.expr:
        # NOTATION §3.0: only rearrange allows concatenations.  einx_typed checks the
        # expression as written; 0.3.0 checked it after expansion, so a concatenation inside
        # an ellipsis that repeats zero times (`sum("([+s]... [a]) (1)", s=())`) slipped by.
        return "concatenation-in-vanished-ellipsis"
    if call.op in ("sum", "mean") and "->" in call.expr and "[" not in call.expr:
        left, _, right = call.expr.partition("->")
        if _names(left) <= _names(right):
            # NOTATION §3.4 [0.3.0 quirk]: nothing reduced raised IndexError in 0.3.0.
            return "reduce-without-reduced-axis"
    return None


# --- running both ----------------------------------------------------------------------


@final
@attrs.frozen
class Outcome:
    """A result (numpy array) or the exception raised."""

    value: np.ndarray | list[np.ndarray] | None
    error: BaseException | None


def run(function: Callable[..., Any], call: Call, tensors: Sequence[np.ndarray]) -> Outcome:
    try:
        result = function(call.expr, *tensors, **call.params, **call.kwargs)
    except einx_typed.EinxError as error:
        return Outcome(None, error)
    if isinstance(result, list | tuple):
        return Outcome([np.asarray(r) for r in result], None)
    return Outcome(np.asarray(result), None)


def run_oracle(call: Call, tensors: Sequence[np.ndarray]) -> Outcome:
    try:
        result = getattr(einx, call.op)(call.expr, *tensors, **call.params, **call.kwargs)
    except Exception as error:  # einx 0.3.0 leaks many exception types
        return Outcome(None, error)
    if isinstance(result, list | tuple):
        return Outcome([np.asarray(r) for r in result], None)
    return Outcome(np.asarray(result), None)


def _note(text: str) -> None:
    """Hypothesis' note() inside @given tests; plain tests rely on the assertion messages."""
    if currently_in_test_context():
        note(text)


def check_agreement(call: Call, seed: int) -> None:
    _note(repr(call))
    rng = np.random.default_rng(seed)
    tensors = [rng.standard_normal(shape) for shape in call.shapes]
    difference = deliberate_difference(call)
    ours = run(getattr(einx_typed, call.op), call, tensors)
    if difference == "unknown-axis-keyword":
        assert ours.error is not None, "an axis value that no expression uses must be an error"
        return
    if difference is not None:
        assume(False)  # a documented difference: compared by neither rule
    oracle = run_oracle(call, tensors)
    _note(f"einx 0.3.0: {oracle.error!r}" if oracle.error else "einx 0.3.0: ok")
    _note(f"einx_typed: {ours.error!r}" if ours.error else "einx_typed: ok")
    if oracle.error is not None:
        assert ours.error is not None, f"einx 0.3.0 raised {oracle.error!r}, einx_typed did not"
        return
    assert ours.error is None, f"einx_typed raised, einx 0.3.0 did not: {ours.error}"
    expected = oracle.value if isinstance(oracle.value, list) else [oracle.value]
    actual = ours.value if isinstance(ours.value, list) else [ours.value]
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got is not None and want is not None
        assert got.shape == want.shape, f"{call}: {got.shape} != {want.shape} (einx 0.3.0)"
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


seeds = st.integers(0, 2**32 - 1)

GENERATORS: Final = {
    "rearrange": rearrange_calls(),
    "concatenation": concat_calls(),
    "dot": dot_calls(),
    "elementwise": elementwise_calls(),
    "reduce": reduce_calls(),
    "vmap": vmap_calls(),
}


@given(rearrange_calls(), seeds)
def test_rearrange_agrees_with_einx(call: Call, seed: int) -> None:
    check_agreement(call, seed)


@given(concat_calls(), seeds)
def test_concatenation_agrees_with_einx(call: Call, seed: int) -> None:
    check_agreement(call, seed)


@given(dot_calls(), seeds)
def test_dot_agrees_with_einx(call: Call, seed: int) -> None:
    check_agreement(call, seed)


@given(elementwise_calls(), seeds)
def test_elementwise_agrees_with_einx(call: Call, seed: int) -> None:
    check_agreement(call, seed)


@given(reduce_calls(), seeds)
def test_reduce_agrees_with_einx(call: Call, seed: int) -> None:
    check_agreement(call, seed)


@given(vmap_calls(), seeds)
def test_softmax_and_flip_agree_with_einx(call: Call, seed: int) -> None:
    check_agreement(call, seed)


FOUND_BY_FUZZING: Final = [
    # An ellipsis that stays unexpanded inside a composition keeps its marker: 0.3.0 builds
    # the second operand `(s...)`; einx_typed says 's...' is missing from the output.
    Call("add", "a ([s]... d)", ((2, 3), (1,)), {"d": 3}),
    # A marker whose content expands to nothing is no marker: nothing to reduce (0.3.0
    # raises "No axes are marked"), and it yields no keepdims 1.
    Call("sum", "a [s]... b", ((2, 3),), {}),
    Call("mean", "[h] [...]", ((4,),), {}, {"keepdims": True}),
]


@pytest.mark.parametrize("call", FOUND_BY_FUZZING, ids=lambda call: f"{call.op} {call.expr}")
def test_minimal_reproductions_agree_with_einx(call: Call) -> None:
    """Shrunk examples of disagreements the properties above found, kept as regressions."""
    check_agreement(call, seed=0)


def test_shorthand_keeps_unmarked_compositions_like_einx() -> None:
    x, bias = np.zeros((2, 12, 4)), np.arange(4.0).reshape(1, 4)
    expected = einx.add("b (h w) [c]", x, bias, h=3)
    np.testing.assert_allclose(einx_typed.add("b (h w) [c]", x, bias, h=3), expected)


@pytest.mark.parametrize("family", sorted(GENERATORS))
def test_generated_calls_are_mostly_valid(family: str) -> None:
    """The comparison is only useful if einx 0.3.0 accepts most unperturbed calls."""
    accepted: list[bool] = []

    @settings(phases=[Phase.generate], database=None)  # max_examples from the profile
    @given(GENERATORS[family])
    def sample(call: Call) -> None:
        if call.perturbation is None and deliberate_difference(call) is None:
            tensors = [np.zeros(shape) for shape in call.shapes]
            accepted.append(run_oracle(call, tensors).error is None)

    sample()
    assert len(accepted) >= 10
    assert sum(accepted) >= 0.6 * len(accepted), f"{sum(accepted)} of {len(accepted)} valid"

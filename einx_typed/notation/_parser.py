"""Parse op strings into the typed tree (NOTATION 1.2-1.6).

Parsing has three steps: a raw tree that still allows ``->`` and ``,`` inside brackets is
built by precedence splitting; ``->`` and then ``,`` are hoisted to the root (every bracket
with ``k`` alternatives yields ``k`` versions of the surrounding expression); the hoisted
operands are converted to :mod:`~einx_typed.notation.tree` nodes and checked for
duplicate names.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Sequence
from typing import Final, TypeAlias, final

import attrs

from einx_typed.errors import NotationSyntaxError
from einx_typed.notation._lexer import ELLIPSIS, WORD, Token, normalize, tokenize
from einx_typed.notation.tree import (
    ANONYMOUS_ELLIPSIS,
    Composition,
    Concat,
    EllipsisNode,
    Expr,
    Marker,
    Named,
    Node,
    OpString,
    Span,
    Unnamed,
)

__all__ = ["parse_expr", "parse_op"]

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INTEGER: Final = re.compile(r"[0-9]+")
_MAX_NESTING: Final = 64
_CLOSING: Final = {"(": ")", "[": "]"}
#: Operators from loosest to tightest binding.
_OPERATORS: Final = ("->", ",", " ", "+")


@final
@attrs.frozen(slots=True)
class _Leaf:
    node: Named | Unnamed

    @property
    def span(self) -> Span:
        return self.node.span


@final
@attrs.frozen(slots=True)
class _Group:
    """``( ... )`` or ``[ ... ]`` before hoisting; ``opener`` is ``"("`` or ``"["``."""

    opener: str
    inner: _Raw
    span: Span


@final
@attrs.frozen(slots=True)
class _Repeat:
    """``x...`` before hoisting."""

    inner: _Raw
    ident: int
    span: Span


@final
@attrs.frozen(slots=True)
class _Seq:
    """Items joined by one operator (``->``, ``,``, space or ``+``); empty = nothing."""

    operator: str
    children: tuple[_Raw, ...]
    span: Span


_Raw: TypeAlias = _Leaf | _Group | _Repeat | _Seq
_Element: TypeAlias = Token | _Raw


def _empty(pos: int) -> _Seq:
    return _Seq(" ", (), (pos, pos))


def _element_span(element: _Element) -> Span:
    if isinstance(element, Token):
        return (element.start, element.end)
    return element.span


@final
class _Parser:
    """Builds the raw tree of one normalised op string."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.ellipsis_count = 0

    def error(self, message: str, span: Span, hint: str | None = None) -> NotationSyntaxError:
        return NotationSyntaxError(message, expr=self.text, span=span, hint=hint)

    def parse(self) -> _Raw:
        raw, end = self.group_contents(0, None, 0)
        if end < len(self.tokens):
            token = self.tokens[end]
            raise self.error(
                f"Unexpected closing bracket '{token.text}'.", (token.start, token.end)
            )
        return raw

    def group_contents(self, index: int, opener: Token | None, depth: int) -> tuple[_Raw, int]:
        """Parse tokens from ``index`` up to the bracket closing ``opener``.

        Returns the raw node and the index of the closing token (or ``len(tokens)``).
        """
        if depth > _MAX_NESTING and opener is not None:
            raise self.error(
                f"Brackets are nested more than {_MAX_NESTING} levels deep.",
                (opener.start, opener.end),
            )
        elements: list[_Element] = []
        tokens = self.tokens
        while index < len(tokens):
            token = tokens[index]
            if token.kind in _CLOSING:
                inner, close = self.group_contents(index + 1, token, depth + 1)
                if close >= len(tokens):
                    raise self.error(
                        f"Bracket '{token.text}' is never closed.", (token.start, token.end)
                    )
                elements.append(_Group(token.kind, inner, (token.start, tokens[close].end)))
                index = close + 1
            elif token.kind in (")", "]"):
                if opener is None:
                    return self.split(elements, token.start), index
                if _CLOSING[opener.kind] != token.kind:
                    raise self.error(
                        f"Bracket '{opener.text}' is closed by '{token.text}'.",
                        (opener.start, token.end),
                        hint=f"Close '{opener.text}' with '{_CLOSING[opener.kind]}'.",
                    )
                return self.split(elements, opener.end), index
            else:
                elements.append(token)
                index += 1
        return self.split(elements, len(self.text)), index

    def split(self, elements: Sequence[_Element], pos: int) -> _Raw:
        """Split a bracket-free run of elements at its loosest operator."""
        if elements:
            span = (_element_span(elements[0])[0], _element_span(elements[-1])[1])
        else:
            span = (pos, pos)
        for operator in _OPERATORS:
            if not any(isinstance(e, Token) and e.kind == operator for e in elements):
                continue
            parts: list[_Raw] = []
            current: list[_Element] = []
            for element in elements:
                if isinstance(element, Token) and element.kind == operator:
                    if current or operator != " ":
                        parts.append(self.split(current, element.start))
                    current = []
                else:
                    current.append(element)
            if current or operator != " ":
                parts.append(self.split(current, span[1]))
            return _Seq(operator, tuple(parts), span)
        return self.item(elements, span)

    def item(self, elements: Sequence[_Element], span: Span) -> _Raw:
        """An axis, a group, ``x...`` or ``...``; anything else is a juxtaposition error."""
        if not elements:
            return _empty(span[0])
        first = elements[0]
        if len(elements) == 1:
            if isinstance(first, Token) and first.kind == ELLIPSIS:
                anonymous = _Leaf(Named(ANONYMOUS_ELLIPSIS, (first.start, first.end)))
                return self.repeat(anonymous, span)
            return self.atom(first)
        second = elements[1]
        if (
            len(elements) == 2
            and isinstance(second, Token)
            and second.kind == ELLIPSIS
            and not (isinstance(first, Token) and first.kind == ELLIPSIS)
        ):
            atom = self.atom(first)
            self.check_repeatable(atom)
            return self.repeat(atom, span)
        for previous, current in itertools.pairwise(elements):
            previous_is_ellipsis = isinstance(previous, Token) and previous.kind == ELLIPSIS
            current_is_ellipsis = isinstance(current, Token) and current.kind == ELLIPSIS
            if current_is_ellipsis and previous_is_ellipsis:
                raise self.error(
                    "An ellipsis '...' cannot directly follow another ellipsis.",
                    _element_span(current),
                    hint="Nested ellipses are not supported; write one '...' per axis.",
                )
            if not current_is_ellipsis:
                left = self.text[slice(*_element_span(previous))]
                right = self.text[slice(*_element_span(current))]
                before = self.text[span[0] : _element_span(previous)[1]]
                raise self.error(
                    f"Missing space between '{left}' and '{right}'.",
                    _element_span(current),
                    hint=f"Write '{before} {right}' for two separate axes.",
                )
        raise self.error("Malformed expression.", span)  # pragma: no cover - exhaustive above

    def atom(self, element: _Element) -> _Raw:
        if not isinstance(element, Token):
            return element
        if element.kind != WORD:  # an operator cannot reach here; ")" is handled by the caller
            raise self.error(f"Unexpected '{element.text}'.", (element.start, element.end))
        word, span = element.text, (element.start, element.end)
        if _INTEGER.fullmatch(word):
            try:
                value = int(word)
            except ValueError:
                raise self.error(f"Unnamed axis '{word[:20]}...' is too large.", span) from None
            return _Leaf(Unnamed(value, span))
        if _NAME.fullmatch(word):
            return _Leaf(Named(word, span))
        raise self.error(
            f"Invalid axis name '{word}'.",
            span,
            hint="An axis name starts with a letter or '_' and contains only letters, digits "
            "and '_'; an unnamed axis is a decimal integer.",
        )

    def check_repeatable(self, atom: _Raw) -> None:
        if _is_void(atom):
            raise self.error(
                f"An ellipsis after '{self.text[slice(*atom.span)]}' repeats nothing.",
                atom.span,
                hint="Remove the empty brackets and their '...'.",
            )
        inner = _find_repeat(atom)
        if inner is not None:
            raise self.error(
                "Nested ellipses such as '(s...)...' are not supported.",
                inner.span,
                hint="Use at most one level of '...' around an axis.",
            )

    def repeat(self, inner: _Raw, span: Span) -> _Repeat:
        ident = self.ellipsis_count
        self.ellipsis_count += 1
        return _Repeat(inner, ident, span)


def _is_void(raw: _Raw) -> bool:
    """Whether ``raw`` is written as nothing but empty markers, e.g. ``[]`` or ``[[] []]``."""
    if isinstance(raw, _Group):
        return raw.opener == "[" and _is_void(raw.inner)
    if isinstance(raw, _Seq):
        return raw.operator == " " and all(_is_void(child) for child in raw.children)
    return False


def _find_repeat(raw: _Raw) -> _Repeat | None:
    if isinstance(raw, _Repeat):
        return raw
    if isinstance(raw, _Group):
        return _find_repeat(raw.inner)
    if isinstance(raw, _Seq):
        for child in raw.children:
            found = _find_repeat(child)
            if found is not None:
                return found
    return None


def _hoist(raw: _Raw, operator: str, text: str) -> list[_Raw]:
    """The alternatives of ``raw`` after moving every ``operator`` in it up to the root."""
    if isinstance(raw, _Leaf):
        return [raw]
    if isinstance(raw, _Group):
        return [_Group(raw.opener, alt, raw.span) for alt in _hoist(raw.inner, operator, text)]
    if isinstance(raw, _Repeat):
        return [_Repeat(alt, raw.ident, raw.span) for alt in _hoist(raw.inner, operator, text)]
    if raw.operator == operator:
        return [alt for child in raw.children for alt in _hoist(child, operator, text)]
    alternatives = [_hoist(child, operator, text) for child in raw.children]
    counts = sorted({len(alts) for alts in alternatives if len(alts) != 1})
    if len(counts) > 1:
        raise NotationSyntaxError(
            f"Inconsistent use of '{operator}': the brackets in '{text[slice(*raw.span)]}' have "
            f"{' and '.join(map(str, counts))} alternatives.",
            expr=text,
            span=raw.span,
            hint=f"Every bracket that contains '{operator}' in one expression needs the same "
            f"number of '{operator}'.",
        )
    count = counts[0] if counts else 1
    return [
        _Seq(raw.operator, tuple(a[0] if len(a) == 1 else a[i] for a in alternatives), raw.span)
        for i in range(count)
    ]


def _convert(raw: _Raw) -> tuple[Node, ...]:
    """Turn a hoisted raw node into tree items; an empty marker or repetition vanishes."""
    if isinstance(raw, _Leaf):
        return (raw.node,)
    if isinstance(raw, _Group):
        items = _convert(raw.inner)
        if raw.opener == "(":
            return (Composition(items, raw.span),)
        return (Marker(items, raw.span),) if items else ()
    if isinstance(raw, _Repeat):
        inner = _convert(raw.inner)
        if not inner:
            return ()
        (node,) = inner  # the inner of a repetition is one atom
        return (EllipsisNode(node, raw.ident, raw.span),)
    if raw.operator == "+":
        return (Concat(tuple(_convert(child) for child in raw.children), raw.span),)
    # After hoisting only space-separated lists remain here.
    return tuple(node for child in raw.children for node in _convert(child))


def _separated(path: tuple[tuple[int, int], ...], other: tuple[tuple[int, int], ...]) -> bool:
    """Whether two occurrences sit in different branches of one concatenation."""
    for mine, theirs in zip(path, other):
        if mine != theirs:
            return mine[0] == theirs[0]
    return False


def _check_duplicates(expr: Expr, text: str) -> None:
    seen: dict[str, list[tuple[tuple[tuple[int, int], ...], Named]]] = {}
    concat_ids = itertools.count()

    def walk(nodes: Sequence[Node], path: tuple[tuple[int, int], ...]) -> None:
        for node in nodes:
            if isinstance(node, Named):
                previous = seen.setdefault(node.name, [])
                if any(not _separated(other, path) for other, _ in previous):
                    _raise_duplicate(node, expr, text)
                previous.append((path, node))
            elif isinstance(node, Composition | Marker):
                walk(node.items, path)
            elif isinstance(node, EllipsisNode):
                walk((node.inner,), path)
            elif isinstance(node, Concat):
                concat_id = next(concat_ids)
                for index, branch in enumerate(node.branches):
                    walk(branch, (*path, (concat_id, index)))

    walk(expr.items, ())


def _raise_duplicate(node: Named, expr: Expr, text: str) -> None:
    written = text[slice(*expr.span)]
    if node.name == ANONYMOUS_ELLIPSIS:
        message = f"The anonymous ellipsis '...' is used more than once in '{written}'."
        hint = "Give the ellipses names, e.g. 'a... b...', if they stand for different axes."
    else:
        message = f"Axis name '{node.name}' is used more than once in '{written}'."
        hint = (
            f"An axis appears at most once per expression; use another name such as "
            f"'{node.name}2' for a second axis."
        )
    raise NotationSyntaxError(message, expr=text, span=node.span, hint=hint)


def _to_exprs(raw: _Raw, text: str) -> tuple[Expr, ...]:
    exprs = []
    for operand in _hoist(raw, ",", text):
        expr = Expr(_convert(operand), operand.span)
        _check_duplicates(expr, text)
        exprs.append(expr)
    return tuple(exprs)


@functools.lru_cache(maxsize=4096)
def _parse_op_cached(text: str) -> OpString:
    normalized = normalize(text)
    root = _Parser(normalized).parse()
    sides = _hoist(root, "->", normalized)
    if len(sides) > 2:
        arrows = [m.start() for m in re.finditer("->", normalized)]
        start = arrows[1] if len(arrows) > 1 else 0
        raise NotationSyntaxError(
            "The op string has more than one '->' after moving '->' out of brackets.",
            expr=normalized,
            span=(start, start + 2),
            hint="Use one '->' to separate the inputs from the outputs.",
        )
    inputs = _to_exprs(sides[0], normalized)
    outputs = _to_exprs(sides[1], normalized) if len(sides) == 2 else None
    return OpString(normalized, inputs, outputs)


def parse_op(text: str) -> OpString:
    """Parse an op string such as ``"b... [c1->c2]"`` into inputs and outputs.

    ``->`` and ``,`` inside brackets are hoisted: ``"a [b->c]"`` gives the same result as
    ``"a [b] -> a [c]"``.  Results are cached; the same text returns the same object.
    """
    if not isinstance(text, str):
        raise NotationSyntaxError(f"An op string must be a str, not {type(text).__name__}.")
    return _parse_op_cached(text)


def parse_expr(text: str) -> Expr:
    """Parse the description of one tensor, e.g. ``"b (s [r])... c"``."""
    op = parse_op(text)
    if op.outputs is not None:
        arrow = op.text.find("->")
        raise NotationSyntaxError(
            "Expected one expression, but found '->'.",
            expr=op.text,
            span=(arrow, arrow + 2) if arrow >= 0 else None,
        )
    if len(op.inputs) != 1:
        comma = op.text.find(",")
        raise NotationSyntaxError(
            f"Expected one expression, but found {len(op.inputs)} separated by ','.",
            expr=op.text,
            span=(comma, comma + 1) if comma >= 0 else None,
        )
    return op.inputs[0]

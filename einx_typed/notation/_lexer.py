"""Whitespace normalisation and tokenising of op strings (NOTATION 1.1)."""

from __future__ import annotations

import re
from typing import Final, final

import attrs

from einx_typed.errors import NotationSyntaxError

_SPACES_AROUND_OPERATORS: Final = re.compile(r" *(->|\||,|\+) *")
_SPACE_RUNS: Final = re.compile(r" {2,}")
_SEPARATORS: Final = re.compile(r"->|\.\.\.|[|, +()\[\]]")
_DISALLOWED: Final = re.compile(r"[\t\n\r]")
_DISALLOWED_NAMES: Final = {"\t": "a tab", "\n": "a newline", "\r": "a carriage return"}

#: Token kinds; a word (axis name or integer) has kind ``"word"``.
WORD: Final = "word"
ELLIPSIS: Final = "..."


@final
@attrs.frozen(slots=True)
class Token:
    """One token of the normalised op string: its kind, text and character range."""

    kind: str
    text: str
    start: int
    end: int


def normalize(text: str) -> str:
    """Strip, drop spaces next to ``->``, ``|``, ``,``, ``+`` and collapse space runs."""
    text = _SPACES_AROUND_OPERATORS.sub(r"\1", text.strip())
    return _SPACE_RUNS.sub(" ", text)


def tokenize(text: str) -> list[Token]:
    """Split a normalised op string into tokens; reject disallowed characters and ``|``."""
    bad = _DISALLOWED.search(text)
    if bad is not None:
        raise NotationSyntaxError(
            f"The op string contains {_DISALLOWED_NAMES[bad.group()]}, which is not allowed.",
            expr=_DISALLOWED.sub(" ", text),
            span=(bad.start(), bad.end()),
            hint="Separate axes with single spaces only.",
        )
    tokens: list[Token] = []
    pos = 0
    for match in _SEPARATORS.finditer(text):
        if match.start() > pos:
            tokens.append(Token(WORD, text[pos : match.start()], pos, match.start()))
        kind = match.group()
        if kind == "|":
            raise NotationSyntaxError(
                "'|' is not an operator in einx_typed notation.",
                expr=text,
                span=(match.start(), match.end()),
                hint="Use '->' to separate inputs from outputs.",
            )
        tokens.append(Token(kind, kind, match.start(), match.end()))
        pos = match.end()
    if pos < len(text):
        tokens.append(Token(WORD, text[pos:], pos, len(text)))
    return tokens

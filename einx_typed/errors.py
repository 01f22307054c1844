"""The exception hierarchy of einx_typed.

Every user mistake raises a subclass of :class:`EinxError`, which is itself a
:class:`ValueError`, so ``except ValueError`` keeps working.  Errors about a piece of
notation carry the (normalised) op string and the span of the offending part and render
a caret line under it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Self, TypedDict, TypeVar, Unpack

__all__ = [
    "AxisSizeError",
    "ConfigError",
    "EinxError",
    "ErrorContext",
    "NotationSyntaxError",
    "OperationError",
    "RankError",
    "SolveError",
    "SpecError",
    "caret_line",
    "format_context",
]


def caret_line(text: str, span: tuple[int, int] | None) -> str:
    """Return ``text`` with a line of carets under ``text[span[0]:span[1]]``."""
    if span is None:
        return f"    {text}"
    start, end = span
    start = max(0, min(start, len(text)))
    end = max(start + 1, min(end, len(text) + 1))
    return f"    {text}\n    {' ' * start}{'^' * (end - start)}"


def _fmt_value(value: Any) -> str:
    if isinstance(value, tuple | list):
        return (
            "(" + ", ".join(_fmt_value(v) for v in value) + ("," if len(value) == 1 else "") + ")"
        )
    return repr(value) if isinstance(value, str) else str(value)


def format_context(
    *,
    shapes: Sequence[tuple[int, ...] | None] | None = None,
    axis_values: Mapping[str, Any] | None = None,
) -> str:
    """Render the input shapes and the given axis values of a call, one per line.

    A ``None`` shape is a tensor factory's; a call without tensor arguments (``shapes``
    empty) gets no shapes line.
    """
    lines = []
    if shapes:
        shown = ", ".join("factory" if s is None else _fmt_value(tuple(s)) for s in shapes)
        lines.append(f"Input shapes: {shown}")
    if axis_values:
        shown = ", ".join(f"{k}={_fmt_value(v)}" for k, v in axis_values.items())
        lines.append(f"Axis values: {shown}")
    return "\n".join(lines)


class ErrorContext(TypedDict, total=False):
    """The keyword fields every :class:`EinxError` takes (see its constructor)."""

    expr: str | None
    span: tuple[int, int] | None
    shapes: Sequence[tuple[int, ...] | None] | None
    axis_values: Mapping[str, Any] | None
    hint: str | None


class EinxError(ValueError):
    """Base class of every error that einx_typed raises for a user mistake."""

    def __init__(
        self,
        message: str,
        *,
        expr: str | None = None,
        span: tuple[int, int] | None = None,
        shapes: Sequence[tuple[int, ...] | None] | None = None,
        axis_values: Mapping[str, Any] | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.expr = expr
        self.span = span
        self.shapes = None if shapes is None else tuple(shapes)
        self.axis_values = None if axis_values is None else dict(axis_values)
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.message]
        if self.expr is not None:
            parts.append(caret_line(self.expr, self.span))
        context = format_context(shapes=self.shapes, axis_values=self.axis_values)
        if context:
            parts.append(context)
        if self.hint:
            parts.append(f"Hint: {self.hint}")
        return "\n".join(parts)

    def with_message(self, message: str) -> Self:
        """A copy of this error (same class, same fields) with ``message`` instead."""
        state = dict(self.__dict__)
        state["message"] = message
        return _rebuild(type(self), message, state)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep errors picklable (multiprocessing, pytest-xdist) despite keyword-only fields.
        return (_rebuild, (type(self), self.message, self.__dict__))


_E = TypeVar("_E", bound="EinxError")


def _rebuild(cls: type[_E], message: str, state: dict[str, Any]) -> _E:
    err = cls.__new__(cls)
    ValueError.__init__(err, message)
    err.__dict__.update(state)
    ValueError.__init__(err, err._render())
    return err


class NotationSyntaxError(EinxError):
    """The op string is malformed (brackets, names, arrows, duplicates)."""


class SolveError(EinxError):
    """The expressions, shapes and axis values admit no unique solution."""


class RankError(SolveError):
    """A tensor's rank does not fit its expression (ellipsis counts, number of axes)."""


class AxisSizeError(SolveError):
    """Axis lengths are contradictory, under-determined or not positive."""


class OperationError(EinxError):
    """The call breaks a rule of the op (operand count, markers, output axes, ...)."""


class SpecError(EinxError):
    """A layer spec is invalid; ``field`` names the spec field (``"drop_rate"``,
    ``"layers[3].name"``), which the message names too."""

    def __init__(
        self, message: str, *, field: str | None = None, **context: Unpack[ErrorContext]
    ) -> None:
        self.field = field
        super().__init__(message, **context)


class ConfigError(EinxError):
    """A config dict or file is invalid.

    ``path`` is the file (or ``<json text>``) and ``key`` the key path inside it
    (``layers[3].drop_rate``; ``""`` for the top level); the message starts with both, as
    in ``model.toml: key layers[3].drop_rate: ...``.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        key: str | None = None,
        **context: Unpack[ErrorContext],
    ) -> None:
        self.path = path
        self.key = key
        super().__init__(message, **context)

    def location(self) -> str:
        """``"<path>: key <key>"``, ``"<path>: the top level"``, ``"<path>"`` or ``""``."""
        parts = [] if self.path is None else [self.path]
        if self.key is not None:
            parts.append(f"key {self.key}" if self.key else "the top level")
        return ": ".join(parts)

    def _render(self) -> str:
        where = self.location()
        text = super()._render()
        return f"{where}: {text}" if where else text

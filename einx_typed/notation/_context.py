"""What every solver error shows: the op string, the input shapes and the axis values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar, final

from einx_typed.errors import SolveError
from einx_typed.notation.tree import ANONYMOUS_ELLIPSIS, Span

__all__ = ["ErrorContext", "display_name"]

_Error = TypeVar("_Error", bound=SolveError)


def display_name(name: str) -> str:
    """An axis name quoted for a message; the anonymous ellipsis is shown as ``'...'``."""
    if name == ANONYMOUS_ELLIPSIS or name.startswith(ANONYMOUS_ELLIPSIS + "."):
        return "'...'" + name[len(ANONYMOUS_ELLIPSIS) :]
    return f"'{name}'"


@final
class ErrorContext:
    """Builds solver errors that carry the call's op string, shapes and axis values."""

    def __init__(
        self,
        text: str,
        shapes: Sequence[tuple[int, ...] | None],
        axis_values: Mapping[str, object],
    ) -> None:
        self.text = text
        self.shapes = shapes
        self.axis_values = axis_values

    def error(
        self,
        kind: type[_Error],
        message: str,
        span: Span | None,
        hint: str | None = None,
    ) -> _Error:
        return kind(
            message,
            expr=self.text,
            span=span,
            shapes=self.shapes,
            axis_values=self.axis_values,
            hint=hint,
        )

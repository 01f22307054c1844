"""Placeholder: to be implemented."""

from typing import Any


def arange(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("arange")

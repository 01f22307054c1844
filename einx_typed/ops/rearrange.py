"""Placeholder: to be implemented."""

from typing import Any


def rearrange(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("rearrange")

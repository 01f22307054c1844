"""Placeholder: to be implemented."""

from typing import Any


def solve(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("solve")


def matches(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("matches")


def check(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("check")

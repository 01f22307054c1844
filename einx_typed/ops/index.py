"""Placeholder: to be implemented."""

from typing import Any


def get_at(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("get_at")


def set_at(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("set_at")


def add_at(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("add_at")


def subtract_at(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("subtract_at")

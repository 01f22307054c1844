"""Placeholder: to be implemented."""

from typing import Any


def vmap_with_axis(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("vmap_with_axis")


def softmax(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("softmax")


def log_softmax(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("log_softmax")


def flip(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("flip")


def roll(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("roll")

"""Placeholder: to be implemented."""

from typing import Any


def elementwise(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("elementwise")


def add(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("add")


def subtract(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("subtract")


def multiply(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("multiply")


def divide(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("divide")


def true_divide(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("true_divide")


def floor_divide(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("floor_divide")


def maximum(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("maximum")


def minimum(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("minimum")


def logaddexp(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("logaddexp")


def where(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("where")


def less(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("less")


def less_equal(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("less_equal")


def greater(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("greater")


def greater_equal(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("greater_equal")


def equal(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("equal")


def not_equal(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("not_equal")


def logical_and(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("logical_and")


def logical_or(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("logical_or")

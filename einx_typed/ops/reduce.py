"""Placeholder: to be implemented."""

from typing import Any


def reduce(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("reduce")


def sum(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("sum")


def mean(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("mean")


def var(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("var")


def std(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("std")


def prod(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("prod")


def max(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("max")


def min(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("min")


def logsumexp(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("logsumexp")


def any(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("any")


def all(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("all")


def count_nonzero(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("count_nonzero")

"""Tensor factories: callables that create an operand once its shape is solved.

Binders register adapters so that framework objects (e.g. torch's
``UninitializedParameter``) act as factories; adapters are consulted before tensor
detection.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "adapter_for",
    "call_factory",
    "factory_adapters_version",
    "on_register",
    "register_factory_adapter",
]

Predicate = Callable[[object], bool]
Adapter = Callable[[object], Callable[..., Any]]

_adapters: list[tuple[Predicate, Adapter]] = []
_lock = threading.Lock()
_version = [0]
_on_register: list[Callable[[], None]] = []


def on_register(callback: Callable[[], None]) -> None:
    """Call ``callback`` whenever an adapter is registered (type-based caches clear)."""
    _on_register.append(callback)


def register_factory_adapter(predicate: Predicate, adapter: Adapter) -> None:
    """Treat every argument for which ``predicate`` holds as the factory ``adapter(arg)``.

    Adapters are consulted before an argument is checked for being a tensor, so a tensor
    subclass such as ``torch.nn.parameter.UninitializedParameter`` can be a factory.
    """
    with _lock:
        _adapters.append((predicate, adapter))
        _version[0] += 1
    for callback in _on_register:
        callback()


def factory_adapters_version() -> int:
    """Changes whenever an adapter is registered (invalidates type-based caches)."""
    return _version[0]


def adapter_for(arg: object) -> Adapter | None:
    """The adapter registered for ``arg``, if any (the latest registration wins)."""
    for predicate, adapter in reversed(_adapters):
        if predicate(arg):
            return adapter
    return None


_accepted_cache: dict[object, frozenset[str] | None] = {}


def _accepted_names(func: Callable[..., Any]) -> frozenset[str] | None:
    """Keyword names ``func`` accepts after the shape; ``None`` means "all" (``**kwargs``)."""
    code = getattr(getattr(func, "__func__", func), "__code__", None)
    if code is not None and code in _accepted_cache:
        return _accepted_cache[code]
    try:
        parameters = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return None
    accepted: frozenset[str] | None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        accepted = None
    else:
        accepted = frozenset(
            p.name
            for p in parameters[1:]
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        )
    if code is not None:
        _accepted_cache[code] = accepted
    return accepted


def call_factory(
    factory: Callable[..., Any], shape: tuple[int, ...], kwargs: Mapping[str, Any]
) -> Any:
    """Call ``factory(shape, **kwargs)`` passing only the keywords its signature declares."""
    accepted = _accepted_names(factory)
    if accepted is None:
        return factory(shape, **kwargs)
    return factory(shape, **{k: v for k, v in kwargs.items() if k in accepted})

"""Operand helpers of the index family: shapes, factories and backend choice.

Stand-in until the shared op machinery of ``einx_typed.ops`` exists; it follows the
same rules (DESIGN.md section 3, NOTATION sections 3.0 and 4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from einx_typed.backends import BACKEND_NAMES, Backend, Tensor, get_backend, tensor_kind
from einx_typed.errors import OperationError
from einx_typed.ops._factories import adapter_for
from einx_typed.ops._factories import call_factory as call_shared_factory

__all__ = ["call_factory", "is_factory", "operand_shape", "select_backend"]


def is_factory(x: object) -> bool:
    """A callable that is not an array (or a registered framework object) is a factory."""
    if adapter_for(x) is not None:
        return True
    return callable(x) and tensor_kind(x) is None and not hasattr(x, "shape")


def operand_shape(x: object) -> tuple[int, ...] | None:
    """The shape of an operand; ``None`` for a factory (it constrains nothing)."""
    if is_factory(x):
        return None
    shape = getattr(x, "shape", None)
    if shape is not None:
        return tuple(int(d) for d in shape)
    try:
        return tuple(int(d) for d in np.shape(np.asarray(x)))
    except ValueError as exc:
        raise OperationError(
            f"Failed to determine the shape of an operand of type {type(x).__name__}: {exc}"
        ) from None


def call_factory(factory: Any, shape: tuple[int, ...], backend: Backend, **kwargs: Any) -> Tensor:
    """Call ``factory(shape, **kwargs)`` (keywords filtered by its signature); check the shape."""
    adapter = adapter_for(factory)
    func = adapter(factory) if adapter is not None else factory
    tensor = call_shared_factory(func, shape, kwargs)
    if not backend.is_tensor(tensor):
        tensor = backend.asarray(tensor)
    got = tuple(int(d) for d in backend.shape(tensor))
    if got != shape:
        raise OperationError(
            f"A tensor factory returned shape {got}, but its expression requires shape {shape}.",
            hint="The factory receives the required shape as its first argument.",
        )
    return tensor


def _load(name: str) -> Backend:
    try:
        return get_backend(name)
    except KeyError:
        raise OperationError(
            f"Unknown backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}."
        ) from None


def select_backend(
    operands: Sequence[object],
    backend: object,
    *,
    op: str,
    text: str,
    shapes: Sequence[tuple[int, ...] | None],
) -> Backend:
    """The explicit ``backend`` or the one the operand types imply (NumPy yields)."""
    if backend is not None:
        if isinstance(backend, str):
            return _load(backend)
        return backend  # type: ignore[return-value]
    found = {kind for kind in map(tensor_kind, operands) if kind is not None}
    if len(found) > 1:
        found.discard("numpy")
    if len(found) > 1:
        raise OperationError(
            f"{op} got tensors of several frameworks ({', '.join(sorted(found))}).",
            expr=text,
            shapes=shapes,
        )
    if not found:
        raise OperationError(
            f"{op} cannot tell the backend from its operands (only factories, scalars or lists).",
            expr=text,
            shapes=shapes,
            hint="Pass backend='numpy', 'jax' or 'torch'.",
        )
    return _load(found.pop())

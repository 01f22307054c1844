"""Backends: run plans on numpy, jax, torch, keras.ops or on abstract (shape-only) arrays.

A framework's backend is only ever loaded for a framework that is already imported, so
``import einx_typed`` imports none.
"""

from __future__ import annotations

from einx_typed.backends._registry import (
    BACKEND_NAMES,
    get_backend,
    tensor_kind,
)
from einx_typed.backends._torch_compile import enable_torch_compile, register_graph_ops
from einx_typed.backends.abstract import AbstractArray, AbstractBackend
from einx_typed.backends.base import Backend, ScatterMode, Tensor

__all__ = [
    "BACKEND_NAMES",
    "AbstractArray",
    "AbstractBackend",
    "Backend",
    "ScatterMode",
    "Tensor",
    "enable_torch_compile",
    "get_backend",
    "register_graph_ops",
    "tensor_kind",
]

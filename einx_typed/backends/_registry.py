"""Backend instances by name, and which backend a tensor's type belongs to."""

from __future__ import annotations

import sys
from typing import cast

import numpy as np

from einx_typed.backends._numpy import NumpyBackend
from einx_typed.backends.abstract import AbstractArray, AbstractBackend
from einx_typed.backends.base import Backend
from einx_typed.backends.program import TraceBackend, Tracer

BACKEND_NAMES = ("numpy", "jax", "torch", "keras", "abstract", "trace")

_instances: dict[str, Backend] = {
    "numpy": cast(Backend, NumpyBackend()),
    "abstract": cast(Backend, AbstractBackend()),
    "trace": cast(Backend, TraceBackend()),
}


def get_backend(name: str) -> Backend:
    """The backend called ``name``; imports its framework on first use.

    Raises ``KeyError`` for an unknown name (callers turn it into a user-facing error).
    """
    backend = _instances.get(name)
    if backend is not None:
        return backend
    if name not in BACKEND_NAMES:
        raise KeyError(name)
    if name == "jax":
        from einx_typed.backends._jax import JaxBackend

        backend = cast(Backend, JaxBackend())
    elif name == "torch":
        from einx_typed.backends._torch import TorchBackend

        backend = cast(Backend, TorchBackend())
    else:
        from einx_typed.backends._keras import KerasBackend

        backend = cast(Backend, KerasBackend())
    # Backends are stateless: a racing thread may create a second instance; one wins.
    backend = _instances.setdefault(name, backend)
    if name == "torch":
        from einx_typed.backends._torch_compile import enable_torch_compile

        enable_torch_compile()
    return backend


def tensor_kind(x: object) -> str | None:
    """The name of the backend whose tensor ``x`` is, or ``None`` if it is no tensor.

    A framework is only considered when its module is already in ``sys.modules``.
    """
    if isinstance(x, (np.ndarray, np.generic)):
        return "numpy"
    if isinstance(x, AbstractArray):
        return "abstract"
    if isinstance(x, Tracer):
        return "trace"
    modules = sys.modules
    if "torch" in modules:
        import torch

        if isinstance(x, torch.Tensor):
            return "torch"
    if "jax" in modules:
        import jax

        if isinstance(x, jax.Array):
            return "jax"
    if "keras" in modules:
        import keras

        if isinstance(x, (keras.KerasTensor, keras.Variable)):
            return "keras"
    return None

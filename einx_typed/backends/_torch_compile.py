"""torch.compile support: every public op becomes one opaque node of a dynamo graph.

Dynamo cannot trace the planning code (attrs constructors, regular expressions, locks),
so the ops are registered with ``torch._dynamo.allow_in_graph``: dynamo then records each
op call as a single node, and AOTAutograd later runs the op on fake tensors, whose
shapes are plain ints, so planning runs as ordinary Python and only the backend's torch
calls end up in the compiled graph (with their gradients).

Registration happens when the ops package is imported while torch is loaded, when the
torch backend is first created, and whenever :func:`enable_torch_compile` is called.
Dynamo cannot pass Python callables into such a node, so a tensor factory operand (or a
callable ``op=``) under ``torch.compile`` needs the call to be made eagerly once, or the
factory to be materialised before the compiled function runs.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

from einx_typed.errors import ConfigError

__all__ = ["enable_torch_compile", "register_graph_ops"]

_graph_ops: list[Callable[..., Any]] = []
_registered: set[int] = set()
_lock = threading.Lock()


def register_graph_ops(*funcs: Callable[..., Any]) -> None:
    """Remember ``funcs`` as ops that torch.compile records as single graph nodes.

    They are registered with dynamo at once if torch is already imported.
    """
    with _lock:
        _graph_ops.extend(f for f in funcs if all(f is not g for g in _graph_ops))
    if "torch" in sys.modules:
        enable_torch_compile()


def enable_torch_compile() -> None:
    """Let ``torch.compile(..., fullgraph=True)`` compile code that calls einx_typed ops.

    Idempotent and cheap after the first call.  It runs automatically when einx_typed is
    imported after torch and when the torch backend is first used; call it yourself if
    you import torch after einx_typed and compile before any eager op call.
    """
    with _lock:
        pending = [f for f in _graph_ops if id(f) not in _registered]
        if not pending:
            return
        try:
            from torch._dynamo import allow_in_graph
        except ImportError as error:
            raise ConfigError(
                f"torch.compile support needs torch with dynamo, but importing it failed: {error}.",
                hint="Install PyTorch 2.x.",
            ) from None
        for func in pending:
            allow_in_graph(func)
            _registered.add(id(func))

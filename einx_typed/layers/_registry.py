"""The one table of layer spec types, by the name that configs, binders and tools use.

``config`` writes and reads the ``"type"`` key with it, ``testing`` draws one strategy per
entry, the command line names a spec with it, and every binder's ``from_spec`` finds its
module class by :func:`module_name` (``LinearSpec`` -> ``Linear``).
"""

from __future__ import annotations

from typing import Final

from einx_typed.layers._activation import ActivationSpec
from einx_typed.layers._base import LayerSpec
from einx_typed.layers._dropout import DropoutSpec
from einx_typed.layers._frozen import FrozenMap
from einx_typed.layers._linear import LinearSpec
from einx_typed.layers._norm import NormSpec
from einx_typed.layers._sequential import SequentialSpec

__all__ = ["SPEC_TYPES", "module_name", "spec_type_name"]

_TYPES: Final[dict[str, type[LayerSpec]]] = {
    "linear": LinearSpec,
    "norm": NormSpec,
    "dropout": DropoutSpec,
    "activation": ActivationSpec,
    "sequential": SequentialSpec,
}

SPEC_TYPES: Final[FrozenMap[str, type[LayerSpec]]] = FrozenMap(_TYPES)
"""Every layer spec class under its type name (the ``"type"`` key of a config)."""

_NAME_OF: Final[dict[type[LayerSpec], str]] = {cls: name for name, cls in _TYPES.items()}


def spec_type_name(spec: LayerSpec | type[LayerSpec]) -> str | None:
    """The type name of a spec or spec class (``"linear"``), ``None`` if unregistered."""
    cls = spec if isinstance(spec, type) else type(spec)
    return _NAME_OF.get(cls)


def module_name(spec: LayerSpec | type[LayerSpec]) -> str:
    """The name a binder gives the module of ``spec``: the class name without ``Spec``."""
    cls = spec if isinstance(spec, type) else type(spec)
    return cls.__name__.removesuffix("Spec")

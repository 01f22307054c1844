"""What resolving a spec produces: parameter specs and a pure apply function."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, final

import attrs

from einx_typed.errors import OperationError
from einx_typed.layers._frozen import FrozenMap
from einx_typed.layers._init import InitSpec

if TYPE_CHECKING:
    from einx_typed.layers._base import LayerSpec

__all__ = ["ApplyFn", "ParamSpec", "Resolved", "Tensor"]

Tensor = Any
"""An array of numpy, JAX or PyTorch (the library is picked from the input)."""

ApplyFn = Callable[
    [Mapping[str, Tensor], Tensor, Mapping[str, Tensor], bool, object, bool],
    tuple[Tensor, dict[str, Tensor]],
]
"""``(params, x, state, training, rng, initializing) -> (y, new_state)``."""


@final
@attrs.frozen
class ParamSpec:
    """One parameter or state tensor of a resolved layer.

    ``axes`` names every dimension after the layer's expressions (``("c1", "c2")``).
    """

    shape: tuple[int, ...]
    axes: tuple[str, ...]
    init: InitSpec
    dtype: str
    trainable: bool = True

    @property
    def size(self) -> int:
        """The number of elements."""
        return math.prod(self.shape)


@final
@attrs.frozen(eq=False)
class Resolved:
    """A spec bound to an input shape and dtype: parameter table plus a pure function.

    ``apply(params, x, state=..., training=..., rng=..., initializing=...)`` returns
    ``(y, new_state)`` and never writes into its arguments.
    """

    spec: LayerSpec
    input_shape: tuple[int, ...]
    dtype: str
    params: FrozenMap[str, ParamSpec]
    state: FrozenMap[str, ParamSpec]
    output_shape: tuple[int, ...]
    _apply: ApplyFn = attrs.field(repr=False, alias="apply_fn")

    @property
    def param_count(self) -> int:
        """The number of trainable parameter elements."""
        return sum(p.size for p in self.params.values())

    def apply(
        self,
        params: Mapping[str, Tensor],
        x: Tensor,
        *,
        state: Mapping[str, Tensor] | None = None,
        training: bool = False,
        rng: object = None,
        initializing: bool = False,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Run the layer on ``x``; returns the output and the new state."""
        _check_tensors("parameter", self.params, params)
        if state is None and self.state:
            raise OperationError(
                f"This {type(self.spec).__name__} keeps state "
                f"({', '.join(repr(k) for k in self.state)}), but apply got state=None.",
                hint="Pass the state arrays (initialised from resolved.state) as state=.",
            )
        _check_tensors("state", self.state, state or {})
        return self._apply(params, x, state or {}, training, rng, initializing)


def _check_tensors(kind: str, expected: Mapping[str, ParamSpec], got: Mapping[str, Tensor]) -> None:
    missing = [name for name in expected if name not in got]
    extra = [name for name in got if name not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(repr(n) for n in missing)}")
        if extra:
            parts.append(f"unexpected {', '.join(repr(n) for n in extra)}")
        raise OperationError(
            f"The {kind} mapping does not fit the resolved layer: {'; '.join(parts)}.",
            hint=f"Expected exactly the {kind} names {list(expected)}.",
        )
    for name, spec in expected.items():
        shape = getattr(got[name], "shape", None)
        if shape is None or tuple(int(d) for d in shape) != spec.shape:
            raise OperationError(
                f"The {kind} {name!r} has shape {None if shape is None else tuple(shape)}, "
                f"but the resolved layer expects {spec.shape} (axes {' '.join(spec.axes)}).",
            )

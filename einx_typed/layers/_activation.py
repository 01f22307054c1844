"""ActivationSpec: a named activation between layers (softmax over a bracketed axis)."""

from __future__ import annotations

from typing import cast, final

import attrs

import einx_typed.ops as ops
from einx_typed.backends.base import UnaryName
from einx_typed.errors import SpecError
from einx_typed.layers import _math
from einx_typed.layers._base import Binding, LayerSpec, ParamTables, resolve_single
from einx_typed.layers._exprs import has_marker
from einx_typed.layers._frozen import FrozenMap
from einx_typed.layers._resolved import Resolved, Tensor
from einx_typed.layers._validate import field_error, parse_field

__all__ = ["ACTIVATION_NAMES", "ActivationSpec"]

_OWNER = "ActivationSpec"
_AXIS_WISE = ("softmax", "log_softmax")

ACTIVATION_NAMES: tuple[str, ...] = (*_math.ACTIVATIONS, *_AXIS_WISE)
"""Every activation an :class:`ActivationSpec` can name."""


@final
@attrs.frozen
class ActivationSpec(LayerSpec):
    """A parameter-free activation: ``ActivationSpec("gelu")``,
    ``ActivationSpec("softmax", "b [c]")`` (over the bracketed axes).

    ``gelu`` is the tanh approximation on every backend.
    """

    name: str
    expr: str | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or self.name not in ACTIVATION_NAMES:
            raise SpecError(
                f"ActivationSpec field 'name' must be one of {', '.join(ACTIVATION_NAMES)}; "
                f"got {self.name!r}.",
                field="name",
            )
        if self.name in _AXIS_WISE:
            if self.expr is None:
                raise SpecError(
                    f"ActivationSpec field 'expr' is needed for {self.name}: it marks the axes "
                    "to normalise over.",
                    hint="For example ActivationSpec('softmax', 'b [c]').",
                    field="expr",
                )
            op = parse_field(_OWNER, "expr", self.expr)
            if op.outputs is not None or len(op.inputs) != 1 or not has_marker(op.inputs[0].items):
                raise field_error(
                    _OWNER, "expr", op, "must be one expression that marks the axes in brackets."
                )
        elif self.expr is not None:
            raise SpecError(
                f"ActivationSpec field 'expr' must be None for the pointwise activation "
                f"{self.name!r}, got {self.expr!r}.",
                field="expr",
            )

    def _build(self, input_shape: tuple[int, ...], dtype: str) -> Resolved:
        return resolve_single(self, self._forward, input_shape, dtype)

    def _floating_input(self) -> bool:
        return self.expr is None  # pointwise maths; softmax promotes integers like mean

    def _static_tables(self, dtype: str) -> ParamTables | None:
        return FrozenMap(), FrozenMap()

    def _forward(
        self, ctx: Binding, x: Tensor, training: bool, initializing: bool, rng: object
    ) -> tuple[Tensor, dict[str, Tensor]]:
        if self.expr is None:
            return _math.unary(cast(UnaryName, self.name), x), {}
        if self.name == "softmax":
            return ops.softmax(self.expr, x), {}
        return ops.log_softmax(self.expr, x), {}

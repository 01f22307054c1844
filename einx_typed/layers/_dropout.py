"""DropoutSpec: zero random parts of the input; the bracketed part is the mask (NOTATION 5.3)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import final

import attrs

import einx_typed.ops as ops
from einx_typed.errors import EinxError
from einx_typed.layers import _math
from einx_typed.layers._base import (
    Binding,
    LayerSpec,
    ParamTables,
    axes_subset,
    resolve_single,
    rewrap,
)
from einx_typed.layers._exprs import (
    Items,
    broadcast_against,
    demark,
    dim_names,
    marked_part,
    named_axes,
    require_marker,
)
from einx_typed.layers._frozen import FrozenMap
from einx_typed.layers._resolved import Resolved, Tensor
from einx_typed.layers._validate import (
    AxisValue,
    as_float,
    check_axes_used,
    check_rate,
    check_str,
    field_error,
    freeze_axes,
    parse_field,
)

__all__ = ["DropoutSpec"]

_OWNER = "DropoutSpec"


@final
@attrs.frozen
class _DropoutPlan:
    names: frozenset[str]
    mask_items: Items
    multiply_expr: str
    elementwise: bool
    """Whether the mask is the input's own shape (``[...]``): one draw per element."""


@functools.lru_cache(maxsize=256)
def _plan(expr: str) -> _DropoutPlan:
    op = parse_field(_OWNER, "expr", expr)
    if op.outputs is not None or len(op.inputs) != 1:
        raise field_error(
            _OWNER, "expr", op, "must be one expression without '->' or ','.", hint="E.g. '[...]'."
        )
    items = require_marker(
        _OWNER,
        "expr",
        op,
        "marks no axes; the bracketed part is the shape of the random mask.",
        hint="'[...]' drops elements, '[b] ... [c]' whole channels, '[b] ...' whole samples.",
    )
    mask = marked_part(items)
    return _DropoutPlan(
        names=frozenset(named_axes(items)),
        mask_items=mask,
        multiply_expr=broadcast_against(items, mask),
        elementwise=mask == demark(items),
    )


def _to_rate(value: object) -> float:
    return as_float(_OWNER, "drop_rate", value)


@final
@attrs.frozen
class DropoutSpec(LayerSpec):
    """Dropout with one random draw per element of the bracketed part of ``expr``.

    ``DropoutSpec("[...]", 0.2)`` drops elements, ``DropoutSpec("[b] ... [c]", 0.2)`` whole
    channels per sample, ``DropoutSpec("[b] ...", 0.2)`` whole samples (drop-path).  Kept
    values are scaled by ``1 / (1 - drop_rate)``; outside training, or at ``drop_rate=0``, it is
    the identity.
    """

    expr: str
    drop_rate: float = attrs.field(converter=_to_rate)
    axes: FrozenMap[str, AxisValue] = attrs.field(factory=FrozenMap, converter=freeze_axes)

    def __attrs_post_init__(self) -> None:
        check_str(_OWNER, "expr", self.expr)
        plan = _plan(self.expr)
        check_rate(_OWNER, "drop_rate", self.drop_rate, low_open=False)
        check_axes_used(_OWNER, self.axes, plan.names, [self.expr])

    def _build(self, input_shape: tuple[int, ...], dtype: str) -> Resolved:
        return resolve_single(self, self._forward, input_shape, dtype)

    def mask_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """The shape of the random mask for inputs of ``input_shape``."""
        from einx_typed.backends.abstract import AbstractArray

        shapes: list[tuple[int, ...]] = []

        def record(shape: Sequence[int]) -> AbstractArray:
            shapes.append(tuple(int(d) for d in shape))
            return AbstractArray(shape, "float32")

        plan = _plan(self.expr)
        x = AbstractArray(tuple(input_shape), "float32")
        try:
            ops.multiply(plan.multiply_expr, x, record, **axes_subset(self.axes, plan.names))
        except EinxError as err:
            raise rewrap(
                err, f"{self!r} does not fit an input of shape {tuple(input_shape)}"
            ) from None
        return shapes[0]

    def mask_axes(self, input_shape: Sequence[int]) -> tuple[str, ...]:
        """The axis names of the mask's dimensions (``("b", "c")`` for ``"[b] ... [c]"``)."""
        return dim_names(_plan(self.expr).mask_items, self.mask_shape(input_shape))

    def _floating_input(self) -> bool:
        return True

    def _static_tables(self, dtype: str) -> ParamTables | None:
        return FrozenMap(), FrozenMap()

    def _forward(
        self, ctx: Binding, x: Tensor, training: bool, initializing: bool, rng: object
    ) -> tuple[Tensor, dict[str, Tensor]]:
        if not training or self.drop_rate == 0.0:
            return x, {}  # the identity: the program reads no key
        plan = _plan(self.expr)
        if plan.elementwise:
            return _math.dropout(x, self.drop_rate, rng), {}
        mask = _math.keep_mask(rng, self.mask_shape(x.shape), 1.0 - self.drop_rate, x)
        y = ops.multiply(plan.multiply_expr, x, mask, **axes_subset(self.axes, plan.names))
        return y, {}

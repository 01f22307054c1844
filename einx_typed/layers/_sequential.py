"""SequentialSpec: layers applied one after the other, parameters prefixed by position."""

from __future__ import annotations

from collections.abc import Mapping
from typing import final

import attrs

from einx_typed.errors import EinxError, SpecError
from einx_typed.layers import _math
from einx_typed.layers._activation import ActivationSpec
from einx_typed.layers._base import LayerSpec, ParamTables, rewrap
from einx_typed.layers._frozen import FrozenMap
from einx_typed.layers._resolved import ParamSpec, Resolved, Tensor

__all__ = ["SequentialSpec"]


def _item_field(index: int, field: str | None) -> str:
    """The key path of ``field`` of item ``index``: ``layers[2].name``."""
    item = f"layers[{index}]"
    return item if field is None else f"{item}.{field}"


def _to_layers(value: object) -> tuple[LayerSpec, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise SpecError(
            f"SequentialSpec field 'layers' must be a list of layer specs, got {value!r}.",
            field="layers",
        )
    layers: list[LayerSpec] = []
    for index, item in enumerate(value):
        if isinstance(item, str):
            try:
                item = ActivationSpec(item)
            except SpecError as err:
                raise SpecError(
                    f"SequentialSpec field 'layers[{index}]': {err.message}",
                    field=_item_field(index, err.field),
                ) from None
        if not isinstance(item, LayerSpec):
            raise SpecError(
                f"SequentialSpec field 'layers[{index}]' must be a layer spec or an activation "
                f"name, got {item!r}.",
                field=f"layers[{index}]",
            )
        layers.append(item)
    return tuple(layers)


@final
@attrs.frozen
class SequentialSpec(LayerSpec):
    """Apply ``layers`` in order; item ``i``'s parameters are named ``"i.<name>"``.

    ``SequentialSpec([LinearSpec("b [...->c]", axes={"c": 10}), "gelu"])``: strings name
    activations.
    """

    layers: tuple[LayerSpec, ...] = attrs.field(converter=_to_layers)

    def _static_tables(self, dtype: str) -> ParamTables | None:
        params: dict[str, ParamSpec] = {}
        state: dict[str, ParamSpec] = {}
        for index, layer in enumerate(self.layers):
            tables = layer.resolve_params(dtype)
            if tables is None:
                return None
            params.update({f"{index}.{k}": v for k, v in tables[0].items()})
            state.update({f"{index}.{k}": v for k, v in tables[1].items()})
        return FrozenMap(params), FrozenMap(state)

    def variables(self) -> tuple[tuple[str, bool], ...]:
        return tuple(
            (f"{index}.{name}", trainable)
            for index, layer in enumerate(self.layers)
            for name, trainable in layer.variables()
        )

    def _floating_input(self) -> bool:
        return bool(self.layers) and self.layers[0]._floating_input()

    def _build(self, input_shape: tuple[int, ...], dtype: str) -> Resolved:
        shape = input_shape
        items: list[Resolved] = []
        params: dict[str, ParamSpec] = {}
        state: dict[str, ParamSpec] = {}
        for index, layer in enumerate(self.layers):
            try:
                resolved = layer.resolve(shape, dtype)
            except EinxError as err:
                raise rewrap(err, f"SequentialSpec item layers[{index}]") from None
            items.append(resolved)
            params.update({f"{index}.{k}": v for k, v in resolved.params.items()})
            state.update({f"{index}.{k}": v for k, v in resolved.state.items()})
            shape = resolved.output_shape
        resolved_items = tuple(items)

        def definition(
            params: Mapping[str, Tensor],
            x: Tensor,
            state: Mapping[str, Tensor],
            training: bool,
            rng: object,
            initializing: bool,
        ) -> tuple[Tensor, dict[str, Tensor]]:
            new_state: dict[str, Tensor] = {}
            for index, item in enumerate(resolved_items):
                prefix = f"{index}."
                x, item_state = item._definition(
                    {k: params[prefix + k] for k in item.params},
                    x,
                    {k: state[prefix + k] for k in item.state},
                    training,
                    _math.split_rng(rng, index, x) if training else rng,
                    initializing,
                )
                new_state.update({prefix + k: v for k, v in item_state.items()})
            return x, new_state

        return Resolved(
            spec=self,
            input_shape=input_shape,
            dtype=dtype,
            params=FrozenMap(params),
            state=FrozenMap(state),
            output_shape=shape,
            definition=definition,
            floating_input=bool(items) and items[0].floating_input,
        )

"""Execute index-family plans on a backend: a few reshapes around one gather/scatter."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from einx_typed.backends.base import Backend, ScatterMode, Tensor
from einx_typed.ops._index_plan import (
    GatherPlan,
    IndexSource,
    OperandLayout,
    OutputLayout,
    ScatterPlan,
)

__all__ = ["run_gather", "run_scatter"]


def _to_layout(backend: Backend, x: Tensor, layout: OperandLayout) -> Tensor:
    if layout.flat_shape is not None:
        x = backend.reshape(x, layout.flat_shape)
    if layout.perm is not None:
        x = backend.transpose(x, layout.perm)
    if layout.final_shape is not None:
        x = backend.reshape(x, layout.final_shape)
    return x


def _from_result(backend: Backend, x: Tensor, layout: OutputLayout) -> Tensor:
    if layout.perm is not None:
        x = backend.transpose(x, layout.perm)
    if layout.expand_shape is not None:
        x = backend.reshape(x, layout.expand_shape)
    if layout.broadcast_shape is not None:
        x = backend.broadcast_to(x, layout.broadcast_shape)
    if layout.final_shape is not None:
        x = backend.reshape(x, layout.final_shape)
    return x


def _indices(
    backend: Backend,
    like: Tensor,
    sources: Sequence[IndexSource],
    coordinates: Sequence[Tensor],
) -> tuple[Tensor, ...]:
    out = []
    for source in sources:
        if source.coordinate is None:
            grid = np.arange(source.length, dtype=np.int32).reshape(source.grid_shape)
            out.append(backend.asarray(grid, like=like))
            continue
        coordinate = coordinates[source.coordinate]
        if source.component is not None:
            coordinate = backend.slice_axis(coordinate, 0, source.component, source.component + 1)
            coordinate = backend.reshape(coordinate, source.grid_shape)
        out.append(coordinate)
    return tuple(out)


def run_gather(
    plan: GatherPlan, backend: Backend, tensor: Tensor, coordinates: Sequence[Tensor]
) -> Tensor:
    """``get_at``: ``tensor[indices]`` rearranged into the output expression."""
    x = _to_layout(backend, tensor, plan.tensor)
    laid_out = [_to_layout(backend, c, layout) for c, layout in zip(coordinates, plan.coordinates)]
    result = backend.gather(x, _indices(backend, x, plan.sources, laid_out))
    return _from_result(backend, result, plan.output)


def run_scatter(
    plan: ScatterPlan,
    backend: Backend,
    mode: ScatterMode,
    tensor: Tensor,
    coordinates: Sequence[Tensor],
    updates: Tensor,
) -> Tensor:
    """``set_at``/``add_at``/``subtract_at``: a new tensor, the input is never written."""
    x = _to_layout(backend, tensor, plan.tensor)
    laid_out = [_to_layout(backend, c, layout) for c, layout in zip(coordinates, plan.coordinates)]
    values = _to_layout(backend, updates, plan.updates.operand)
    if plan.updates.broadcast_shape is not None:
        values = backend.broadcast_to(values, plan.updates.broadcast_shape)
    result = backend.scatter(x, _indices(backend, x, plan.sources, laid_out), values, mode)
    return _from_result(backend, result, plan.output)

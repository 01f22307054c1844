"""Compile index-family plans into programs: a few reshapes around one gather/scatter."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from einx_typed.backends.base import ScatterMode
from einx_typed.ops._index_plan import (
    GatherPlan,
    IndexSource,
    OperandLayout,
    OutputLayout,
    ScatterPlan,
)
from einx_typed.ops._program import ProgramBuilder

__all__ = ["emit_gather", "emit_scatter"]


def _to_layout(builder: ProgramBuilder, value: int, layout: OperandLayout) -> int:
    if layout.flat_shape is not None:
        value = builder.reshape(value, layout.flat_shape)
    if layout.perm is not None:
        value = builder.transpose(value, layout.perm)
    if layout.final_shape is not None:
        value = builder.reshape(value, layout.final_shape)
    return value


def _from_result(builder: ProgramBuilder, value: int, layout: OutputLayout) -> int:
    if layout.perm is not None:
        value = builder.transpose(value, layout.perm)
    if layout.expand_shape is not None:
        value = builder.reshape(value, layout.expand_shape)
    if layout.broadcast_shape is not None:
        value = builder.broadcast_to(value, layout.broadcast_shape)
    if layout.final_shape is not None:
        value = builder.reshape(value, layout.final_shape)
    return value


def _indices(
    builder: ProgramBuilder, like: int, sources: Sequence[IndexSource], coordinates: Sequence[int]
) -> list[int]:
    """One index value per leading dimension of the laid-out tensor."""
    out = []
    for source in sources:
        if source.coordinate is None:
            grid = np.arange(source.length, dtype=np.int32).reshape(source.grid_shape)
            out.append(builder.emit("asarray", (like,), source.grid_shape, leading=(grid,)))
            continue
        coordinate = coordinates[source.coordinate]
        if source.component is not None:
            shape = (1, *builder.shape(coordinate)[1:])
            coordinate = builder.emit(
                "slice_axis",
                (coordinate,),
                shape,
                trailing=(0, source.component, source.component + 1),
            )
            coordinate = builder.reshape(coordinate, source.grid_shape)
        out.append(coordinate)
    return out


def _coordinates(builder: ProgramBuilder, layouts: Sequence[OperandLayout]) -> list[int]:
    """The coordinate operands (operands ``1..``) in plan layout."""
    return [_to_layout(builder, 1 + i, layout) for i, layout in enumerate(layouts)]


def emit_gather(builder: ProgramBuilder, plan: GatherPlan) -> int:
    """``get_at``: ``tensor[indices]`` rearranged into the output expression."""
    x = _to_layout(builder, 0, plan.tensor)
    coordinates = _coordinates(builder, plan.coordinates)
    indices = _indices(builder, x, plan.sources, coordinates)
    shape = _indexed_shape(builder, x, indices)
    result = builder.emit("gather", (x, *indices), shape, pack=(1, 1 + len(indices)))
    return _from_result(builder, result, plan.output)


def emit_scatter(builder: ProgramBuilder, plan: ScatterPlan, mode: ScatterMode) -> int:
    """``set_at``/``add_at``/``subtract_at``: a new tensor, the input is never written."""
    x = _to_layout(builder, 0, plan.tensor)
    coordinates = _coordinates(builder, plan.coordinates)
    updates = _to_layout(builder, 1 + len(plan.coordinates), plan.updates.operand)
    if plan.updates.broadcast_shape is not None:
        updates = builder.broadcast_to(updates, plan.updates.broadcast_shape)
    indices = _indices(builder, x, plan.sources, coordinates)
    result = builder.emit(
        "scatter",
        (x, *indices, updates),
        builder.shape(x),
        trailing=(mode,),
        pack=(1, 1 + len(indices)),
    )
    return _from_result(builder, result, plan.output)


def _indexed_shape(builder: ProgramBuilder, x: int, indices: Sequence[int]) -> tuple[int, ...]:
    """The shape of ``x[indices]``: the broadcast index shape, then x's remaining axes."""
    grid = np.broadcast_shapes(*(builder.shape(i) for i in indices))
    return (*grid, *builder.shape(x)[len(indices) :])

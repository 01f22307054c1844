"""The index family: ``get_at``, ``set_at``, ``add_at`` and ``subtract_at``.

The first operand's marked axes are the indexed axes; each coordinate operand marks at
most one axis (its coordinate axis, supplying that many indices; without one it supplies
a single index), and several coordinate operands act like their concatenation along the
coordinate axis::

    get_at("b [h w] c, b p [2] -> b p c", image, points)     # per-batch points
    get_at("[v] c, b t -> b t c", embedding, tokens)          # embedding lookup
    add_at("[h w], p [2], p", grid, points, ones)             # histogram

Deliberate differences from einx 0.3.0 (DESIGN.md section 3): the update ops never
write into their input and ``add_at``/``subtract_at`` accumulate repeated indices;
mixed coordinate markings (``[h w d], p [2], p -> p``) work; an empty coordinate or
update tensor is not special-cased: like every zero-length axis it is a solve error.
Negative indices wrap around as in NumPy.
"""

from __future__ import annotations

from typing import Any

from einx_typed.backends.base import ScatterMode, Tensor
from einx_typed.ops import _index_call
from einx_typed.ops._engine import execute

__all__ = ["add_at", "get_at", "set_at", "subtract_at"]


def get_at(
    opstring: str,
    tensor: Any,
    *coordinates: Any,
    backend: str | None = None,
    cse: bool = True,
    **axis_values: Any,
) -> Tensor:
    """Values of ``tensor`` at the given coordinates.

    The output expression is required and has no brackets; it must contain every batch
    axis of ``tensor`` and every axis of the coordinate operands, and may add broadcast
    axes: ``get_at("b [h w] c, b p, b p -> b p c", x, rows, cols)``.
    A factory operand is called with ``name="embedding"`` and ``init="get_at"``.
    """
    operands = (tensor, *coordinates)
    return execute(
        _index_call.plan_index, "get_at", opstring, operands, (), backend, cse, axis_values
    )


def _update(
    op: ScatterMode,
    opstring: str,
    tensor: Any,
    coordinates_and_updates: tuple[Any, ...],
    backend: Any,
    cse: bool,
    axis_values: dict[str, Any],
) -> Tensor:
    operands = (tensor, *coordinates_and_updates)
    planner = _index_call.plan_index
    return execute(planner, f"{op}_at", opstring, operands, (), backend, cse, axis_values)


def set_at(
    opstring: str,
    tensor: Any,
    *coordinates_and_updates: Any,
    backend: str | None = None,
    cse: bool = True,
    **axis_values: Any,
) -> Tensor:
    """A copy of ``tensor`` with the values at the coordinates replaced by the updates.

    The last positional operand holds the updates; their expression has no brackets and
    may omit axes, which are broadcast: ``set_at("b [h w] c, p [2], c", x, points, color)``.
    The output defaults to the first operand's expression. Where coordinates repeat, one
    of the updates wins (unspecified which).
    """
    return _update("set", opstring, tensor, coordinates_and_updates, backend, cse, axis_values)


def add_at(
    opstring: str,
    tensor: Any,
    *coordinates_and_updates: Any,
    backend: str | None = None,
    cse: bool = True,
    **axis_values: Any,
) -> Tensor:
    """A copy of ``tensor`` plus the updates at the coordinates; repeated ones accumulate.

    ``add_at("[n], p, p", counts, labels, 1)`` counts the occurrences of every label.
    """
    return _update("add", opstring, tensor, coordinates_and_updates, backend, cse, axis_values)


def subtract_at(
    opstring: str,
    tensor: Any,
    *coordinates_and_updates: Any,
    backend: str | None = None,
    cse: bool = True,
    **axis_values: Any,
) -> Tensor:
    """A copy of ``tensor`` minus the updates at the coordinates; repeated ones accumulate."""
    return _update("subtract", opstring, tensor, coordinates_and_updates, backend, cse, axis_values)

"""``solve``, ``matches`` and ``check``: ask whether tensors fit an expression."""

from __future__ import annotations

from collections.abc import Sequence

from einx_typed.errors import OperationError, SolveError
from einx_typed.notation import (
    AxisValue,
    Solution,
    check_axis_names,
    normalize_axis_values,
    parse_op,
)
from einx_typed.notation import solve as solve_notation

__all__ = ["check", "matches", "solve"]


def _nested_list_shape(value: list[object] | tuple[object, ...], index: int) -> tuple[int, ...]:
    if not value:
        return (0,)
    inner = [
        _nested_list_shape(item, index) if isinstance(item, list | tuple) else () for item in value
    ]
    if any(shape != inner[0] for shape in inner):
        raise OperationError(
            f"Tensor {index + 1} is a ragged nested list; its shape is not defined.",
            hint="Pass an array, or a list whose nested lists all have the same length.",
        )
    return (len(value), *inner[0])


def tensor_shape(tensor: object, index: int = 0) -> tuple[int, ...] | None:
    """Shape of an argument: arrays by ``.shape``, scalars ``()``, nested lists by nesting.

    A callable without a shape is a tensor factory and has no shape yet (``None``).
    """
    shape = getattr(tensor, "shape", None)
    if shape is not None:
        try:
            return tuple(int(d) for d in shape)
        except (TypeError, ValueError):
            raise OperationError(
                f"Tensor {index + 1} has shape {shape!r}, which is not a tuple of ints.",
                hint="Symbolic or unknown dimensions are not supported.",
            ) from None
    if isinstance(tensor, bool | int | float | complex):
        return ()
    if isinstance(tensor, list | tuple):
        return _nested_list_shape(tensor, index)
    if callable(tensor):
        return None
    raise OperationError(
        f"Argument {index + 1} of type {type(tensor).__name__} is neither a tensor, a scalar, a "
        "nested list nor a tensor factory."
    )


def _solve(
    opstring: str, tensors: Sequence[object], cse: bool, axis_values: dict[str, object]
) -> tuple[Solution, dict[str, AxisValue]] | SolveError:
    op = parse_op(opstring)
    exprs = (*op.inputs, *(op.outputs or ()))
    if len(tensors) != len(op.inputs):
        raise OperationError(
            f"Expected {len(op.inputs)} tensor(s) for '{op.text}', got {len(tensors)}.",
            expr=op.text,
        )
    shapes = [tensor_shape(t, i) for i, t in enumerate(tensors)]
    values = normalize_axis_values(axis_values)
    check_axis_names(exprs, values, op.text, shapes)
    shapes += [None] * (len(exprs) - len(shapes))
    try:
        solution = solve_notation(
            exprs,
            shapes,
            values,
            text=op.text,
            cse=cse,
            check_unknown=False,
            cse_concat=True,
            arguments=len(tensors),
        )
    except SolveError as error:
        return error
    return solution, values


def _as_mapping(solution: Solution) -> dict[str, int | tuple[int, ...]]:
    lengths = solution.lengths
    instance_of = {
        f"{name}.{i}": name for name, count in solution.repeats.items() for i in range(count)
    }
    result: dict[str, int | tuple[int, ...]] = {}
    for name, length in lengths.items():
        base = instance_of.get(name)
        if base is None:
            result[name] = length
        elif base not in result:
            instances = [f"{base}.{i}" for i in range(solution.repeats[base])]
            if all(n in lengths for n in instances):
                result[base] = tuple(lengths[n] for n in instances)
    for name, count in solution.repeats.items():
        if count == 0:
            result[name] = ()
    return result


def solve(
    opstring: str, *tensors: object, cse: bool = False, **axis_values: object
) -> dict[str, int | tuple[int, ...]] | None:
    """Axis lengths that make ``tensors`` fit ``opstring``, or ``None`` if none do.

    ``solve("b s... c", x)`` with ``x.shape == (2, 4, 5, 3)`` is
    ``{"b": 2, "c": 3, "s": (4, 5)}``: an axis inside an ellipsis maps to the tuple of its
    instance lengths (the anonymous ellipsis under ``"_anonymous_ellipsis_axis"``; an
    ellipsis that repeats zero times gives ``()``, where einx 0.3.0 omits the axis).  With
    ``cse=True`` a merged run such as ``(a b)`` appears under its text (``"a b"``) instead
    of its undetermined axes.  Unknown axis names and invalid values still raise.
    """
    outcome = _solve(opstring, tensors, cse, dict(axis_values))
    if isinstance(outcome, SolveError):
        return None
    return _as_mapping(outcome[0])


def matches(opstring: str, *tensors: object, cse: bool = True, **axis_values: object) -> bool:
    """Whether ``tensors`` fit ``opstring`` (with the given axis values)."""
    return not isinstance(_solve(opstring, tensors, cse, dict(axis_values)), SolveError)


def check(opstring: str, *tensors: object, cse: bool = True, **axis_values: object) -> None:
    """Raise the solver's error if ``tensors`` do not fit ``opstring``."""
    outcome = _solve(opstring, tensors, cse, dict(axis_values))
    if isinstance(outcome, SolveError):
        raise outcome

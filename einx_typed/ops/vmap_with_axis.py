"""The vmap_with_axis family: ``softmax``, ``log_softmax``, ``flip``, ``roll``.

The op acts on all marked axes jointly (flattened), and vectorises over the rest.
Without ``->`` the output equals the input expression.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from einx_typed.errors import OperationError
from einx_typed.ops._common import (
    build_plan,
    check_operand_count,
    parse,
    reject_concat,
    solve,
)
from einx_typed.ops._engine import Plan, Request, execute
from einx_typed.ops._layout import LeafNamer, align, expr_leaves, root_shape
from einx_typed.ops._program import ProgramBuilder

__all__ = ["flip", "log_softmax", "roll", "softmax", "vmap_with_axis"]

_NAMED = frozenset({"softmax", "log_softmax", "flip", "roll"})


def vmap_with_axis(
    op_string: str,
    *tensors: Any,
    op: str | Callable[..., Any],
    kwargs: dict[str, Any] | None = None,
    backend: str | None = None,
    cse: bool = True,
    **axis_values: Any,
) -> Any:
    """Apply ``op`` along the marked axes: ``op(x, axis=marked_axes, **kwargs)``.

    ``op`` is ``"softmax"``, ``"log_softmax"``, ``"flip"``, ``"roll"`` (with
    ``kwargs={"shift": ...}``) or a callable that keeps the shape of its input.
    """
    extra = dict(kwargs or {})
    if isinstance(op, str):
        if op not in _NAMED:
            raise OperationError(
                f"Unknown op {op!r}; expected a callable or one of {', '.join(sorted(_NAMED))}.",
                expr=op_string,
            )
        shift = extra.pop("shift", None) if op == "roll" else 0
        if extra or shift is None:
            raise OperationError(
                f"{op} got unexpected kwargs {sorted(extra)}"
                + (" and needs a 'shift'." if shift is None else "."),
                expr=op_string,
            )
        if op == "roll":
            return roll(op_string, *tensors, shift=shift, backend=backend, cse=cse, **axis_values)
        params: tuple[Any, ...] = (None,)
        return execute(_plan, op, op_string, tensors, params, backend, cse, axis_values)
    bound = _bind(op, tuple(sorted(extra.items())))
    return execute(_plan, "apply", op_string, tensors, (bound,), backend, cse, axis_values)


def _bind(op: Callable[..., Any], extra: tuple[tuple[str, Any], ...]) -> Callable[..., Any]:
    if not extra:
        return op

    def bound(x: Any, axis: tuple[int, ...]) -> Any:
        return op(x, axis=axis, **dict(extra))

    return bound


def softmax(
    op_string: str, *tensors: Any, backend: str | None = None, cse: bool = True, **axis_values: Any
) -> Any:
    """Softmax normalised jointly over the marked axes, e.g. ``softmax("b q [k] h", a)``."""
    return execute(_plan, "softmax", op_string, tensors, (None,), backend, cse, axis_values)


def log_softmax(
    op_string: str, *tensors: Any, backend: str | None = None, cse: bool = True, **axis_values: Any
) -> Any:
    """Log-softmax normalised jointly over the marked axes."""
    return execute(_plan, "log_softmax", op_string, tensors, (None,), backend, cse, axis_values)


def flip(
    op_string: str, *tensors: Any, backend: str | None = None, cse: bool = True, **axis_values: Any
) -> Any:
    """Reverse every marked axis, e.g. ``flip("a [b]", x)``."""
    return execute(_plan, "flip", op_string, tensors, (None,), backend, cse, axis_values)


def roll(
    op_string: str,
    *tensors: Any,
    shift: int | tuple[int, ...] | list[int],
    backend: str | None = None,
    cse: bool = True,
    **axis_values: Any,
) -> Any:
    """Roll the marked axes by ``shift`` (an int for all of them, or one per marked axis)."""
    if isinstance(shift, list):
        shift = tuple(shift)
    return execute(_plan, "roll", op_string, tensors, (shift,), backend, cse, axis_values)


def _plan(request: Request) -> Plan:
    name = request.op
    (param,) = request.params
    op = parse(request)
    check_operand_count(op, op.inputs, request)
    if len(op.inputs) != 1:
        raise OperationError(
            f"{name} acts on one tensor, but the op string has {len(op.inputs)} input expressions.",
            expr=op.text,
            hint=f"Call {name} once per tensor.",
        )
    if op.outputs is not None and len(op.outputs) != 1:
        raise OperationError(
            f"{name} has exactly one output expression, got {len(op.outputs)}.", expr=op.text
        )
    output = op.inputs[0] if op.outputs is None else op.outputs[0]
    reject_concat(op, (op.inputs[0], output), name)
    exprs, lengths = solve(request, op, op.inputs, (output,))
    expr, out = exprs
    namer = LeafNamer()
    leaves = expr_leaves(expr, lengths, namer)
    out_leaves = expr_leaves(out, lengths, namer)
    axes = tuple(i for i, leaf in enumerate(leaves) if leaf.marked)
    if not axes:
        raise OperationError(
            f"{name} acts on the marked axes, but no axis is marked.",
            expr=op.text,
            span=op.inputs[0].span,
            hint=f"Mark the axes, e.g. {name}('b [c]', x), or '[...]' for all axes.",
        )
    out_by_name = {leaf.name: leaf for leaf in out_leaves}
    for leaf in leaves:
        target = out_by_name.get(leaf.name)
        shown = leaf.shown
        if target is None:
            raise OperationError(
                f"Input axis '{shown}' does not occur in the output of {name}.",
                expr=op.text,
                span=leaf.span,
                hint="The output must keep every input axis.",
            )
        if leaf.marked != target.marked:
            state = "marked" if leaf.marked else "unmarked"
            raise OperationError(
                f"Axis '{shown}' is {state} in the input but not in the output of {name}.",
                expr=op.text,
                span=target.span,
            )
    shape = root_shape(expr, lengths)
    builder = ProgramBuilder([shape])
    value = builder.reshape(0, [leaf.length for leaf in leaves])
    flat_shape = builder.shape(value)
    if name == "roll":
        shifts = _shifts(param, len(axes), op.text)
        value = builder.emit("roll", (value,), flat_shape, trailing=(shifts, axes))
    elif name == "apply":
        value = builder.emit("apply", (value,), flat_shape, trailing=(param, axes))
    else:
        value = builder.emit(name, (value,), flat_shape, trailing=(axes,))
    value = align(builder, value, leaves, out_leaves, broadcast=True)
    value = builder.reshape(value, root_shape(out, lengths))
    return build_plan(request, op, builder, [value], factory_shapes=[shape])


def _shifts(shift: object, count: int, text: str) -> tuple[int, ...]:
    if isinstance(shift, int) and not isinstance(shift, bool):
        return (shift,) * count
    if isinstance(shift, tuple) and all(isinstance(s, int) for s in shift):
        if len(shift) != count:
            raise OperationError(
                f"roll got {len(shift)} shifts for {count} marked axes.",
                expr=text,
                hint="Give one shift per marked axis, or a single int for all of them.",
            )
        return shift
    raise OperationError(f"roll needs an int or a tuple of ints as shift, got {shift!r}.")

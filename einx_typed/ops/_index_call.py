"""The planner of the index family: validate, solve, lay out, compile to a program."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NoReturn

from einx_typed.backends.base import ScatterMode
from einx_typed.errors import OperationError
from einx_typed.notation.tree import Expr, Span
from einx_typed.ops._common import build_plan, named_factories, parse, solve
from einx_typed.ops._engine import Plan, Request
from einx_typed.ops._index_exec import emit_gather, emit_scatter
from einx_typed.ops._index_plan import (
    Leaf,
    index_count_equation,
    leaves_of,
    plan_gather,
    plan_scatter,
)
from einx_typed.ops._layout import root_shape
from einx_typed.ops._program import ProgramBuilder

__all__ = ["plan_index"]

_MODES: dict[str, ScatterMode] = {"set_at": "set", "add_at": "add", "subtract_at": "subtract"}


def _is_integer(dtype: str) -> bool:
    """Whether a dtype name (numpy/torch/jax/keras spelling, or a Python type) is integral.

    ``bool`` is not: NumPy and PyTorch would read a boolean index as a mask.
    """
    return dtype == "int" or dtype.startswith(("int", "uint"))


def plan_index(request: Request) -> Plan:
    """Plan one ``get_at``/``set_at``/``add_at``/``subtract_at`` call signature."""
    op = request.op
    parsed = parse(request)
    update = op != "get_at"

    def fail(message: str, span: Span | None = None, hint: str | None = None) -> NoReturn:
        raise OperationError(message, expr=parsed.text, span=span, hint=hint)

    inputs = parsed.inputs
    n_coordinates = len(inputs) - (2 if update else 1)
    if len(inputs) != len(request.operands):
        fail(
            f"The op string has {len(inputs)} input expressions, but {op} got "
            f"{len(request.operands)} tensors.",
            hint="Pass one tensor per comma-separated input expression.",
        )
    if n_coordinates < 1:
        fail(
            f"{op} needs the indexed tensor, at least one coordinate operand"
            + (" and the updates." if update else "."),
            hint="E.g. 'b [h w] c, b p [2], b p c'."
            if update
            else "E.g. 'b [h w] c, b p [2] -> b p c'.",
        )
    for position in range(1, 1 + n_coordinates):
        dtype = request.operands[position].dtype
        if dtype is not None and not _is_integer(dtype):
            fail(
                f"Coordinate operand {position + 1} of {op} has dtype {dtype}, but indices "
                "must be integers.",
                span=inputs[position].span,
                hint="Cast the coordinates to an integer dtype, e.g. int32 or int64.",
            )
    if parsed.outputs is None:
        if not update:
            fail(
                "get_at needs an output expression ('... -> ...').",
                hint="E.g. 'b [h w] c, b p [2] -> b p c', or hoist with 'b p [i,->]'.",
            )
        output = inputs[0]
    elif len(parsed.outputs) != 1:
        fail(f"{op} has exactly one output expression, got {len(parsed.outputs)}.")
    else:
        output = parsed.outputs[0]

    def extra(expanded: Sequence[Expr]) -> list[tuple[list[tuple[int, int]], int]]:
        return index_count_equation(expanded, n_coordinates)

    expanded, lengths = solve(request, parsed, inputs, (output,), extra=extra)
    length: Callable[[str], int] = lengths.__getitem__
    leaves = [leaves_of(e, length, i, fail) for i, e in enumerate(expanded)]
    shapes = [root_shape(e, lengths) for e in expanded]
    operand_shapes, output_shape = shapes[:-1], shapes[-1]
    # A default output is the first operand itself, so its unnamed axes match too.
    output_leaves: tuple[Leaf, ...] = leaves[0] if parsed.outputs is None else leaves[-1]
    builder = ProgramBuilder(operand_shapes)
    if update:
        scatter = plan_scatter(
            leaves[0],
            leaves[1:-2],
            leaves[-2],
            output_leaves,
            operand_shapes,
            output_shape,
            output.span,
            fail,
        )
        result = emit_scatter(builder, scatter, _MODES[op])
    else:
        gather = plan_gather(
            leaves[0], leaves[1:-1], output_leaves, operand_shapes, output_shape, output.span, fail
        )
        result = emit_gather(builder, gather)
    name = "embedding" if op == "get_at" else op
    return build_plan(
        request,
        parsed,
        builder,
        [result],
        factory_shapes=operand_shapes,
        factory_kwargs=named_factories(len(operand_shapes), name, op),
        weak_scalars=False,
        spans=[e.span for e in inputs],
    )

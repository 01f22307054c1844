"""The elementwise family: ``add``, ``multiply``, ``where``, comparisons, ...

Inputs are aligned to the output by axis name and combined with the backend's
broadcasting op.  Without ``->`` the output is the input that contains all others' axes;
with one expression and two tensors the bracket shorthand builds the second operand from
the marked part (``add("b... [c]", x, bias)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from einx_typed.backends.base import ELEMENTWISE_NAMES
from einx_typed.errors import OperationError
from einx_typed.notation.tree import Expr, Marker
from einx_typed.ops._common import (
    build_plan,
    check_operand_count,
    find_node,
    named_factories,
    op_name,
    parse,
    reject_concat,
    solve,
)
from einx_typed.ops._engine import Plan, Request, execute
from einx_typed.ops._layout import LeafNamer, expr_leaves, root_shape
from einx_typed.ops._program import ProgramBuilder
from einx_typed.ops._shorthand import infer_output, marked_operand

__all__ = [
    "add",
    "divide",
    "elementwise",
    "equal",
    "floor_divide",
    "greater",
    "greater_equal",
    "less",
    "less_equal",
    "logaddexp",
    "logical_and",
    "logical_or",
    "maximum",
    "minimum",
    "multiply",
    "not_equal",
    "subtract",
    "true_divide",
    "where",
]

_VARIADIC = frozenset({"add", "multiply", "logical_and", "logical_or", "maximum", "minimum"})
_FACTORY_NAMES = {"add": "bias", "multiply": "scale"}


def elementwise(
    op_string: str,
    *tensors: Any,
    op: str | Callable[..., Any],
    backend: str | None = None,
    cse: bool = True,
    **axis_values: Any,
) -> Any:
    """Apply the elementwise ``op`` (a name such as ``"add"``, or e.g. ``np.add``)."""
    name = op_name(op, ELEMENTWISE_NAMES, "elementwise", op_string)
    return execute(_plan, name, op_string, tensors, (), backend, cse, axis_values)


def _plan(request: Request) -> Plan:
    name = request.op
    op = parse(request)
    inputs: tuple[Expr, ...] = op.inputs
    shorthand = len(inputs) == 1 and len(request.operands) == 2
    if shorthand:
        inputs = (inputs[0], marked_operand(op, inputs[0]))
    else:
        marker = find_node((*op.inputs, *(op.outputs or ())), Marker)
        if marker is not None:
            raise OperationError(
                f"{name} does not take brackets, except in the shorthand with one expression "
                "and two tensors.",
                expr=op.text,
                span=marker.span,
                hint=f"Remove the brackets, or write e.g. {name}('b... [c]', x, y).",
            )
    _check_arity(name, op.text, len(request.operands))
    check_operand_count(op, inputs, request)
    if op.outputs is None:
        output = infer_output(op, inputs)
    elif len(op.outputs) != 1:
        raise OperationError(
            f"{name} has exactly one output expression, got {len(op.outputs)}.", expr=op.text
        )
    else:
        output = op.outputs[0]
    reject_concat(op, (*inputs, output), name)
    if all(o.kind == "scalar" for o in request.operands):
        raise OperationError(
            f"{name} needs at least one tensor argument; all arguments are Python scalars.",
            expr=op.text,
        )
    exprs, lengths = solve(request, op, inputs, (output,))
    ins, out = exprs[:-1], exprs[-1]
    namer = LeafNamer()
    out_leaves = expr_leaves(out, lengths, namer)
    out_position = {leaf.name: i for i, leaf in enumerate(out_leaves)}
    shapes = [root_shape(e, lengths) for e in ins]
    builder = ProgramBuilder(shapes)
    values: list[int] = []
    for index, expr in enumerate(ins):
        leaves = expr_leaves(expr, lengths, namer)
        for leaf in leaves:
            if leaf.name not in out_position:
                raise OperationError(
                    f"Input axis '{leaf.name.split('#')[0]}' does not occur in the output of "
                    f"{name}.",
                    expr=op.text,
                    span=leaf.span,
                    hint="Every input axis must appear in the output; reduce it first.",
                )
        if request.operands[index].kind == "scalar":
            values.append(index)
            continue
        value = builder.reshape(index, [leaf.length for leaf in leaves])
        order = sorted(range(len(leaves)), key=lambda i: out_position[leaves[i].name])
        value = builder.transpose(value, order)
        present = {leaf.name for leaf in leaves}
        aligned = [t.length if t.name in present else 1 for t in out_leaves]
        while aligned and aligned[0] == 1 and len(aligned) > len(leaves):
            aligned.pop(0)  # leading ones: the backends broadcast right-aligned
        values.append(builder.reshape(value, aligned))
    result = _combine(builder, name, values)
    result = builder.broadcast_to(result, [leaf.length for leaf in out_leaves])
    result = builder.reshape(result, root_shape(out, lengths))
    factory_name = _FACTORY_NAMES.get(name, name)
    return build_plan(
        request,
        op,
        builder,
        [result],
        factory_shapes=shapes,
        factory_kwargs=named_factories(len(ins), factory_name, name),
        keep_scalars=True,
        spans=[e.span for e in inputs],
    )


def _broadcast_shape(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + s for s in shapes]
    return tuple(max(dims) for dims in zip(*padded))


def _combine(builder: ProgramBuilder, name: str, values: list[int]) -> int:
    if name in _VARIADIC:
        result = values[0]
        for value in values[1:]:
            shape = _broadcast_shape(builder.shape(result), builder.shape(value))
            result = builder.emit("elementwise", (result, value), shape, leading=(name,))
        return result
    shape = _broadcast_shape(*(builder.shape(v) for v in values))
    return builder.emit("elementwise", values, shape, leading=(name,))


def _check_arity(name: str, text: str, count: int) -> None:
    if name in _VARIADIC:
        if count < 2:
            raise OperationError(f"{name} needs at least 2 operands, got {count}.", expr=text)
        return
    expected = 3 if name == "where" else 2
    if count != expected:
        raise OperationError(f"{name} takes {expected} operands, got {count}.", expr=text)


def _make(name: str, doc: str) -> Callable[..., Any]:
    def op(
        op_string: str,
        *tensors: Any,
        backend: str | None = None,
        cse: bool = True,
        **axis_values: Any,
    ) -> Any:
        return execute(_plan, name, op_string, tensors, (), backend, cse, axis_values)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


add = _make("add", 'Add tensors, e.g. ``add("b... [c]", x, bias)``.')
subtract = _make("subtract", "Subtract the second tensor from the first.")
multiply = _make("multiply", 'Multiply tensors, e.g. ``multiply("b... [c]", x, scale)``.')
divide = _make("divide", "Divide the first tensor by the second (true division).")
true_divide = _make("true_divide", "Divide the first tensor by the second (true division).")
floor_divide = _make("floor_divide", "Divide and round towards minus infinity.")
maximum = _make("maximum", "Elementwise maximum of the tensors.")
minimum = _make("minimum", "Elementwise minimum of the tensors.")
logaddexp = _make("logaddexp", "``log(exp(x) + exp(y))`` computed stably.")
where = _make("where", 'Choose from two tensors, e.g. ``where("q k, b q k,", m, a, 0)``.')
less = _make("less", "Elementwise ``x < y``.")
less_equal = _make("less_equal", "Elementwise ``x <= y``.")
greater = _make("greater", "Elementwise ``x > y``.")
greater_equal = _make("greater_equal", "Elementwise ``x >= y``.")
equal = _make("equal", "Elementwise ``x == y``.")
not_equal = _make("not_equal", "Elementwise ``x != y``.")
logical_and = _make("logical_and", "Elementwise logical and.")
logical_or = _make("logical_or", "Elementwise logical or.")

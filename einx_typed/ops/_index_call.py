"""Call handling of the index family: operands, cached planning, factories, execution."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, NoReturn, TypeAlias, final

import attrs

from einx_typed.backends.base import Backend, ScatterMode, Tensor
from einx_typed.errors import OperationError
from einx_typed.notation.tree import Expr, Span
from einx_typed.ops._index_exec import run_gather, run_scatter
from einx_typed.ops._index_plan import (
    GatherPlan,
    Leaf,
    ScatterPlan,
    index_count_equation,
    leaves_of,
    plan_gather,
    plan_scatter,
)
from einx_typed.ops._index_support import (
    call_factory,
    is_factory,
    operand_shape,
    select_backend,
)

__all__ = ["call_index"]

Shape: TypeAlias = tuple[int, ...]
AxisValues: TypeAlias = tuple[tuple[str, Any], ...]


@final
@attrs.frozen(slots=True)
class _Prepared:
    """A cached plan plus the solved shape of every operand (for factories)."""

    plan: GatherPlan | ScatterPlan
    operand_shapes: tuple[Shape, ...]


def _hashable(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    if hasattr(value, "tolist"):
        return _hashable(value.tolist())
    return value


def call_index(
    op: str,
    text: str,
    operands: tuple[Any, ...],
    backend: Any,
    cse: bool,
    axis_values: Mapping[str, Any],
) -> Tensor:
    """Validate, plan (cached) and run one index-family call."""
    frozen_values: AxisValues = tuple((k, _hashable(v)) for k, v in axis_values.items())
    key = (op, text, tuple([_signature(x) for x in operands]), backend, frozen_values, cse)
    entry = _PLANS.get(key)
    if entry is None:
        shapes = tuple(operand_shape(x) for x in operands)
        chosen = select_backend(operands, backend, op=op, text=text, shapes=shapes)
        factories = tuple(is_factory(x) for x in operands)
        entry = (_prepare(op, text, shapes, frozen_values, cse), chosen, factories)
        with _PLANS_LOCK:
            if len(_PLANS) >= _CACHE_SIZE:
                del _PLANS[next(iter(_PLANS))]
            _PLANS[key] = entry
    prepared, chosen, factories = entry
    name = "embedding" if op == "get_at" else op
    tensors = [
        call_factory(x, shape, chosen, name=name, init=op)
        if factory
        else x
        if chosen.is_tensor(x)
        else chosen.asarray(x)
        for x, shape, factory in zip(operands, prepared.operand_shapes, factories)
    ]
    plan = prepared.plan
    if isinstance(plan, GatherPlan):
        return run_gather(plan, chosen, tensors[0], tensors[1:])
    mode: ScatterMode = "set" if op == "set_at" else "add" if op == "add_at" else "subtract"
    return run_scatter(plan, chosen, mode, tensors[0], tensors[1:-1], tensors[-1])


def _signature(x: object) -> tuple[Any, ...]:
    """The part of an operand that a plan depends on: its type and shape."""
    try:
        shape = getattr(x, "shape", None)
    except Exception:  # e.g. an uninitialised parameter (a factory)
        shape = None
    if shape is not None:
        return (type(x), tuple(shape))
    if isinstance(x, (list, tuple)):
        return (type(x), operand_shape(x))
    return (type(x),)


_CACHE_SIZE: Final = 1024
_PLANS: dict[tuple[Any, ...], tuple[_Prepared, Backend, tuple[bool, ...]]] = {}
"""Plans by call signature; a plain dict so that torch.compile traces a warm lookup."""
_PLANS_LOCK = threading.Lock()


def _prepare(
    op: str, text: str, shapes: tuple[Shape | None, ...], axis_values: AxisValues, cse: bool
) -> _Prepared:
    from einx_typed.notation import parse_op, solve

    values = dict(axis_values)
    parsed = parse_op(text)
    update = op != "get_at"

    def fail(message: str, span: Span | None = None, hint: str | None = None) -> NoReturn:
        raise OperationError(
            message, expr=parsed.text, span=span, shapes=shapes, axis_values=values, hint=hint
        )

    inputs = parsed.inputs
    n_coordinates = len(inputs) - (2 if update else 1)
    if len(inputs) != len(shapes):
        fail(
            f"The op string has {len(inputs)} input expressions, but {op} got "
            f"{len(shapes)} tensors.",
            hint="Pass one tensor per comma-separated input expression.",
        )
    if n_coordinates < 1:
        fail(
            f"{op} needs the indexed tensor, at least one coordinate operand"
            + (" and the updates." if update else "."),
            hint="E.g. 'b [h w] c, b p [2] -> b p c'."
            if not update
            else "E.g. 'b [h w] c, b p [2], b p c'.",
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

    exprs = (*inputs, output)

    def extra(expanded: Sequence[Expr]) -> list[tuple[list[tuple[int, int]], int]]:
        return index_count_equation(expanded, n_coordinates)

    solution = solve(
        list(exprs),
        [*shapes, None],
        values,
        text=parsed.text,
        cse=cse,
        extra=extra,
        check_unknown=True,
    )
    expanded: Sequence[Expr] = solution.exprs
    lengths: Callable[[str], int] = solution.lengths.__getitem__
    leaves = [leaves_of(e, lengths, i, fail) for i, e in enumerate(expanded)]
    operand_shapes = tuple(tuple(solution.shape(i)) for i in range(len(inputs)))
    output_shape = tuple(solution.shape(len(inputs)))
    # A default output is the first operand itself, so its unnamed axes match too.
    output_leaves: tuple[Leaf, ...] = leaves[0] if parsed.outputs is None else leaves[-1]
    if update:
        plan: GatherPlan | ScatterPlan = plan_scatter(
            leaves[0],
            leaves[1:-2],
            leaves[-2],
            output_leaves,
            operand_shapes,
            output_shape,
            output.span,
            fail,
        )
    else:
        plan = plan_gather(
            leaves[0],
            leaves[1:-1],
            output_leaves,
            operand_shapes,
            output_shape,
            output.span,
            fail,
        )
    return _Prepared(plan=plan, operand_shapes=operand_shapes)

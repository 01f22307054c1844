"""Planning helpers shared by the ops: parse, count operands, solve, build the plan."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from einx_typed.errors import OperationError
from einx_typed.notation import ExtraEquations
from einx_typed.notation.tree import Concat, Expr, Marker, OpString
from einx_typed.ops._engine import FactoryCall, Plan, Request
from einx_typed.ops._layout import has_concat, has_marker
from einx_typed.ops._program import ProgramBuilder

__all__ = [
    "build_plan",
    "check_operand_count",
    "find_node",
    "named_factories",
    "op_name",
    "parse",
    "reject_concat",
    "reject_markers",
    "require_arrow",
    "solve",
]


def op_name(op: str | Callable[..., Any], known: Sequence[str], family: str, text: str) -> str:
    """The name of the ``op`` argument (a name, or e.g. ``np.sum``), checked against ``known``."""
    name = op if isinstance(op, str) else getattr(op, "__name__", "")
    if name not in known:
        raise OperationError(
            f"Unknown {family} op {op!r}; expected one of {', '.join(known)}.", expr=text
        )
    return name


def parse(request: Request) -> OpString:
    from einx_typed.notation import parse_op

    return parse_op(request.text)


def require_arrow(op: OpString, name: str) -> tuple[Expr, ...]:
    if op.outputs is None:
        raise OperationError(
            f"{name} needs an output expression after '->'.",
            expr=op.text,
            span=(len(op.text), len(op.text) + 1),
            hint=f"Write the output, e.g. '{op.text} -> ...'.",
        )
    return op.outputs


def check_operand_count(op: OpString, inputs: Sequence[Expr], request: Request) -> None:
    got = len(request.operands)
    if len(inputs) != got:
        raise OperationError(
            f"{request.op} expects {len(inputs)} input tensor{'s' if len(inputs) != 1 else ''} "
            f"for this expression, got {got}.",
            expr=op.text,
            span=_span_of(inputs) if inputs else None,
        )


def _span_of(exprs: Sequence[Expr]) -> tuple[int, int]:
    return (exprs[0].span[0], exprs[-1].span[1])


def find_node(exprs: Sequence[Expr], kind: type) -> Any:
    from einx_typed.notation import iter_nodes

    for expr in exprs:
        for node in iter_nodes(expr):
            if isinstance(node, kind):
                return node
    return None


def reject_concat(op: OpString, exprs: Sequence[Expr], name: str) -> None:
    if any(has_concat(e) for e in exprs):
        node = find_node(exprs, Concat)
        raise OperationError(
            f"{name} does not allow concatenations ('+'); only rearrange does.",
            expr=op.text,
            span=node.span,
        )


def reject_markers(op: OpString, exprs: Sequence[Expr], message: str, hint: str) -> None:
    if any(has_marker(e) for e in exprs):
        node = find_node(exprs, Marker)
        raise OperationError(message, expr=op.text, span=node.span, hint=hint)


def solve(
    request: Request,
    op: OpString,
    inputs: Sequence[Expr],
    outputs: Sequence[Expr],
    *,
    cse_concat: bool = False,
    cse_in_markers: bool = False,
    extra: ExtraEquations | None = None,
    arguments: int | None = None,
) -> tuple[tuple[Expr, ...], Mapping[str, int]]:
    """Solve all expressions; returns the expanded expressions and the axis lengths.

    Errors show the shapes of the first ``arguments`` operands (default: all of
    ``request.operands``, which are the call's arguments), never the outputs.
    """
    from einx_typed.notation import solve as solve_exprs

    exprs = (*inputs, *outputs)
    shapes = (*request.shapes, *(None for _ in outputs))
    solution = solve_exprs(
        exprs,
        shapes,
        request.axis_values,
        text=op.text,
        cse=request.cse,
        cse_concat=cse_concat,
        cse_in_markers=cse_in_markers,
        extra=extra,
        arguments=len(request.operands) if arguments is None else arguments,
    )
    return tuple(solution.exprs), solution.lengths


def named_factories(count: int, name: str, init: str) -> dict[int, dict[str, str]]:
    """Factory keyword arguments for ``count`` operands that all take ``name`` and ``init``."""
    return {index: {"name": name, "init": init} for index in range(count)}


def build_plan(
    request: Request,
    op: OpString,
    builder: ProgramBuilder,
    outputs: Sequence[int],
    *,
    factory_shapes: Sequence[tuple[int, ...]],
    factory_kwargs: Mapping[int, Mapping[str, Any]] | None = None,
    keep_scalars: bool = False,
    weak_scalars: bool = True,
    spans: Sequence[tuple[int, int]] = (),
) -> Plan:
    """Finish a plan: how to prepare each operand, and the compiled program.

    Python scalars are converted to tensors unless ``keep_scalars``; with ``weak_scalars``
    they take the dtype of the first tensor operand, else their own (and factories get no
    default ``dtype``), as index operands need.
    """
    prepare: list[FactoryCall | str | None] = []
    for index, operand in enumerate(request.operands):
        if operand.kind == "factory":
            kwargs = (factory_kwargs or {}).get(index, {})
            prepare.append(
                FactoryCall(
                    factory_shapes[index],
                    tuple(kwargs.items()),
                    op.text,
                    spans[index] if index < len(spans) else None,
                    default_dtype=weak_scalars,
                )
            )
        elif operand.kind == "list" or (operand.kind == "scalar" and not keep_scalars):
            prepare.append("asarray" if weak_scalars else "asarray_exact")
        else:
            prepare.append(None)
    return Plan(builder.build(outputs), tuple(prepare), len(outputs) == 1)

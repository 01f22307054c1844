"""The call path shared by all ops: classify arguments, find or build the plan, run it.

A call is keyed by (op, op string, op params, backend, cse, per-argument signature, axis
values).  The first call with a key parses, solves and compiles a :class:`Plan`; later
calls only build the key, look it up and run the plan's backend steps.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, final

import attrs
import numpy as np

from einx_typed.backends import get_backend, tensor_kind
from einx_typed.backends.base import Backend
from einx_typed.errors import EinxError, OperationError
from einx_typed.ops._factories import adapter_for, call_factory, on_register
from einx_typed.ops._program import Program

__all__ = [
    "FactoryCall",
    "Operand",
    "Plan",
    "Request",
    "cache_clear",
    "cache_size",
    "execute",
]

TENSOR_KINDS: Final = frozenset({"numpy", "jax", "torch", "keras", "abstract", "trace"})
_SCALAR_TYPES: Final = (bool, int, float)
CACHE_SIZE: Final = 4096


@final
@attrs.frozen
class Operand:
    """What the planner knows about one argument: its kind, shape and dtype name.

    ``kind`` is a backend name for tensors, or ``"scalar"``, ``"list"``, ``"factory"``;
    ``shape`` is ``None`` for factories.
    """

    kind: str
    shape: tuple[int, ...] | None
    dtype: str | None

    @property
    def is_tensor(self) -> bool:
        return self.kind in TENSOR_KINDS


@final
@attrs.frozen
class Request:
    """Everything a planner may look at; it never sees the argument values."""

    op: str
    text: str
    operands: tuple[Operand, ...]
    params: tuple[Any, ...]
    axis_values: Mapping[str, Any]
    cse: bool

    @property
    def shapes(self) -> tuple[tuple[int, ...] | None, ...]:
        return tuple(o.shape for o in self.operands)


@final
@attrs.frozen
class FactoryCall:
    """How to call the factory of one operand: its solved shape and keyword arguments.

    With ``default_dtype`` a ``dtype`` keyword is added when ``kwargs`` has none: that of
    the first floating tensor operand, else ``"float32"``.
    """

    shape: tuple[int, ...]
    kwargs: tuple[tuple[str, Any], ...]
    text: str
    span: tuple[int, int] | None
    default_dtype: bool = True


@final
@attrs.frozen
class Plan:
    """A compiled call: operand preparation plus a backend-neutral program.

    ``prepare`` has one entry per operand: ``None`` (use as is), ``"asarray"`` (convert a
    Python scalar or list; a scalar takes the dtype of the first tensor operand),
    ``"asarray_exact"`` (convert, keeping the value's own dtype) or a :class:`FactoryCall`.
    """

    program: Program
    prepare: tuple[FactoryCall | str | None, ...]
    single: bool
    _needs_prepare: bool = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_needs_prepare", any(p is not None for p in self.prepare))

    def run(self, backend: Backend, args: Sequence[Any]) -> Any:
        if self._needs_prepare:
            args = _prepare(self.prepare, backend, args)
        outputs = self.program.run(backend, args)
        return outputs[0] if self.single else tuple(outputs)

    def bind(self, backend: Backend) -> Callable[[Sequence[Any]], Any]:
        """:meth:`run` with ``backend`` fixed, specialised for the plan (see Program.bind)."""
        if self._needs_prepare or not self.single:
            return functools.partial(self.run, backend)
        return self.program.bind(backend)


Planner = Callable[[Request], Plan]

# Each entry: the plan (for introspection) and its bound runner (what a call executes).
_plans: dict[tuple[Any, ...], tuple[Plan, Callable[[Sequence[Any]], Any]]] = {}
_plans_lock = threading.Lock()
_type_kinds: dict[type, str] = {}
on_register(_type_kinds.clear)


def cache_clear() -> None:
    """Forget all compiled plans (mainly for tests)."""
    with _plans_lock:
        _plans.clear()


def cache_size() -> int:
    return len(_plans)


def _freeze(value: Any) -> Any:
    """A hashable, type-exact stand-in for an axis value (``5`` and ``5.0`` differ)."""
    if type(value) is int:
        return value
    if isinstance(value, (list, tuple)):
        return ("seq", tuple(_freeze(v) for v in value))
    if isinstance(value, np.ndarray):
        return ("ndarray", str(value.dtype), value.shape, value.tobytes())
    return (type(value), value)


def _classify_slow(arg: object) -> str:
    if adapter_for(arg) is not None:
        return "factory"
    kind = tensor_kind(arg)
    if kind is not None:
        _type_kinds[type(arg)] = kind
        return kind
    if isinstance(arg, _SCALAR_TYPES):
        return "scalar"
    if isinstance(arg, (list, tuple)):
        return "list"
    if callable(arg):
        return "factory"
    return "unknown"


def _signature(arg: object) -> tuple[Any, ...]:
    tp = type(arg)
    kind = _type_kinds.get(tp)
    if kind is None:
        if tp is float or tp is int or tp is bool:
            return ("scalar", tp)
        kind = _classify_slow(arg)
        if kind == "scalar":
            return ("scalar", tp)
        if kind == "list":
            return ("list", _list_shape(arg), tp)
        if kind in ("factory", "unknown"):
            return (kind,)
    return (kind, arg.shape, arg.dtype)  # type: ignore[attr-defined]


def _list_shape(value: Any) -> tuple[int, ...]:
    try:
        array = np.asarray(value)
    except ValueError:
        array = None
    if array is None or array.dtype == object:
        raise OperationError(
            "Failed to determine the shape of a nested list argument: it is ragged or holds "
            "values that are not numbers.",
            hint="Pass a rectangular nested list of numbers or a tensor.",
        )
    return tuple(array.shape)


def execute(
    planner: Planner,
    op: str,
    text: str,
    args: tuple[Any, ...],
    params: tuple[Any, ...],
    backend: str | None,
    cse: bool,
    axis_values: dict[str, Any],
) -> Any:
    """Run ``op`` on ``args``; plans once per signature, then reuses the plan."""
    try:
        key: tuple[Any, ...] | None = (
            op,
            text,
            params,
            backend,
            cse,
            tuple([_signature(a) for a in args]),
            tuple([(k, _freeze(v)) for k, v in axis_values.items()]) if axis_values else (),
        )
        entry = _plans.get(key)  # type: ignore[arg-type]
    except TypeError:  # something unhashable: plan without caching
        key, entry = None, None
    if entry is None:
        plan, backend_impl = _plan(planner, op, text, args, params, backend, cse, axis_values)
        entry = (plan, plan.bind(backend_impl))
        if key is not None and not _compiling():
            with _plans_lock:
                if len(_plans) >= CACHE_SIZE:
                    del _plans[next(iter(_plans))]
                _plans[key] = entry
    try:
        return entry[1](args)
    except EinxError as error:
        if error.expr is not None:
            raise
        raise _run_context(error, text, args, axis_values) from error.__cause__


def _compiling() -> bool:
    """Whether torch.compile is tracing this call (then the cache is left alone)."""
    torch = sys.modules.get("torch")
    return torch is not None and bool(torch.compiler.is_compiling())


def _operand(arg: object, kind: str) -> Operand:
    if kind in TENSOR_KINDS:
        backend = get_backend(kind)
        shape = backend.shape(arg)
        if any(not isinstance(d, int) for d in shape):
            raise OperationError(
                f"Tensor argument has a shape {tuple(shape)} with unknown dimensions; einx "
                "ops need static shapes."
            )
        return Operand(kind, shape, backend.dtype_name(arg))
    if kind == "scalar":
        return Operand(kind, (), type(arg).__name__)
    if kind == "list":
        array = np.asarray(arg)
        return Operand(kind, tuple(array.shape), str(array.dtype))
    return Operand(kind, None, None)


def _resolve_backend(kinds: Sequence[str], explicit: str | None) -> str:
    """The backend of a call: ``explicit`` (which must agree with the tensors), else the
    tensors' framework, else numpy when the arguments are only Python scalars and nested
    lists (a tensor factory alone decides nothing)."""
    frameworks = sorted({k for k in kinds if k in TENSOR_KINDS and k != "numpy"})
    if len(frameworks) > 1:
        raise OperationError(
            f"Arguments come from different frameworks ({', '.join(frameworks)}); einx ops "
            "cannot mix them.",
            hint="Convert all tensors to one framework.",
        )
    if explicit is not None:
        from einx_typed.backends import BACKEND_NAMES

        if explicit not in BACKEND_NAMES:
            raise OperationError(
                f"Unknown backend {explicit!r}; expected one of {', '.join(BACKEND_NAMES)}."
            )
        if frameworks and frameworks[0] != explicit:
            raise OperationError(
                f"backend={explicit!r} was given but the tensors are {frameworks[0]} tensors."
            )
        return explicit
    if frameworks:
        return frameworks[0]
    if "numpy" in kinds or (kinds and "factory" not in kinds):
        # Only Python scalars and nested lists: computed with numpy, as in einx 0.3.0.
        return "numpy"
    reason = (
        "the op got no arguments"
        if not kinds
        else "no argument is a tensor, and a tensor factory does not tell which framework to use"
    )
    raise OperationError(
        f"Cannot determine the backend: {reason}.",
        hint='Pass backend="numpy", "jax", "torch" or "keras".',
    )


def _plan(
    planner: Planner,
    op: str,
    text: str,
    args: tuple[Any, ...],
    params: tuple[Any, ...],
    backend: str | None,
    cse: bool,
    axis_values: dict[str, Any],
) -> tuple[Plan, Backend]:
    kinds = [_classify_slow(a) for a in args]
    for index, kind in enumerate(kinds):
        if kind == "unknown":
            raise OperationError(
                f"Argument {index + 1} of {op} has type {type(args[index]).__name__}, which is "
                "neither a tensor, a Python scalar, a nested list nor a tensor factory.",
                expr=text,
            )
    operands = tuple(_operand(a, k) for a, k in zip(args, kinds))
    name = _resolve_backend(kinds, backend)
    request = Request(op, text, operands, params, axis_values, cse)
    try:
        plan = planner(request)
    except EinxError as error:
        raise _with_context(error, request) from None
    if name not in ("numpy", "abstract") and "numpy" in kinds:
        # NumPy arrays mixed into another framework's call are converted first.
        prepare = tuple(
            "asarray" if kind == "numpy" and action is None else action
            for kind, action in zip(kinds, plan.prepare)
        )
        plan = attrs.evolve(plan, prepare=prepare)
    return plan, get_backend(name)


def _run_context(
    error: EinxError, text: str, args: Sequence[Any], axis_values: Mapping[str, Any]
) -> EinxError:
    """An error raised while a plan ran, with the call's op string, shapes and axis values."""
    from einx_typed.notation import parse_op

    try:
        expr = parse_op(text).text
    except EinxError:
        expr = text
    shapes = [_shape_or_none(a) for a in args]
    return type(error)(
        error.message,
        expr=expr,
        span=None,
        shapes=shapes,
        axis_values=dict(axis_values),
        hint=error.hint,
    )


def _shape_or_none(arg: Any) -> tuple[int, ...] | None:
    shape = getattr(arg, "shape", None)
    if shape is None:
        return None
    try:
        return tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        return None


def _with_context(error: EinxError, request: Request) -> EinxError:
    """The same error with the call's op string, shapes and axis values filled in."""
    if error.shapes is not None and error.expr is not None:
        return error
    return type(error)(
        error.message,
        expr=error.expr if error.expr is not None else request.text,
        span=error.span,
        shapes=error.shapes if error.shapes is not None else request.shapes,
        axis_values=error.axis_values
        if error.axis_values is not None
        else dict(request.axis_values),
        hint=error.hint,
    )


def _prepare(
    prepare: tuple[FactoryCall | str | None, ...], backend: Backend, args: Sequence[Any]
) -> list[Any]:
    like = None
    for action, arg in zip(prepare, args):
        if action is None and backend.is_tensor(arg):
            like = arg
            break
    values = list(args)
    for index, action in enumerate(prepare):
        if action is None:
            continue
        if action == "asarray":
            values[index] = backend.asarray(args[index], like=like)
        elif action == "asarray_exact":
            values[index] = backend.asarray(args[index])
        elif isinstance(action, FactoryCall):
            values[index] = _call_factory(action, backend, args[index], like)
    return values


def _call_factory(action: FactoryCall, backend: Backend, factory: Any, like: Any) -> Any:
    adapter = adapter_for(factory)
    func = adapter(factory) if adapter is not None else factory
    kwargs = dict(action.kwargs)
    if action.default_dtype and "dtype" not in kwargs:
        floating = like is not None and backend.is_floating(like)
        kwargs["dtype"] = backend.dtype_name(like) if floating else "float32"
    result = call_factory(func, action.shape, kwargs)
    kind = tensor_kind(result)
    shape = None if kind is None else get_backend(kind).shape(result)
    if shape != action.shape:
        got = f"shape {shape}" if kind is not None else f"a {type(result).__name__}"
        raise OperationError(
            f"A tensor factory returned {got}, but its expression requires shape {action.shape}.",
            expr=action.text,
            span=action.span,
            hint="The factory receives the required shape as its first argument.",
        )
    return result

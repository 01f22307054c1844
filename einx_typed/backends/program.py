"""Programs: a resolved layer as one straight-line list of backend primitives.

A layer's forward function runs once on :class:`Tracer` inputs; every backend primitive
that its ops and helpers call on them (``reshape``, ``matmul``, ``normalize``, ...) is
recorded by the ``trace`` backend as an :class:`Instr`.  :meth:`Graph.build` then
optimises the recording once, for every framework alike:

* reshape chains collapse and no-op reshapes, transposes and broadcasts disappear;
* a ``matmul`` whose only use is a bias ``add`` becomes one ``linear`` primitive;
* identical pure steps are computed once and unused steps are dropped.

:meth:`Program.compile` turns the result into a Python function for one backend (the
source is generated once per backend, so a call is a plain sequence of backend calls with
no lookups).  The program depends on shapes only: not on dtypes, strides, devices or
values, so one program serves every input of its shape.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, final

import attrs

from einx_typed.backends.abstract import AbstractArray, AbstractBackend
from einx_typed.backends.base import (
    Backend,
    ElementwiseName,
    NormLayout,
    ReduceName,
    ScatterMode,
    UnaryName,
)

__all__ = [
    "OPAQUE",
    "PRIMITIVES",
    "Graph",
    "Input",
    "Instr",
    "Program",
    "Ref",
    "TraceBackend",
    "Tracer",
]


class Opaque:
    """The abstract value of a program input that is not an array (a random generator)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "opaque"


OPAQUE: Final = Opaque()

AbstractValue = AbstractArray | Opaque


@final
@attrs.frozen
class Ref:
    """Value number ``index`` of a program, as an argument of an instruction."""

    index: int

    def __repr__(self) -> str:
        return f"%{self.index}"


@final
@attrs.frozen
class Instr:
    """``outputs = backend.<method>(*args, **kwargs)``; arguments hold :class:`Ref`\\ s.

    ``outputs`` has one value number, or one per element when the primitive returns a
    tuple (``multi``); an element that the primitive returns as ``None`` gets ``None``.
    """

    method: str
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...]
    outputs: tuple[int | None, ...]
    multi: bool


@final
@attrs.frozen
class Input:
    """Where an input value comes from: argument ``group`` of the compiled function, or
    entry ``key`` of that argument when it is a mapping (``params["weight"]``)."""

    group: str
    key: str | None = None

    def __str__(self) -> str:
        return self.group if self.key is None else f"{self.group}[{self.key!r}]"


_PURE_EXCLUDED: Final = frozenset({"dropout", "keep_mask", "apply"})
"""Primitives that must not be merged with an identical call (random, or user code)."""


@final
@attrs.frozen(eq=False)
class Program:
    """Straight-line code over numbered values; values ``0 .. len(inputs) - 1`` are inputs.

    The compiled function takes one argument per name in ``groups`` and returns the
    values ``outputs`` as a tuple.
    """

    groups: tuple[str, ...]
    inputs: tuple[Input, ...]
    instrs: tuple[Instr, ...]
    outputs: tuple[int, ...]
    avals: tuple[AbstractValue, ...]
    _compiled: dict[tuple[str, bool], Callable[..., tuple[Any, ...]]] = attrs.field(
        factory=dict, init=False, repr=False
    )

    @property
    def methods(self) -> tuple[str, ...]:
        """The backend primitives called, in order."""
        return tuple(instr.method for instr in self.instrs)

    def reads(self, group: str) -> bool:
        """Whether a step or an output uses an input of ``group`` (e.g. ``"rng"``).

        Dead steps are gone, so an input read by nothing is no use: a binder whose
        framework hands out random keys asks for one only when the program reads ``"rng"``.
        """
        wanted = frozenset(i for i, source in enumerate(self.inputs) if source.group == group)
        if not wanted:
            return False

        def refers(value: object) -> bool:
            if isinstance(value, Ref):
                return value.index in wanted
            if isinstance(value, tuple | list):
                return any(refers(v) for v in value)
            return False

        return any(index in wanted for index in self.outputs) or any(
            refers(instr.args) or refers(tuple(v for _, v in instr.kwargs)) for instr in self.instrs
        )

    def output_arrays(self) -> tuple[AbstractArray, ...]:
        """The shape and trace-time dtype of every output."""
        arrays = []
        for index in self.outputs:
            aval = self.avals[index]
            if not isinstance(aval, AbstractArray):
                raise RuntimeError("einx_typed internal error: a program returns a non-array")
            arrays.append(aval)
        return tuple(arrays)

    def compile(
        self, backend: Backend, *, update_in_place: str | None = None
    ) -> Callable[..., tuple[Any, ...]]:
        """This program as a Python function on ``backend`` (generated once per backend).

        With ``update_in_place`` (an input group, e.g. ``"state"``), an ``ema`` step whose
        old values are inputs of that group and have no other use writes its result into
        them, where the backend can (its ``ema_into``), and returns them: what a binder
        that stores those inputs would otherwise copy back.  The values are the same.
        """
        key = (backend.name, update_in_place is not None)
        fn = self._compiled.get(key)
        if fn is None:
            fn = self._compiled.setdefault(key, _generate(self, backend, update_in_place))
        return fn

    def format(self) -> str:
        """One line per step with the value's shape and dtype, for people to read."""
        lines = []
        for index, source in enumerate(self.inputs):
            lines.append(f"%{index} = {source}{_describe(self.avals[index])}")
        for instr in self.instrs:
            args = [_show(a) for a in instr.args]
            args += [f"{k}={_show(v)}" for k, v in instr.kwargs]
            targets = ", ".join("_" if o is None else f"%{o}" for o in instr.outputs)
            described = [self.avals[o] for o in instr.outputs if o is not None]
            shown = "".join(_describe(a) for a in described[:1])
            lines.append(f"{targets} = {instr.method}({', '.join(args)}){shown}")
        lines.append(f"return {', '.join(f'%{o}' for o in self.outputs)}")
        return "\n".join(lines)


def _describe(aval: AbstractValue) -> str:
    if isinstance(aval, AbstractArray):
        return f"  # {aval.shape} {aval.dtype}"
    return ""


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        inner = ", ".join(_show(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value)


# --------------------------------------------------------------------------- tracing


@final
class Tracer:
    """A value of a program being recorded; acts as a tensor of the ``trace`` backend."""

    __slots__ = ("aval", "graph", "index")

    def __init__(self, graph: Graph, index: int, aval: AbstractValue) -> None:
        self.graph = graph
        self.index = index
        self.aval = aval

    @property
    def shape(self) -> tuple[int, ...]:
        return self._array().shape

    @property
    def dtype(self) -> str:
        return self._array().dtype

    @property
    def ndim(self) -> int:
        return len(self._array().shape)

    def _array(self) -> AbstractArray:
        if not isinstance(self.aval, AbstractArray):
            raise TypeError("a non-array program input has no shape or dtype")
        return self.aval

    def __repr__(self) -> str:
        return f"Tracer(%{self.index}, {self.aval})"


class Graph:
    """Records primitives called on its tracers; :meth:`build` makes the program."""

    def __init__(self, groups: Sequence[str]) -> None:
        self._groups = tuple(groups)
        self._inputs: list[Input] = []
        self._instrs: list[Instr] = []
        self._avals: list[AbstractValue] = []

    def input(self, group: str, key: str | None, aval: AbstractValue) -> Tracer:
        """A new input value, read from argument ``group`` (entry ``key``) of the program."""
        if self._instrs:
            raise RuntimeError("einx_typed internal error: program inputs come first")
        self._inputs.append(Input(group, key))
        return self._new(aval)

    def _new(self, aval: AbstractValue) -> Tracer:
        self._avals.append(aval)
        return Tracer(self, len(self._avals) - 1, aval)

    def record(self, method: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        """Record ``method(*args, **kwargs)``; returns tracers shaped like its result."""
        abstract_args = _replace(args, _aval_of)
        abstract_kwargs = {k: _replace(v, _aval_of) for k, v in kwargs.items()}
        result = getattr(_ABSTRACT, method)(*abstract_args, **abstract_kwargs)
        refs = _replace(args, _ref_of)
        ref_kwargs = tuple((k, _replace(v, _ref_of)) for k, v in kwargs.items())
        multi = isinstance(result, tuple)
        values = result if multi else (result,)
        tracers = [None if v is None else self._new(_as_aval(v)) for v in values]
        outputs = tuple(None if t is None else t.index for t in tracers)
        self._instrs.append(Instr(method, refs, ref_kwargs, outputs, multi))
        return tuple(tracers) if multi else tracers[0]

    def build(self, outputs: Sequence[Tracer]) -> Program:
        """The optimised program returning ``outputs``."""
        for out in outputs:
            if not isinstance(out, Tracer) or out.graph is not self:
                raise RuntimeError(f"einx_typed internal error: {out!r} is not a value traced here")
        instrs, alias = _simplify(self._instrs, self._avals)
        results = [alias.get(o.index, o.index) for o in outputs]
        instrs = _fuse_linear(instrs, self._avals, results)
        return _compact(self._groups, self._inputs, instrs, results, self._avals)


_ABSTRACT: Final = AbstractBackend()


def _aval_of(value: Any) -> Any:
    return value.aval if isinstance(value, Tracer) else value


def _ref_of(value: Any) -> Any:
    return Ref(value.index) if isinstance(value, Tracer) else value


def _as_aval(value: Any) -> AbstractValue:
    return value if isinstance(value, AbstractArray) else OPAQUE


def _replace(value: Any, fn: Callable[[Any], Any]) -> Any:
    """``value`` with ``fn`` applied to every leaf of nested tuples and lists (as tuples)."""
    if isinstance(value, tuple | list):
        return tuple(_replace(v, fn) for v in value)
    return fn(value)


def _refs(value: Any) -> Iterator[int]:
    if isinstance(value, Ref):
        yield value.index
    elif isinstance(value, tuple):
        for v in value:
            yield from _refs(v)


def _instr_refs(instr: Instr) -> Iterator[int]:
    yield from _refs(instr.args)
    for _, v in instr.kwargs:
        yield from _refs(v)


def _rename_to(value: Any, values: Mapping[int, Any]) -> Any:
    """``value`` with every :class:`Ref` replaced by ``values[ref.index]``."""
    if isinstance(value, Ref):
        return values[value.index]
    if isinstance(value, tuple):
        return tuple(_rename_to(v, values) for v in value)
    return value


def _rename(value: Any, alias: Mapping[int, int]) -> Any:
    if isinstance(value, Ref):
        target = alias.get(value.index)
        return value if target is None else Ref(target)
    if isinstance(value, tuple):
        return tuple(_rename(v, alias) for v in value)
    return value


# --------------------------------------------------------------------------- optimisation


def _shape(avals: Sequence[AbstractValue], ref: Any) -> tuple[int, ...] | None:
    if not isinstance(ref, Ref):
        return None
    aval = avals[ref.index]
    return aval.shape if isinstance(aval, AbstractArray) else None


def _simplify(
    instrs: Sequence[Instr], avals: Sequence[AbstractValue]
) -> tuple[list[Instr], dict[int, int]]:
    """Drop no-op layout steps, merge reshape and transpose chains, and merge repeats."""
    alias: dict[int, int] = {}
    definition: dict[int, Instr] = {}
    seen: dict[Any, Instr] = {}
    out: list[Instr] = []
    for original in instrs:
        instr = attrs.evolve(
            original,
            args=_rename(original.args, alias),
            kwargs=tuple((k, _rename(v, alias)) for k, v in original.kwargs),
        )
        result = instr.outputs[0]
        if not instr.multi and result is not None:
            target = _layout_noop(instr, avals, definition)
            if isinstance(target, int):
                alias[result] = target
                continue
            if target is not None:
                instr = target
        key = _cse_key(instr)
        if key is not None:
            previous = seen.get(key)
            if previous is not None:
                for mine, theirs in zip(instr.outputs, previous.outputs):
                    if mine is not None and theirs is not None:
                        alias[mine] = theirs
                continue
            seen[key] = instr
        for index in instr.outputs:
            if index is not None:
                definition[index] = instr
        out.append(instr)
    return out, alias


def _layout_noop(
    instr: Instr, avals: Sequence[AbstractValue], definition: Mapping[int, Instr]
) -> int | Instr | None:
    """For a reshape/transpose/broadcast: the value it equals, or a shorter equivalent."""
    if instr.method not in ("reshape", "transpose", "broadcast_to") or instr.kwargs:
        return None
    source, target = instr.args
    shape = _shape(avals, source)
    if shape is None:
        return None
    if instr.method == "transpose":
        if tuple(target) == tuple(range(len(target))):
            return int(source.index)
        inner = definition.get(source.index)
        if inner is not None and inner.method == "transpose" and not inner.kwargs:
            first = inner.args[1]
            combined = tuple(first[p] for p in target)
            if combined == tuple(range(len(combined))):
                return int(inner.args[0].index)
            return attrs.evolve(instr, args=(inner.args[0], combined))
        return None
    if shape == tuple(target):
        return int(source.index)
    if instr.method == "reshape":
        inner = definition.get(source.index)
        if inner is not None and inner.method == "reshape" and not inner.kwargs:
            origin = inner.args[0]
            if _shape(avals, origin) == tuple(target):
                return int(origin.index)
            return attrs.evolve(instr, args=(origin, target))
    return None


def _cse_key(instr: Instr) -> Any:
    if instr.method in _PURE_EXCLUDED:
        return None
    key = (instr.method, instr.args, instr.kwargs)
    try:
        hash(key)
    except TypeError:  # e.g. a NumPy constant
        return None
    return key


def _fuse_linear(
    instrs: list[Instr], avals: Sequence[AbstractValue], outputs: Sequence[int]
) -> list[Instr]:
    """``add(matmul(x, w), b)`` with a 2-D ``w`` and ``b`` of shape ``(w.shape[1],)`` as one
    ``linear(x, w, b)`` when the product has no other use."""
    uses: dict[int, int] = {}
    for index in itertools.chain(outputs, *(_instr_refs(instr) for instr in instrs)):
        uses[index] = uses.get(index, 0) + 1
    producer = {
        instr.outputs[0]: position
        for position, instr in enumerate(instrs)
        if instr.method == "matmul" and not instr.kwargs
    }
    replaced: dict[int, Instr] = {}
    dropped: set[int] = set()
    for position, instr in enumerate(instrs):
        if instr.method != "elementwise" or instr.kwargs or instr.args[:1] != ("add",):
            continue
        if len(instr.args) != 3 or instr.outputs[0] is None:
            continue
        _, a, b = instr.args
        for product, bias in ((a, b), (b, a)):
            source = producer.get(product.index) if isinstance(product, Ref) else None
            if source is None or uses.get(product.index) != 1:
                continue
            x, weight = instrs[source].args
            weight_shape = _shape(avals, weight)
            if (
                weight_shape is None
                or len(weight_shape) != 2
                or not _shape(avals, x)
                or _shape(avals, bias) != (weight_shape[1],)
                or _shape(avals, Ref(instr.outputs[0])) != _shape(avals, product)
            ):
                continue
            replaced[position] = Instr("linear", (x, weight, bias), (), instr.outputs, False)
            dropped.add(source)
            break
    return [replaced.get(i, instr) for i, instr in enumerate(instrs) if i not in dropped]


def _compact(
    groups: tuple[str, ...],
    inputs: Sequence[Input],
    instrs: Sequence[Instr],
    outputs: Sequence[int],
    avals: Sequence[AbstractValue],
) -> Program:
    """Drop unused steps and number the values densely (inputs first, in order)."""
    live = set(outputs)
    kept: list[Instr] = []
    for instr in reversed(instrs):
        if any(o is not None and o in live for o in instr.outputs):
            kept.append(instr)
            live.update(_instr_refs(instr))
    kept.reverse()
    number: dict[int, int] = {i: i for i in range(len(inputs))}
    counter = itertools.count(len(inputs))
    renumbered: list[Instr] = []
    for instr in kept:
        args = _rename(instr.args, number)
        kwargs = tuple((k, _rename(v, number)) for k, v in instr.kwargs)
        outs: list[int | None] = []
        for o in instr.outputs:
            if o is None or (o not in live and instr.multi):
                outs.append(None)
            else:
                number[o] = next(counter)
                outs.append(number[o])
        renumbered.append(Instr(instr.method, args, kwargs, tuple(outs), instr.multi))
    new_avals: list[AbstractValue] = [OPAQUE] * (max(number.values(), default=-1) + 1)
    for old, new in number.items():
        new_avals[new] = avals[old]
    return Program(
        groups,
        tuple(inputs),
        tuple(renumbered),
        tuple(number[o] for o in outputs),
        tuple(new_avals),
    )


# --------------------------------------------------------------------------- code generation

_LITERALS: Final = (bool, int, str, type(None))


def _generate(
    program: Program, backend: Backend, update_in_place: str | None = None
) -> Callable[..., tuple[Any, ...]]:
    """Python source for ``program`` on ``backend``, compiled once.

    A backend may offer ``specialize(method, args, kwargs)``: called once per step with the
    step's arguments (values as abstract arrays: their shapes and trace-time dtypes), it
    returns a function with the method's signature made for that step, or ``None``.
    """
    namespace: dict[str, Any] = {}
    functions: dict[str, str] = {}
    constants: dict[int, str] = {}

    def constant(value: Any) -> str:
        if isinstance(value, Ref):
            return f"v{value.index}"
        if isinstance(value, _LITERALS) or (isinstance(value, float) and math.isfinite(value)):
            return repr(value)
        if isinstance(value, tuple):
            items = [constant(v) for v in value]
            return f"({', '.join(items)},)" if len(items) == 1 else f"({', '.join(items)})"
        name = constants.get(id(value))
        if name is None:
            name = constants[id(value)] = f"c{len(constants)}"
            namespace[name] = value
        return name

    def function(method: str) -> str:
        name = functions.get(method)
        if name is None:
            name = functions[method] = f"f_{method}"
            namespace[name] = getattr(backend, method)
        return name

    specialize = getattr(backend, "specialize", None)

    def kernel(instr: Instr) -> str | None:
        """A backend's own function for this one step, if it offers one."""
        if specialize is None:
            return None
        abstract = {i: program.avals[i] for i in _instr_refs(instr)}
        args = _rename_to(instr.args, abstract)
        kwargs = {k: _rename_to(v, abstract) for k, v in instr.kwargs}
        fn = specialize(instr.method, args, kwargs)
        if fn is None:
            return None
        name = f"k{len(namespace)}"
        namespace[name] = fn
        return name

    uses: dict[int, int] = {}
    for index in itertools.chain(*(_instr_refs(instr) for instr in program.instrs)):
        uses[index] = uses.get(index, 0) + 1

    def in_place(instr: Instr) -> str | None:
        """``ema_into`` for an ``ema`` step that may overwrite its old values."""
        if update_in_place is None or instr.method != "ema" or not hasattr(backend, "ema_into"):
            return None
        olds = instr.args[0]
        for old in olds:
            source = program.inputs[old.index] if old.index < len(program.inputs) else None
            if source is None or source.group != update_in_place or uses.get(old.index) != 1:
                return None
        return function("ema_into")

    used = set(uses) | set(program.outputs)
    lines = [f"def program({', '.join(program.groups)}):"]
    for index, where in enumerate(program.inputs):
        if index in used:
            read = where.group if where.key is None else f"{where.group}[{where.key!r}]"
            lines.append(f"    v{index} = {read}")
    for instr in program.instrs:
        args = [constant(a) for a in instr.args]
        args += [f"{k}={constant(v)}" for k, v in instr.kwargs]
        call = f"{in_place(instr) or kernel(instr) or function(instr.method)}({', '.join(args)})"
        targets = [("_" if o is None else f"v{o}") for o in instr.outputs]
        if instr.multi:
            lines.append(f"    {', '.join(targets)}{',' if len(targets) == 1 else ''} = {call}")
        else:
            lines.append(f"    {targets[0]} = {call}")
    results = ", ".join(f"v{o}" for o in program.outputs)
    lines.append(f"    return ({results}{',' if len(program.outputs) == 1 else ''})")
    source = "\n".join(lines) + "\n"
    code = compile(source, f"<einx_typed program {next(_PROGRAM_IDS)}>", "exec")
    exec(code, namespace)
    fn: Callable[..., tuple[Any, ...]] = namespace["program"]
    fn.__doc__ = source
    return fn


_PROGRAM_IDS: Final = itertools.count()


# --------------------------------------------------------------------------- the trace backend

_QUERIES: Final = frozenset({"name", "is_tensor", "shape", "dtype_name", "is_floating"})

PRIMITIVES: Final[frozenset[str]] = frozenset(
    name
    for name in dir(Backend)
    if not name.startswith("_") and name not in _QUERIES and callable(getattr(Backend, name))
)
"""Every backend method that a program may call (the :class:`Backend` protocol's)."""


@final
class TraceBackend:
    """The backend of :class:`Tracer`\\ s: answers shape queries, records every primitive.

    Every primitive must record itself: a method of :data:`PRIMITIVES` missing here fails
    the test that compares this class with the :class:`Backend` protocol.
    """

    name = "trace"

    def is_tensor(self, x: object) -> bool:
        return isinstance(x, Tracer)

    def shape(self, x: Any) -> tuple[int, ...]:
        return tuple(x.shape)

    def dtype_name(self, x: Any) -> str:
        return str(x.dtype)

    def is_floating(self, x: Any) -> bool:
        return _ABSTRACT.is_floating(x.aval)

    # Every other method records itself; the signatures are the Backend protocol's.

    def asarray(self, x: object, like: Any | None = None) -> Any:
        return _record("asarray", (x,), {"like": like})

    def reshape(self, x: Any, shape: tuple[int, ...]) -> Any:
        return _record("reshape", (x, shape))

    def transpose(self, x: Any, perm: tuple[int, ...]) -> Any:
        return _record("transpose", (x, perm))

    def broadcast_to(self, x: Any, shape: tuple[int, ...]) -> Any:
        return _record("broadcast_to", (x, shape))

    def concatenate(self, xs: Sequence[Any], axis: int) -> Any:
        return _record("concatenate", (tuple(xs), axis))

    def slice_axis(self, x: Any, axis: int, start: int, stop: int) -> Any:
        return _record("slice_axis", (x, axis, start, stop))

    def einsum(self, subscripts: str, *xs: Any) -> Any:
        return _record("einsum", (subscripts, *xs))

    def matmul(self, a: Any, b: Any) -> Any:
        return _record("matmul", (a, b))

    def reduce(self, op: ReduceName, x: Any, axes: tuple[int, ...]) -> Any:
        return _record("reduce", (op, x, axes))

    def elementwise(self, op: ElementwiseName, *xs: Any) -> Any:
        return _record("elementwise", (op, *xs))

    def softmax(self, x: Any, axes: tuple[int, ...]) -> Any:
        return _record("softmax", (x, axes))

    def log_softmax(self, x: Any, axes: tuple[int, ...]) -> Any:
        return _record("log_softmax", (x, axes))

    def flip(self, x: Any, axes: tuple[int, ...]) -> Any:
        return _record("flip", (x, axes))

    def roll(self, x: Any, shifts: tuple[int, ...], axes: tuple[int, ...]) -> Any:
        return _record("roll", (x, shifts, axes))

    def arange(self, n: int, dtype: str) -> Any:
        return _record("arange", (n, dtype))

    def apply(self, x: Any, func: Callable[..., Any], axes: tuple[int, ...]) -> Any:
        return _record("apply", (x, func, axes))

    def gather(self, x: Any, indices: tuple[Any, ...]) -> Any:
        return _record("gather", (x, tuple(indices)))

    def scatter(self, x: Any, indices: tuple[Any, ...], updates: Any, mode: ScatterMode) -> Any:
        return _record("scatter", (x, tuple(indices), updates, mode))

    def normalize(
        self,
        x: Any,
        layout: NormLayout,
        scale: Any | None,
        bias: Any | None,
        *,
        epsilon: float,
        center: bool,
        mean: Any | None = None,
        var: Any | None = None,
        with_stats: bool = False,
    ) -> tuple[Any, Any | None, Any | None]:
        kwargs = {"epsilon": epsilon, "center": center, "mean": mean, "var": var}
        result: tuple[Any, Any | None, Any | None] = _record(
            "normalize", (x, layout, scale, bias), {**kwargs, "with_stats": with_stats}
        )
        return result

    def unary(self, op: UnaryName, x: Any) -> Any:
        return _record("unary", (op, x))

    def stop_gradient(self, x: Any) -> Any:
        return _record("stop_gradient", (x,))

    def linear(self, x: Any, weight: Any, bias: Any) -> Any:
        return _record("linear", (x, weight, bias))

    def ema(self, olds: tuple[Any, ...], news: tuple[Any, ...], keep: float) -> tuple[Any, ...]:
        result: tuple[Any, ...] = _record("ema", (tuple(olds), tuple(news), keep))
        return result

    def dropout(self, x: Any, drop_rate: float, rng: object) -> Any:
        return _record("dropout", (x, drop_rate, rng))

    def keep_mask(self, rng: object, shape: tuple[int, ...], keep_rate: float, like: Any) -> Any:
        return _record("keep_mask", (rng, shape, keep_rate, like))

    def split_rng(self, rng: object, index: int) -> object:
        return _record("split_rng", (rng, index))


def _record(method: str, args: tuple[Any, ...], kwargs: Mapping[str, Any] | None = None) -> Any:
    kwargs = kwargs or {}
    graph = _graph_of((args, tuple(kwargs.values())))
    if graph is None:  # no traced operand (e.g. arange): the result is a constant step
        raise RuntimeError(f"einx_typed internal error: {method} traced without a tracer")
    return graph.record(method, args, kwargs)


def _graph_of(value: Any) -> Graph | None:
    if isinstance(value, Tracer):
        return value.graph
    if isinstance(value, tuple | list):
        for v in value:
            graph = _graph_of(v)
            if graph is not None:
                return graph
    return None

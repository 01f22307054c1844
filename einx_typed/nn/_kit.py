"""The binder kit: what every framework binder in ``einx_typed.nn`` needs, written once.

A binder is framework glue: it creates variables with the framework's own initialisers,
runs a resolved layer's compiled program and writes back the returned state.  Everything
else lives here or below:

* :func:`spec_from_arguments` and :func:`constructor_signature` build a layer's spec from
  the tutorial's constructor call (``Norm("b [s...] (g [c])", g=8)``), with the spec's own
  fields and defaults, so no binder restates them;
* :func:`module_class` finds a binder's module class for any registered spec type;
* :func:`coerce_init` turns a user's ``init=`` into an :data:`InitSpec` or a framework
  initialiser, and :func:`framework_initializer` translates an ``InitSpec`` through a
  binder's :class:`Initializers`;
* :class:`ShapeCache` holds a module's resolved programs per input signature, bounded;
* :func:`state_mode` and :func:`writes_state` are the EMA/init-phase rule, and
  :func:`layer_call` prepares a resolved layer for a binder's hot path with it;
* :func:`check_input_dtype`, :func:`check_param_shape` and :func:`describe_spec` word the
  binders' errors.

Nothing here parses or solves notation.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, Generic, Protocol, TypeVar, cast, final

import attrs

from einx_typed.errors import AxisSizeError, EinxError, OperationError, SpecError
from einx_typed.layers import (
    SPEC_TYPES,
    Constant,
    InitSpec,
    LayerSpec,
    LecunTruncatedNormal,
    Normal,
    Ones,
    Resolved,
    Runner,
    SequentialSpec,
    TruncatedNormal,
    Zeros,
    init_for_op,
    module_name,
)

__all__ = [
    "INIT_SPEC_TYPES",
    "PROBE_LENGTHS",
    "Initializers",
    "LayerCall",
    "PartialResolve",
    "ShapeCache",
    "check_input_dtype",
    "check_param_shape",
    "check_variable",
    "coerce_init",
    "constructor_signature",
    "describe_spec",
    "framework_initializer",
    "layer_call",
    "mode_matters",
    "module_class",
    "naming_layer",
    "probe_shape",
    "random_init",
    "reads_rng",
    "resolve_partial",
    "spec_from_arguments",
    "state_mode",
    "writes_state",
]

S = TypeVar("S", bound=LayerSpec)
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
K = TypeVar("K")
V = TypeVar("V")

INIT_SPEC_TYPES: Final = (Zeros, Ones, Constant, Normal, TruncatedNormal, LecunTruncatedNormal)
"""The classes of :data:`~einx_typed.layers.InitSpec` (for ``isinstance``)."""


# --------------------------------------------------------------------------- constructors


def _fields(spec_type: type[LayerSpec]) -> tuple[Any, ...]:
    return tuple(attrs.fields(cast(Any, spec_type)))


def _default(field: Any) -> Any:
    default = field.default
    if isinstance(default, cast(Any, attrs.Factory)):
        return default.factory()
    return inspect.Parameter.empty if default is attrs.NOTHING else default


def spec_from_arguments(spec_type: type[S], args: Sequence[Any], kwargs: Mapping[str, Any]) -> S:
    """The spec of a constructor call: ``Norm("b [s...] (g [c])", g=8)``.

    Positional arguments fill the spec's fields in order; keywords that name a field set
    it; every other keyword is an axis value (``g=8``).  A single argument that is already
    a ``spec_type`` is returned as it is, so ``Linear(LinearSpec(...))`` works too.
    """
    if len(args) == 1 and not kwargs and isinstance(args[0], spec_type):
        return args[0]
    owner = module_name(spec_type)
    fields = [f.name for f in _fields(spec_type)]
    ordered = [name for name in fields if name != "axes"]
    if len(args) > len(ordered):
        raise SpecError(
            f"{owner} takes at most {len(ordered)} positional arguments "
            f"({', '.join(ordered)}), got {len(args)}.",
            hint="Pass axis values by keyword, e.g. c=64.",
        )
    values: dict[str, Any] = dict(zip(ordered, args))
    axes: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in ordered:
            if key in values:
                raise SpecError(f"{owner} got the argument {key!r} twice.", field=key)
            values[key] = value
        elif key == "axes" and "axes" in fields and isinstance(value, Mapping):
            axes.update(value)
        elif "axes" in fields:
            axes[key] = value
        else:
            raise SpecError(
                f"{owner} got an unexpected keyword argument {key!r}.",
                hint=f"{owner} takes {', '.join(ordered)}.",
                field=key,
            )
    missing = [
        f.name
        for f in _fields(spec_type)
        if f.name in ordered and f.name not in values
        if _default(f) is inspect.Parameter.empty
    ]
    if missing:
        raise SpecError(f"{owner} needs the argument {missing[0]!r}.", field=missing[0])
    if "axes" in fields:
        values["axes"] = axes
    return spec_type(**values)


def constructor_signature(
    spec_type: type[LayerSpec], extra: Sequence[inspect.Parameter] = ()
) -> inspect.Signature:
    """The signature :func:`spec_from_arguments` accepts, for ``help()`` and IDEs.

    ``extra`` (keyword-only, such as ``dtype``) come after the spec's fields; a spec with
    axis values ends in ``**axes``.
    """
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [inspect.Parameter("self", kind)]
    has_axes = False
    for field in _fields(spec_type):
        if field.name == "axes":
            has_axes = True
            continue
        parameters.append(inspect.Parameter(field.name, kind, default=_default(field)))
    parameters.extend(extra)
    if has_axes:
        parameters.append(inspect.Parameter("axes", inspect.Parameter.VAR_KEYWORD))
    return inspect.Signature(parameters)


def module_class(spec: LayerSpec, classes: Mapping[str, type[T]], binder: str) -> type[T]:
    """The class among ``classes`` (keyed by module name) that runs ``spec``."""
    cls = classes.get(module_name(spec))
    if cls is None:
        kinds = ", ".join(module_name(t) for t in SPEC_TYPES.values())
        raise SpecError(
            f"{binder}.from_spec expects a spec of one of the types {kinds}, "
            f"got {type(spec).__name__}."
        )
    return cls


# --------------------------------------------------------------------------- initialisers


def coerce_init(init: object, *, op: str | None, in_axis: Sequence[int] = ()) -> Any:
    """A user's ``init=`` as an :data:`InitSpec`, or the framework initialiser it is.

    ``None`` takes the default of the op that created the parameter (``op``: ``"dot"``,
    ``"add"``, ...), a string names an op's default, a number is a constant, an ``InitSpec``
    stays, and any other callable is returned as the framework's own initialiser.
    """
    if init is None:
        if op is None:
            raise SpecError(
                "einn.param: the op gives no default initialiser for this parameter.",
                hint="Pass init= (a number, an InitSpec or the framework's initialiser).",
            )
        return init_for_op(op, in_axis=in_axis)
    if isinstance(init, str):
        return init_for_op(init, in_axis=in_axis)
    if isinstance(init, bool):
        raise SpecError(f"einn.param: init must not be a bool, got {init!r}.")
    if isinstance(init, int | float):
        return Constant(init)
    if isinstance(init, INIT_SPEC_TYPES) or callable(init):
        return init
    raise SpecError(
        f"einn.param: init must be a number, an InitSpec, an op name or the framework's "
        f"initialiser, got {init!r}."
    )


class Initializers(Protocol[T_co]):
    """A binder's translation of the initialiser kinds into its framework's initialisers."""

    def constant(self, value: float) -> T_co: ...
    def normal(self, mean: float, std: float) -> T_co: ...
    def truncated_normal(self, mean: float, std: float) -> T_co:
        """A normal cut at ``mean +- 2 std``."""
        ...


def framework_initializer(init: InitSpec, shape: Sequence[int], initializers: Initializers[T]) -> T:
    """``init`` for a parameter of ``shape`` as the framework initialiser ``initializers``
    makes (LeCun normal becomes a truncated normal with its fan-in's sigma)."""
    match init:
        case Zeros():
            return initializers.constant(0.0)
        case Ones():
            return initializers.constant(1.0)
        case Constant(value=value):
            return initializers.constant(value)
        case Normal(std=std, mean=mean):
            return initializers.normal(mean, std)
        case TruncatedNormal(std=std, mean=mean):
            return initializers.truncated_normal(mean, std)
        case LecunTruncatedNormal():
            return initializers.truncated_normal(0.0, init.stddev(tuple(shape)))


# --------------------------------------------------------------------------- caches and state


@final
class ShapeCache(Generic[K, V]):
    """A bounded, thread-safe map from input signatures to what a module made for them.

    Beyond ``size`` entries the oldest is dropped.  Hot paths read :attr:`entries` (a plain
    dict, so a lookup is one ``dict.get``, also inside traced code); writes go through
    :meth:`add`.
    """

    __slots__ = ("_lock", "_size", "entries")

    def __init__(self, size: int = 32) -> None:
        self.entries: dict[K, V] = {}
        self._lock = threading.Lock()
        self._size = size

    def add(self, key: K, value: V) -> V:
        """Store ``value`` unless ``key`` has one already; returns the stored one."""
        with self._lock:
            current = self.entries.get(key)
            if current is not None:
                return current
            while len(self.entries) >= self._size:
                del self.entries[next(iter(self.entries))]
            self.entries[key] = value
            return value

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()

    def __len__(self) -> int:
        return len(self.entries)

    def __getstate__(self) -> dict[str, Any]:
        return {"size": self._size}  # caches hold compiled code; copies start empty

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["size"])


def state_mode(training: bool, initializing: bool, has_state: bool) -> tuple[bool, bool]:
    """The ``(training, initializing)`` mode a layer runs in (NOTATION 5.4).

    The init phase (the framework's initialisation, or a module's first call) only exists
    for layers with EMA state: it normalises with the initial statistics and keeps them.
    """
    return training, initializing and has_state


def writes_state(training: bool, initializing: bool) -> bool:
    """Whether a call's returned state replaces the stored one: in training, after init."""
    return training and not initializing


@final
@attrs.frozen
class LayerCall:
    """A resolved layer ready for a binder's hot path, for one backend and mode.

    ``run(x, params, state, rng)`` returns ``(y, *new_state)`` (the state in the order of
    ``state_names``); ``param_shapes`` and ``state_shapes`` list what it reads with the
    shape it needs, and ``writes_state`` says whether the new state replaces the stored
    one (training after the init phase).
    """

    resolved: Resolved
    run: Runner
    param_shapes: tuple[tuple[str, tuple[int, ...]], ...]
    state_shapes: tuple[tuple[str, tuple[int, ...]], ...]
    writes_state: bool

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.state_shapes)


def layer_call(
    resolved: Resolved,
    backend: str,
    *,
    training: bool,
    initializing: bool,
    state_in_place: bool = False,
) -> LayerCall:
    """``resolved``'s program for ``backend`` in the mode the state rule gives.

    ``state_in_place`` lets the EMA update write into the state tensors it is given (see
    :meth:`Resolved.runner`); a binder then copies back only outputs that are not already
    its stored tensors.
    """
    training, initializing = state_mode(training, initializing, bool(resolved.state))
    run = resolved.runner(
        backend, training=training, initializing=initializing, state_in_place=state_in_place
    )
    return LayerCall(
        resolved=resolved,
        run=run,
        param_shapes=tuple((name, p.shape) for name, p in resolved.params.items()),
        state_shapes=tuple((name, p.shape) for name, p in resolved.state.items()),
        writes_state=bool(resolved.state) and writes_state(training, initializing),
    )


# --------------------------------------------------------------------------- messages


def describe_spec(spec: LayerSpec) -> str:
    """A constructor-like rendering for messages: ``Linear('b... [c1->c2]', c2=64)``."""
    if isinstance(spec, SequentialSpec):
        return f"Sequential({len(spec.layers)} layers)"
    parts: list[str] = []
    axes: Mapping[str, Any] = {}
    for field in _fields(type(spec)):
        value = getattr(spec, field.name)
        if field.name == "axes":
            axes = value
        elif _default(field) is inspect.Parameter.empty or value != _default(field):
            parts.append(repr(value) if not parts else f"{field.name}={value!r}")
    parts.extend(f"{name}={value!r}" for name, value in axes.items())
    return f"{module_name(spec)}({', '.join(parts)})"


def _expression(spec: LayerSpec) -> str | None:
    for name in ("expr", "stats"):
        value = getattr(spec, name, None)
        if isinstance(value, str):
            return value
    return None


def check_input_dtype(
    spec: LayerSpec, *, floating: bool, dtype: str, input_shape: Sequence[int]
) -> None:
    """Raise when ``spec`` needs a floating-point input and got another (ints, bools)."""
    if floating or not spec._floating_input():
        return
    raise OperationError(
        f"{describe_spec(spec)} needs a floating-point input, got {dtype}.",
        shapes=[tuple(input_shape)],
        hint="Cast the input to a float dtype first.",
    )


def check_variable(
    spec: LayerSpec,
    name: str,
    actual: Sequence[int] | None,
    *,
    expected: Sequence[int],
    input_shape: Sequence[int],
) -> None:
    """Raise when a variable was removed (``actual`` is ``None``) or has another shape."""
    if actual is None:
        raise OperationError(
            f"{describe_spec(spec)}: the variable {name!r} was removed.",
            hint="Assign a tensor of the shape the layer needs, or build a new layer.",
        )
    check_param_shape(spec, name, expected=expected, actual=actual, input_shape=input_shape)


def check_param_shape(
    spec: LayerSpec,
    name: str,
    *,
    expected: Sequence[int],
    actual: Sequence[int],
    input_shape: Sequence[int],
) -> None:
    """Raise when an existing variable's shape contradicts what an input requires."""
    if tuple(expected) == tuple(actual):
        return
    axes: Mapping[str, Any] = getattr(spec, "axes", {})
    raise AxisSizeError(
        f"{describe_spec(spec)}: the input needs the variable {name!r} with shape "
        f"{tuple(expected)}, but the layer's {name!r} has shape {tuple(actual)} "
        "(created by an earlier input, at construction, loaded from a checkpoint or "
        "assigned).",
        expr=_expression(spec),
        shapes=[tuple(input_shape)],
        axis_values=dict(axes),
        hint="Feed inputs whose axes agree with the existing parameters, or build a new layer.",
    )


# --------------------------------------------------------------------------- functional binders
# Frameworks that hand out random keys per call (``hk.next_rng_key()``, Flax's ``make_rng``,
# Equinox's explicit keys, a Keras ``SeedGenerator``) and take ``training`` as a call
# argument need to know when a layer reads its key and when the mode matters at all.


def reads_rng(resolved: Resolved, *, training: bool, initializing: bool = False) -> bool:
    """Whether ``resolved``'s program for this mode (after the state rule) reads its key.

    Dropout in training does; evaluation and every other layer do not. A binder draws a
    key for the call only then, and names the layer when none is there.
    """
    training, initializing = state_mode(training, initializing, bool(resolved.state))
    return resolved.program(training=training, initializing=initializing).reads("rng")


def mode_matters(resolved: Resolved) -> bool:
    """Whether training and evaluation differ for ``resolved`` (EMA state or randomness).

    A binder whose ``training`` flag is a call argument may leave it optional where it
    makes no difference (``Linear``, a norm without EMA) and require it elsewhere.
    """
    return bool(resolved.state) or reads_rng(resolved, training=True)


# --------------------------------------------------------------------------- Keras binder
# Added for einx_typed.nn.keras: inputs with unknown lengths (a symbolic batch), and errors
# that name the layer they happened in.

PROBE_LENGTHS: Final = (83, 89, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64)
"""Lengths tried in place of an unknown (``None``) one; primes first, then divisible ones."""


def probe_shape(shape: Sequence[int | None], length: int) -> tuple[int, ...]:
    """``shape`` with every unknown (``None``) length replaced by ``length``."""
    return tuple(length if d is None else int(d) for d in shape)


@final
@attrs.frozen
class PartialResolve:
    """A spec resolved for an input whose lengths are partly unknown (``(None, 16)``).

    ``resolved`` is the resolution for one probe length in place of the unknown ones (its
    parameter and state tables hold for every length); ``output_shape`` has ``None`` where
    the output's length follows an unknown input length.
    """

    resolved: Resolved
    output_shape: tuple[int | None, ...]


def resolve_partial(spec: LayerSpec, shape: Sequence[int | None], dtype: str) -> PartialResolve:
    """Resolve ``spec`` for ``shape``, whose ``None`` lengths are unknown.

    Resolves for two probe lengths in place of the unknown ones and compares: where the
    output lengths differ they are unknown too. Raises when no probe fits (with the error
    of the input as given, ``None`` read as 1) or when the parameter shapes depend on an
    unknown length (e.g. a bias over the batch axis).
    """
    if all(d is not None for d in shape):
        resolved = spec.resolve(tuple(int(d) for d in shape if d is not None), dtype)
        return PartialResolve(resolved, resolved.output_shape)
    found: list[Resolved] = []
    for length in PROBE_LENGTHS:
        try:
            found.append(spec.resolve(probe_shape(shape, length), dtype))
        except EinxError:
            continue
        if len(found) == 2:
            break
    if len(found) < 2:
        try:  # raises the reason, if there is one
            spec.resolve(probe_shape(shape, 1), dtype)
        except EinxError as error:
            note = f" (the input shape is {tuple(shape)}; its unknown lengths were read as 1)"
            raise error.with_message(error.message + note) from error
        raise OperationError(
            f"{describe_spec(spec)} fits no length in place of the unknown ones of the input "
            f"shape {tuple(shape)}.",
            hint="Give the input a fixed shape (e.g. keras.Input(shape, batch_size=32)).",
        )
    first, second = found
    if (first.params, first.state) != (second.params, second.state):
        raise OperationError(
            f"{describe_spec(spec)}: the shapes of its parameters depend on the unknown "
            f"lengths of the input shape {tuple(shape)}.",
            hint="Give the input a fixed shape (e.g. keras.Input(shape, batch_size=32)).",
        )
    output = tuple(a if a == b else None for a, b in zip(first.output_shape, second.output_shape))
    return PartialResolve(first, output)


@contextlib.contextmanager
def naming_layer(label: str) -> Iterator[None]:
    """Re-raise an :class:`EinxError` from the block with ``label`` (the layer) in front.

    ``label`` is e.g. ``describe_spec(spec)``; an error whose message contains it already
    is left as it is.
    """
    try:
        yield
    except EinxError as error:
        if label in error.message:
            raise
        raise error.with_message(f"{label}: {error.message}") from error


# --------------------------------------------------------------------------- equinox binder
# Added for einx_typed.nn.equinox (framework-neutral; other binders may use it too).


def random_init(init: InitSpec) -> bool:
    """Whether drawing ``init`` needs randomness (a key or a generator).

    Constants (zeros, ones, ``Constant``) do not, so a binder whose framework passes keys
    explicitly (JAX) can create them without one: a norm's parameters and EMA statistics.
    """
    return isinstance(init, Normal | TruncatedNormal | LecunTruncatedNormal)

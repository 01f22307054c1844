"""Haiku modules for einx_typed layer specs: ``Linear``, ``Norm``, ``Dropout``, ``param``.

A module holds a spec.  When it is called inside ``hk.transform`` (``transform_with_state``
for EMA statistics), the spec resolves for the input's static shape into a parameter table
and a compiled program (traced once, cached); the module gets its parameters with
``hk.get_parameter`` and its EMA statistics with ``hk.get_state`` under the spec's names,
created with Haiku's initialisers, runs the program and stores new EMA statistics with
``hk.set_state`` when training::

    import einx_typed.nn.haiku as einn

    def forward(x, training):
        x = einn.Linear("b [...->c]", c=256)(x)
        x = einn.Norm("[b] c", decay_rate=0.9)(x, training)
        return einn.Dropout("[...]", drop_rate=0.1)(x, training)

    model = hk.transform_with_state(forward)
    params, state = model.init(jax.random.key(0), x, training=True)
    y, state = model.apply(params, state, jax.random.key(1), x, training=True)

``training`` is a call argument, needed where it matters (EMA statistics, dropout); dropout
draws its key from ``hk.next_rng_key()``, only in training.  ``from_spec`` builds a module
for any spec; a ``SequentialSpec`` becomes one module whose parameters are named
``"0.weight"``, ``"1.mean"``, ... (one program for the whole model, so its output equals
``Resolved.apply``'s, dropout keys included).

Importing this module lets ``hk.get_parameter`` and ``hk.get_state`` act as tensor factories
in the functional ops (``einx.add("... [c]", x, hk.get_parameter)``); :func:`param` makes
factories with an explicit name, initialiser or dtype.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Final, TypeAlias, cast, final

import attrs
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from einx_typed.errors import AxisSizeError, OperationError, SpecError
from einx_typed.layers import (
    ActivationSpec,
    DropoutSpec,
    InitSpec,
    LayerSpec,
    LinearSpec,
    NormSpec,
    ParamSpec,
    SequentialSpec,
)
from einx_typed.nn import _kit
from einx_typed.ops import register_factory_adapter

__all__ = [
    "Activation",
    "Dropout",
    "LayerModule",
    "Linear",
    "Norm",
    "Sequential",
    "from_spec",
    "initializer",
    "param",
]

DTypeLike: TypeAlias = str | type[Any] | np.dtype[Any]
Initializer: TypeAlias = Callable[[Sequence[int], Any], jax.Array]
HaikuInit: TypeAlias = InitSpec | str | float | Initializer
Getter: TypeAlias = Callable[..., jax.Array]


# --------------------------------------------------------------------------- initialisers


@final
class _HaikuInitializers:
    """:class:`~einx_typed.nn._kit.Initializers` as ``hk.initializers``."""

    def constant(self, value: float) -> Initializer:
        return hk.initializers.Constant(value)

    def normal(self, mean: float, std: float) -> Initializer:
        made: Initializer = hk.initializers.RandomNormal(stddev=std, mean=mean)  # type: ignore[no-untyped-call]
        return made

    def truncated_normal(self, mean: float, std: float) -> Initializer:
        # Haiku cuts at mean +- 2 std, as the spec's truncated normals do.
        return hk.initializers.TruncatedNormal(stddev=std, mean=mean)


_INITIALIZERS: Final = _HaikuInitializers()


def initializer(init: InitSpec, shape: Sequence[int]) -> Initializer:
    """``init`` for a variable of ``shape`` as a Haiku initialiser (``init(shape, dtype)``)."""
    return _kit.framework_initializer(init, tuple(shape), _INITIALIZERS)


def _dtype(value: object, owner: str, *, floating: bool) -> np.dtype[Any]:
    """``value`` as a dtype: a name (``"bfloat16"``), a NumPy dtype or a JAX scalar type."""
    dtype = None
    if isinstance(value, str | np.dtype) or (isinstance(value, type) and value is not bool):
        try:
            dtype = jnp.dtype(value)
        except TypeError:
            dtype = None
    wanted = jnp.floating if floating else jnp.number
    if dtype is None or not jnp.issubdtype(dtype, wanted):
        kind = "floating dtype" if floating else "numeric dtype"
        raise SpecError(
            f"{owner}: dtype must be a {kind} or the name of one (float16, bfloat16, float32, "
            f"float64), got {value!r}.",
            field="dtype",
        )
    return dtype


# --------------------------------------------------------------------------- param

_haiku_base: Final[Any] = importlib.import_module("haiku._src.base")


def _module_dtype() -> object:
    """The ``dtype`` attribute of the Haiku module being called, else ``"float32"``.

    Haiku offers no public accessor for the current module, so this reads its internal
    one and falls back to float32 if a Haiku release removes it.
    """
    current = getattr(_haiku_base, "current_module", None)
    module = current() if current is not None else None
    dtype = getattr(module, "dtype", None)
    return "float32" if dtype is None else dtype


def _existing_shape(func: Getter, name: str) -> tuple[int, ...] | None:
    """The shape under which ``name`` is stored in the current module, if it is."""
    tree = hk.get_params() if func is hk.get_parameter else hk.get_current_state()
    value = tree.get(hk.experimental.current_name(), {}).get(name)
    return None if value is None else tuple(value.shape)


def _get(
    func: Getter,
    name: str,
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
    init: Initializer,
    mismatch: Callable[[tuple[int, ...]], None],
    owner: str,
) -> jax.Array:
    """``func(name, shape, dtype, init)``, with Haiku's errors as ``EinxError``\\ s.

    ``mismatch(actual)`` raises for a stored variable of another shape.
    """
    try:
        value = func(name, shape, dtype, init=init)
    except ValueError as error:
        actual = _existing_shape(func, name)
        if actual is not None and actual != shape:
            mismatch(actual)
        kind = "parameter" if func is hk.get_parameter else "state"
        raise OperationError(
            f"{owner}: Haiku could not provide the {kind} {name!r} of shape {shape}: {error}",
            hint="Call the transformed init with an input of this shape and an rng key, "
            "and pass the params and state it returns to apply.",
        ) from None
    if tuple(value.shape) != shape:  # hk.get_state does not compare shapes
        mismatch(tuple(value.shape))
    return value


@final
class _ParamFactory:
    """A tensor factory calling ``hk.get_parameter`` or ``hk.get_state``."""

    __slots__ = ("dtype", "func", "init", "name")

    def __init__(self, func: Getter, name: str | None, init: HaikuInit | None, dtype: object):
        self.func = func
        self.name = name
        self.init = init
        self.dtype = dtype

    def __call__(
        self,
        shape: Sequence[int],
        name: str | None = None,
        init: str | None = None,
        in_axis: Sequence[int] = (),
    ) -> jax.Array:
        chosen_name = self.name if self.name is not None else name
        if chosen_name is None:
            raise SpecError(
                "einn.param: the op gives no default name for this parameter.",
                hint='Pass name=, e.g. einn.param(name="weight").',
                field="name",
            )
        chosen = _kit.coerce_init(self.init, op=init, in_axis=tuple(in_axis))
        dims = tuple(int(d) for d in shape)
        if isinstance(chosen, _kit.INIT_SPEC_TYPES):
            chosen = initializer(chosen, dims)
        dtype = _dtype(
            self.dtype if self.dtype is not None else _module_dtype(), "einn.param", floating=False
        )

        def mismatch(actual: tuple[int, ...]) -> None:
            raise AxisSizeError(
                f"einn.param: the op needs {chosen_name!r} with shape {dims}, but it was created "
                f"with shape {actual}.",
                hint="Feed inputs whose axes agree with the existing parameters.",
            )

        return _get(self.func, chosen_name, dims, dtype, chosen, mismatch, "einn.param")


def param(
    func: Getter | None = None,
    name: str | None = None,
    init: HaikuInit | None = None,
    dtype: DTypeLike | None = None,
) -> Callable[..., jax.Array]:
    """A tensor factory for a Haiku parameter (``hk.get_parameter``, the default) or state
    (``hk.get_state``).

    ``einx.add("b... [c]", x, einn.param(init=0.5))``: the name defaults to the op's
    (``bias`` for ``add``, ``weight`` for ``dot``, ...), the initialiser to the op's (zeros,
    LeCun normal, ...) and may be a Haiku initialiser, a number, an
    :data:`~einx_typed.layers.InitSpec` or an op name; the dtype defaults to the calling
    module's ``dtype`` attribute, else float32.
    """
    if func is None:
        func = hk.get_parameter
    if func is not hk.get_parameter and func is not hk.get_state:
        raise OperationError(
            f"einn.param expects hk.get_parameter or hk.get_state, got {func!r}.",
            hint="Use einn.param() for a parameter and einn.param(hk.get_state) for state.",
        )
    if name is not None and not (isinstance(name, str) and name):
        raise SpecError(f"einn.param: name must be a non-empty string, got {name!r}.")
    if init is not None:
        _kit.coerce_init(init, op=None)  # a bad init= fails here, not at the first call
    if dtype is not None:
        _dtype(dtype, "einn.param", floating=False)
    return _ParamFactory(func, name, init, dtype)


def _adapt(func: object) -> Callable[..., jax.Array]:
    return param(cast(Getter, func))


register_factory_adapter(lambda x: x is hk.get_parameter or x is hk.get_state, _adapt)


# --------------------------------------------------------------------------- modules


@final
@attrs.frozen
class _Variable:
    """A variable a layer call reads: name, shape, dtype and Haiku initialiser."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    init: Initializer

    @classmethod
    def of(cls, name: str, spec: ParamSpec) -> _Variable:
        return cls(name, spec.shape, jnp.dtype(spec.dtype), initializer(spec.init, spec.shape))


@final
@attrs.frozen
class _Entry:
    """A layer call prepared for one input signature and mode."""

    call: _kit.LayerCall
    params: tuple[_Variable, ...]
    state: tuple[_Variable, ...]
    needs_rng: bool


_EntryKey: TypeAlias = tuple[LayerSpec, tuple[int, ...], np.dtype[Any], str, bool | None, bool]
"""Spec, input shape and dtype, parameter dtype, training, init phase."""

_ENTRIES: Final[_kit.ShapeCache[_EntryKey, _Entry]] = _kit.ShapeCache(256)
"""Shared by every module: Haiku builds modules anew each time a function is transformed."""


def _entry(module: LayerModule, key: _EntryKey) -> _Entry:
    spec, shape, dtype, _, training, initializing = key
    floating = bool(jnp.issubdtype(dtype, jnp.inexact))
    _kit.check_input_dtype(spec, floating=floating, dtype=str(dtype), input_shape=shape)
    resolved = spec.resolve(shape, dtype=module.dtype)
    if training is None:
        if _kit.mode_matters(resolved):
            raise OperationError(
                f"{_kit.describe_spec(spec)} behaves differently in training and evaluation "
                "(EMA statistics or dropout), so it needs training=True or training=False.",
                shapes=[shape],
                hint="Call the module as module(x, training=...).",
            )
        training = False
    call = _kit.layer_call(resolved, "jax", training=training, initializing=initializing)
    entry = _Entry(
        call=call,
        params=tuple(_Variable.of(n, p) for n, p in resolved.params.items()),
        state=tuple(_Variable.of(n, p) for n, p in resolved.state.items()),
        needs_rng=_kit.reads_rng(resolved, training=training, initializing=initializing),
    )
    return _ENTRIES.add(key, entry)


def _input(spec: LayerSpec, x: object) -> jax.Array:
    if isinstance(x, jax.Array):
        return x
    if isinstance(x, np.ndarray | np.generic):
        return jnp.asarray(x)
    raise OperationError(
        f"{_kit.describe_spec(spec)} expects a JAX or NumPy array as input, got "
        f"{type(x).__name__}.",
        hint="Convert it first, e.g. jnp.asarray(x).",
    )


def _variables(
    module: LayerModule, func: Getter, variables: Sequence[_Variable], shape: tuple[int, ...]
) -> dict[str, jax.Array]:
    spec, owner = module.spec, _kit.describe_spec(module.spec)
    values = {}
    for v in variables:

        def mismatch(actual: tuple[int, ...], v: _Variable = v) -> None:
            _kit.check_param_shape(spec, v.name, expected=v.shape, actual=actual, input_shape=shape)

        values[v.name] = _get(func, v.name, v.shape, v.dtype, v.init, mismatch, owner)
    return values


def _run(module: LayerModule, x: object, training: object) -> jax.Array:
    spec = module.spec
    x = _input(spec, x)
    if training is not None and not isinstance(training, bool | np.bool_):
        raise OperationError(
            f"{_kit.describe_spec(spec)}: training must be True, False or None, got "
            f"{type(training).__name__}.",
            hint="Pass a Python bool; under jax.jit make it a static argument.",
        )
    shape = tuple(x.shape)
    mode = None if training is None else bool(training)
    key = (spec, shape, x.dtype, module.dtype, mode, hk.running_init())
    entry = _ENTRIES.entries.get(key)
    if entry is None:
        entry = _entry(module, key)
    params = _variables(module, hk.get_parameter, entry.params, shape)
    state = _variables(module, hk.get_state, entry.state, shape)
    rng = None
    if entry.needs_rng:
        rng = hk.maybe_next_rng_key()
        if rng is None:
            raise OperationError(
                f"{_kit.describe_spec(spec)} draws a dropout mask in training and needs a "
                "random key, but the transformed function got none.",
                shapes=[shape],
                hint="Pass an rng key to apply (not with hk.without_apply_rng), or call it "
                "with training=False.",
            )
    outputs = entry.call.run(x, params, state, rng)
    if entry.call.writes_state:
        for name, value in zip(entry.call.state_names, outputs[1:]):
            hk.set_state(name, value)
    result: jax.Array = outputs[0]
    return result


class LayerModule(hk.Module):
    """An ``hk.Module`` that runs one layer spec; variables follow the spec's table.

    Constructed like the spec (``Norm("b [s...] (g [c])", g=8)``, or from a spec object),
    plus ``name`` and ``dtype`` (of the parameters and EMA statistics).  Called as
    ``module(x, training=None)``.
    """

    spec_type: ClassVar[type[LayerSpec]]
    name_argument: ClassVar[str] = "name"
    """The keyword of the Haiku module name (``Activation``'s spec has a field ``name``)."""
    spec: LayerSpec
    dtype: str
    AUTO_REPR: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        keyword = inspect.Parameter.KEYWORD_ONLY
        extra = [
            inspect.Parameter(cls.name_argument, keyword, default=None, annotation="str | None"),
            inspect.Parameter("dtype", keyword, default="float32", annotation="DTypeLike"),
        ]

        def __init__(self: LayerModule, *args: Any, **kwargs: Any) -> None:
            LayerModule.__init__(self, *args, **kwargs)

        __init__.__doc__ = cls.__doc__
        setattr(__init__, "__signature__", _kit.constructor_signature(cls.spec_type, extra))  # noqa: B010
        setattr(cls, "__init__", __init__)  # noqa: B010  (help() shows the spec's fields)

    def __new__(cls, *args: Any, **kwargs: Any) -> LayerModule:
        # Haiku's own check (before __init__ runs) raises a ValueError; this one comes first.
        try:
            hk.running_init()
        except ValueError:
            raise OperationError(
                f"einn.{cls.__name__}: Haiku modules can only be created inside a function "
                "transformed by hk.transform or hk.transform_with_state.",
                hint="Create the module inside the function passed to hk.transform.",
            ) from None
        module: LayerModule = super().__new__(cls)
        return module

    def __init__(self, *args: Any, dtype: DTypeLike = "float32", **kwargs: Any) -> None:
        name = kwargs.pop(self.name_argument, None)
        spec = _kit.spec_from_arguments(self.spec_type, args, kwargs)
        chosen = _dtype(dtype, _kit.describe_spec(spec), floating=True)
        try:
            super().__init__(name=name)
        except ValueError as error:  # outside hk.transform, or a name Haiku rejects
            raise OperationError(
                f"{_kit.describe_spec(spec)}: Haiku could not create the module: {error}",
                hint="Create Haiku modules inside the function passed to hk.transform.",
            ) from None
        self.spec = spec
        self.dtype = chosen.name

    def __call__(self, x: jax.Array, training: bool | None = None) -> jax.Array:
        """Apply the layer; ``training`` is needed for EMA statistics and dropout."""
        return _run(self, x, training)

    def __repr__(self) -> str:
        return f"{_kit.describe_spec(self.spec)} (haiku: {self.module_name})"


@final
class Linear(LayerModule):
    """``y = dot(expr, x, weight) + bias``: ``Linear("b... [c1->c2]", c2=64)``."""

    spec_type = LinearSpec


@final
class Norm(LayerModule):
    """Normalisation over the marked axes, optionally with EMA statistics (Haiku state).

    ``Norm("b... [c]")`` is a layer norm, ``Norm("[b...] c", decay_rate=0.9)`` a batch norm.
    """

    spec_type = NormSpec


@final
class Dropout(LayerModule):
    """Dropout with a mask of the marked shape: ``Dropout("[b] ... [c]", drop_rate=0.2)``.

    Draws from ``hk.next_rng_key()`` in training; the identity in evaluation.
    """

    spec_type = DropoutSpec


@final
class Activation(LayerModule):
    """A parameter-free activation of a spec file (``"gelu"``, ``"relu"``, ...).

    ``name`` is the activation's; the Haiku module name is ``module_name=``.
    """

    spec_type = ActivationSpec
    name_argument = "module_name"


@final
class Sequential(LayerModule):
    """A whole :class:`~einx_typed.layers.SequentialSpec` as one module and one program.

    Variables are named after the spec (``"0.weight"``, ``"1.mean"``); dropout items get
    their keys from one ``hk.next_rng_key()`` as in ``Resolved.apply``.
    """

    spec_type = SequentialSpec


_MODULES: Final[dict[str, type[LayerModule]]] = {
    cls.__name__: cls for cls in (Linear, Norm, Dropout, Activation, Sequential)
}


def from_spec(
    spec: LayerSpec, *, name: str | None = None, dtype: DTypeLike = "float32"
) -> LayerModule:
    """The module for any spec (call it inside ``hk.transform``)."""
    cls = _kit.module_class(spec, _MODULES, "einn")
    return cls(spec, dtype=dtype, **{cls.name_argument: name})

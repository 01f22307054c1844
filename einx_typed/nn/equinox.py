"""Equinox modules for einx_typed layer specs: ``Linear``, ``Norm``, ``Dropout``, ``param``.

A module is an ``eqx.Module`` whose fields hold every array (``weight``, ``bias``,
``scale``; EMA statistics as ``eqx.nn.StateIndex`` fields ``mean`` and ``var``), so
``jax.tree_util``, ``eqx.filter_jit``/``filter_grad``, ``eqx.partition``, ``eqx.tree_at``
and ``eqx.tree_serialise_leaves`` see all of them.  Parameters are created in one of two
ways::

    import einx_typed.nn.equinox as einn

    layer = einn.Linear("b... [c1->c2]", c1=32, c2=64, key=key)  # Equinox: created now
    lazy = einn.Linear("b... [c1->c2]", c2=64)                  # einx 0.3.0: created by
    y = lazy(x, rng=key)                                        # the first (eager) call
    norm, state = eqx.nn.make_with_state(einn.Norm)("[b...] c", decay_rate=0.9, c=64)
    y, state = norm(y, state)

A call resolves the spec for the input's shape (cached) and runs the layer's compiled
program on ``jax.numpy``; under ``eqx.filter_jit`` that happens once, at trace time.
``inference`` (a field, set by ``eqx.nn.inference_mode``, or a call argument) switches
dropout off and normalises with the EMA statistics.  Equinox creates EMA statistics at
construction, so there is no init phase: the first training call normalises with batch
statistics and updates them, as ``eqx.nn.BatchNorm(mode="batch")`` does.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Final, TypeAlias, cast, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax._src import core as _jax_core  # trace_state_clean: JAX has no public equivalent

from einx_typed.errors import AxisSizeError, EinxError, OperationError, SpecError
from einx_typed.layers import (
    ActivationSpec,
    DropoutSpec,
    InitSpec,
    LayerSpec,
    LinearSpec,
    NormSpec,
    ParamSpec,
    ParamTables,
    SequentialSpec,
    checked_input_shape,
)
from einx_typed.nn import _kit

__all__ = [
    "Activation",
    "Dropout",
    "LayerModule",
    "Linear",
    "Norm",
    "Sequential",
    "from_spec",
    "param",
]

JaxInit: TypeAlias = Callable[[Any, tuple[int, ...], Any], jax.Array]
"""A JAX initialiser: ``init(key, shape, dtype) -> array``."""
EqxInit: TypeAlias = InitSpec | str | float | JaxInit

_LOCK: Final = threading.RLock()
"""Serialises the creation of parameters on a first call."""

_NOT_VARIABLES: Final = frozenset({"spec", "dtype", "inference"})


# --------------------------------------------------------------------------- helpers


@final
class _JaxInitializers:
    """:class:`~einx_typed.nn._kit.Initializers` as ``jax.nn.initializers``."""

    def constant(self, value: float) -> JaxInit:
        return jax.nn.initializers.constant(value)

    def normal(self, mean: float, std: float) -> JaxInit:
        return _shifted(jax.nn.initializers.normal(std), mean)

    def truncated_normal(self, mean: float, std: float) -> JaxInit:
        return _shifted(jax.nn.initializers.truncated_normal(std, lower=-2.0, upper=2.0), mean)


def _shifted(init: JaxInit, mean: float) -> JaxInit:
    if mean == 0.0:
        return init
    return lambda key, shape, dtype: (init(key, shape, dtype) + mean).astype(dtype)


_INITIALIZERS: Final = _JaxInitializers()


@final
class _HostInitializers:
    """Constants filled by numpy and put on the device: no XLA compilation per shape."""

    def constant(self, value: float) -> JaxInit:
        return lambda key, shape, dtype: jnp.asarray(np.full(shape, value, jnp.dtype(dtype)))

    def normal(self, mean: float, std: float) -> JaxInit:
        return _INITIALIZERS.normal(mean, std)

    def truncated_normal(self, mean: float, std: float) -> JaxInit:
        return _INITIALIZERS.truncated_normal(mean, std)


_HOST_INITIALIZERS: Final = _HostInitializers()


def _dtype_name(dtype: object) -> str:
    try:
        resolved = None if dtype is None or isinstance(dtype, bool) else jnp.dtype(cast(Any, dtype))
    except TypeError:
        resolved = None
    if resolved is None or not jnp.issubdtype(resolved, jnp.floating):
        raise SpecError(
            f"dtype must be a floating dtype or the name of one (float16, bfloat16, float32, "
            f"float64), got {dtype!r}.",
            field="dtype",
        )
    if resolved == jnp.float64 and jax.dtypes.canonicalize_dtype(resolved) != resolved:
        raise SpecError(
            "dtype float64 needs JAX's 64-bit mode; without it JAX stores float32.",
            hint="Call jax.config.update('jax_enable_x64', True) first.",
            field="dtype",
        )
    return str(resolved.name)


def _transforming(*values: object) -> bool:
    """Whether a JAX transformation (jit, grad, vmap, ...) is tracing this call."""
    return any(isinstance(v, jax.core.Tracer) for v in values) or not _jax_core.trace_state_clean()


def _checked_rng(spec: LayerSpec, rng: object, key: object) -> Any:
    """The PRNG key of a call (``rng=`` as in einx 0.3.0, or Equinox's ``key=``)."""
    if key is not None:
        if rng is not None:
            raise OperationError(f"{_kit.describe_spec(spec)} got both rng= and key=; pass one.")
        rng = key
    if rng is None or (
        isinstance(rng, jax.Array)
        and (jnp.issubdtype(rng.dtype, jax.dtypes.prng_key) or rng.dtype == jnp.uint32)
    ):
        return rng
    raise OperationError(
        f"{_kit.describe_spec(spec)} needs rng (or key) to be a JAX PRNG key, got "
        f"{type(rng).__name__}.",
        hint="Pass jax.random.key(seed), or a key split from one.",
    )


def _draw(table: Mapping[str, ParamSpec], names: Sequence[str], key: Any) -> dict[str, jax.Array]:
    """Initial values of ``names`` from ``table``; one subkey per entry of the table.

    Constants are made on the host (no compilation), random values by one jitted draw.
    """
    wanted = [name for name in table if name in names]
    drawn = [name for name in wanted if _kit.random_init(table[name].init)]
    values = _drawer(tuple(table.items()), tuple(drawn))(key) if drawn else {}
    for name in wanted:
        if name not in values:
            spec = table[name]
            init = _kit.framework_initializer(spec.init, spec.shape, _HOST_INITIALIZERS)
            values[name] = init(None, spec.shape, spec.dtype)
    return {name: values[name] for name in wanted}


@functools.lru_cache(maxsize=256)
def _drawer(
    entries: tuple[tuple[str, ParamSpec], ...], names: tuple[str, ...]
) -> Callable[[Any], dict[str, jax.Array]]:
    """The draw of ``names`` as one jitted function: one compilation per layer shape
    instead of one per primitive of every initialiser (eager random draws are slow)."""

    def draw(key: Any) -> dict[str, jax.Array]:
        keys = None if key is None else jax.random.split(key, len(entries))
        values = {}
        for index, (name, spec) in enumerate(entries):
            if name in names:
                init = _kit.framework_initializer(spec.init, spec.shape, _INITIALIZERS)
                values[name] = init(None if keys is None else keys[index], spec.shape, spec.dtype)
        return values

    return jax.jit(draw)


def _variable_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in _NOT_VARIABLES)


@final
@dataclasses.dataclass(frozen=True)
class _Entry:
    call: _kit.LayerCall
    needs_rng: bool
    jitted: Callable[..., tuple[Any, ...]]
    """``call.run`` under ``jax.jit``, for eager calls: one dispatch (and one compilation
    per input signature) instead of one per primitive."""


_CALLS: Final[_kit.ShapeCache[tuple[Any, ...], _Entry]] = _kit.ShapeCache(size=512)
"""Compiled programs per (spec, input shape and dtype, parameter dtype, training)."""


def _entry(spec: LayerSpec, x: jax.Array, dtype: str, training: bool) -> _Entry:
    shape = tuple(int(d) for d in x.shape)
    key = (spec, shape, x.dtype, dtype, training)
    entry = _CALLS.entries.get(key)
    if entry is None:
        floating = bool(jnp.issubdtype(x.dtype, jnp.inexact))
        _kit.check_input_dtype(spec, floating=floating, dtype=x.dtype.name, input_shape=shape)
        resolved = spec.resolve(shape, dtype)
        call = _kit.layer_call(resolved, "jax", training=training, initializing=False)
        needs_rng = _kit.reads_rng(resolved, training=training)
        entry = _CALLS.add(key, _Entry(call, needs_rng, jax.jit(call.run)))
    return entry


def _state_given(state: object) -> bool:
    # eqx.nn.Sequential passes its own sentinel (a plain object()) when it has no state.
    if state is None or type(state) is object:
        return False
    if isinstance(state, eqx.nn.State):
        return True
    raise OperationError(f"state must be an eqx.nn.State, got {type(state).__name__}.")


# --------------------------------------------------------------------------- modules


class LayerModule(eqx.nn.StatefulLayer):
    """An ``eqx.Module`` that runs one layer spec; its fields are the spec's variables.

    Constructed like the spec (``Norm("b [s...] (g [c])", g=8)``, or from a spec object),
    plus ``dtype``, ``key`` (create the parameters now, Equinox-style; needs the shapes:
    every axis value, or ``input_shape``) and ``input_shape`` (an input the layer will see).
    Without them parameters are ``None`` until the first call, ``layer(x, rng=key)``.
    Called as ``layer(x)``, ``layer(x, rng=key)`` or ``y, state = layer(x, state)``.
    """

    spec_type: ClassVar[type[LayerSpec]]
    spec: LayerSpec = eqx.field(static=True)
    dtype: str = eqx.field(static=True)

    def __init__(
        self,
        *args: Any,
        dtype: object = "float32",
        key: Any = None,
        input_shape: Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        fields = _variable_fields(type(self))
        if "inference" in {f.name for f in dataclasses.fields(type(self))}:
            self.inference = bool(kwargs.pop("inference", False))
        spec = _kit.spec_from_arguments(self.spec_type, args, kwargs)
        self.spec = spec
        self.dtype = _dtype_name(dtype)
        for name in fields:
            setattr(self, name, None)
        tables = self._tables(input_shape)
        if tables is None:
            if key is not None and spec.variables():
                raise SpecError(
                    f"{_kit.describe_spec(spec)} got key= to create its parameters now, but "
                    "the axis values do not fix their shapes.",
                    hint="Pass every axis value, or input_shape=, or drop key= and call "
                    "layer(x, rng=key) once to create them.",
                )
            if not all(trainable for _, trainable in spec.variables()):
                raise SpecError(
                    f"{_kit.describe_spec(spec)} keeps EMA statistics in an eqx.nn.State, "
                    "which is made from the constructed module: their shapes must be known "
                    "now, but the axis values do not fix them.",
                    hint="Pass the axis values (e.g. c=64) or input_shape=, as "
                    "eqx.nn.BatchNorm needs input_size.",
                )
            return
        params, state = tables
        for name, value in _draw(state, list(state), None).items():
            setattr(self, name, eqx.nn.StateIndex(value))
        if key is not None or not any(_kit.random_init(p.init) for p in params.values()):
            for name, value in _draw(params, list(params), key).items():
                setattr(self, name, value)

    def _tables(self, input_shape: Sequence[int] | None) -> ParamTables | None:
        if input_shape is None:
            return self.spec.resolve_params(self.dtype)
        shape = checked_input_shape(input_shape, type(self).__name__, "input_shape=")
        resolved = self.spec.resolve(shape, self.dtype)
        return resolved.params, resolved.state

    def is_stateful(self) -> bool:
        """Whether the layer keeps EMA statistics (``y, state = layer(x, state)``)."""
        return not all(trainable for _, trainable in self.spec.variables())

    def __call__(
        self,
        x: object,
        state: object = None,
        *,
        key: object = None,
        rng: object = None,
        inference: bool | None = None,
    ) -> Any:
        """Apply the layer; returns ``y``, or ``(y, state)`` when a state was passed."""
        spec = self.spec
        rng = _checked_rng(spec, rng, key)
        if isinstance(x, np.ndarray):
            x = jnp.asarray(x)
        if not isinstance(x, jax.Array):
            raise OperationError(
                f"{_kit.describe_spec(spec)} expects a JAX array as input, got {type(x).__name__}.",
                hint="Convert it first, e.g. jnp.asarray(x).",
            )
        has_state = _state_given(state)
        if inference is None:
            flag = getattr(self, "inference", False)
            if isinstance(flag, jax.core.Tracer):
                raise OperationError(
                    f"{_kit.describe_spec(spec)}: its inference flag is traced (the module "
                    "went through jax.jit or jax.grad as a whole, not through eqx.filter_jit).",
                    hint="Use eqx.filter_jit / eqx.filter_grad, or pass inference=True/False.",
                )
            inference = bool(flag)
        entry = _entry(spec, x, self.dtype, not inference)
        call = entry.call
        shape = tuple(int(d) for d in x.shape)
        if any(getattr(self, name) is None for name, _ in call.param_shapes):
            self._create(call, x, rng)
        params = {}
        for name, needed in call.param_shapes:
            value = getattr(self, name)
            if getattr(value, "shape", None) != needed:
                actual = None if value is None else tuple(value.shape)
                _kit.check_variable(spec, name, actual, expected=needed, input_shape=shape)
            params[name] = value
        stats = {}
        if call.state_shapes:
            if not has_state:
                raise OperationError(
                    f"{_kit.describe_spec(spec)} keeps EMA statistics in an eqx.nn.State, but "
                    "was called without one.",
                    hint="Build it with eqx.nn.make_with_state(einn.Norm)(...) and call "
                    "y, state = layer(x, state).",
                )
            stats = self._read_state(call, state, shape)
        if entry.needs_rng and rng is None:
            raise OperationError(
                f"{_kit.describe_spec(spec)} draws a random mask in training and needs a key.",
                hint="Call layer(x, rng=key), or switch it off: eqx.nn.inference_mode(model).",
            )
        # Traced (filter_jit, grad, vmap): the program's steps join the trace; eager: jitted.
        run = call.run if isinstance(x, jax.core.Tracer) else entry.jitted
        outputs = run(x, params, stats, rng)
        if call.writes_state:
            for (name, _), value in zip(call.state_shapes, outputs[1:]):
                dtype = stats[name].dtype  # Equinox's State keeps a value's dtype
                value = value if value.dtype == dtype else value.astype(dtype)
                state = state.set(getattr(self, name), value)  # type: ignore[attr-defined]
        return (outputs[0], state) if has_state else outputs[0]

    def _create(self, call: _kit.LayerCall, x: jax.Array, rng: Any) -> None:
        """Create the missing parameters on a first call (einx 0.3.0's way), in place."""
        table = call.resolved.params
        with _LOCK:
            missing = [name for name in table if getattr(self, name) is None]
            if not missing:
                return
            described = _kit.describe_spec(self.spec)
            names = ", ".join(repr(n) for n in missing)
            if _transforming(x, rng):
                raise OperationError(
                    f"{described} creates its parameters {names} on its first call, which must "
                    "run eagerly, outside jax.jit, eqx.filter_jit, grad and vmap (a module "
                    "inside a transformation is a copy: what it creates would be lost).",
                    hint="Call it once eagerly, layer(x, rng=key), or create the parameters "
                    "at construction: key= with every axis value or input_shape=.",
                )
            if rng is None and any(_kit.random_init(table[n].init) for n in missing):
                raise OperationError(
                    f"{described} needs a key on its first call to initialise {names}.",
                    hint="Call layer(x, rng=key) once; later calls need none.",
                )
            for name, value in _draw(table, missing, rng).items():
                object.__setattr__(self, name, value)

    def _read_state(
        self, call: _kit.LayerCall, state: Any, shape: tuple[int, ...]
    ) -> dict[str, jax.Array]:
        values = {}
        for name, needed in call.state_shapes:
            index = getattr(self, name)
            try:
                value = state.get(index)
            except (KeyError, ValueError, TypeError) as error:
                raise OperationError(
                    f"{_kit.describe_spec(self.spec)}: the state has no usable entry for "
                    f"{name!r} ({error}).",
                    hint="Pass the eqx.nn.State made with this model, and the newest one "
                    "after each call.",
                ) from None
            actual = tuple(getattr(value, "shape", ()))
            _kit.check_param_shape(
                self.spec, name, expected=needed, actual=actual, input_shape=shape
            )
            values[name] = value
        return values


@final
class Linear(LayerModule):
    """``y = dot(expr, x, weight) + bias``: ``Linear("b... [c1->c2]", c2=64)``."""

    spec_type = LinearSpec
    weight: jax.Array | None
    bias: jax.Array | None


@final
class Norm(LayerModule):
    """Normalisation over the marked axes, optionally with EMA statistics.

    ``Norm("b... [c]")`` is a layer norm; ``Norm("[b...] c", decay_rate=0.9, c=64)`` a batch
    norm whose statistics live in an ``eqx.nn.State`` (``mean`` and ``var`` are their
    ``StateIndex`` fields).
    """

    spec_type = NormSpec
    scale: jax.Array | None
    bias: jax.Array | None
    mean: eqx.nn.StateIndex[jax.Array] | None
    var: eqx.nn.StateIndex[jax.Array] | None
    inference: bool


@final
class Dropout(LayerModule):
    """Dropout with a mask of the marked shape: ``Dropout("[b] ... [c]", drop_rate=0.2)``.

    Called as ``layer(x, rng=key)`` (or ``key=``) in training; the identity when
    ``inference`` is set (``eqx.nn.inference_mode``).
    """

    spec_type = DropoutSpec
    inference: bool


@final
class Activation(LayerModule):
    """A parameter-free activation of a spec file (``"gelu"``, ``"relu"``, ...)."""

    spec_type = ActivationSpec


@final
class Sequential(eqx.nn.StatefulLayer):
    """One module per item of a :class:`~einx_typed.layers.SequentialSpec`, in ``layers``.

    Item ``i`` gets ``jax.random.fold_in(key, i)``, as the spec's ``apply`` does, both to
    create its parameters and for its dropout masks.
    """

    layers: tuple[LayerModule | Sequential, ...]
    spec: SequentialSpec = eqx.field(static=True)
    dtype: str = eqx.field(static=True)

    def __init__(
        self,
        spec: SequentialSpec,
        *,
        dtype: object = "float32",
        key: Any = None,
        input_shape: Sequence[int] | None = None,
    ) -> None:
        shape = None
        if input_shape is not None:
            shape = checked_input_shape(input_shape, "Sequential", "input_shape=")
        name = _dtype_name(dtype)
        layers = []
        for index, item in enumerate(spec.layers):
            try:
                item_key = None if key is None else jax.random.fold_in(key, index)
                layers.append(from_spec(item, dtype=name, key=item_key, input_shape=shape))
                if shape is not None:
                    shape = item.resolve(shape, name).output_shape
            except EinxError as error:
                raise error.with_message(f"Sequential item {index}: {error.message}") from None
        self.layers = tuple(layers)
        self.spec = spec
        self.dtype = name

    def is_stateful(self) -> bool:
        return any(layer.is_stateful() for layer in self.layers)

    def __call__(
        self,
        x: object,
        state: object = None,
        *,
        key: object = None,
        rng: object = None,
        inference: bool | None = None,
    ) -> Any:
        """Apply every item in order; returns ``y``, or ``(y, state)`` when one was passed."""
        checked = _checked_rng(self.spec, rng, key)
        has_state = _state_given(state)
        for index, layer in enumerate(self.layers):
            item_rng = None if checked is None else jax.random.fold_in(checked, index)
            if layer.is_stateful():
                x, state = layer(x, state, rng=item_rng, inference=inference)
            else:
                x = layer(x, rng=item_rng, inference=inference)
        return (x, state) if has_state else x


_MODULES: Final[Mapping[str, type[LayerModule]]] = {
    cls.__name__: cls for cls in (Linear, Norm, Dropout, Activation)
}


def from_spec(
    spec: LayerSpec,
    *,
    dtype: object = "float32",
    key: Any = None,
    input_shape: Sequence[int] | None = None,
) -> LayerModule | Sequential:
    """The module for any spec; a ``SequentialSpec`` gives a :class:`Sequential`.

    With ``key`` and ``input_shape`` every parameter and EMA statistic exists at once
    (what ``eqx.nn.make_with_state`` and ``tree_deserialise_leaves`` need).
    """
    if isinstance(spec, SequentialSpec):
        return Sequential(spec, dtype=dtype, key=key, input_shape=input_shape)
    cls = _kit.module_class(spec, _MODULES, "einn")
    return cls(spec, dtype=dtype, key=key, input_shape=input_shape)


# --------------------------------------------------------------------------- param


@final
class _ParamFactory:
    """A tensor factory that creates ``module.<name>`` on first use and returns it after."""

    __slots__ = ("dtype", "explicit_init", "module", "name", "rng")

    def __init__(
        self, module: eqx.Module, name: str | None, init: object, dtype: str | None, rng: Any
    ) -> None:
        self.module = module
        self.name = name
        self.explicit_init = init
        self.dtype = dtype
        self.rng = rng

    def __call__(
        self,
        shape: Sequence[int],
        name: str | None = None,
        init: str | None = None,
        in_axis: Sequence[int] = (),
    ) -> jax.Array:
        module = self.module
        name = self.name or name
        owner = type(module).__name__
        if name is None:
            raise SpecError("einn.param: the op gives no default name; pass name=.")
        if name not in {f.name for f in dataclasses.fields(module)}:
            raise OperationError(
                f"einn.param: {owner} has no field {name!r} to hold the parameter.",
                hint=f"Declare it in the class ({name}: jax.Array | None, set to None in "
                "__init__), or pass the name of the field as name=.",
            )
        shape = tuple(int(d) for d in shape)
        with _LOCK:
            current = getattr(module, name)
            if current is not None:
                if tuple(getattr(current, "shape", ())) != shape:
                    raise AxisSizeError(
                        f"einn.param: the op needs {owner}.{name} with shape {shape}, but it "
                        f"has shape {tuple(getattr(current, 'shape', ()))}.",
                        hint="Use one field per place a parameter is used.",
                    )
                return current  # type: ignore[no-any-return]
            chosen = _kit.coerce_init(self.explicit_init, op=init, in_axis=in_axis)
            if _transforming(self.rng):
                raise OperationError(
                    f"einn.param: {owner}.{name} is created on the first call, which must run "
                    "eagerly, outside jax.jit, eqx.filter_jit, grad and vmap.",
                    hint="Call the module once eagerly; later calls may be transformed.",
                )
            dtype = self.dtype or _dtype_name(getattr(module, "dtype", "float32"))
            if isinstance(chosen, _kit.INIT_SPEC_TYPES):
                if self.rng is None and _kit.random_init(chosen):
                    raise OperationError(
                        f"einn.param: {owner}.{name} needs rng= on the first call to be "
                        "initialised."
                    )
                chosen = _kit.framework_initializer(chosen, shape, _INITIALIZERS)
            value = _call_init(chosen, self.rng, shape, dtype, f"{owner}.{name}")
            object.__setattr__(module, name, value)
            return value


def _call_init(init: JaxInit, rng: Any, shape: tuple[int, ...], dtype: str, what: str) -> jax.Array:
    try:
        value = jnp.asarray(init(rng, shape, jnp.dtype(dtype)))
    except EinxError:
        raise
    except (TypeError, ValueError) as error:
        raise OperationError(
            f"einn.param: the initialiser of {what} failed: {error}",
            hint="Initialisers are called as init(key, shape, dtype); pass rng= on the "
            "first call if it draws.",
        ) from None
    if tuple(value.shape) != shape:
        raise OperationError(
            f"einn.param: the initialiser of {what} returned shape {tuple(value.shape)}, "
            f"expected {shape}."
        )
    return value


def param(
    module: eqx.Module,
    name: str | None = None,
    init: EqxInit | None = None,
    dtype: object = None,
    rng: Any = None,
) -> Any:
    """A tensor factory for the field ``name`` of ``module`` (einx 0.3.0's ``einn.param``).

    ``einx.dot("b... [c1->c2]", x, einn.param(self, name="weight", rng=rng), c2=64)``
    creates ``self.weight`` with the solved shape on the first (eager) call and returns it
    on later ones.  ``name`` defaults to the op's (``"weight"`` for dot, ``"bias"`` for
    add, ...), ``init`` to the op's initialiser (a ``jax.nn.initializers`` function, a
    number, an :data:`~einx_typed.layers.InitSpec` or an op name), ``dtype`` to
    ``module.dtype`` if it has one, else float32.  ``rng`` is needed when ``init`` draws.
    """
    if not isinstance(module, eqx.Module):
        raise OperationError(
            f"einn.param expects an eqx.Module (whose field holds the parameter), got "
            f"{type(module).__name__}."
        )
    return _ParamFactory(module, name, init, None if dtype is None else _dtype_name(dtype), rng)

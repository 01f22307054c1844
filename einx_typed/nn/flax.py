"""Flax (linen) modules for einx_typed layer specs: ``Linear``, ``Norm``, ``Dropout``, ``param``.

A module holds a spec (its only dataclass field besides dtypes and names).  Called on an
input, the spec resolves for that shape into a parameter table and a compiled program;
the module creates the variables with Flax's initialisers (``self.param`` for parameters,
``self.variable("stats", ...)`` for EMA statistics), runs the program and writes the new
statistics back::

    import einx_typed.nn.flax as einn

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x, training):
            x = einn.Linear("b [...->c]", c=256)(x)
            x = einn.Norm("[b] c", decay_rate=0.99)(x, training=training)
            return einn.Dropout("[...]", drop_rate=0.2)(x, training=training)

Every variable carries the axis names of its spec as ``nn.LogicallyPartitioned``
metadata, so ``nn.get_partition_spec(variables)`` gives ``PartitionSpec("c1", "c2")`` for
the weight of ``Linear("b... [c1->c2]", c2=64)``.  Importing this module lets a Flax
module and its bound ``param``/``variable`` act as tensor factories in the functional
ops (``einx.add("b... [c]", x, self)``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, Final, TypeAlias

import attrs
import flax.errors
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from einx_typed.errors import AxisSizeError, OperationError, SpecError
from einx_typed.layers import (
    ActivationSpec,
    Constant,
    DropoutSpec,
    InitSpec,
    LayerSpec,
    LinearSpec,
    NormSpec,
    Ones,
    ParamSpec,
    SequentialSpec,
    Zeros,
)
from einx_typed.nn import _kit
from einx_typed.ops import register_factory_adapter

__all__ = [
    "STATS",
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

STATS: Final = "stats"
"""The collection of EMA statistics (mutable in training: ``mutable=["stats"]``)."""

FlaxInit: TypeAlias = Callable[..., Any]
"""A Flax/JAX initialiser: ``init(key, shape, dtype) -> array``."""

_CONSTANT_INITS: Final = (Zeros, Ones, Constant)


# --------------------------------------------------------------------------- initialisers


def _shifted(init: FlaxInit, mean: float) -> FlaxInit:
    if mean == 0.0:
        return init
    return lambda key, shape, dtype=jnp.float32: init(key, shape, dtype) + jnp.asarray(mean, dtype)


class _FlaxInitializers:
    """:class:`~einx_typed.nn._kit.Initializers` as ``jax.nn.initializers``."""

    def constant(self, value: float) -> FlaxInit:
        return nn.initializers.constant(value)

    def normal(self, mean: float, std: float) -> FlaxInit:
        return _shifted(nn.initializers.normal(std), mean)

    def truncated_normal(self, mean: float, std: float) -> FlaxInit:
        return _shifted(nn.initializers.truncated_normal(std, lower=-2.0, upper=2.0), mean)


_INITIALIZERS: Final = _FlaxInitializers()


def initializer(init: InitSpec, shape: Sequence[int]) -> FlaxInit:
    """``init`` as a Flax initialiser for a variable of ``shape`` (LeCun normal included)."""
    return _kit.framework_initializer(init, shape, _INITIALIZERS)


def _dtype_name(value: Any, field: str) -> str:
    try:
        dtype = jnp.dtype(value)
    except (TypeError, ValueError):
        dtype = None
    if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        raise SpecError(
            f"{field} must be a floating dtype or its name (float16, bfloat16, float32, "
            f"float64), got {value!r}.",
            field=field,
        )
    return str(dtype.name)


# --------------------------------------------------------------------------- variables


def _shape_of(value: Any) -> tuple[int, ...] | None:
    leaves = jax.tree.leaves(value)  # a boxed (LogicallyPartitioned) value has one leaf
    shape = getattr(leaves[0], "shape", None) if len(leaves) == 1 else None
    return None if shape is None else tuple(shape)


def _variable(
    module: nn.Module,
    col: str,
    name: str,
    shape: tuple[int, ...],
    init: Callable[[], Any],
    owner: str,
    input_shape: Sequence[int] | None,
) -> Any:
    """``module``'s variable ``col/name`` (a Flax ``Variable``), created by ``init()``.

    Existing variables must have ``shape``; missing ones can only be created where the
    collection is mutable (``model.init``): both are ``EinxError``\\ s naming ``owner``.
    """
    if module.has_variable(col, name):
        actual = _shape_of(module.get_variable(col, name))
        if actual != shape:
            raise AxisSizeError(
                f"{owner}: the input needs the variable {col}/{name} with shape {shape}, but "
                f"the variables passed to apply hold shape {actual}.",
                shapes=[tuple(input_shape)] if input_shape is not None else [],
                hint="Pass the variables that model.init made for inputs of this shape.",
            )
    elif not module.is_mutable_collection(col):
        raise OperationError(
            f"{owner}: the variable {col}/{name} is missing from the variables passed to apply.",
            hint="Pass the variables that model.init returned (all their collections).",
        )
    try:
        return module.variable(col, name, init)
    except flax.errors.NameInUseError:
        raise SpecError(
            f"{owner}: the module {type(module).__name__} uses the name {name!r} twice in one "
            "call (a variable or a submodule of that name exists already).",
            hint="Give each parameter its own name, e.g. einn.param(self, name='bias2').",
        ) from None


def _init_value(module: nn.Module, init: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    """A variable's first value from an ``InitSpec`` or a Flax initialiser.

    Constant ``InitSpec``\\ s draw no key (EMA statistics can be created without one).
    """
    key = None if isinstance(init, _CONSTANT_INITS) else module.make_rng("params")
    fn = initializer(init, shape) if isinstance(init, _kit.INIT_SPEC_TYPES) else init
    return fn(key, shape, dtype)


# --------------------------------------------------------------------------- param


def _module_dtype(module: nn.Module) -> Any:
    for attribute in ("param_dtype", "dtype"):
        value = getattr(module, attribute, None)
        if value is not None:
            return value
    return jnp.float32


class _ParamFactory:
    """A tensor factory that gets or creates a variable of a Flax module."""

    __slots__ = ("col", "dtype", "explicit_init", "module", "name")

    def __init__(
        self, module: nn.Module, col: str, name: str | None, init: object, dtype: object
    ) -> None:
        self.module, self.col, self.name = module, col, name
        self.explicit_init, self.dtype = init, dtype

    # No ``dtype`` keyword: the op would pass its input's; the module's applies (tutorial).
    def __call__(
        self,
        shape: Sequence[int],
        name: str | None = None,
        init: str | None = None,
        in_axis: Sequence[int] = (),
    ) -> Any:
        module = self.module
        name = self.name or name
        if name is None:
            raise SpecError(
                "einn.param: the op gives no default name for this parameter.",
                hint="Pass name=, e.g. einn.param(self, name='weight').",
            )
        chosen = _kit.coerce_init(self.explicit_init, op=init, in_axis=tuple(in_axis))
        dims = tuple(int(d) for d in shape)
        dtype = self.dtype if self.dtype is not None else _module_dtype(module)
        owner = f"einn.param({type(module).__name__}, name={name!r})"
        variable = _variable(
            module,
            self.col,
            name,
            dims,
            lambda: _init_value(module, chosen, dims, dtype),
            owner,
            None,
        )
        return variable.value


def param(
    x: Any,
    name: str | None = None,
    init: object = None,
    dtype: object = None,
    col: str | None = None,
) -> _ParamFactory:
    """A tensor factory that creates (or reads) a variable of a Flax module.

    ``x`` is the module (a parameter, or a variable of collection ``col``), its bound
    ``self.param``, or its bound ``self.variable`` with ``col``.  ``name`` defaults to the
    op's (``weight``, ``bias``, ``scale``), ``init`` to the op's initialiser (a number is a
    constant; Flax initialisers and :data:`~einx_typed.layers.InitSpec`\\ s work too) and
    ``dtype`` to the module's ``param_dtype`` or ``dtype``, else float32.
    """
    module = x if isinstance(x, nn.Module) else getattr(x, "__self__", None)
    method = None if isinstance(x, nn.Module) else getattr(x, "__func__", None)
    if not isinstance(module, nn.Module) or method not in (
        None,
        nn.Module.param,
        nn.Module.variable,
    ):
        raise OperationError(
            f"einn.param expects a Flax module or its bound param or variable method, "
            f"got {type(x).__name__}."
        )
    if method is nn.Module.param and col is not None:
        raise OperationError("einn.param(self.param) creates parameters: it takes no col=.")
    if method is nn.Module.variable and col is None:
        raise OperationError(
            "einn.param(self.variable) needs the collection, e.g. "
            "einn.param(self.variable, col='stats')."
        )
    return _ParamFactory(module, col or "params", name, init, dtype)


def _is_flax_factory(x: object) -> bool:
    if isinstance(x, nn.Module):
        return True
    return isinstance(getattr(x, "__self__", None), nn.Module) and getattr(x, "__func__", None) in (
        nn.Module.param,
        nn.Module.variable,
    )


register_factory_adapter(_is_flax_factory, param)


# --------------------------------------------------------------------------- modules


@attrs.frozen
class _Call:
    """What a module needs for one input signature and mode (cached across instances)."""

    layer: _kit.LayerCall
    mode_matters: bool
    reads_rng: bool


_CallKey: TypeAlias = tuple[LayerSpec, tuple[int, ...], np.dtype[Any], str, bool, bool]
"""Spec, input shape and dtype, parameter dtype, training, init phase."""

_CALLS: Final[_kit.ShapeCache[_CallKey, _Call]] = _kit.ShapeCache(1024)


def _call_for(key: _CallKey) -> _Call:
    spec, shape, dtype, param_dtype, training, initializing = key
    floating = bool(jnp.issubdtype(dtype, jnp.inexact))
    _kit.check_input_dtype(spec, floating=floating, dtype=dtype.name, input_shape=shape)
    resolved = spec.resolve(shape, param_dtype)
    layer = _kit.layer_call(resolved, "jax", training=training, initializing=initializing)
    reads = _kit.reads_rng(resolved, training=training, initializing=initializing)
    return _CALLS.add(key, _Call(layer, _kit.mode_matters(resolved), reads))


def _partitioned(module: nn.Module, spec: ParamSpec) -> nn.LogicallyPartitioned:
    """A new variable's value, boxed with its axis names as logical partitioning."""
    value = _init_value(module, spec.init, spec.shape, jnp.dtype(spec.dtype))
    return nn.LogicallyPartitioned(value, spec.axes)


_DEFAULTS: Final[Mapping[str, str | None]] = {
    "dtype": None,
    "param_dtype": "float32",
    "rng_collection": "dropout",
    "name": None,
}
"""A module's fields besides the spec, with their defaults (Flax adds ``parent``)."""

_FIELDS: Final = (*_DEFAULTS, "parent")
"""Keywords of a module's constructor besides the spec (the others are the spec's)."""


class LayerModule(nn.Module):
    """A ``flax.linen.Module`` that runs one layer spec; variables follow the spec's table.

    Constructed like the spec (``Norm("b [s...] (g [c])", g=8)``, or from a spec object),
    plus ``dtype`` (the computation dtype; ``None``: promote input and parameters, as
    Flax's layers do), ``param_dtype`` (of the variables), ``rng_collection`` (of dropout
    keys) and ``name``.  Called as ``module(x, training=...)``; ``training`` is required
    where it matters (EMA statistics, dropout).
    """

    spec_type: ClassVar[type[LayerSpec]]
    spec: LayerSpec
    dtype: str | None = None
    param_dtype: str = "float32"
    rng_collection: str = "dropout"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)  # Flax makes the class a dataclass here
        generated = cls.__init__

        def __init__(self: LayerModule, *args: Any, **kwargs: Any) -> None:
            own = {k: kwargs.pop(k) for k in _FIELDS if k in kwargs}
            if own.get("dtype") is not None:
                own["dtype"] = _dtype_name(own["dtype"], "dtype")
            if "param_dtype" in own:
                own["param_dtype"] = _dtype_name(own["param_dtype"], "param_dtype")
            if "spec" in kwargs and not args and len(kwargs) == 1:
                spec = kwargs["spec"]  # clone() and transforms pass the fields by name
            else:
                spec = _kit.spec_from_arguments(cls.spec_type, args, kwargs)
            generated(self, spec=spec, **own)

        cls.__init__ = __init__  # type: ignore[method-assign]
        taken = _kit.constructor_signature(cls.spec_type).parameters  # Activation has a name
        extra = [
            inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=default)
            for key, default in _DEFAULTS.items()
            if key not in taken
        ]
        cls.__signature__ = _kit.constructor_signature(cls.spec_type, extra)  # type: ignore[attr-defined]

    @nn.compact
    def __call__(self, x: Any, training: bool | None = None) -> Any:
        """Apply the layer to ``x``; ``training`` selects batch statistics and dropout."""
        spec = self.spec
        if not isinstance(x, jax.Array | np.ndarray):
            raise OperationError(
                f"{_kit.describe_spec(spec)} expects a JAX or NumPy array as input, got "
                f"{type(x).__name__}.",
                hint="Convert it first, e.g. jnp.asarray(x).",
            )
        shape = tuple(x.shape)
        initializing = self.is_initializing()
        key = (spec, shape, x.dtype, self.param_dtype, bool(training), initializing)
        call = _CALLS.entries.get(key) or _call_for(key)
        owner = _kit.describe_spec(spec)
        if training is None and call.mode_matters:
            raise OperationError(
                f"{owner} behaves differently in training and evaluation: pass "
                "training=True or training=False.",
            )
        resolved = call.layer.resolved
        params = {
            name: _variable(
                self, "params", name, p.shape, partial(_partitioned, self, p), owner, shape
            ).value
            for name, p in resolved.params.items()
        }
        stats = {
            name: _variable(
                self, STATS, name, p.shape, partial(_partitioned, self, p), owner, shape
            )
            for name, p in resolved.state.items()
        }
        if self.dtype is not None:
            x = jnp.asarray(x, self.dtype)
            params = {k: jnp.asarray(v, self.dtype) for k, v in params.items()}
        rng = self._rng(owner) if call.reads_rng else None
        outputs = call.layer.run(x, params, {k: v.value for k, v in stats.items()}, rng)
        if call.layer.writes_state:
            if not self.is_mutable_collection(STATS):
                raise OperationError(
                    f"{owner} updates its EMA statistics in training: pass "
                    f"mutable=[{STATS!r}] to apply (and keep the returned statistics).",
                )
            for variable, new in zip(stats.values(), outputs[1:]):
                variable.value = new.astype(variable.value.dtype)
        return outputs[0]

    def _rng(self, owner: str) -> Any:
        if not (self.has_rng(self.rng_collection) or self.has_rng("params")):
            raise OperationError(
                f"{owner} draws a dropout mask in training and needs a random key: pass "
                f"rngs={{{self.rng_collection!r}: key}} to apply.",
            )
        return self.make_rng(self.rng_collection)


class Linear(LayerModule):
    """``y = dot(expr, x, weight) + bias``: ``Linear("b... [c1->c2]", c2=64)``."""

    spec_type = LinearSpec


class Norm(LayerModule):
    """Normalisation over the marked axes, optionally with EMA statistics in ``"stats"``.

    ``Norm("b... [c]")`` is a layer norm, ``Norm("[b...] c", decay_rate=0.9)`` a batch norm.
    """

    spec_type = NormSpec


class Dropout(LayerModule):
    """Dropout with a mask of the marked shape: ``Dropout("[b] ... [c]", drop_rate=0.2)``.

    Draws from ``make_rng("dropout")`` in training; the identity in evaluation.
    """

    spec_type = DropoutSpec


class Activation(LayerModule):
    """A parameter-free activation of a spec file (``"gelu"``, ``"relu"``, ...)."""

    spec_type = ActivationSpec


class Sequential(LayerModule):
    """A :class:`~einx_typed.layers.SequentialSpec` run as one program.

    Variables are named as in the spec's table (``"0.weight"``, ``"1.mean"``), so they
    are ``Resolved.apply``'s arguments and PyTorch's ``state_dict`` keys as they are.
    """

    spec_type = SequentialSpec


_MODULES: Final[Mapping[str, type[LayerModule]]] = {
    cls.__name__: cls for cls in (Linear, Norm, Dropout, Activation, Sequential)
}


def from_spec(spec: LayerSpec, **kwargs: Any) -> LayerModule:
    """The module for any spec (``dtype``, ``param_dtype``, ``name``, ... as keywords)."""
    return _kit.module_class(spec, _MODULES, "einn")(spec, **kwargs)

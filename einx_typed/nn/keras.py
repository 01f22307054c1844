"""Keras 3 layers for einx_typed specs: ``Layer``, ``Linear``, ``Norm``, ``Dropout``, ``param``.

A layer holds a spec. ``build`` resolves it for the input shape (unknown lengths such as
the batch of ``keras.Input((16,))`` are probed) and creates the spec's variables with
``add_weight`` and Keras' own initialisers, under the spec's names (``weight``, ``bias``,
``scale``, and the non-trainable EMA statistics ``mean`` and ``var``); ``call`` runs the
layer's compiled program for the concrete input, on the backend Keras runs on (the JAX
program on ``KERAS_BACKEND=jax``, the PyTorch program on ``torch``, ``keras.ops``
elsewhere), so its output equals ``Resolved.apply``'s on the same tensors::

    import keras
    import einx_typed.nn.keras as einn

    model = keras.Sequential([
        keras.Input((8, 8)),
        einn.Linear("b [...->c]", c=256),
        einn.Norm("[b] c", decay_rate=0.9),
        einn.Dropout("[...]", drop_rate=0.1, seed=0),
        einn.Linear("b [...->c]", c=10),
    ])

``einn.Layer`` is the base class of the tutorial's own layers: its ``build`` runs ``call``
on zeros of the input shape, so that ``einn.param(self, name="weight")`` factories in the
einx ops create the variables. Importing this module makes every Keras layer a tensor
factory (``einx.add("b... [c]", x, self)``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Final, TypeAlias, cast, final

import attrs
import keras

import einx_typed.config
from einx_typed.errors import AxisSizeError, EinxError, OperationError, SpecError
from einx_typed.layers import (
    ActivationSpec,
    DropoutSpec,
    InitSpec,
    LayerSpec,
    LinearSpec,
    NormSpec,
    Resolved,
    SequentialSpec,
)
from einx_typed.nn import _kit
from einx_typed.ops import register_factory_adapter

__all__ = [
    "Activation",
    "Dropout",
    "Layer",
    "Linear",
    "Norm",
    "SpecLayer",
    "from_spec",
    "initializer",
    "param",
]

KerasInit: TypeAlias = InitSpec | str | float | keras.Initializer | Callable[..., Any]

_PACKAGE: Final = "einx_typed"
_KERAS_BACKEND: Final = keras.config.backend()
_PROGRAM_BACKEND: Final = _KERAS_BACKEND if _KERAS_BACKEND in ("jax", "torch") else "keras"
"""The backend whose program a layer runs: its tensors are the Keras backend's own."""


# --------------------------------------------------------------------------- initialisers


@final
class _KerasInitializers:
    """:class:`~einx_typed.nn._kit.Initializers` as ``keras.initializers`` objects."""

    def constant(self, value: float) -> keras.Initializer:
        return keras.initializers.Constant(value)

    def normal(self, mean: float, std: float) -> keras.Initializer:
        return keras.initializers.RandomNormal(mean=mean, stddev=std)

    def truncated_normal(self, mean: float, std: float) -> keras.Initializer:
        return keras.initializers.TruncatedNormal(mean=mean, stddev=std)  # cut at +-2 std


_INITIALIZERS: Final = _KerasInitializers()


def initializer(init: InitSpec, shape: Sequence[int]) -> keras.Initializer:
    """The ``keras.initializers`` object that draws ``init`` for a variable of ``shape``."""
    return _kit.framework_initializer(init, shape, _INITIALIZERS)


def _float_dtype(dtype: object, owner: str) -> str:
    name: str
    try:
        name = keras.backend.standardize_dtype(dtype)  # type: ignore[arg-type]
    except (ValueError, TypeError, AttributeError):
        name = "invalid"
    if not name.startswith(("float", "bfloat")):
        raise SpecError(
            f"{owner}: dtype must be a floating dtype (float16, bfloat16, float32, float64), "
            f"got {dtype!r}.",
            field="dtype",
        )
    return name


def _rng(generator: keras.random.SeedGenerator, like: Any) -> object:
    """A draw of ``generator`` as the program backend's random key or generator.

    JAX: the seed itself (a raw ``uint32[2]`` key); PyTorch: a ``torch.Generator`` seeded
    from it as Keras' own torch random functions do (``None`` for meta tensors, which have
    no generator); ``keras.ops``: the generator.
    """
    if _PROGRAM_BACKEND == "keras":
        return generator
    if _PROGRAM_BACKEND == "torch" and like.device.type == "meta":
        return None  # a symbolic call (output shape only): no draw, the generator stays
    seed = generator.next()
    if _PROGRAM_BACKEND == "jax":
        return seed
    import torch

    torch_generator = torch.Generator(device=like.device)
    torch_generator.manual_seed(int(seed[0] + seed[1]) & 0xFFFFFFFF)
    return torch_generator


# --------------------------------------------------------------------------- param


@final
class _ParamFactory:
    """A tensor factory that creates a layer's variable once and reads it afterwards."""

    __slots__ = ("dtype", "explicit_init", "layer", "name", "trainable")

    def __init__(
        self,
        layer: keras.Layer,
        name: str | None,
        init: KerasInit | None,
        dtype: str | None,
        trainable: bool,
    ) -> None:
        self.layer = layer
        self.name = name
        self.explicit_init = init
        self.dtype = dtype
        self.trainable = trainable

    def __call__(
        self,
        shape: Sequence[int],
        name: str | None = None,
        init: str | None = None,
        in_axis: Sequence[int] = (),
    ) -> Any:
        layer, name = self.layer, self.name or name
        if name is None:
            raise SpecError("einn.param: the op gives no default name; pass name=.")
        shape = tuple(int(d) for d in shape)
        existing = getattr(layer, name, None)
        if isinstance(existing, keras.Variable):
            if tuple(existing.shape) != shape:
                raise AxisSizeError(
                    f"einn.param: the op needs {name!r} of {type(layer).__name__} with shape "
                    f"{shape}, but it has shape {tuple(existing.shape)}.",
                    hint="Use one name per parameter, and inputs that fit the existing ones.",
                )
            return existing.value
        if existing is not None or layer.built:
            why = "an attribute of that name" if existing is not None else "been built"
            raise OperationError(
                f"einn.param cannot create the variable {name!r}: {type(layer).__name__} "
                f"{layer.name!r} has {why}.",
                hint="Create parameters in build() (einn.Layer runs call() there), under "
                "names that are no other attribute of the layer.",
            )
        value = initializer_of(self.explicit_init, op=init, in_axis=in_axis, shape=shape)
        variable = layer.add_weight(
            shape=shape,
            initializer=value,
            dtype=self.dtype or layer.variable_dtype,
            trainable=self.trainable,
            name=name,
        )
        setattr(layer, name, variable)
        return variable.value


def initializer_of(
    init: KerasInit | None, *, op: str | None, in_axis: Sequence[int], shape: Sequence[int]
) -> keras.Initializer | Callable[..., Any]:
    """A user's ``init=`` as what ``add_weight`` takes (``None``: the op's default)."""
    try:
        chosen = _kit.coerce_init(init, op=op, in_axis=in_axis)
    except SpecError:
        if not isinstance(init, str):
            raise
        try:  # a Keras initialiser's name ("glorot_uniform")
            found: keras.Initializer | None = keras.initializers.get(init)
        except ValueError:
            found = None
        if found is None:
            raise
        return found
    if isinstance(chosen, _kit.INIT_SPEC_TYPES):
        return initializer(chosen, shape)
    chosen_callable: Callable[..., Any] = chosen
    return chosen_callable


def param(
    layer: keras.Layer,
    name: str | None = None,
    init: KerasInit | None = None,
    dtype: str | None = None,
    trainable: bool = True,
) -> _ParamFactory:
    """A tensor factory for a variable of ``layer``: ``einn.param(self, name="weight")``.

    The variable is created once (in ``build``) with ``add_weight`` and kept as the
    attribute ``name`` (default: the op's, ``weight``/``bias``/``scale``); later calls read
    it. ``init``: a Keras initialiser or its name, a number, an ``InitSpec`` or an op name
    (default: the op's own); ``dtype``: default the layer's variable dtype.
    """
    if not isinstance(layer, keras.Layer):
        raise OperationError(f"einn.param expects a keras.Layer, got {type(layer).__name__}.")
    if init is not None and not (isinstance(init, str) or callable(init)):
        _kit.coerce_init(init, op=None)  # raises for anything but a number or InitSpec
    checked = None if dtype is None else _float_dtype(dtype, "einn.param")
    return _ParamFactory(layer, name, init, checked, bool(trainable))


def _is_layer(x: object) -> bool:
    return isinstance(x, keras.Layer)


def _layer_factory(x: object) -> _ParamFactory:
    return param(cast(keras.Layer, x))


register_factory_adapter(_is_layer, _layer_factory)


# --------------------------------------------------------------------------- layers


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Layer(keras.Layer):
    """A Keras layer whose ``build`` runs ``call`` on zeros of the input shape.

    So ``einn.param`` factories in ``call`` create the variables (unknown lengths, such as
    a symbolic batch, take a probe length); ``call`` gets ``is_initializing=True`` if it
    takes that argument. Symbolic calls resolve their output shape the same way, so
    ``call`` only ever sees concrete shapes.
    """

    def build(self, input_shape: Any) -> None:
        extra = {}
        if "is_initializing" in inspect.signature(self.call).parameters:
            extra["is_initializing"] = True
        errors: list[EinxError] = []
        for length in _kit.PROBE_LENGTHS:
            zeros = keras.tree.map_shape_structure(
                functools.partial(_zeros, length=length, dtype=self.compute_dtype), input_shape
            )
            try:
                self.call(zeros, **extra)
                return
            except EinxError as error:
                errors.append(error)
                if not _has_unknown(input_shape):
                    break
        raise errors[0]

    def compute_output_spec(self, *args: Any, **kwargs: Any) -> Any:
        if not _has_unknown([getattr(a, "shape", ()) for a in keras.tree.flatten(args)]):
            return super().compute_output_spec(*args, **kwargs)
        found: list[Any] = []
        errors: list[EinxError] = []
        for length in _kit.PROBE_LENGTHS:
            probed = keras.tree.map_structure(functools.partial(_probe_tensor, length=length), args)
            try:
                found.append(super().compute_output_spec(*probed, **kwargs))
            except EinxError as error:
                errors.append(error)
            if len(found) == 2:
                return keras.tree.map_structure(_merge_specs, *found)
        raise errors[0]


def _zeros(shape: Sequence[int | None], *, length: int, dtype: str) -> Any:
    return keras.ops.zeros(_kit.probe_shape(shape, length), dtype)


def _has_unknown(shapes: Any) -> bool:
    return any(d is None for d in keras.tree.flatten(shapes))


def _probe_tensor(x: Any, *, length: int) -> Any:
    if not isinstance(x, keras.KerasTensor):
        return x
    return keras.KerasTensor(_kit.probe_shape(x.shape, length), dtype=x.dtype)


def _merge_specs(one: keras.KerasTensor, two: keras.KerasTensor) -> keras.KerasTensor:
    shape = tuple(a if a == b else None for a, b in zip(one.shape, two.shape))
    return keras.KerasTensor(shape, dtype=one.dtype)


@final
@attrs.frozen
class _Entry:
    """A layer's program for one input shape, dtype and mode, with what its call needs."""

    call: _kit.LayerCall
    params: tuple[str, ...]
    state: tuple[str, ...]
    random: bool


_KerasArgs: TypeAlias = dict[str, Any]
_LAYER_ARGUMENTS: Final = ("name", "dtype", "trainable", "autocast")


class SpecLayer(Layer):
    """A Keras layer that runs one layer spec; variables follow the spec's table.

    Constructed like the spec (``Norm("b [s...] (g [c])", g=8)``, or from a spec object),
    plus Keras' ``name``, ``dtype`` (a dtype policy such as ``"mixed_bfloat16"``; default:
    the global policy), ``trainable`` and ``autocast``. Variables are created by ``build``
    from the input shape; EMA statistics are float32 variables (``autocast=False``, as
    ``keras.layers.BatchNormalization`` keeps them) updated by training calls.
    """

    spec_type: ClassVar[type[LayerSpec]]
    spec: LayerSpec
    seed_generator: keras.random.SeedGenerator  # layers that draw random numbers

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        keyword = inspect.Parameter.KEYWORD_ONLY
        fields = _kit.constructor_signature(cls.spec_type).parameters
        extra = [
            inspect.Parameter(name, keyword, default=None)
            for name in _LAYER_ARGUMENTS
            if name not in fields  # Activation: its own name is positional only
        ]
        signature = _kit.constructor_signature(cls.spec_type, extra)
        cls.__signature__ = signature  # type: ignore[attr-defined]  # for help()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        keras_args: _KerasArgs = {k: kwargs.pop(k) for k in _LAYER_ARGUMENTS if k in kwargs}
        spec = _kit.spec_from_arguments(self.spec_type, args, kwargs)
        label = _kit.describe_spec(spec)
        try:
            super().__init__(**keras_args)
        except (ValueError, TypeError) as error:
            raise SpecError(f"{label}: {error}", field="dtype") from error
        _float_dtype(self.variable_dtype, label)
        _float_dtype(self.compute_dtype, label)
        self.spec = spec
        self._calls: _kit.ShapeCache[tuple[Any, ...], _Entry] = _kit.ShapeCache()

    def _naming(self) -> AbstractContextManager[None]:
        return _kit.naming_layer(_kit.describe_spec(self.spec))

    # ----------------------------------------------------------------- Keras protocol

    def build(self, input_shape: Any) -> None:
        with self._naming():
            resolved = _kit.resolve_partial(
                self.spec, _shape_of(input_shape), self.variable_dtype
            ).resolved
        for name, spec in (*resolved.params.items(), *resolved.state.items()):
            variable = self.add_weight(
                shape=spec.shape,
                initializer=initializer(spec.init, spec.shape),
                dtype=spec.dtype,
                trainable=spec.trainable,
                autocast=spec.trainable,
                name=name,
            )
            setattr(self, name, variable)

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        shape = _shape_of(input_shape)
        with self._naming():
            partial = _kit.resolve_partial(self.spec, shape, self.variable_dtype)
            if self.built:
                self._check_variables(partial.resolved, shape)
        return partial.output_shape

    def compute_output_spec(self, inputs: Any, training: bool | None = None) -> Any:
        shape = _shape_of(inputs.shape)
        self._check_dtype(keras.backend.standardize_dtype(inputs.dtype), shape)
        output_shape = self.compute_output_shape(shape)
        return keras.KerasTensor(output_shape, dtype=self.compute_dtype)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        training = bool(training)
        entry = self._calls.entries.get((inputs.shape, inputs.dtype, training))
        if entry is None:
            entry = self._entry(inputs, training)
        params = {name: getattr(self, name).value for name in entry.params}
        state = {name: getattr(self, name).value for name in entry.state}
        rng = _rng(self.seed_generator, inputs) if entry.random else None
        outputs = entry.call.run(inputs, params, state, rng)
        y = outputs[0]
        if entry.state:
            if entry.call.writes_state:
                for name, value in zip(entry.state, outputs[1:]):
                    getattr(self, name).assign(value)
            if y.dtype != inputs.dtype:  # float32 statistics, half-precision input
                y = keras.ops.cast(y, inputs.dtype)
        return y

    def _entry(self, inputs: Any, training: bool) -> _Entry:
        shape = tuple(int(d) for d in inputs.shape)
        self._check_dtype(keras.backend.standardize_dtype(inputs.dtype), shape)
        with self._naming():
            resolved = self.spec.resolve(shape, self.variable_dtype)
            self._check_variables(resolved, shape)
        call = _kit.layer_call(resolved, _PROGRAM_BACKEND, training=training, initializing=False)
        entry = _Entry(
            call=call,
            params=tuple(resolved.params),
            state=tuple(resolved.state),
            random=_kit.reads_rng(resolved, training=training),
        )
        return self._calls.add((inputs.shape, inputs.dtype, training), entry)

    def _check_dtype(self, dtype: str, shape: tuple[int | None, ...]) -> None:
        floating = dtype.startswith(("float", "bfloat"))
        _kit.check_input_dtype(self.spec, floating=floating, dtype=dtype, input_shape=_shown(shape))

    def _check_variables(self, resolved: Resolved, shape: Sequence[int | None]) -> None:
        for name, spec in (*resolved.params.items(), *resolved.state.items()):
            variable = getattr(self, name, None)
            actual = tuple(variable.shape) if isinstance(variable, keras.Variable) else None
            _kit.check_variable(
                self.spec, name, actual, expected=spec.shape, input_shape=_shown(shape)
            )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["spec"] = einx_typed.config.to_dict(self.spec)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        config = dict(config)
        spec = einx_typed.config.from_dict(config.pop("spec"))
        return cls(spec, **config)


def _shown(shape: Sequence[int | None]) -> tuple[int, ...]:
    """A shape for an error message: unknown lengths as -1."""
    return tuple(-1 if d is None else d for d in shape)


def _shape_of(shape: Any) -> tuple[int | None, ...]:
    """A Keras input shape (tuple or list of ints and ``None``) as a tuple."""
    if not isinstance(shape, Sequence) or not all(
        d is None or (isinstance(d, int) and not isinstance(d, bool)) for d in shape
    ):
        raise OperationError(
            f"einx_typed Keras layers take one tensor as input; got the shape {shape!r}."
        )
    return tuple(shape)


@final
@keras.saving.register_keras_serializable(package=_PACKAGE)
class Linear(SpecLayer):
    """``y = dot(expr, x, weight) + bias``: ``Linear("b... [c1->c2]", c2=64)``."""

    spec_type = LinearSpec


@final
@keras.saving.register_keras_serializable(package=_PACKAGE)
class Norm(SpecLayer):
    """Normalisation over the marked axes, optionally with EMA statistics.

    ``Norm("b... [c]")`` is a layer norm, ``Norm("[b...] c", decay_rate=0.9)`` a batch norm
    (batch statistics and an EMA update in training, the EMA statistics otherwise).
    """

    spec_type = NormSpec


@final
@keras.saving.register_keras_serializable(package=_PACKAGE)
class Dropout(SpecLayer):
    """Dropout with a mask of the marked shape: ``Dropout("[b] ... [c]", drop_rate=0.2)``.

    Draws from the layer's ``keras.random.SeedGenerator(seed)`` (``seed=`` keyword), in
    training calls only.
    """

    spec_type = DropoutSpec

    def __init__(self, *args: Any, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise SpecError(f"{_kit.describe_spec(self.spec)}: seed must be an int or None.")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}


@final
@keras.saving.register_keras_serializable(package=_PACKAGE)
class Activation(SpecLayer):
    """A parameter-free activation of a spec file (``"gelu"``, ``"relu"``, ...)."""

    spec_type = ActivationSpec


_LAYERS: Final[dict[str, type[SpecLayer]]] = {
    cls.__name__: cls for cls in (Linear, Norm, Dropout, Activation)
}


def from_spec(spec: LayerSpec, **kwargs: Any) -> keras.Layer:
    """The Keras layer for any spec; a ``SequentialSpec`` gives a ``keras.Sequential``.

    ``kwargs`` are Keras layer arguments (``name``, ``dtype``, ...; ``seed`` for dropout).
    The layers of a sequential are named ``"0"``, ``"1"``, ... after their position, so a
    variable's path (``"sequential/0/weight"``) corresponds to the spec's ``"0.weight"``.
    """
    if isinstance(spec, SequentialSpec):
        name, seed = kwargs.pop("name", None), kwargs.pop("seed", None)
        layers = [
            from_spec(item, name=str(i), seed=None if seed is None else seed + i, **kwargs)
            for i, item in enumerate(spec.layers)
        ]
        return keras.Sequential(layers, name=name)
    cls = _kit.module_class(spec, _LAYERS, "einn")
    if cls is not Dropout:
        kwargs.pop("seed", None)
    return cls(spec, **kwargs)

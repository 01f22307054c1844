"""PyTorch modules for einx_typed layer specs: ``Linear``, ``Norm``, ``Dropout``, ``param``.

A module holds a spec; for each new input shape the spec resolves into a parameter table
and a compiled program (the layer's backend primitives, traced once), the module creates
the parameters with PyTorch's own initialisers, runs the program and copies returned EMA
state into its buffers::

    import einx_typed.nn.torch as einn

    layer = einn.Linear("b... [c1->c2]", c1=32, c2=64)   # shapes known: parameters exist now
    lazy = einn.Norm("b [s...] (g [c])", g=8)            # created at the first forward,
    lazy.materialize((16, 56, 56, 32))                   # ... or explicitly from a shape

Importing this module lets ``UninitializedParameter``/``UninitializedBuffer`` act as tensor
factories in the functional ops (``einx.dot("b... [c1->c2]", x, self.w, c2=64)``).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Final, TypeAlias, final

import attrs
import torch
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedBuffer, UninitializedParameter

from einx_typed.errors import AxisSizeError, OperationError, SpecError
from einx_typed.layers import (
    ActivationSpec,
    DropoutSpec,
    InitSpec,
    LayerSpec,
    LinearSpec,
    NormSpec,
    ParamSpec,
    Resolved,
    SequentialSpec,
    checked_input_shape,
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
    "init_tensor",
    "param",
]

DTypeLike: TypeAlias = str | torch.dtype
TorchInit: TypeAlias = InitSpec | str | float | Callable[[torch.Tensor], Any]
_Fill: TypeAlias = Callable[[torch.Tensor], Any]

_LOCK: Final = threading.RLock()
"""Serialises the rare slow path (resolve, materialise, compile) of every module."""


# --------------------------------------------------------------------------- initialisers


@final
class _TorchInitializers:
    """:class:`~einx_typed.nn._kit.Initializers` as in-place ``torch.nn.init`` fills."""

    def constant(self, value: float) -> _Fill:
        return lambda t: torch.nn.init.constant_(t, value)

    def normal(self, mean: float, std: float) -> _Fill:
        return lambda t: torch.nn.init.normal_(t, mean=mean, std=std)

    def truncated_normal(self, mean: float, std: float) -> _Fill:
        # torch's bounds are absolute: cut at mean +- 2 std.
        low, high = mean - 2.0 * std, mean + 2.0 * std
        return lambda t: torch.nn.init.trunc_normal_(t, mean=mean, std=std, a=low, b=high)


_INITIALIZERS: Final = _TorchInitializers()


def init_tensor(tensor: torch.Tensor, init: InitSpec) -> None:
    """Fill ``tensor`` in place from ``init`` with ``torch.nn.init``'s functions."""
    with torch.no_grad():
        _kit.framework_initializer(init, tuple(tensor.shape), _INITIALIZERS)(tensor)


def _is_uninitialized(x: object) -> bool:
    if not isinstance(x, UninitializedParameter | UninitializedBuffer):
        return False
    # Under torch.compile, dynamo hands fake tensors of materialised ones; never treat
    # those as placeholders.
    return not isinstance(x, torch._subclasses.FakeTensor)


def _new_placeholder(
    is_parameter: bool,
    dtype: torch.dtype,
    *,
    device: torch.device | None = None,
    requires_grad: bool | None = None,
) -> torch.Tensor:
    """A fresh ``UninitializedParameter`` (trainable) or ``UninitializedBuffer``."""
    # torch's .pyi stubs lack the device/dtype arguments that the classes accept.
    kind: Any = UninitializedParameter if is_parameter else UninitializedBuffer
    if requires_grad is None:
        requires_grad = is_parameter
    return kind(requires_grad=requires_grad, device=device, dtype=dtype)


def _torch_dtype(dtype: DTypeLike) -> torch.dtype:
    resolved = dtype if isinstance(dtype, torch.dtype) else getattr(torch, str(dtype), None)
    if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
        raise SpecError(
            f"dtype must be a floating torch.dtype or the name of one (float16, bfloat16, "
            f"float32, float64), got {dtype!r}.",
            field="dtype",
        )
    return resolved


def _materialize(placeholder: torch.Tensor, shape: tuple[int, ...]) -> None:
    """Give an uninitialised parameter or buffer its storage, outside inference mode.

    A first forward may run inside ``torch.inference_mode()``; a parameter created there
    would be an inference tensor that can never take part in training afterwards.
    """
    with torch.no_grad(), torch.inference_mode(False):
        placeholder.materialize(shape)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


# --------------------------------------------------------------------------- param


@final
class _ParamFactory:
    """A tensor factory that materialises an uninitialised parameter or buffer."""

    __slots__ = ("explicit_init", "target")

    def __init__(self, target: torch.Tensor, explicit_init: TorchInit | None) -> None:
        self.target = target
        self.explicit_init = explicit_init

    def __call__(
        self, shape: Sequence[int], init: str | None = None, in_axis: Sequence[int] = ()
    ) -> torch.Tensor:
        target = self.target
        shape = tuple(int(d) for d in shape)
        with _LOCK:
            if not _is_uninitialized(target):
                if tuple(target.shape) != shape:
                    raise AxisSizeError(
                        f"einn.param: the op needs a tensor of shape {shape}, but the parameter "
                        f"was already materialised with shape {tuple(target.shape)}.",
                        hint="Use one uninitialised parameter per place it is used.",
                    )
                return target
            chosen = _kit.coerce_init(self.explicit_init, op=init, in_axis=in_axis)
            _materialize(target, shape)
            if isinstance(chosen, _kit.INIT_SPEC_TYPES):
                init_tensor(target, chosen)
            else:
                with torch.no_grad():
                    chosen(target)
        return target


def param(x: torch.Tensor, init: TorchInit | None = None) -> Any:
    """A tensor factory for an uninitialised parameter or buffer; ``x`` itself otherwise.

    ``einx.add("b... [c]", x, einn.param(self.b, init=0.5))`` materialises ``self.b`` with the
    solved shape and fills it from ``init``: a ``torch.nn.init`` function (called on the
    tensor), a number (constant), an :data:`~einx_typed.layers.InitSpec`, or an op name;
    by default the op's own (zeros for ``add``, LeCun normal for ``dot``, ...).
    Dtype and name come from the placeholder and its attribute.
    """
    if _is_uninitialized(x):
        return _ParamFactory(x, init)
    if isinstance(x, torch.Tensor):
        return x
    raise OperationError(
        f"einn.param expects a torch UninitializedParameter, UninitializedBuffer or tensor, "
        f"got {type(x).__name__}."
    )


register_factory_adapter(_is_uninitialized, param)


# ---------------------------------------------------------------------- torch.compile


@final
class _CompileEntry(LazyModuleMixin, torch.nn.Module):  # type: ignore[misc]
    """How a layer's forward enters a ``torch.compile`` trace.

    Dynamo treats a ``LazyModuleMixin`` as a lazy module: before it traces a call of one,
    it calls the module's ``_infer_parameters`` eagerly, outside the trace (on fake
    tensors). Through this entry a layer meeting a new input shape under
    ``torch.compile``, or compiled before its first forward, is resolved and materialised
    before tracing, top-level or nested in any model; the traced code then only runs the
    layer's program, and ``fullgraph=True`` holds. Eager calls never come here.
    LazyModuleMixin's own __init__ (torch's lazy-module hooks) is skipped.
    """

    def __init__(self, owner: LayerModule) -> None:
        torch.nn.Module.__init__(self)
        object.__setattr__(self, "_owner", owner)

    @property
    def _initialize_hook(self) -> bool:
        return True  # what dynamo's lazy-module check looks for

    def _infer_parameters(
        self, module: torch.nn.Module, args: Sequence[Any], kwargs: Mapping[str, Any] | None = None
    ) -> None:
        if args and isinstance(args[0], torch.Tensor):
            x = args[0]
            owner: LayerModule = self._owner
            owner._call_for(torch.Size([int(d) for d in x.shape]), x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Programs need static sizes: under dynamic shapes this specialises (with guards).
        owner: LayerModule = self._owner
        return owner._run(x, torch.Size([int(d) for d in x.shape]))


# --------------------------------------------------------------------------- modules


@final
@attrs.frozen
class _Placeholder:
    """A picklable, deep-copyable stand-in for an uninitialised parameter or buffer."""

    is_parameter: bool
    dtype: torch.dtype
    device: torch.device
    requires_grad: bool

    @classmethod
    def of(cls, x: torch.Tensor) -> _Placeholder:
        return cls(isinstance(x, UninitializedParameter), x.dtype, x.device, x.requires_grad)

    def create(self) -> torch.Tensor:
        return _new_placeholder(
            self.is_parameter, self.dtype, device=self.device, requires_grad=self.requires_grad
        )


_CallKey: TypeAlias = tuple[torch.Size, torch.dtype, bool, bool]
"""Input shape and dtype, training, init phase."""


class LayerModule(torch.nn.Module):  # type: ignore[misc]
    """A ``torch.nn.Module`` that runs one layer spec; parameters follow the spec's table.

    Constructed like the spec (``Norm("b [s...] (g [c])", g=8)``, or from a spec object),
    plus ``dtype``.  Parameters whose shapes the spec fixes without an input exist after
    construction; the others are ``UninitializedParameter``/``UninitializedBuffer``
    placeholders until the first forward, :meth:`materialize` or ``load_state_dict``.
    """

    spec_type: ClassVar[type[LayerSpec]]
    spec: LayerSpec

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dtype = inspect.Parameter(
            "dtype", inspect.Parameter.KEYWORD_ONLY, default="float32", annotation=DTypeLike
        )
        cls.__signature__ = _kit.constructor_signature(cls.spec_type, [dtype])  # for help()

    def __init__(self, *args: Any, dtype: DTypeLike = "float32", **kwargs: Any) -> None:
        super().__init__()
        spec = _kit.spec_from_arguments(self.spec_type, args, kwargs)
        torch_dtype = _torch_dtype(dtype)
        # Not a submodule (no parameters, not in state_dict or children()): see forward.
        object.__setattr__(self, "_compile_entry", _CompileEntry(self))
        self.spec = spec
        self._calls: _kit.ShapeCache[_CallKey, _kit.LayerCall] = _kit.ShapeCache()
        for name, trainable in spec.variables():
            self._register_placeholder(name, trainable, torch_dtype)
        # Init phase (NOTATION 5.4): the first forward of a layer with state normalises with
        # the initial EMA statistics and leaves them unchanged; a checkpoint ends it too.
        self._initializing = bool(self._buffers)
        tables = spec.resolve_params(_dtype_name(torch_dtype))
        if tables is not None:
            self._adopt(*tables, input_shape=None)

    # ----------------------------------------------------------------- forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer; train/eval mode comes from ``self.training``."""
        if not isinstance(x, torch.Tensor):
            raise OperationError(
                f"{_kit.describe_spec(self.spec)} expects a torch.Tensor as input, got "
                f"{type(x).__name__}.",
                hint="Convert it first, e.g. torch.as_tensor(x).",
            )
        if torch.compiler.is_compiling():
            # A call of a lazy module: dynamo first runs its hook, which resolves and
            # materialises for x's shape eagerly, so no planning code enters the trace.
            return self._compile_entry(x)
        return self._run(x, x.shape)

    def _run(self, x: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        initializing = self._initializing
        call = self._calls.entries.get((shape, x.dtype, self.training, initializing))
        if call is None:
            call = self._call_for(shape, x.dtype)
        params, buffers = self._parameters, self._buffers
        for table, shapes in ((params, call.param_shapes), (buffers, call.state_shapes)):
            for name, needed in shapes:
                tensor = table.get(name)
                if tensor is None or tensor.shape != needed:
                    actual = None if tensor is None else tensor.shape
                    _kit.check_variable(self.spec, name, actual, expected=needed, input_shape=shape)
        outputs = call.run(x, params, buffers, None)
        if call.writes_state:
            # The EMA usually updated the buffers in place already (state_in_place); new
            # state is gradient-free (the ema primitive detaches it): no no_grad() needed.
            stored = [buffers[name] for name, _ in call.state_shapes]
            pairs = [(s, new) for s, new in zip(stored, outputs[1:]) if s is not new]
            if pairs:
                torch._foreach_copy_([s for s, _ in pairs], [new for _, new in pairs])
        if initializing:
            self._initializing = False
        return outputs[0]

    def _call_for(self, shape: torch.Size, dtype: torch.dtype) -> _kit.LayerCall:
        """Resolve, materialise and compile for inputs of ``shape`` and ``dtype`` (cached)."""
        key = (shape, dtype, self.training, self._initializing)
        with _LOCK:
            call = self._calls.entries.get(key)
            if call is not None:
                return call
            floating = dtype.is_floating_point or dtype.is_complex
            _kit.check_input_dtype(
                self.spec, floating=floating, dtype=_dtype_name(dtype), input_shape=shape
            )
            resolved = self._prepare(tuple(int(d) for d in shape))
            call = _kit.layer_call(
                resolved,
                "torch",
                training=self.training,
                initializing=self._initializing,
                state_in_place=True,
            )
            return self._calls.add(key, call)

    def materialize(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """Create every parameter for inputs of ``input_shape``; returns the output shape."""
        kind = type(self).__name__
        shape = checked_input_shape(input_shape, f"{kind}.materialize", "module.materialize")
        with _LOCK:
            return tuple(self._prepare(shape).output_shape)

    @property
    def is_materialized(self) -> bool:
        """Whether every parameter and buffer holds data."""
        tensors = (*self._parameters.values(), *self._buffers.values())
        return not any(_is_uninitialized(t) for t in tensors)

    def _prepare(self, input_shape: tuple[int, ...]) -> Resolved:
        resolved = self.spec.resolve(input_shape, dtype=_dtype_name(self._variable_dtype()))
        self._adopt(resolved.params, resolved.state, input_shape=input_shape)
        return resolved

    # ----------------------------------------------------------------- variables

    def _register_placeholder(self, name: str, trainable: bool, dtype: torch.dtype) -> None:
        if trainable:
            self.register_parameter(name, _new_placeholder(True, dtype))
        else:
            self.register_buffer(name, _new_placeholder(False, dtype))

    def _variable_dtype(self) -> torch.dtype:
        for tensor in (*self._parameters.values(), *self._buffers.values()):
            if tensor is not None:
                return tensor.dtype
        return torch.get_default_dtype()

    def _adopt(
        self,
        params: Mapping[str, ParamSpec],
        state: Mapping[str, ParamSpec],
        *,
        input_shape: tuple[int, ...] | None,
    ) -> None:
        """Create what ``params``/``state`` need, or check that the existing shapes fit."""
        needed = {**params, **state}
        for name, spec in needed.items():
            current = self._parameters.get(name, self._buffers.get(name))
            if current is None:
                self._register_placeholder(name, spec.trainable, self._variable_dtype())
                current = self._parameters.get(name, self._buffers.get(name))
            if _is_uninitialized(current):
                _materialize(current, tuple(spec.shape))
                init_tensor(current, spec.init)
            else:
                _kit.check_param_shape(
                    self.spec,
                    name,
                    expected=spec.shape,
                    actual=tuple(current.shape),
                    input_shape=input_shape or (),
                )

    # ----------------------------------------------------------------- torch protocol

    def extra_repr(self) -> str:
        return _kit.describe_spec(self.spec)

    def _save_to_state_dict(
        self, destination: dict[str, Any], prefix: str, keep_vars: bool
    ) -> None:
        # Placeholders are saved as they are (as torch's lazy modules do): detaching one raises.
        for table in (self._parameters, self._buffers):
            for name, tensor in table.items():
                if tensor is None or name in self._non_persistent_buffers_set:
                    continue
                keep = keep_vars or _is_uninitialized(tensor)
                destination[prefix + name] = tensor if keep else tensor.detach()

    def _load_from_state_dict(
        self,
        state_dict: Mapping[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # A module that has not seen an input takes its shapes from the checkpoint; the
        # first forward then checks them against the spec.
        loaded = False
        for table in (self._parameters, self._buffers):
            for name, tensor in table.items():
                value = state_dict.get(prefix + name)
                if value is None:
                    continue
                loaded = True
                if _is_uninitialized(tensor) and not _is_uninitialized(value):
                    _materialize(tensor, tuple(value.shape))
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
        if loaded:
            self._initializing = False
            self._calls.clear()

    def __getstate__(self) -> dict[str, Any]:
        # deepcopy and pickle go through here: placeholders cannot be copied by torch.
        state: dict[str, Any] = super().__getstate__()
        for key in ("_parameters", "_buffers"):
            state[key] = {
                name: _Placeholder.of(t) if _is_uninitialized(t) else t
                for name, t in state[key].items()
            }
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key in ("_parameters", "_buffers"):
            state[key] = {
                name: t.create() if isinstance(t, _Placeholder) else t
                for name, t in state[key].items()
            }
        super().__setstate__(state)
        object.__setattr__(self, "_compile_entry", _CompileEntry(self))


@final
class Linear(LayerModule):
    """``y = dot(expr, x, weight) + bias``: ``Linear("b... [c1->c2]", c2=64)``."""

    spec_type = LinearSpec


@final
class Norm(LayerModule):
    """Normalisation over the marked axes, optionally with EMA statistics.

    ``Norm("b... [c]")`` is a layer norm, ``Norm("[b...] c", decay_rate=0.9)`` a batch norm.
    """

    spec_type = NormSpec


@final
class Dropout(LayerModule):
    """Dropout with a mask of the marked shape: ``Dropout("[b] ... [c]", drop_rate=0.2)``.

    Randomness comes from torch's global generator; the identity in eval mode.
    """

    spec_type = DropoutSpec


@final
class Activation(LayerModule):
    """A parameter-free activation of a spec file (``"gelu"``, ``"relu"``, ...)."""

    spec_type = ActivationSpec


@final
class Sequential(torch.nn.Sequential):  # type: ignore[misc]
    """One submodule per item of a :class:`~einx_typed.layers.SequentialSpec`.

    Submodules are named ``"0"``, ``"1"``, ... so ``state_dict`` keys equal the spec's
    parameter names (``"0.weight"``).
    """

    def __init__(self, spec: SequentialSpec, dtype: DTypeLike = "float32") -> None:
        super().__init__(*(from_spec(item, dtype=dtype) for item in spec.layers))
        self.spec = spec

    def materialize(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """Create every submodule's parameters for ``input_shape``; returns the output shape."""
        shape = checked_input_shape(input_shape, "Sequential.materialize", "module.materialize")
        for module in self:
            shape = module.materialize(shape)
        return shape

    @property
    def is_materialized(self) -> bool:
        """Whether every submodule's parameters hold data."""
        return all(module.is_materialized for module in self)


_MODULES: Final[Mapping[str, type[LayerModule]]] = {
    cls.__name__: cls for cls in (Linear, Norm, Dropout, Activation)
}


def from_spec(spec: LayerSpec, dtype: DTypeLike = "float32") -> LayerModule | Sequential:
    """The module for any spec; a ``SequentialSpec`` gives a :class:`Sequential`."""
    if isinstance(spec, SequentialSpec):
        return Sequential(spec, dtype=dtype)
    return _kit.module_class(spec, _MODULES, "einn")(spec, dtype=dtype)

"""PyTorch modules for einx_typed layer specs: ``Linear``, ``Norm``, ``Dropout``, ``param``.

A module holds a spec and nothing else of notation: the spec resolves each new input
shape (cached per shape), the module creates the resolved parameters with PyTorch's own
initialisers, calls ``resolved.apply`` and copies returned EMA state into its buffers::

    import einx_typed.nn.torch as einn

    layer = einn.Linear("b... [c1->c2]", c1=32, c2=64)   # shapes known: parameters exist now
    lazy = einn.Norm("b [s...] (g [c])", g=8)            # created at the first forward,
    lazy.materialize((16, 56, 56, 32))                   # ... or explicitly from a shape

Importing this module lets ``UninitializedParameter``/``UninitializedBuffer`` act as tensor
factories in the functional ops (``einx.dot("b... [c1->c2]", x, self.w, c2=64)``).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeAlias, final

import attrs
import torch
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedBuffer, UninitializedParameter

from einx_typed.errors import AxisSizeError, OperationError, SpecError
from einx_typed.layers import (
    ActivationSpec,
    AxisValue,
    Constant,
    DropoutSpec,
    InitSpec,
    LayerSpec,
    LecunTruncatedNormal,
    LinearSpec,
    Normal,
    NormSpec,
    Ones,
    ParamSpec,
    Resolved,
    SequentialSpec,
    TruncatedNormal,
    Zeros,
    init_for_op,
)
from einx_typed.layers._base import checked_input_shape
from einx_typed.nn._common import (
    SingleLayerSpec,
    check_param_shape,
    declared_variables,
    describe_spec,
    static_param_tables,
)
from einx_typed.nn._torch_replay import record
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

_MAX_CACHED_SHAPES: Final = 32
"""Resolved plans kept per module; the oldest input shape is dropped beyond this."""


# --------------------------------------------------------------------------- initialisers


def init_tensor(tensor: torch.Tensor, init: InitSpec) -> None:
    """Fill ``tensor`` in place from ``init`` with ``torch.nn.init``'s functions."""
    with torch.no_grad():
        match init:
            case Zeros():
                torch.nn.init.zeros_(tensor)
            case Ones():
                torch.nn.init.ones_(tensor)
            case Constant(value=value):
                torch.nn.init.constant_(tensor, value)
            case Normal(std=std, mean=mean):
                torch.nn.init.normal_(tensor, mean=mean, std=std)
            case TruncatedNormal(std=std, mean=mean):
                torch.nn.init.trunc_normal_(
                    tensor, mean=mean, std=std, a=mean - 2.0 * std, b=mean + 2.0 * std
                )
            case LecunTruncatedNormal():
                # Bounds are absolute in torch: cut at +-2 sigma, not at +-2.
                sigma = init.stddev(tuple(tensor.shape))
                torch.nn.init.trunc_normal_(tensor, mean=0.0, std=sigma, a=-2 * sigma, b=2 * sigma)


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
    if isinstance(dtype, torch.dtype):
        return dtype
    resolved = getattr(torch, str(dtype), None) if isinstance(dtype, str) else None
    if not isinstance(resolved, torch.dtype):
        raise SpecError(
            f"dtype must be a torch.dtype or the name of one (such as 'float32'), got {dtype!r}."
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


# ---------------------------------------------------------------------- torch.compile


@final
class _CompileEntry(LazyModuleMixin, torch.nn.Module):  # type: ignore[misc]
    """How a layer's forward enters a ``torch.compile`` trace.

    Dynamo treats a ``LazyModuleMixin`` as a lazy module: before it traces a call of one,
    it calls the module's ``_infer_parameters`` eagerly, outside the trace (on fake
    tensors). Through this entry a layer meeting a new input shape under
    ``torch.compile``, or compiled before its first forward, is resolved and materialised
    before tracing, top-level or nested in any model; the traced code then only replays
    a recording or runs the resolved layer, and ``fullgraph=True`` holds. Eager calls
    never come here. LazyModuleMixin's own __init__ (torch's lazy-module hooks) is skipped.
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
            owner._prepare_for(tuple(int(d) for d in x.shape), x.dtype, x.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Plans need static sizes: under dynamic shapes this specialises (with guards).
        owner: LayerModule = self._owner
        return owner._run(x, torch.Size([int(d) for d in x.shape]))


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
        if not _is_uninitialized(target):
            if tuple(target.shape) != shape:
                raise AxisSizeError(
                    f"einn.param: the op needs a tensor of shape {shape}, but the parameter "
                    f"was already materialised with shape {tuple(target.shape)}.",
                    hint="Use one uninitialised parameter per place it is used.",
                )
            return target
        chosen = self.explicit_init if self.explicit_init is not None else init
        if chosen is None:
            raise OperationError(
                "einn.param: this op gives no default initialiser for the parameter.",
                hint="Pass init= (a torch.nn.init function, a number or an InitSpec).",
            )
        _materialize(target, shape)
        _initialize(target, chosen, in_axis)
        return target


def _initialize(tensor: torch.Tensor, init: TorchInit, in_axis: Sequence[int]) -> None:
    if isinstance(init, str):
        init_tensor(tensor, init_for_op(init, in_axis=in_axis))
    elif isinstance(init, bool):
        raise SpecError(f"einn.param: init must not be a bool, got {init!r}.")
    elif isinstance(init, int | float):
        with torch.no_grad():
            torch.nn.init.constant_(tensor, float(init))
    elif isinstance(
        init, Zeros | Ones | Constant | Normal | TruncatedNormal | LecunTruncatedNormal
    ):
        init_tensor(tensor, init)
    elif callable(init):
        with torch.no_grad():
            init(tensor)
    else:
        raise SpecError(
            f"einn.param: init must be a torch.nn.init function, a number, an InitSpec or "
            f"an op name, got {init!r}."
        )


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


_RunnerKey: TypeAlias = tuple[tuple[int, ...], torch.dtype, torch.device, bool, bool]
"""What a recorded forward depends on: input shape, dtype, device, training, init phase."""


@final
@attrs.frozen
class _Runner:
    """``resolved.apply`` recorded for one input signature (see :mod:`._torch_replay`).

    ``call(*params, *state, x)`` returns ``(y, *new_state)``.
    """

    call: Callable[..., tuple[torch.Tensor, ...]]
    param_names: tuple[str, ...]
    state_names: tuple[str, ...]
    updates_state: bool

    @classmethod
    def record(
        cls,
        resolved: Resolved,
        params: Mapping[str, torch.Tensor],
        state: Mapping[str, torch.Tensor],
        x: torch.Tensor,
        *,
        training: bool,
        initializing: bool,
    ) -> _Runner | None:
        param_names, state_names = tuple(resolved.params), tuple(resolved.state)
        n_params = len(param_names)

        def flat_apply(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
            y, new_state = resolved.apply(
                dict(zip(param_names, tensors[:n_params])),
                tensors[-1],
                state=dict(zip(state_names, tensors[n_params:-1])) if state_names else None,
                training=training,
                initializing=initializing,
            )
            return (y, *(new_state[name] for name in state_names))

        inputs = [params[n] for n in param_names] + [state[n] for n in state_names] + [x]
        with torch.no_grad():  # recording computes once; the replay builds autograd graphs
            call = record(flat_apply, inputs)
        if call is None:
            return None
        updates = training and not initializing and bool(state_names)
        return cls(call, param_names, state_names, updates)


class LayerModule(torch.nn.Module, abc.ABC):  # type: ignore[misc]
    """A ``torch.nn.Module`` that runs one layer spec; parameters follow the spec's table.

    Parameters whose shapes the spec fixes without an input exist after construction;
    the others are ``UninitializedParameter``/``UninitializedBuffer`` placeholders until the
    first forward, :meth:`materialize` or ``load_state_dict``.
    """

    spec: SingleLayerSpec

    def __init__(self, spec: SingleLayerSpec, dtype: DTypeLike = "float32") -> None:
        super().__init__()
        # Not a submodule (no parameters, not in state_dict or children()): see forward.
        object.__setattr__(self, "_compile_entry", _CompileEntry(self))
        torch_dtype = _torch_dtype(dtype)
        self.spec = spec
        self._resolved: dict[tuple[int, ...], Resolved] = {}
        self._runners: dict[_RunnerKey, _Runner] = {}
        self._has_state = False
        for name, trainable in declared_variables(spec):
            self._register_placeholder(name, trainable, torch_dtype)
        # Init phase (NOTATION 5.4): the first forward normalises with the initial EMA
        # statistics and leaves them unchanged; loading a checkpoint ends it too.
        self._initialized = not self._has_state
        tables = static_param_tables(spec, _dtype_name(torch_dtype))
        if tables is not None:
            self._adopt(*tables, input_shape=None)

    @property
    @abc.abstractmethod
    def kind(self) -> str:
        """The layer's name in messages and ``repr`` (``"Linear"``, ``"Norm"``, ...)."""

    @classmethod
    def _from_spec(cls, spec: SingleLayerSpec, dtype: DTypeLike) -> LayerModule:
        module = cls.__new__(cls)
        LayerModule.__init__(module, spec, dtype)
        return module

    # ----------------------------------------------------------------- forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer; train/eval mode comes from ``self.training``."""
        if not isinstance(x, torch.Tensor):
            raise OperationError(
                f"{self.kind} expects a torch.Tensor as input, got {type(x).__name__}.",
                hint="Convert it first, e.g. torch.as_tensor(x).",
            )
        if torch.compiler.is_compiling():
            # A call of a lazy module: dynamo first runs its hook, which resolves and
            # materialises for x's shape eagerly, so no planning code enters the trace.
            return self._compile_entry(x)
        return self._run(x, x.shape)

    def _run(self, x: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """Replay the recording for x's signature, or take the general path."""
        key = (shape, x.dtype, x.device, self.training, not self._initialized)
        runner = self._runners.get(key)
        if runner is None:
            return self._forward_resolved(x, shape)
        params, buffers = self._parameters, self._buffers
        outputs = runner.call(
            *[params[name] for name in runner.param_names],
            *[buffers[name] for name in runner.state_names],
            x,
        )
        if runner.updates_state:
            # New state is gradient-free (the specs stop its gradient), so the copy needs no
            # ``torch.no_grad()`` block, which costs as much as a small kernel.
            values = [v.detach() if v.requires_grad else v for v in outputs[1:]]
            torch._foreach_copy_([buffers[name] for name in runner.state_names], values)
        if key[4]:
            self._initialized = True
        return outputs[0]

    def _forward_resolved(self, x: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """The general path: resolve (and materialise) if needed, then ``resolved.apply``.

        Outside ``torch.compile`` it also records the forward for ``x``'s signature, in both
        modes, so later calls (eager or compiled) replay it without planning. Under
        ``torch.compile`` the shape is resolved already, by ``_CompileEntry``'s hook.
        """
        resolved = self._resolved.get(shape)
        if resolved is None:
            resolved = self._prepare(tuple(shape))
        initializing = not self._initialized
        if not torch.compiler.is_compiling():
            self._record_runners(resolved, x)
        y, new_state = resolved.apply(
            self._parameters,
            x,
            state=self._buffers if self._has_state else None,
            training=self.training,
            initializing=initializing,
        )
        if self.training and not initializing:
            with torch.no_grad():
                for name, value in new_state.items():
                    self._buffers[name].copy_(value)
        if initializing:
            self._initialized = True
        return y

    def _record_runners(self, resolved: Resolved, x: torch.Tensor) -> None:
        """Record ``x``'s signature for train and eval (and the init phase, with EMA state)."""
        phases = (False, True) if self._has_state else (False,)
        state = self._buffers if self._has_state else {}
        for training in (False, True):
            for initializing in phases:
                key = (x.shape, x.dtype, x.device, training, initializing and self._has_state)
                if key in self._runners:
                    continue
                runner = _Runner.record(
                    resolved,
                    self._parameters,
                    state,
                    x,
                    training=training,
                    initializing=initializing,
                )
                if runner is None:
                    return  # not replayable: every call goes through apply
                if len(self._runners) >= _MAX_CACHED_SHAPES * 4:
                    del self._runners[next(iter(self._runners))]
                self._runners[key] = runner

    def materialize(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """Create every parameter for inputs of ``input_shape``; returns the output shape."""
        shape = checked_input_shape(input_shape, f"{self.kind}.materialize", "module.materialize")
        return tuple(self._prepare(shape).output_shape)

    def _prepare_for(
        self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
    ) -> tuple[int, ...]:
        """Materialise and record the forward for inputs like ``(shape, dtype, device)``.

        Cheap for a shape that is resolved already: then the traced forward finds either a
        recording or the resolved layer, and traces no planning code.
        """
        resolved = self._resolved.get(shape)
        if resolved is None:
            resolved = self._prepare(shape)
            self._record_runners(resolved, torch.zeros(shape, dtype=dtype, device=device))
        return tuple(resolved.output_shape)

    @property
    def is_materialized(self) -> bool:
        """Whether every parameter and buffer holds data."""
        tensors = (*self._parameters.values(), *self._buffers.values())
        return not any(_is_uninitialized(t) for t in tensors)

    def _prepare(self, input_shape: tuple[int, ...]) -> Resolved:
        dtype = _dtype_name(self._variable_dtype())
        resolved = self.spec.resolve(input_shape, dtype=dtype)
        self._adopt(resolved.params, resolved.state, input_shape=input_shape)
        if len(self._resolved) >= _MAX_CACHED_SHAPES:
            del self._resolved[next(iter(self._resolved))]
        self._resolved[input_shape] = resolved
        return resolved

    # ----------------------------------------------------------------- variables

    def _register_placeholder(self, name: str, trainable: bool, dtype: torch.dtype) -> None:
        if trainable:
            self.register_parameter(name, _new_placeholder(True, dtype))
        else:
            self.register_buffer(name, _new_placeholder(False, dtype))
            self._has_state = True

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
        shown_shape = () if input_shape is None else input_shape
        for name, spec in needed.items():
            current = self._parameters.get(name, self._buffers.get(name))
            if current is None:
                self._register_placeholder(name, spec.trainable, self._variable_dtype())
                current = self._parameters.get(name, self._buffers.get(name))
            if _is_uninitialized(current):
                _materialize(current, tuple(spec.shape))
                init_tensor(current, spec.init)
            else:
                check_param_shape(
                    self.spec,
                    name,
                    expected=spec.shape,
                    actual=tuple(current.shape),
                    input_shape=shown_shape,
                )
        for table in (self._parameters, self._buffers):
            for name in [n for n, t in table.items() if n not in needed and _is_uninitialized(t)]:
                del table[name]

    # ----------------------------------------------------------------- torch protocol

    def extra_repr(self) -> str:
        return describe_spec(self.spec)

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
            self._initialized = True
            self._resolved.clear()
            self._runners.clear()

    def __getstate__(self) -> dict[str, Any]:
        # deepcopy and pickle go through here: placeholders cannot be copied by torch.
        state: dict[str, Any] = super().__getstate__()
        for key in ("_parameters", "_buffers"):
            state[key] = {
                name: _Placeholder.of(t) if _is_uninitialized(t) else t
                for name, t in state[key].items()
            }
        state["_resolved"] = {}
        state["_runners"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key in ("_parameters", "_buffers"):
            state[key] = {
                name: t.create() if isinstance(t, _Placeholder) else t
                for name, t in state[key].items()
            }
        super().__setstate__(state)


@final
class Linear(LayerModule):
    """``y = dot(expr, x, weight) + bias``: ``Linear("b... [c1->c2]", c2=64)``."""

    def __init__(
        self, expr: str, bias: bool = True, dtype: DTypeLike = "float32", **axes: AxisValue
    ) -> None:
        super().__init__(LinearSpec(expr, bias=bias, axes=axes), dtype)

    @property
    def kind(self) -> str:
        return "Linear"


@final
class Norm(LayerModule):
    """Normalisation over the marked axes, optionally with EMA statistics.

    ``Norm("b... [c]")`` is a layer norm, ``Norm("[b...] c", decay_rate=0.9)`` a batch norm.
    """

    def __init__(
        self,
        stats: str,
        params: str = "b... [c]",
        mean: bool = True,
        var: bool = True,
        scale: bool = True,
        bias: bool = True,
        epsilon: float = 1e-5,
        fastvar: bool = True,
        dtype: DTypeLike = "float32",
        decay_rate: float | None = None,
        **axes: AxisValue,
    ) -> None:
        spec = NormSpec(
            stats,
            params,
            mean=mean,
            var=var,
            scale=scale,
            bias=bias,
            epsilon=epsilon,
            fastvar=fastvar,
            decay_rate=decay_rate,
            axes=axes,
        )
        super().__init__(spec, dtype)

    @property
    def kind(self) -> str:
        return "Norm"


@final
class Dropout(LayerModule):
    """Dropout with a mask of the marked shape: ``Dropout("[b] ... [c]", drop_rate=0.2)``.

    Randomness comes from torch's global generator; the identity in eval mode.
    """

    def __init__(self, expr: str, drop_rate: float, **axes: AxisValue) -> None:
        super().__init__(DropoutSpec(expr, drop_rate, axes=axes))

    @property
    def kind(self) -> str:
        return "Dropout"


@final
class Activation(LayerModule):
    """A parameter-free activation of a spec file (``"gelu"``, ``"relu"``, ...)."""

    def __init__(self, name: str, expr: str | None = None) -> None:
        super().__init__(ActivationSpec(name, expr))

    @property
    def kind(self) -> str:
        return "Activation"


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


_MODULE_FOR_SPEC: Final[Mapping[type, type[LayerModule]]] = {
    LinearSpec: Linear,
    NormSpec: Norm,
    DropoutSpec: Dropout,
    ActivationSpec: Activation,
}


def from_spec(spec: LayerSpec, dtype: DTypeLike = "float32") -> LayerModule | Sequential:
    """The module for any spec; a ``SequentialSpec`` gives a :class:`Sequential`."""
    if isinstance(spec, SequentialSpec):
        return Sequential(spec, dtype=dtype)
    module_type = _MODULE_FOR_SPEC.get(type(spec))
    if module_type is None or not isinstance(spec, SingleLayerSpec):
        raise SpecError(
            f"einn.from_spec expects a Linear, Norm, Dropout, Activation or Sequential spec, "
            f"got {type(spec).__name__}."
        )
    return module_type._from_spec(spec, dtype)

"""The base of every layer spec, and resolution by abstract evaluation.

A single layer is written once, as a forward function over a :class:`Binding`.  Resolving
runs it on an :class:`~einx_typed.backends.abstract.AbstractArray` with a
:class:`Recorder`, whose tensor factories note every parameter the ops ask for; applying
runs it on real arrays with a :class:`Bound` binding that hands out the given tensors.  The
op semantics therefore live in the ops only.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, final

import numpy as np

from einx_typed._dtypes import dtype_name
from einx_typed.errors import EinxError, OperationError
from einx_typed.layers._exprs import Items, dim_names, fill_shape, named_axes
from einx_typed.layers._frozen import FrozenMap
from einx_typed.layers._init import InitSpec, init_for_op
from einx_typed.layers._resolved import ParamSpec, Resolved, Tensor
from einx_typed.layers._validate import AxisValue

__all__ = [
    "Binding",
    "Bound",
    "Forward",
    "LayerSpec",
    "ParamTables",
    "Recorder",
    "axes_subset",
    "checked_input_shape",
    "probe_shape",
    "resolve_single",
    "rewrap",
    "static_tables_by_probing",
]

_RESOLVE_CACHE_SIZE = 1024


class LayerSpec(abc.ABC):
    """A layer described as data; :meth:`resolve` binds it to an input shape and dtype."""

    __slots__ = ()

    def resolve(self, input_shape: Sequence[int], dtype: object = "float32") -> Resolved:
        """Parameter table, output shape and pure ``apply`` for inputs of ``input_shape``.

        ``dtype`` (of the parameters) is a name such as ``"bfloat16"`` or a dtype object of
        NumPy, PyTorch or JAX.  Cached per (spec, shape, dtype); needs no framework.
        """
        return _resolve_cached(self, checked_input_shape(input_shape), _checked_dtype(dtype))

    def resolve_params(self, dtype: object = "float32") -> ParamTables | None:
        """The ``(params, state)`` tables if the axis values alone fix them, else ``None``.

        ``LinearSpec("b... [c1->c2]", axes={"c1": 32, "c2": 64})`` gives its tables before
        any input is seen (a binder can then load a checkpoint at once);
        ``LinearSpec("b... [c1->c2]", axes={"c2": 64})`` gives ``None`` (c1 comes from
        the input).  Found by resolving two inputs that differ in every axis the spec
        leaves open, and comparing the tables.
        """
        return _static_tables_cached(self, _checked_dtype(dtype))

    @abc.abstractmethod
    def _build(self, input_shape: tuple[int, ...], dtype: str) -> Resolved:
        """Resolve without the cache."""

    def _static_tables(self, dtype: str) -> ParamTables | None:
        """:meth:`resolve_params` without the cache.

        A hook with a safe default (no input-free tables), so that a custom spec needs
        to implement :meth:`_build` only.
        """
        return None

    def variables(self) -> tuple[tuple[str, bool], ...]:
        """``(name, trainable)`` of every parameter and state tensor the layer creates.

        Known before any input, so binders can register their variables under the final
        names at construction; ``resolve(...).params`` and ``.state`` use the same names.
        """
        return ()

    def _floating_input(self) -> bool:
        """Whether the layer needs a floating-point input (a hook; default: any dtype)."""
        return False


ParamTables = tuple[FrozenMap[str, ParamSpec], FrozenMap[str, ParamSpec]]
"""``(params, state)`` of a resolved spec."""


@functools.lru_cache(maxsize=_RESOLVE_CACHE_SIZE)
def _static_tables_cached(spec: LayerSpec, dtype: str) -> ParamTables | None:
    return spec._static_tables(dtype)


def static_tables_by_probing(
    spec: LayerSpec,
    items: Items,
    axes: Mapping[str, AxisValue],
    dtype: str,
    variable_items: Sequence[Items],
) -> ParamTables | None:
    """Resolve ``spec`` on two inputs fitting ``items`` whose open axes all differ.

    Open axes get the lengths 2 and 3, open ellipses 1 and 2 repetitions; equal tables mean
    the axis values alone fix them.  When an axis of the variables' expressions
    (``variable_items``) has no value, they cannot be fixed, and nothing is resolved.
    """
    if any(name not in axes for part in variable_items for name in named_axes(part)):
        return None
    tables = []
    for fill, count in ((2, 1), (3, 2)):
        shape = probe_shape(items, axes, fill, count)
        if shape is None:
            return None
        try:
            resolved = spec.resolve(shape, dtype)
        except EinxError:
            return None
        tables.append((resolved.params, resolved.state))
    return tables[0] if tables[0] == tables[1] else None


def probe_shape(
    items: Items, axes: Mapping[str, AxisValue], fill: int, count: int
) -> tuple[int, ...] | None:
    """A shape for ``items``: the given axis values, ``fill`` and ``count`` elsewhere."""
    return fill_shape(items, axes, lambda name: fill, lambda ident: count)


@functools.lru_cache(maxsize=_RESOLVE_CACHE_SIZE)
def _resolve_cached(spec: LayerSpec, input_shape: tuple[int, ...], dtype: str) -> Resolved:
    return spec._build(input_shape, dtype)


def checked_input_shape(
    shape: object, call: str = "resolve", example: str = "spec.resolve"
) -> tuple[int, ...]:
    """``shape`` as a tuple of positive ints, or an OperationError naming ``call``."""
    if isinstance(shape, Sequence) and not isinstance(shape, str):
        dims = list(shape)
        if all(isinstance(d, int | np.integer) and not isinstance(d, bool) for d in dims) and all(
            int(d) > 0 for d in dims
        ):
            return tuple(int(d) for d in dims)
    raise OperationError(
        f"{call} needs input_shape as a tuple of positive ints, got {shape!r}.",
        hint=f"For example {example}((64, 8, 8)).",
    )


def _checked_dtype(dtype: object) -> str:
    try:
        return dtype_name(dtype)
    except EinxError:
        raise OperationError(
            f"resolve needs dtype as a dtype name such as 'float32' or 'bfloat16' (or a NumPy, "
            f"PyTorch or JAX dtype), got {dtype!r}."
        ) from None


class Binding(abc.ABC):
    """Where a forward function gets its parameters and state from."""

    __slots__ = ()

    @abc.abstractmethod
    def param(self, name: str, items: Items) -> Tensor:
        """Parameter ``name`` (a tensor, or a factory that an op calls with its shape)."""

    @abc.abstractmethod
    def state(self, name: str, items: Items, init: InitSpec, like: Tensor) -> Tensor:
        """State tensor ``name`` of the shape of ``like`` (a freshly computed statistic)."""


@final
class Recorder(Binding):
    """Resolution: factories that record a :class:`ParamSpec` and return abstract arrays."""

    __slots__ = ("dtype", "params", "states")

    def __init__(self, dtype: str) -> None:
        self.dtype = dtype
        self.params: dict[str, ParamSpec] = {}
        self.states: dict[str, ParamSpec] = {}

    def param(self, name: str, items: Items) -> Tensor:
        from einx_typed.backends.abstract import AbstractArray

        def factory(
            shape: Sequence[int], init: str = "add", in_axis: Sequence[int] = ()
        ) -> AbstractArray:
            dims = tuple(int(d) for d in shape)
            self.params[name] = ParamSpec(
                shape=dims,
                axes=dim_names(items, dims),
                init=init_for_op(init, in_axis=tuple(int(a) for a in in_axis)),
                dtype=self.dtype,
                trainable=True,
            )
            return AbstractArray(dims, self.dtype)

        return factory

    def state(self, name: str, items: Items, init: InitSpec, like: Tensor) -> Tensor:
        from einx_typed.backends.abstract import AbstractArray

        dims = tuple(int(d) for d in like.shape)
        self.states[name] = ParamSpec(
            shape=dims, axes=dim_names(items, dims), init=init, dtype=self.dtype, trainable=False
        )
        return AbstractArray(dims, self.dtype)


@final
class Bound(Binding):
    """Application: the arrays the caller passed."""

    __slots__ = ("_params", "_state")

    def __init__(self, params: Mapping[str, Tensor], state: Mapping[str, Tensor]) -> None:
        self._params = params
        self._state = state

    def param(self, name: str, items: Items) -> Tensor:
        return self._params[name]

    def state(self, name: str, items: Items, init: InitSpec, like: Tensor) -> Tensor:
        return self._state[name]


Forward = Callable[[Binding, Tensor, bool, bool, object], tuple[Tensor, dict[str, Tensor]]]
"""``(binding, x, training, initializing, rng) -> (y, new_state)``."""


def resolve_single(
    spec: LayerSpec, forward: Forward, input_shape: tuple[int, ...], dtype: str
) -> Resolved:
    """Resolve one layer by running ``forward`` in training mode on an abstract input."""
    from einx_typed.backends.abstract import AbstractArray

    recorder = Recorder(dtype)
    try:
        y, _ = forward(recorder, AbstractArray(input_shape, dtype), True, False, None)
    except EinxError as err:
        raise rewrap(err, f"{spec!r} does not fit an input of shape {input_shape}") from None

    def definition(
        params: Mapping[str, Tensor],
        x: Tensor,
        state: Mapping[str, Tensor],
        training: bool,
        rng: object,
        initializing: bool,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        return forward(Bound(params, state), x, training, initializing, rng)

    return Resolved(
        spec=spec,
        input_shape=input_shape,
        dtype=dtype,
        params=FrozenMap(recorder.params),
        state=FrozenMap(recorder.states),
        output_shape=tuple(int(d) for d in y.shape),
        definition=definition,
        floating_input=spec._floating_input(),
    )


def rewrap(err: EinxError, context: str) -> EinxError:
    """The same kind of error, with the same fields, and ``context`` before its message."""
    return err.with_message(f"{context}: {err.message}")


def axes_subset(axes: Mapping[str, Any], names: frozenset[str]) -> dict[str, Any]:
    """The axis values that one op string uses (ops reject the others)."""
    return {k: v for k, v in axes.items() if k in names}

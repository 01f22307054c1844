"""What resolving a spec produces: parameter specs and a pure apply function."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, final

import attrs
import numpy as np

from einx_typed.backends import AbstractArray, Backend, get_backend, tensor_kind
from einx_typed.backends.program import OPAQUE, Graph, Program
from einx_typed.errors import EinxError, OperationError
from einx_typed.layers._frozen import FrozenMap
from einx_typed.layers._init import InitSpec

if TYPE_CHECKING:
    from einx_typed.layers._base import LayerSpec

__all__ = ["PROGRAM_GROUPS", "ApplyFn", "ParamSpec", "Resolved", "Runner", "Tensor"]

Tensor = Any
"""An array of numpy, JAX or PyTorch (the library is picked from the input)."""

ApplyFn = Callable[
    [Mapping[str, Tensor], Tensor, Mapping[str, Tensor], bool, object, bool],
    tuple[Tensor, dict[str, Tensor]],
]
"""``(params, x, state, training, rng, initializing) -> (y, new_state)``: a layer's forward,
run on tracers to record its program."""


@final
@attrs.frozen
class ParamSpec:
    """One parameter or state tensor of a resolved layer.

    ``axes`` names every dimension after the layer's expressions (``("c1", "c2")``).
    """

    shape: tuple[int, ...]
    axes: tuple[str, ...]
    init: InitSpec
    dtype: str
    trainable: bool = True

    @property
    def size(self) -> int:
        """The number of elements."""
        return math.prod(self.shape)


PROGRAM_GROUPS: Final = ("x", "params", "state", "rng")
"""The arguments of a layer's compiled program: ``program(x, params, state, rng)`` returns
``(y, *new_state)`` with the new state in the order of ``Resolved.state``."""

_PROBE_LENGTHS: Final = (83, 89, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64)
"""Lengths tried for an unknown (``None``) dimension when only the output shape is needed."""

Runner = Callable[[Tensor, Mapping[str, Tensor], Mapping[str, Tensor], object], tuple[Tensor, ...]]
"""A layer's program compiled for one backend (see :data:`PROGRAM_GROUPS`)."""


@final
@attrs.frozen(eq=False)
class Resolved:
    """A spec bound to an input shape and dtype: parameter table plus a pure function.

    ``apply(params, x, state=..., training=..., rng=..., initializing=...)`` returns
    ``(y, new_state)`` and never writes into its arguments.  It runs the layer's
    :meth:`program` for the mode at hand: the backend primitives of the layer, traced once
    and optimised, the same on every backend.
    """

    spec: LayerSpec
    input_shape: tuple[int, ...]
    dtype: str
    params: FrozenMap[str, ParamSpec]
    state: FrozenMap[str, ParamSpec]
    output_shape: tuple[int, ...]
    _definition: ApplyFn = attrs.field(repr=False, alias="definition")
    """The layer's forward function, run on tracers to record the program."""
    floating_input: bool = attrs.field(default=False, kw_only=True)
    """Whether the input must be a floating-point tensor (norms, dropout, activations)."""
    _programs: dict[tuple[bool, bool], Program] = attrs.field(factory=dict, init=False, repr=False)

    @property
    def param_count(self) -> int:
        """The number of trainable parameter elements."""
        return sum(p.size for p in self.params.values())

    def program(self, *, training: bool, initializing: bool = False) -> Program:
        """The layer as one straight-line program of backend primitives, for one mode.

        Traced on first use and cached; ``initializing`` only matters in training, for
        layers with state (evaluation normalises with the EMA statistics either way).
        """
        mode = (bool(training), bool(initializing and training and self.state))
        program = self._programs.get(mode)
        if program is None:
            program = self._programs.setdefault(mode, self._trace(*mode))
        return program

    def runner(
        self,
        backend: str,
        *,
        training: bool,
        initializing: bool = False,
        state_in_place: bool = False,
    ) -> Runner:
        """:meth:`program` compiled for ``backend`` (``"torch"``, ``"jax"``, ...).

        ``runner(x, params, state, rng)`` returns ``(y, *new_state)``; it checks nothing,
        which is what binders want on their hot path (``apply`` checks its arguments).
        With ``state_in_place``, for binders that store the state and write it back, the
        EMA update writes into the given state tensors where the backend can (PyTorch),
        and returns those same tensors.
        """
        program = self.program(training=training, initializing=initializing)
        update = "state" if state_in_place else None
        return program.compile(get_backend(backend), update_in_place=update)

    def _trace(self, training: bool, initializing: bool) -> Program:
        graph = Graph(PROGRAM_GROUPS)
        x = graph.input("x", None, AbstractArray(self.input_shape, self.dtype))
        params = {n: graph.input("params", n, _aval(p)) for n, p in self.params.items()}
        state = {n: graph.input("state", n, _aval(p)) for n, p in self.state.items()}
        rng = graph.input("rng", None, OPAQUE)
        y, new_state = self._definition(params, x, state, training, rng, initializing)
        if set(new_state) != set(self.state):
            raise RuntimeError(
                f"einx_typed internal error: {self.spec!r} returned the state "
                f"{sorted(new_state)}, expected {list(self.state)}"
            )
        return graph.build([y, *(new_state[name] for name in self.state)])

    def apply(
        self,
        params: Mapping[str, Tensor],
        x: Tensor,
        *,
        state: Mapping[str, Tensor] | None = None,
        training: bool = False,
        rng: object = None,
        initializing: bool = False,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Run the layer on ``x``; returns the output and the new state.

        ``x`` may have another shape than :attr:`input_shape` if the layer's expressions
        accept it (another batch size, one example under ``jax.vmap``): it is then resolved
        for that shape too.
        """
        _check_tensors("parameter", self.params, params)
        if state is None and self.state:
            raise OperationError(
                f"This {type(self.spec).__name__} keeps state "
                f"({', '.join(repr(k) for k in self.state)}), but apply got state=None.",
                hint="Pass the state arrays (initialised from resolved.state) as state=.",
            )
        state = state or {}
        _check_tensors("state", self.state, state)
        kind = tensor_kind(x)
        if kind is None:
            raise OperationError(
                f"{type(self.spec).__name__}.apply expects a tensor of numpy, JAX, PyTorch or "
                f"Keras as input, got {type(x).__name__}."
            )
        backend = get_backend(kind)
        if kind == "keras" and type(x).__name__ == "KerasTensor":
            return self._keras_symbolic(x, params, state, training, rng, initializing)
        if kind not in ("numpy", "abstract", "trace"):
            # NumPy arrays among the parameters join the input's library, as in the ops.
            params, state = _converted(backend, params, x), _converted(backend, state, x)
        return self._run(backend, x, params, state, training, rng, initializing)

    def _keras_symbolic(
        self,
        x: Tensor,
        params: Mapping[str, Tensor],
        state: Mapping[str, Tensor],
        training: bool,
        rng: object,
        initializing: bool,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Apply to a symbolic Keras tensor (``keras.Input((16,))``, batch size unknown).

        Keras records the layer as one operation; when the model runs, it gets concrete
        tensors, and the program for their shape runs on Keras' ops (``keras.random``
        included, which takes no symbolic tensors).  The output shape is found by
        resolving for two lengths in place of each unknown one.
        """
        from einx_typed.backends._keras import call_deferred

        keras = get_backend("keras")
        mode = {"training": training, "initializing": initializing}

        def run(x: Tensor, params: Mapping[str, Tensor], state: Mapping[str, Tensor]) -> Any:
            params = {k: keras.asarray(v) for k, v in params.items()}
            state = {k: keras.asarray(v) for k, v in state.items()}
            return self._run(keras, x, params, state, training, rng, initializing)

        def output_spec(x: Tensor, *_: object) -> Any:
            shape = tuple(x.shape)
            probes = (self._probe(shape, size) for size in _PROBE_LENGTHS)
            found = list(itertools.islice((p for p in probes if p is not None), 2))
            if len(found) < 2:
                self.spec.resolve(tuple(d or 1 for d in shape), self.dtype)  # raises why
                raise OperationError(f"{self.spec!r} does not fit an input of shape {shape}.")
            first, second = (r.program(**mode).output_arrays() for r in found)
            specs = [
                (tuple(a if a == b else None for a, b in zip(one.shape, two.shape)), one.dtype)
                for one, two in zip(first, second)
            ]
            return specs[0], dict(zip(self.state, specs[1:]))

        result: tuple[Tensor, dict[str, Tensor]] = call_deferred(
            run, output_spec, x, dict(params), dict(state)
        )
        return result

    def _probe(self, shape: tuple[int | None, ...], size: int) -> Resolved | None:
        try:
            return self.spec.resolve(tuple(size if d is None else d for d in shape), self.dtype)
        except EinxError:
            return None

    def _run(
        self,
        backend: Backend,
        x: Tensor,
        params: Mapping[str, Tensor],
        state: Mapping[str, Tensor],
        training: bool,
        rng: object,
        initializing: bool,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """:meth:`apply` after the checks, with the program compiled for ``backend``."""
        shape = tuple(int(d) for d in backend.shape(x))
        if shape != self.input_shape:
            resolved = self.spec.resolve(shape, self.dtype)
            return resolved._run(backend, x, params, state, training, rng, initializing)
        if self.floating_input and not backend.is_floating(x):
            raise OperationError(
                f"{self.spec!r} needs a floating-point input, got {backend.dtype_name(x)}.",
                shapes=[shape],
                hint="Cast the input to a float dtype first.",
            )
        run = self.program(training=training, initializing=initializing).compile(backend)
        try:
            outputs = run(x, params, state, rng)
        except EinxError:
            raise
        except (RuntimeError, TypeError, ValueError, IndexError) as error:
            raise OperationError(
                f"{self.spec!r} failed on an input of shape {shape} "
                f"({backend.dtype_name(x)}): {error}",
                shapes=[shape],
            ) from error
        return outputs[0], dict(zip(self.state, outputs[1:]))


def _converted(
    backend: Backend, tensors: Mapping[str, Tensor], like: Tensor
) -> Mapping[str, Tensor]:
    """``tensors`` with NumPy arrays converted to ``backend``'s tensors (on ``like``'s device)."""
    if not any(isinstance(t, np.ndarray) for t in tensors.values()):
        return tensors
    return {
        k: backend.asarray(t, like=like) if isinstance(t, np.ndarray) else t
        for k, t in tensors.items()
    }


def _aval(spec: ParamSpec) -> AbstractArray:
    return AbstractArray(spec.shape, spec.dtype)


def _check_tensors(kind: str, expected: Mapping[str, ParamSpec], got: Mapping[str, Tensor]) -> None:
    missing = [name for name in expected if name not in got]
    extra = [name for name in got if name not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(repr(n) for n in missing)}")
        if extra:
            parts.append(f"unexpected {', '.join(repr(n) for n in extra)}")
        raise OperationError(
            f"The {kind} mapping does not fit the resolved layer: {'; '.join(parts)}.",
            hint=f"Expected exactly the {kind} names {list(expected)}.",
        )
    for name, spec in expected.items():
        shape = getattr(got[name], "shape", None)
        if shape is None or tuple(int(d) for d in shape) != spec.shape:
            raise OperationError(
                f"The {kind} {name!r} has shape {None if shape is None else tuple(shape)}, "
                f"but the resolved layer expects {spec.shape} (axes {' '.join(spec.axes)}).",
            )

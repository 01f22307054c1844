"""Backend-neutral programs: a short list of primitive backend calls in SSA form.

An op compiles its solved expressions into a :class:`Program` once per call signature.
The :class:`ProgramBuilder` tracks the shape of every value so that no-op reshapes,
transposes and broadcasts are never emitted and chains of reshapes collapse into one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, final

import attrs

from einx_typed.backends.base import Backend

__all__ = ["Program", "ProgramBuilder", "Step"]


@final
@attrs.frozen
class Step:
    """``backend.<method>(*leading, *values[inputs], *trailing)``, appended as a new value."""

    method: str
    inputs: tuple[int, ...]
    leading: tuple[Any, ...] = ()
    trailing: tuple[Any, ...] = ()
    pack: tuple[int, int] | None = None
    """Pass the inputs ``inputs[start:stop]`` as one tuple, e.g. ``concatenate(xs)`` or
    ``scatter(x, indices, updates)``; ``None`` passes every input separately."""


_Call = tuple[str, tuple[int, ...], tuple[Any, ...], tuple[Any, ...], tuple[int, int] | None]


@final
@attrs.frozen
class Program:
    """Steps over numbered values; values ``0..n_inputs-1`` are the operands."""

    n_inputs: int
    steps: tuple[Step, ...]
    outputs: tuple[int, ...]
    _calls: tuple[_Call, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        calls = tuple((s.method, s.inputs, s.leading, s.trailing, s.pack) for s in self.steps)
        object.__setattr__(self, "_calls", calls)

    @property
    def methods(self) -> tuple[str, ...]:
        """The backend methods called, in order (for tests and debugging)."""
        return tuple(s.method for s in self.steps)

    def bind(self, backend: Backend) -> Callable[[Sequence[Any]], Any]:
        """A function of the operands that returns the first output, for a one-output plan.

        The backend methods are looked up once, and the common one-step programs (a
        single matmul, reduce, reshape, ...) become a direct call: per call this saves
        the interpreter loop of :meth:`run`, about 1.3 µs.
        """
        (output,) = self.outputs
        if output < self.n_inputs:
            return lambda operands: operands[output]
        if len(self.steps) == 1 and self.steps[0].pack is None:
            step = self.steps[0]
            fn = getattr(backend, step.method)
            leading, trailing = step.leading, step.trailing
            if len(step.inputs) == 1:
                (i,) = step.inputs
                return lambda operands: fn(*leading, operands[i], *trailing)
            if len(step.inputs) == 2:
                i, j = step.inputs
                return lambda operands: fn(*leading, operands[i], operands[j], *trailing)
        return lambda operands: self.run(backend, operands)[0]

    def run(self, backend: Backend, operands: Sequence[Any]) -> list[Any]:
        """Execute on ``backend`` and return the output values."""
        values = list(operands)
        for method, inputs, leading, trailing, pack in self._calls:
            args: list[Any] = [values[i] for i in inputs]
            if pack is not None:
                start, stop = pack
                args[start:stop] = [tuple(args[start:stop])]
            values.append(getattr(backend, method)(*leading, *args, *trailing))
        return [values[i] for i in self.outputs]


class ProgramBuilder:
    """Emits steps while tracking shapes; elides no-ops and merges reshape chains."""

    def __init__(self, input_shapes: Sequence[tuple[int, ...]]) -> None:
        self._n_inputs = len(input_shapes)
        self._shapes: list[tuple[int, ...]] = [tuple(s) for s in input_shapes]
        self._steps: list[Step] = []
        self._reshaped_from: dict[int, int] = {}

    def shape(self, value: int) -> tuple[int, ...]:
        return self._shapes[value]

    def emit(
        self,
        method: str,
        inputs: Sequence[int],
        shape: tuple[int, ...],
        *,
        leading: tuple[Any, ...] = (),
        trailing: tuple[Any, ...] = (),
        pack: tuple[int, int] | None = None,
    ) -> int:
        """Append a step whose result has ``shape``; returns the new value's number."""
        self._steps.append(Step(method, tuple(inputs), leading, trailing, pack))
        self._shapes.append(tuple(shape))
        return len(self._shapes) - 1

    def reshape(self, value: int, shape: Sequence[int]) -> int:
        shape = tuple(shape)
        if self._shapes[value] == shape:
            return value
        source = self._reshaped_from.get(value, value)
        if self._shapes[source] == shape:
            return source
        if math.prod(self._shapes[source]) != math.prod(shape):
            before = self._shapes[source]
            raise RuntimeError(f"einx_typed internal error: reshape {before} -> {shape}")
        out = self.emit("reshape", (source,), shape, trailing=(shape,))
        self._reshaped_from[out] = source
        return out

    def transpose(self, value: int, perm: Sequence[int]) -> int:
        perm = tuple(perm)
        if perm == tuple(range(len(perm))):
            return value
        shape = tuple(self._shapes[value][p] for p in perm)
        return self.emit("transpose", (value,), shape, trailing=(perm,))

    def broadcast_to(self, value: int, shape: Sequence[int]) -> int:
        shape = tuple(shape)
        if self._shapes[value] == shape:
            return value
        return self.emit("broadcast_to", (value,), shape, trailing=(shape,))

    def build(self, outputs: Sequence[int]) -> Program:
        """Drop steps whose values are unused and renumber the rest."""
        n = self._n_inputs
        live = set(outputs)
        for index in range(len(self._steps) - 1, -1, -1):
            if n + index in live:
                live.update(self._steps[index].inputs)
        renumber = {i: i for i in range(n)}
        kept: list[Step] = []
        for index, step in enumerate(self._steps):
            if n + index not in live:
                continue
            renumber[n + index] = n + len(kept)
            kept.append(attrs.evolve(step, inputs=tuple(renumber[i] for i in step.inputs)))
        return Program(n, tuple(kept), tuple(renumber[o] for o in outputs))

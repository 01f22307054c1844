"""Hypothesis strategies for property tests of shapes: inputs, specs, and both together.

::

    from hypothesis import given
    from einx_typed.testing import input_shapes, specs_with_inputs

    @given(input_shapes("b [s...->s2] c", {"s2": 4}))
    def test_mixing(shape): ...

    @given(specs_with_inputs())
    def test_output_shape(case):
        spec, shape = case
        ...

Needs the ``hypothesis`` package (a development dependency); nothing else in einx_typed
imports this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from einx_typed.errors import SpecError
from einx_typed.layers import (
    ACTIVATION_NAMES,
    SPEC_TYPES,
    ActivationSpec,
    AxisValue,
    DropoutSpec,
    LayerSpec,
    LinearSpec,
    NormSpec,
    SequentialSpec,
)
from einx_typed.layers._exprs import fill_shape
from einx_typed.layers._validate import parse_field

__all__ = [
    "SPEC_STRATEGIES",
    "activation_specs",
    "dropout_specs",
    "input_shapes",
    "layer_specs",
    "linear_specs",
    "norm_specs",
    "sequential_specs",
    "specs_with_inputs",
]

SpecAndShape = tuple[LayerSpec, tuple[int, ...]]

if TYPE_CHECKING:
    from hypothesis.strategies import DrawFn
else:
    # Hypothesis' draw function is a bound method that does not satisfy the DrawFn
    # protocol at run time (no __signature__), so run-time checkers must not test it.
    DrawFn = Any


@st.composite
def input_shapes(
    draw: DrawFn,
    expr: str,
    axes: Mapping[str, AxisValue] | None = None,
    *,
    min_ellipsis: int = 1,
    max_ellipsis: int = 3,
    max_side: int = 5,
) -> tuple[int, ...]:
    """Shapes of tensors that fit the (first input) expression of ``expr``.

    Axis values in ``axes`` are respected (a tuple fixes an ellipsis' repeat count); every
    other axis gets a length in ``[1, max_side]`` and every root-level ellipsis a repeat
    count in ``[min_ellipsis, max_ellipsis]``.  Brackets are ignored.
    """
    op = parse_field("input_shapes", "expr", expr)
    lengths: dict[str, int] = {}
    counts: dict[int, int] = {}

    def open_length(key: str) -> int:
        if key not in lengths:
            lengths[key] = draw(st.integers(1, max_side))
        return lengths[key]

    def open_count(ident: int) -> int:
        if ident not in counts:
            counts[ident] = draw(st.integers(min_ellipsis, max_ellipsis))
        return counts[ident]

    shape = fill_shape(op.inputs[0].items, axes or {}, open_length, open_count)
    if shape is None:
        raise SpecError(
            f"input_shapes cannot build shapes for {expr!r}: nested ellipses are not supported."
        )
    return shape


_sizes = st.integers(1, 6)
_rates = st.floats(0.0, 0.9, allow_nan=False)


@st.composite
def linear_specs(draw: DrawFn) -> LinearSpec:
    """Linear layers of the tutorial's kinds (channel mix, both spatial mixes, patches, ...)."""
    bias = draw(st.booleans())
    kind = draw(st.sampled_from(["channel", "spatial1", "spatial2", "patch", "flatten", "heads"]))
    if kind == "channel":
        return LinearSpec("b... [c1->c2]", bias, {"c2": draw(_sizes)})
    if kind == "spatial1":
        return LinearSpec("b [s...->s2] c", bias, {"s2": draw(_sizes)})
    if kind == "spatial2":
        s = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
        return LinearSpec("b [s2->s...] c", bias, {"s": s})
    if kind == "patch":
        return LinearSpec(
            "b (s [s2->])... [c1->c2]", bias, {"s2": draw(st.integers(1, 3)), "c2": draw(_sizes)}
        )
    if kind == "flatten":
        return LinearSpec("b [...->c]", bias, {"c": draw(_sizes)})
    return LinearSpec("b... [c1->(h c2)]", bias, {"h": draw(st.integers(1, 3)), "c2": draw(_sizes)})


@st.composite
def norm_specs(draw: DrawFn) -> NormSpec:
    """Layer, instance, group, batch and RMS norms with random flags."""
    stats = draw(st.sampled_from(["b... [c]", "b [s...] c", "b [s...] (g [c])", "[b...] c"]))
    mean = draw(st.booleans())
    var = draw(st.booleans())
    decay = draw(st.none() | st.floats(0.01, 0.99)) if (mean or var) else None
    return NormSpec(
        stats,
        params=draw(st.sampled_from(["b... [c]", "... [c]"])),
        mean=mean,
        var=var,
        scale=draw(st.booleans()),
        bias=draw(st.booleans()),
        epsilon=draw(st.sampled_from([1e-5, 1e-3, 0.0])),
        fastvar=draw(st.booleans()),
        decay_rate=decay,
        axes={"g": draw(st.integers(1, 3))} if "g" in stats else {},
    )


@st.composite
def dropout_specs(draw: DrawFn) -> DropoutSpec:
    """Element, spatial and path dropout."""
    expr = draw(st.sampled_from(["[...]", "[b] ... [c]", "[b] ...", "b... [c]"]))
    return DropoutSpec(expr, draw(_rates))


@st.composite
def activation_specs(draw: DrawFn) -> ActivationSpec:
    """Every named activation (softmax over the last axis)."""
    name = draw(st.sampled_from(ACTIVATION_NAMES))
    return ActivationSpec(name, "b... [c]" if name in ("softmax", "log_softmax") else None)


@st.composite
def sequential_specs(draw: DrawFn, max_layers: int = 6) -> SpecAndShape:
    """A small sequential model on ``(batch, features...)`` inputs and a matching shape.

    It starts by flattening to channels and continues with layers that keep the
    ``(batch, channels)`` layout: channel mixes, norms, activations and dropout.
    """
    shape = draw(input_shapes("b ...", max_ellipsis=2))
    layers: list[LayerSpec | str] = [LinearSpec("b [...->c]", axes={"c": draw(_sizes)})]
    options: list[st.SearchStrategy[Any]] = [
        _sizes.map(lambda c: LinearSpec("b... [c1->c2]", axes={"c2": c})),
        st.sampled_from(["b... [c]", "[b] c"]).map(NormSpec),
        st.floats(0.1, 0.9).map(lambda d: NormSpec("[b] c", decay_rate=d)),
        st.sampled_from(["gelu", "relu", "silu", "tanh", "sigmoid"]),
        st.just(ActivationSpec("softmax", "b [c]")),
        _rates.map(lambda r: DropoutSpec("[...]", r)),
    ]
    count = draw(st.integers(0, max_layers - 1))
    layers.extend(draw(st.one_of(options)) for _ in range(count))
    return SequentialSpec(layers), shape


SPEC_STRATEGIES: Mapping[type[LayerSpec], Callable[[], st.SearchStrategy[Any]]] = {
    LinearSpec: linear_specs,
    NormSpec: norm_specs,
    DropoutSpec: dropout_specs,
    ActivationSpec: activation_specs,
    SequentialSpec: lambda: sequential_specs().map(lambda case: case[0]),
}
"""A strategy for every spec type of the registry (``SPEC_TYPES``); a test checks that none
is missing."""


def layer_specs() -> st.SearchStrategy[LayerSpec]:
    """Any single layer spec: every registered type except sequential models."""
    return st.one_of(
        [SPEC_STRATEGIES[cls]() for cls in SPEC_TYPES.values() if cls is not SequentialSpec]
    )


def _input_expr(spec: LayerSpec) -> tuple[str, Mapping[str, AxisValue]]:
    """An expression (and axis values) that every input of ``spec`` must fit."""
    match spec:
        case LinearSpec(expr=expr, axes=axes) | DropoutSpec(expr=expr, axes=axes):
            return expr, axes
        case NormSpec(stats=stats, axes=axes):
            return stats, axes
        case ActivationSpec(expr=expr):
            return expr or "...", {}
    raise SpecError(f"No input strategy for {spec!r}.")


@st.composite
def specs_with_inputs(
    draw: DrawFn, specs: st.SearchStrategy[LayerSpec] | None = None
) -> SpecAndShape:
    """A single layer spec and an input shape it accepts."""
    spec = draw(specs if specs is not None else layer_specs())
    expr, axes = _input_expr(spec)
    return spec, draw(input_shapes(expr, axes))

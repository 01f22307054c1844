"""Framework-neutral helpers shared by the binders in ``einx_typed.nn``.

Nothing here parses or solves notation: the helpers read what the spec layer already
decided (parameter names, :class:`~einx_typed.layers.ParamSpec` tables) and turn the
binders' own checks into clear :class:`~einx_typed.EinxError` messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from einx_typed.errors import AxisSizeError
from einx_typed.layers import (
    ActivationSpec,
    DropoutSpec,
    LinearSpec,
    NormSpec,
    ParamSpec,
    SequentialSpec,
)

__all__ = [
    "ParamTables",
    "SingleLayerSpec",
    "check_param_shape",
    "declared_variables",
    "describe_spec",
    "spec_axes",
    "spec_expression",
    "static_param_tables",
]

SingleLayerSpec = LinearSpec | NormSpec | DropoutSpec | ActivationSpec
"""A spec that becomes one module (a :class:`SequentialSpec` becomes a container)."""

ParamTables = tuple[Mapping[str, ParamSpec], Mapping[str, ParamSpec]]
"""``(params, state)`` tables of a resolved spec."""


def declared_variables(spec: SingleLayerSpec) -> tuple[tuple[str, bool], ...]:
    """``(name, trainable)`` of every variable a layer creates, known before any input.

    The names follow the spec layer's contract (Linear ``weight``/``bias``, Norm
    ``scale``/``bias`` and EMA state ``mean``/``var``), so binders can register
    placeholders under their final names at construction time.
    """
    match spec:
        case LinearSpec():
            return (("weight", True),) + ((("bias", True),) if spec.bias else ())
        case NormSpec():
            names: list[tuple[str, bool]] = []
            if spec.scale:
                names.append(("scale", True))
            if spec.bias:
                names.append(("bias", True))
            if spec.decay_rate is not None:
                if spec.mean:
                    names.append(("mean", False))
                if spec.var:
                    names.append(("var", False))
            return tuple(names)
        case DropoutSpec() | ActivationSpec():
            return ()


def static_param_tables(spec: SingleLayerSpec, dtype: str) -> ParamTables | None:
    """The parameter tables when the spec's axis values alone fix every parameter shape.

    Returns ``None`` when some shape depends on the input (the binder then creates the
    parameters lazily) or when the spec layer offers no input-free resolution.
    """
    resolve_params: Any = getattr(spec, "resolve_params", None)
    if resolve_params is None:
        return None
    tables = resolve_params(dtype=dtype)
    if tables is None:
        return None
    params, state = tables
    return params, state


def spec_expression(spec: SingleLayerSpec | SequentialSpec) -> str | None:
    """The expression a user wrote for ``spec`` (the statistics one for Norm)."""
    match spec:
        case LinearSpec() | DropoutSpec():
            return spec.expr
        case NormSpec():
            return spec.stats
        case ActivationSpec():
            return spec.expr
        case SequentialSpec():
            return None


def describe_spec(spec: SingleLayerSpec | SequentialSpec) -> str:
    """A short constructor-like rendering for messages: ``Linear('b... [c1->c2]', c2=64)``."""
    axes = ", ".join(f"{name}={value!r}" for name, value in spec_axes(spec).items())
    match spec:
        case LinearSpec():
            head = f"Linear({spec.expr!r}"
        case NormSpec():
            head = f"Norm({spec.stats!r}, {spec.params!r}"
        case DropoutSpec():
            head = f"Dropout({spec.expr!r}, drop_rate={spec.drop_rate!r}"
        case ActivationSpec():
            head = f"Activation({spec.name!r}"
        case SequentialSpec():
            return f"Sequential({len(spec.layers)} layers)"
    return f"{head}, {axes})" if axes else f"{head})"


def spec_axes(spec: SingleLayerSpec | SequentialSpec) -> Mapping[str, Any]:
    """The axis values a spec was constructed with (empty for specs without axes)."""
    axes: Mapping[str, Any] | None = getattr(spec, "axes", None)
    return {} if axes is None else axes


def check_param_shape(
    spec: SingleLayerSpec,
    name: str,
    *,
    expected: Sequence[int],
    actual: Sequence[int],
    input_shape: Sequence[int],
) -> None:
    """Raise when an existing variable's shape contradicts what an input requires."""
    if tuple(expected) == tuple(actual):
        return
    raise AxisSizeError(
        f"{describe_spec(spec)}: the input needs the variable {name!r} with shape "
        f"{tuple(expected)}, but the layer's {name!r} already has shape {tuple(actual)} "
        "(created by an earlier input, at construction, or loaded from a checkpoint).",
        expr=spec_expression(spec),
        shapes=[tuple(input_shape)],
        axis_values=spec_axes(spec),
        hint="Feed inputs whose axes agree with the existing parameters, or build a new layer.",
    )

"""Layer specs as values: defaults, validation at construction, equality, hashing, pickling."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from einx_typed.errors import EinxError, SpecError
from einx_typed.layers import (
    ActivationSpec,
    DropoutSpec,
    LinearSpec,
    NormSpec,
    SequentialSpec,
)


def test_defaults_follow_einx_0_3_0_layers() -> None:
    norm = NormSpec("b... [c]")
    assert (norm.params, norm.mean, norm.var, norm.scale, norm.bias) == (
        "b... [c]",
        True,
        True,
        True,
        True,
    )
    assert (norm.epsilon, norm.fastvar, norm.decay_rate, dict(norm.axes)) == (
        1e-5,
        True,
        None,
        {},
    )
    linear = LinearSpec("b... [c1->c2]", axes={"c2": 64})
    assert linear.bias is True
    assert dict(linear.axes) == {"c2": 64}


@pytest.mark.parametrize(
    ("make", "same", "different"),
    [
        (
            lambda: LinearSpec("b... [c1->c2]", axes={"c2": 64}),
            lambda: LinearSpec("b... [c1->c2]", True, {"c2": 64}),
            lambda: LinearSpec("b... [c1->c2]", axes={"c2": 32}),
        ),
        (
            lambda: NormSpec("[b...] c", decay_rate=0.9),
            lambda: NormSpec("[b...] c", decay_rate=0.9),
            lambda: NormSpec("[b...] c", decay_rate=0.99),
        ),
        (
            lambda: DropoutSpec("[b] ...", 0.2),
            lambda: DropoutSpec("[b] ...", drop_rate=0.2),
            lambda: DropoutSpec("[b] ...", 0.3),
        ),
        (
            lambda: SequentialSpec([LinearSpec("b [...->c]", axes={"c": 3}), "gelu"]),
            lambda: SequentialSpec(
                (LinearSpec("b [...->c]", axes={"c": 3}), ActivationSpec("gelu"))
            ),
            lambda: SequentialSpec([LinearSpec("b [...->c]", axes={"c": 3}), "relu"]),
        ),
    ],
)
def test_specs_are_values(make: Any, same: Any, different: Any) -> None:
    spec = make()
    assert spec == same()
    assert hash(spec) == hash(same())
    assert spec != different()
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert {spec: 1}[same()] == 1


def test_specs_are_frozen() -> None:
    spec = LinearSpec("b... [c1->c2]", axes={"c2": 64})
    with pytest.raises(AttributeError):
        spec.bias = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.axes["c2"] = 3  # type: ignore[index]


def test_axis_values_are_normalised() -> None:
    import numpy as np

    spec = LinearSpec("b [s2->s...] c", axes={"s": [np.int64(4), 5]})
    assert spec.axes["s"] == (4, 5)
    assert spec == LinearSpec("b [s2->s...] c", axes={"s": (4, 5)})


# (constructor, field named in the message, a phrase of the reason)
INVALID = [
    (lambda: LinearSpec("b [c1->c2", axes={"c2": 3}), "expr", "never closed"),
    (lambda: LinearSpec(3), "expr", "must be an op string"),  # type: ignore[arg-type]
    (lambda: LinearSpec("b c1 -> b c2", axes={"c2": 3}), "expr", "marks no axes"),
    (lambda: LinearSpec("b [c1] c2"), "expr", "needs '->'"),
    (lambda: LinearSpec("b c1, c1 c2, d -> b c2"), "expr", "one input"),
    (lambda: LinearSpec("b c1, c1 c2 -> b [c2]"), "expr", "brackets in the output"),
    (lambda: LinearSpec("b [2->c]"), "expr", "unnamed axis"),
    (lambda: LinearSpec("b [c1->c2]", axes={"c3": 3}), "axes", "'c3'"),
    (lambda: LinearSpec("b [c1->c2]", axes={"c2": 0}), "axes", "positive int"),
    (lambda: LinearSpec("b [c1->c2]", axes={"c2": 2.0}), "axes", "positive int"),
    (lambda: LinearSpec("b [c1->c2]", axes={"c2": True}), "axes", "positive int"),
    (lambda: LinearSpec("b [c1->c2]", axes={"c2": (2, -1)}), "axes", "positive int"),
    (lambda: LinearSpec("b [c1->c2]", axes=[("c2", 3)]), "axes", "mapping"),  # type: ignore[arg-type]
    (lambda: LinearSpec("b [c1->c2]", bias=1, axes={"c2": 3}), "bias", "True or False"),  # type: ignore[arg-type]
    (lambda: NormSpec("b c"), "stats", "marks no axes"),
    (lambda: NormSpec("b [c] -> b"), "stats", "without '->'"),
    (lambda: NormSpec("b [c], b"), "stats", "without ','"),
    (lambda: NormSpec("b... [c]", params="b c"), "params", "marks no axes"),
    (lambda: NormSpec("b... [c]", params="b [c"), "params", "not valid einx notation"),
    (lambda: NormSpec("b... [c]", decay_rate=1.0), "decay_rate", "(0, 1)"),
    (lambda: NormSpec("b... [c]", decay_rate=0.0), "decay_rate", "(0, 1)"),
    (lambda: NormSpec("b... [c]", decay_rate="0.9"), "decay_rate", "number"),  # type: ignore[arg-type]
    (
        lambda: NormSpec("b... [c]", mean=False, var=False, decay_rate=0.9),
        "decay_rate",
        "no statistics",
    ),
    (lambda: NormSpec("b... [c]", epsilon=-1.0), "epsilon", ">= 0"),
    (lambda: NormSpec("b... [c]", epsilon=float("nan")), "epsilon", "finite"),
    (lambda: NormSpec("b... [c]", mean=None), "mean", "True or False"),  # type: ignore[arg-type]
    (lambda: NormSpec("b [s...] (g [c])", axes={"h": 8}), "axes", "'h'"),
    (lambda: DropoutSpec("[...]", 1.0), "drop_rate", "[0, 1)"),
    (lambda: DropoutSpec("[...]", -0.1), "drop_rate", "[0, 1)"),
    (lambda: DropoutSpec("b c", 0.1), "expr", "marks no axes"),
    (lambda: DropoutSpec("[b] -> b", 0.1), "expr", "without '->'"),
    (lambda: ActivationSpec("swish"), "name", "one of"),
    (lambda: ActivationSpec("softmax"), "expr", "needed"),
    (lambda: ActivationSpec("softmax", "b c"), "expr", "marks"),
    (lambda: ActivationSpec("gelu", "b [c]"), "expr", "must be None"),
    (lambda: SequentialSpec("gelu"), "layers", "list"),
    (lambda: SequentialSpec([3]), "layers[0]", "layer spec"),
    (lambda: SequentialSpec(["gelu", "swish"]), "layers[1]", "one of"),
]


@pytest.mark.parametrize(("make", "field", "reason"), INVALID)
def test_invalid_specs_raise_spec_error_naming_the_field(
    make: Any, field: str, reason: str
) -> None:
    with pytest.raises(SpecError) as info:
        make()
    message = str(info.value)
    assert f"field '{field}'" in message
    assert reason in message


def _expected_field(field: str, reason: str) -> str:
    """The ``field`` attribute: a bad activation name inside a list names the item's key."""
    return f"{field}.name" if field.startswith("layers[") and reason == "one of" else field


@pytest.mark.parametrize(
    ("make", "field", "reason"),
    INVALID,
)
def test_invalid_specs_carry_the_field_as_an_attribute(make: Any, field: str, reason: str) -> None:
    with pytest.raises(SpecError) as info:
        make()
    assert info.value.field == _expected_field(field, reason)


def test_spec_error_field_survives_pickling() -> None:
    with pytest.raises(SpecError) as info:
        SequentialSpec([DropoutSpec("[...]", 0.1), "swish"])
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is SpecError
    assert again.field == "layers[1].name"
    assert str(again) == str(info.value)


def test_expression_errors_show_a_caret() -> None:
    with pytest.raises(SpecError) as info:
        LinearSpec("b [c1->c2", axes={"c2": 3})
    lines = str(info.value).splitlines()
    assert any(line.strip() == "b [c1->c2" for line in lines)
    assert any(set(line.strip()) == {"^"} for line in lines)


def test_unknown_axis_lists_the_existing_ones() -> None:
    with pytest.raises(SpecError) as info:
        NormSpec("b [s...] (g [c])", axes={"G": 8})
    assert "b, c, g, s" in str(info.value)


def test_spec_error_is_a_value_error_and_einx_error() -> None:
    with pytest.raises(ValueError):
        DropoutSpec("[...]", 2.0)
    assert issubclass(SpecError, EinxError)


def test_tutorial_layers_construct() -> None:
    specs = [
        NormSpec("b... [c]"),
        NormSpec("b [s...] c"),
        NormSpec("b [s...] (g [c])", axes={"g": 8}),
        NormSpec("[b...] c", decay_rate=0.9),
        NormSpec("b... [c]", mean=False, bias=False),
        LinearSpec("b... [c1->c2]", axes={"c2": 64}),
        LinearSpec("b [s...->s2] c", axes={"s2": 64}),
        LinearSpec("b [s2->s...] c", axes={"s": (64, 64)}),
        LinearSpec("b (s [s2->])... [c1->c2]", axes={"s2": 4, "c2": 64}),
        DropoutSpec("[...]", drop_rate=0.2),
        DropoutSpec("[b] ... [c]", drop_rate=0.2),
        DropoutSpec("[b] ...", drop_rate=0.2),
    ]
    assert len(set(specs)) == len(specs)

"""einx_typed.testing: the strategies produce what they promise."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import einx_typed
from einx_typed.layers import LayerSpec, SequentialSpec
from einx_typed.testing import (
    input_shapes,
    layer_specs,
    sequential_specs,
    specs_with_inputs,
)

# (expression, axis values, the same expression without brackets for einx_typed.check)
EXPRESSIONS: list[tuple[str, dict[str, Any], str]] = [
    ("b... [c]", {}, "b... c"),
    ("b [s...] (g [c])", {"g": 4}, "b s... (g c)"),
    ("b (s [s2->])... [c1->c2]", {"s2": 3, "c2": 5}, "b (s s2)... c1"),
    ("b [s2->s...] c", {"s": (2, 3)}, "b s2 c"),
    ("b [s...->s2] c", {"s2": 4}, "b s... c"),
    ("[b] ... [c]", {"c": 7}, "b ... c"),
    ("a (b + c) 3", {"b": 2}, "a (b + c) 3"),
    ("b (s...) c", {"s": (2, 2)}, "b (s...) c"),
]


@pytest.mark.parametrize(("expr", "axes", "plain"), EXPRESSIONS)
@given(data=st.data())
def test_input_shapes_satisfy_the_expression(
    expr: str, axes: dict[str, Any], plain: str, data: st.DataObject
) -> None:
    shape = data.draw(input_shapes(expr, axes))
    assert all(isinstance(d, int) and d > 0 for d in shape)
    names = set(re.findall(r"[A-Za-z_]\w*", plain))
    einx_typed.check(plain, np.empty(shape), **{k: v for k, v in axes.items() if k in names})


@given(input_shapes("b [s2->s...] c", {"s": (2, 3), "c": 4}))
def test_input_shapes_respect_given_values(shape: tuple[int, ...]) -> None:
    assert len(shape) == 3
    assert shape[2] == 4


@given(input_shapes("b... c", min_ellipsis=2, max_ellipsis=2, max_side=3))
def test_input_shapes_bounds(shape: tuple[int, ...]) -> None:
    assert len(shape) == 3
    assert max(shape) <= 3


@given(layer_specs())
def test_layer_specs_are_valid_values(spec: LayerSpec) -> None:
    assert isinstance(spec, LayerSpec)
    rebuilt = attrs.evolve(spec)
    assert rebuilt == spec
    assert hash(rebuilt) == hash(spec)


@given(specs_with_inputs())
def test_specs_with_inputs_resolve(case: tuple[LayerSpec, tuple[int, ...]]) -> None:
    spec, shape = case
    resolved = spec.resolve(shape)
    assert resolved.input_shape == shape


@given(sequential_specs())
def test_sequential_specs_resolve(case: tuple[SequentialSpec, tuple[int, ...]]) -> None:
    spec, shape = case
    resolved = spec.resolve(shape)
    assert resolved.output_shape[0] == shape[0]


def test_the_package_does_not_import_hypothesis() -> None:
    code = (
        "import sys, einx_typed, einx_typed.layers, einx_typed.config, einx_typed.__main__\n"
        "print('hypothesis' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "False", result.stderr

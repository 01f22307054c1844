"""Property tests: resolve vs apply, parameter tables vs apply, round trips, error types."""

from __future__ import annotations

import contextlib
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from einx_typed import config
from einx_typed.errors import ConfigError, EinxError, OperationError, SpecError
from einx_typed.layers import (
    ActivationSpec,
    DropoutSpec,
    LayerSpec,
    LinearSpec,
    NormSpec,
    Resolved,
    sample_init,
)
from einx_typed.testing import layer_specs, sequential_specs, specs_with_inputs

_any_spec = st.one_of(layer_specs(), sequential_specs().map(lambda case: case[0]))
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _run(resolved: Resolved, seed: int = 0) -> Any:
    rng = np.random.default_rng(seed)
    params = {k: sample_init(p.init, p.shape, rng=rng) for k, p in resolved.params.items()}
    state = {k: sample_init(p.init, p.shape, rng=rng) for k, p in resolved.state.items()}
    x = rng.normal(size=resolved.input_shape).astype("float32")
    return resolved.apply(params, x, state=state, training=True, rng=rng)


@FAST
@given(specs_with_inputs())
def test_resolved_output_shape_is_the_applied_shape(
    case: tuple[LayerSpec, tuple[int, ...]],
) -> None:
    spec, shape = case
    resolved = spec.resolve(shape)
    y, new_state = _run(resolved)
    assert tuple(y.shape) == resolved.output_shape
    assert y.dtype == np.float32
    assert set(new_state) == set(resolved.state)
    for name, param in resolved.state.items():
        assert tuple(new_state[name].shape) == param.shape


@FAST
@given(sequential_specs())
def test_sequential_output_shape_is_the_applied_shape(
    case: tuple[LayerSpec, tuple[int, ...]],
) -> None:
    spec, shape = case
    resolved = spec.resolve(shape)
    y, _ = _run(resolved)
    assert tuple(y.shape) == resolved.output_shape


@FAST
@given(specs_with_inputs(), st.data())
def test_apply_accepts_exactly_the_resolved_parameter_shapes(
    case: tuple[LayerSpec, tuple[int, ...]], data: st.DataObject
) -> None:
    spec, shape = case
    resolved = spec.resolve(shape)
    if not resolved.params:
        return
    name = data.draw(st.sampled_from(sorted(resolved.params)))
    rng = np.random.default_rng(0)
    params = {k: sample_init(p.init, p.shape, rng=rng) for k, p in resolved.params.items()}
    state = {k: sample_init(p.init, p.shape, rng=rng) for k, p in resolved.state.items()}
    params[name] = np.zeros((*resolved.params[name].shape, 2), "float32")
    with pytest.raises(OperationError, match=repr(name)):
        resolved.apply(params, np.zeros(shape, "float32"), state=state)


@FAST
@given(_any_spec)
def test_dict_round_trip(spec: LayerSpec) -> None:
    assert config.from_dict(config.to_dict(spec)) == spec


@FAST
@given(
    st.one_of(layer_specs(), sequential_specs().map(lambda case: case[0])),
    st.sampled_from(["json", "toml"]),
)
def test_text_round_trip(spec: LayerSpec, fmt: str) -> None:
    assert config.loads(config.dumps(spec, fmt), fmt) == spec


def test_file_round_trip_of_generated_specs(tmp_path: Any) -> None:
    @FAST
    @given(sequential_specs().map(lambda case: case[0]), st.sampled_from(["json", "toml"]))
    def check(spec: LayerSpec, fmt: str) -> None:
        path = tmp_path / f"spec.{fmt}"
        config.dump(spec, path)
        assert config.load(path) == spec

    check()


_junk = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 300) | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
_expr_text = st.text(alphabet="abc12 []()+.,->", max_size=16)


@FAST
@given(_expr_text, _junk, _junk)
def test_arbitrary_linear_fields_raise_only_spec_errors(expr: str, bias: Any, axes: Any) -> None:
    with contextlib.suppress(SpecError):
        LinearSpec(expr, bias=bias, axes=axes)


@FAST
@given(_expr_text, _expr_text, _junk, _junk, _junk)
def test_arbitrary_norm_and_dropout_fields_raise_only_spec_errors(
    stats: str, params: str, flag: Any, rate: Any, axes: Any
) -> None:
    for make in (
        lambda: NormSpec(stats, params, mean=flag, decay_rate=rate, axes=axes),
        lambda: NormSpec(stats, params, epsilon=rate),
        lambda: DropoutSpec(stats, rate, axes=axes),
        lambda: ActivationSpec(params, flag),
    ):
        with contextlib.suppress(SpecError):
            make()


_layer_type = st.sampled_from(["linear", "norm", "dropout", "activation", "sequential", "conv"])
_config = st.fixed_dictionaries(
    {"type": _layer_type},
    optional={
        "expr": _expr_text | _junk,
        "stats": _expr_text,
        "drop_rate": _junk,
        "decay_rate": _junk,
        "axes": st.dictionaries(st.sampled_from(["a", "b", "c", "s", "x y"]), _junk, max_size=2),
        "name": st.sampled_from(["gelu", "softmax", "swish"]) | _junk,
        "layers": st.lists(_junk | st.just("relu"), max_size=2),
        "bias": _junk,
    },
)


@FAST
@given(_config)
def test_arbitrary_configs_raise_only_config_errors(data: dict[str, Any]) -> None:
    try:
        spec = config.from_dict(data)
    except ConfigError:
        return
    assert config.from_dict(config.to_dict(spec)) == spec


@FAST
@given(st.text(max_size=60), st.sampled_from(["json", "toml"]))
def test_arbitrary_text_raises_only_config_errors(text: str, fmt: str) -> None:
    with contextlib.suppress(ConfigError):
        config.loads(text, fmt)


@FAST
@given(specs_with_inputs(), st.lists(st.integers(1, 4), min_size=1, max_size=4))
def test_mismatched_inputs_raise_einx_errors(
    case: tuple[LayerSpec, tuple[int, ...]], shape: list[int]
) -> None:
    spec, _ = case
    try:
        resolved = spec.resolve(tuple(shape))
    except EinxError:
        return
    y, _ = _run(resolved)
    assert tuple(y.shape) == resolved.output_shape


def test_resolution_is_cached() -> None:
    spec = NormSpec("[b...] c", decay_rate=0.9)
    assert spec.resolve((4, 3)) is attrs.evolve(spec).resolve([4, 3])
    assert spec.resolve((4, 3)) is not spec.resolve((4, 3), dtype="float64")


@FAST
@given(specs_with_inputs())
def test_input_free_tables_agree_with_every_input(case: tuple[LayerSpec, tuple[int, ...]]) -> None:
    spec, shape = case
    tables = spec.resolve_params()
    if tables is not None:
        resolved = spec.resolve(shape)
        assert tables == (resolved.params, resolved.state)


@pytest.mark.parametrize(
    ("spec", "shape"),
    [
        (LinearSpec("b... [c1->c2]", axes={"c1": 32, "c2": 64}), (7, 32)),
        (LinearSpec("b... [c1->c2]", axes={"c2": 64}), None),
        (LinearSpec("b [s...->s2] c", axes={"s": (4, 4), "s2": 3}), (2, 4, 4, 9)),
        (LinearSpec("b [s...->s2] c", axes={"s2": 3}), None),
        (LinearSpec("b [s2->s...] c", axes={"s2": 5, "s": (2, 3)}), (1, 5, 4)),
        (NormSpec("[b...] c", decay_rate=0.9, axes={"c": 8}), (3, 2, 8)),
        (NormSpec("b [s...] (g [c])", axes={"g": 8}), None),
        (NormSpec("b... [c]", scale=False, bias=False), (4, 5)),
        (DropoutSpec("[b] ... [c]", 0.2), (2, 3, 4)),
        (ActivationSpec("gelu"), (3,)),
    ],
)
def test_input_free_tables(spec: LayerSpec, shape: tuple[int, ...] | None) -> None:
    """``shape`` is an input the tables must match, or None where no tables exist."""
    tables = spec.resolve_params()
    if shape is None:
        assert tables is None
    else:
        resolved = spec.resolve(shape)
        assert tables == (resolved.params, resolved.state)

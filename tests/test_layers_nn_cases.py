"""Every layer anchor of nn_cases.json (einx 0.3.0 behaviour) against resolve and apply."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

from einx_typed.layers import (
    DropoutSpec,
    LecunTruncatedNormal,
    LinearSpec,
    NormSpec,
    Ones,
    Zeros,
)

_LOCAL = Path(__file__).parent / "data" / "nn_cases.json"
_SHARED = Path("/work/shared/reference/nn_cases.json")
CASES: list[dict[str, Any]] = json.loads((_LOCAL if _LOCAL.exists() else _SHARED).read_text())

INIT_OF_OP = {"add": Zeros(), "multiply": Ones()}


def _cases(layer: str) -> list[Any]:
    return [
        pytest.param(case, id=f"{i}:{case.get('expr') or case.get('stats')}")
        for i, case in enumerate(CASES)
        if case["layer"] == layer
    ]


def _norm_spec(case: dict[str, Any]) -> NormSpec:
    flags = case["flags"]
    return NormSpec(
        case["stats"],
        params=case.get("params", "b... [c]"),
        mean=flags["mean"],
        var=flags["var"],
        scale=bool(flags["scale"]),
        bias=bool(flags["bias"]),
        epsilon=flags["epsilon"],
        fastvar=flags["fastvar"],
        decay_rate=flags.get("decay_rate"),
        axes=case.get("kwargs", {}),
    )


def test_the_case_file_covers_every_layer() -> None:
    kinds = {case["layer"] for case in CASES}
    assert kinds == {"Norm", "Linear", "Dropout", "norm-function"}


@pytest.mark.parametrize("case", _cases("Norm"))
def test_norm_case(case: dict[str, Any]) -> None:
    spec = _norm_spec(case)
    expect = case["expect"]
    resolved = spec.resolve(case["x_shape"])
    assert resolved.output_shape == tuple(expect["y_shape"])
    calls = expect["param_factory_calls"]
    assert list(resolved.params) == [call["param"] for call in calls]
    for call in calls:
        param = resolved.params[call["param"]]
        assert param.shape == tuple(call["shape"])
        assert param.init == INIT_OF_OP[call["kwargs"]["init"]]
        assert param.trainable
    # The statistics shape: the EMA state of the same layer with a decay rate.
    with_ema = attrs.evolve(spec, decay_rate=0.5).resolve(case["x_shape"])
    stats_shapes = {p.shape for p in with_ema.state.values()}
    assert stats_shapes == {tuple(expect["stats_shape"])}
    assert ("mean" in with_ema.state) == expect["mean_returned"]
    assert ("var" in with_ema.state) == expect["var_returned"]
    if spec.decay_rate is None:
        assert not resolved.state
    else:
        ema_calls = expect["ema_factory_calls"]
        assert [p.shape for p in resolved.state.values()] == [tuple(c["shape"]) for c in ema_calls]
        assert [p.init for p in resolved.state.values()] == [
            INIT_OF_OP[c["kwargs"]["init"]] for c in ema_calls
        ]
        assert not any(p.trainable for p in resolved.state.values())


@pytest.mark.parametrize("case", _cases("Linear"))
def test_linear_case(case: dict[str, Any]) -> None:
    expect = case["expect"]
    axes = dict(case["kwargs"])
    calls = expect["param_factory_calls"]
    if not any(call["param"] == "weight" for call in calls):
        # The case passed the weight as a tensor of shape (s, c) = (5, 7); a spec always
        # owns its weight, so the output size comes as an axis value instead.
        axes["c"] = 7
        calls = [
            {"param": "weight", "shape": [5, 7], "kwargs": {"in_axis": [0], "init": "dot"}},
            *calls,
        ]
    spec = LinearSpec(case["expr"], bias=case["bias"], axes=axes)
    resolved = spec.resolve(case["x_shape"])
    assert resolved.output_shape == tuple(expect["y_shape"])
    assert list(resolved.params) == [call["param"] for call in calls]
    for call in calls:
        param = resolved.params[call["param"]]
        assert param.shape == tuple(call["shape"])
        if call["kwargs"]["init"] == "dot":
            assert param.init == LecunTruncatedNormal(tuple(call["kwargs"]["in_axis"]))
        else:
            assert param.init == INIT_OF_OP[call["kwargs"]["init"]]


@pytest.mark.parametrize("case", _cases("Dropout"))
def test_dropout_case(case: dict[str, Any]) -> None:
    spec = DropoutSpec(case["expr"], 0.5, axes=case["kwargs"])
    expect = case["expect"]
    assert spec.resolve(case["x_shape"]).output_shape == tuple(expect["y_shape"])
    assert spec.mask_shape(case["x_shape"]) == tuple(expect["mask_shape"])
    assert spec.mask_axes(case["x_shape"]) == tuple(expect["mask_axes"].split())


@pytest.mark.parametrize("case", _cases("norm-function"))
def test_norm_function_anchor(case: dict[str, Any]) -> None:
    """Outputs and the statistics used, read back through one EMA step with decay 0.5."""
    decay = 0.5
    spec = attrs.evolve(_norm_spec(case), decay_rate=decay)
    spec = attrs.evolve(spec, scale=False, bias=False)
    x = np.asarray(case["x_values"], dtype="float64")
    resolved = spec.resolve(x.shape, dtype="float64")
    initial = {"mean": 0.0, "var": 1.0}
    state = {k: np.full(p.shape, initial[k]) for k, p in resolved.state.items()}
    y, new_state = resolved.apply({}, x, state=state, training=True)
    expect = case["expect"]
    np.testing.assert_allclose(y, expect["y_values"], rtol=1e-9, atol=1e-12)
    if expect["mean_values"] is None:
        assert "mean" not in new_state
    else:
        batch_mean = new_state["mean"] / (1 - decay)
        np.testing.assert_allclose(batch_mean, expect["mean_values"], rtol=1e-12)
    if expect["var_values"] is None:
        assert "var" not in new_state
    else:
        batch_var = (new_state["var"] - decay) / (1 - decay)
        np.testing.assert_allclose(batch_var, expect["var_values"], rtol=1e-9, atol=1e-12)
    assert math.isfinite(float(np.sum(y)))

"""Initialisers as data: defaults per op, the dot rule, numpy sampling."""

from __future__ import annotations

import math
import pickle
from typing import Any

import numpy as np
import pytest

from einx_typed.errors import SpecError
from einx_typed.layers import (
    Constant,
    LecunTruncatedNormal,
    LinearSpec,
    Normal,
    Ones,
    TruncatedNormal,
    Zeros,
    init_for_op,
    sample_init,
)


def test_defaults_follow_the_op() -> None:
    assert init_for_op("add") == Zeros()
    assert init_for_op("multiply") == Ones()
    assert init_for_op("get_at") == Normal(0.02)
    assert init_for_op("rearrange") == Normal(0.02)
    assert init_for_op("dot", in_axis=(0, 2)) == LecunTruncatedNormal((0, 2))
    with pytest.raises(SpecError, match="no default initialiser"):
        init_for_op("subtract")


def test_lecun_sigma_follows_the_dot_rule() -> None:
    init = LecunTruncatedNormal((0, 1))
    assert init.fan_in((4, 4, 3)) == 16
    assert init.stddev((4, 4, 3)) == pytest.approx(math.sqrt(1 / 16) / 0.87962566103423978)
    assert LecunTruncatedNormal(()).fan_in((5, 7)) == 1
    with pytest.raises(SpecError, match="do not fit"):
        init.fan_in((3,))


def test_lecun_samples_are_truncated_with_variance_one_over_fan_in() -> None:
    shape = (8, 4, 8000)
    init = LecunTruncatedNormal((0, 1))
    values = sample_init(init, shape, "float64", np.random.default_rng(0))
    sigma = init.stddev(shape)
    assert np.abs(values).max() <= 2 * sigma
    assert np.abs(values).max() > 1.9 * sigma
    assert values.var() == pytest.approx(1 / 32, rel=0.02)
    assert abs(values.mean()) < 0.01 * sigma * 10


def test_normal_and_truncated_normal_samples() -> None:
    rng = np.random.default_rng(1)
    normal = sample_init(Normal(0.02, mean=1.0), (100_000,), "float64", rng)
    assert normal.mean() == pytest.approx(1.0, abs=5e-4)
    assert normal.std() == pytest.approx(0.02, rel=0.02)
    cut = sample_init(TruncatedNormal(0.5), (100_000,), "float64", rng)
    assert np.abs(cut).max() <= 1.0
    assert cut.std() == pytest.approx(0.5 * 0.87962566103423978, rel=0.02)


@pytest.mark.parametrize(
    ("init", "value"), [(Zeros(), 0.0), (Ones(), 1.0), (Constant(2.5), 2.5), (Constant(-1), -1.0)]
)
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_constant_initialisers(init: Any, value: float, dtype: str) -> None:
    values = sample_init(init, (3, 2), dtype)
    assert values.dtype == np.dtype(dtype)
    assert values.shape == (3, 2)
    assert np.all(values == value)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Normal(0.0),
        lambda: Normal(-1.0),
        lambda: TruncatedNormal(float("inf")),
        lambda: Constant("a"),
        lambda: Constant(float("nan")),
        lambda: LecunTruncatedNormal((0, -1)),
        lambda: LecunTruncatedNormal((1, 1)),
        lambda: LecunTruncatedNormal("01"),
    ],
)
def test_invalid_initialisers(make: Any) -> None:
    with pytest.raises(SpecError):
        make()


def test_initialisers_are_values() -> None:
    for init in (Zeros(), Ones(), Constant(3), Normal(0.1), LecunTruncatedNormal([1, 0])):
        assert pickle.loads(pickle.dumps(init)) == init
        assert hash(init) == hash(pickle.loads(pickle.dumps(init)))
    assert LecunTruncatedNormal([1, 0]).fan_in_axes == (1, 0)


def test_linear_weights_get_the_dot_rule_over_their_input_axes() -> None:
    resolved = LinearSpec("b (s [s2->])... [c1->c2]", axes={"s2": 4, "c2": 8}).resolve(
        (2, 16, 16, 3)
    )
    weight = resolved.params["weight"]
    assert weight.init == LecunTruncatedNormal((0, 1, 2))
    assert isinstance(weight.init, LecunTruncatedNormal)
    assert weight.init.fan_in(weight.shape) == 4 * 4 * 3
    assert resolved.params["bias"].init == Zeros()

"""The spec layer on Keras tensors: eager, symbolic (``keras.Input``) and in functional models.

The tests run in-process on the JAX Keras backend (the suite's), and once more in a
subprocess on the PyTorch Keras backend.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from einx_typed.errors import EinxError
from einx_typed.layers import (
    ActivationSpec,
    DropoutSpec,
    LayerSpec,
    LinearSpec,
    NormSpec,
    Resolved,
    SequentialSpec,
    sample_init,
)

SHAPE = (4, 6, 8)

SPECS: dict[str, LayerSpec] = {
    "linear": LinearSpec("b... [c1->c2]", axes={"c2": 5}),
    "flatten": LinearSpec("b [...->c]", axes={"c": 5}),
    "spatial": LinearSpec("b [s...->s2] c", axes={"s2": 3}),
    "layernorm": NormSpec("b... [c]"),
    "instancenorm": NormSpec("b [s...] c"),
    "groupnorm": NormSpec("b [s...] (g [c])", axes={"g": 2}),
    "batchnorm": NormSpec("[b...] c", decay_rate=0.9),
    "rmsnorm": NormSpec("b... [c]", mean=False, bias=False),
    "general_norm": NormSpec("b [s... c]"),
    "gelu": ActivationSpec("gelu"),
    "softmax": ActivationSpec("softmax", "b... [c]"),
    "dropout": DropoutSpec("[...]", 0.5),
    "droppath": DropoutSpec("[b] ...", 0.5),
    "model": SequentialSpec(
        [
            LinearSpec("b [...->c]", axes={"c": 16}),
            NormSpec("[b] c", decay_rate=0.9),
            "gelu",
            DropoutSpec("[...]", 0.2),
            LinearSpec("b... [c1->c2]", axes={"c2": 3}),
        ]
    ),
}


def _arrays(resolved: Resolved) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    params = {k: sample_init(p.init, p.shape, rng=rng) for k, p in resolved.params.items()}
    state = {k: sample_init(p.init, p.shape, rng=rng) + 0.5 for k, p in resolved.state.items()}
    return params, state


def _x(shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    return np.random.default_rng(1).standard_normal(shape).astype("float32")


@pytest.mark.parametrize("name", sorted(SPECS))
def test_eager_keras_tensors_give_the_numpy_result(name: str) -> None:
    resolved = SPECS[name].resolve(SHAPE)
    params, state = _arrays(resolved)
    expected, expected_state = resolved.apply(params, _x(), state=state)
    as_keras = {k: keras.ops.convert_to_tensor(v) for k, v in params.items()}
    y, new_state = resolved.apply(as_keras, keras.ops.convert_to_tensor(_x()), state=state)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(y), expected, rtol=1e-5, atol=1e-5)
    assert set(new_state) == set(expected_state)


@pytest.mark.parametrize("name", sorted(SPECS))
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("batch", [4, None])
def test_symbolic_inputs_give_symbolic_outputs(
    name: str, training: bool, batch: int | None
) -> None:
    resolved = SPECS[name].resolve(SHAPE)
    params, state = _arrays(resolved)
    x = keras.Input(SHAPE[1:], batch_size=batch)
    y, new_state = resolved.apply(
        params, x, state=state, training=training, rng=keras.random.SeedGenerator(0)
    )
    assert isinstance(y, keras.KerasTensor)
    assert tuple(y.shape) == (batch, *resolved.output_shape[1:])
    assert set(new_state) == set(resolved.state)
    for key, value in new_state.items():
        assert tuple(value.shape) == resolved.state[key].shape


@pytest.mark.parametrize("name", sorted(SPECS))
def test_a_functional_model_of_unknown_batch_size_predicts_like_numpy(name: str) -> None:
    resolved = SPECS[name].resolve(SHAPE)
    params, state = _arrays(resolved)
    x = keras.Input(SHAPE[1:])
    y, _ = resolved.apply(params, x, state=state)
    model = keras.Model(x, y)
    for batch in (7, 2):  # another batch size than the one resolved, twice
        data = _x((batch, *SHAPE[1:]))
        expected, _ = resolved.apply(params, data, state=state)
        predicted = model.predict(data, verbose=0)
        np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-5)


def test_dropout_on_symbolic_inputs_draws_from_the_seed_generator() -> None:
    resolved = DropoutSpec("[...]", 0.5).resolve(SHAPE)
    x = keras.Input(SHAPE[1:])
    y, _ = resolved.apply({}, x, training=True, rng=keras.random.SeedGenerator(3))
    model = keras.Model(x, y)
    data = np.ones((64, *SHAPE[1:]), "float32")
    first = keras.ops.convert_to_numpy(model(data))
    second = keras.ops.convert_to_numpy(model(data))
    predicted = model.predict(data, verbose=0)
    for out in (first, second, predicted):
        assert set(np.unique(out)) <= {0.0, 2.0}
        assert 0.4 < np.mean(out == 0) < 0.6
    # Eager calls advance the generator.  (Compiled predict does not thread the state of a
    # generator that no layer tracks; the Keras binder's layers track theirs.)
    assert not np.array_equal(first, second)


def test_a_symbolic_input_that_fits_no_layout_is_an_einx_error() -> None:
    resolved = NormSpec("b [s...] (g [c])", axes={"g": 3}).resolve((4, 6, 9))
    with pytest.raises(EinxError, match="not divisible by 3"):
        resolved.apply(_arrays(resolved)[0], keras.Input((6, 8)))


@pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND") != "jax", reason="runs the torch backend from the jax run"
)
def test_the_same_on_the_pytorch_keras_backend() -> None:
    env = {**os.environ, "KERAS_BACKEND": "torch", "CI": "true"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            __file__,
        ],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" in result.stdout

"""The ops on Keras tensors: eager (KERAS_BACKEND=jax gives jax arrays) and symbolic."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

import einx_typed as einx  # noqa: E402


def _weights() -> np.ndarray:
    return np.random.default_rng(0).random((8, 3)).astype("float32")


def test_symbolic_keras_tensors_trace_with_static_shapes() -> None:
    inp = keras.Input((6, 8), batch_size=4)
    y = einx.dot("b... [c1->c2]", inp, _weights())
    z = einx.mean("b [s] c", y)
    assert type(y).__name__ == "KerasTensor"
    assert tuple(y.shape) == (4, 6, 3)
    assert tuple(z.shape) == (4, 3)


def test_symbolic_model_matches_numpy() -> None:
    w = _weights()
    inp = keras.Input((6, 8), batch_size=4)
    out = einx.softmax("b s [c]", einx.dot("b... [c1->c2]", inp, w))
    model = keras.Model(inp, out)
    x = np.random.default_rng(1).random((4, 6, 8)).astype("float32")
    logits = x @ w
    expected = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-5)


def test_unknown_dimensions_are_a_clear_error() -> None:
    inp = keras.Input((6, 8))  # batch dimension None
    with pytest.raises(einx.OperationError, match=r"unknown length \(None\)") as info:
        einx.dot("b... [c1->c2]", inp, _weights())
    assert "batch_size" in str(info.value)

"""Resolved.apply under jax.jit / jax.grad / jax.vmap, PyTorch autograd and torch.compile."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from einx_typed.layers import (
    DropoutSpec,
    LinearSpec,
    NormSpec,
    SequentialSpec,
    sample_init,
)

MODEL = SequentialSpec(
    [
        LinearSpec("b [...->c]", axes={"c": 8}),
        NormSpec("[b] c", decay_rate=0.9),
        "gelu",
        DropoutSpec("[...]", 0.25),
        LinearSpec("b [c1->c2]", axes={"c2": 3}),
    ]
)
X_SHAPE = (6, 4, 5)


def _numpy_inputs() -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    resolved = MODEL.resolve(X_SHAPE)
    rng = np.random.default_rng(0)
    params = {k: sample_init(p.init, p.shape, rng=rng) for k, p in resolved.params.items()}
    state = {k: sample_init(p.init, p.shape, rng=rng) for k, p in resolved.state.items()}
    x = rng.normal(size=X_SHAPE).astype("float32")
    return x, params, state


def test_jax_jit_gives_the_eager_result_and_state() -> None:
    jax = pytest.importorskip("jax")
    resolved = MODEL.resolve(X_SHAPE)
    x, params, state = _numpy_inputs()
    key = jax.random.key(1)

    def run(p: Any, s: Any, x: Any, key: Any) -> Any:
        return resolved.apply(p, x, state=s, training=True, rng=key)

    eager_y, eager_state = run(params, state, jax.numpy.asarray(x), key)
    jit_y, jit_state = jax.jit(run)(params, state, x, key)
    np.testing.assert_allclose(np.asarray(jit_y), np.asarray(eager_y), rtol=1e-5, atol=1e-5)
    for name in state:
        np.testing.assert_allclose(
            np.asarray(jit_state[name]), np.asarray(eager_state[name]), rtol=1e-5, atol=1e-7
        )
        assert not np.allclose(np.asarray(jit_state[name]), state[name])


def test_jax_grad_of_a_linear_layer_matches_the_analytic_gradient() -> None:
    jax = pytest.importorskip("jax")
    resolved = LinearSpec("b... [c1->c2]", axes={"c2": 3}).resolve((2, 5, 4))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 4)).astype("float32")
    params = {"weight": rng.normal(size=(4, 3)).astype("float32"), "bias": np.zeros(3, "float32")}

    def loss(p: Any) -> Any:
        y, _ = resolved.apply(p, jax.numpy.asarray(x))
        return (y * y).sum()

    grads = jax.grad(loss)(params)
    y = x @ params["weight"] + params["bias"]
    np.testing.assert_allclose(
        np.asarray(grads["weight"]), np.einsum("bti,btj->ij", x, 2 * y), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(np.asarray(grads["bias"]), (2 * y).sum(axis=(0, 1)), rtol=1e-4)


def test_jax_vmap_over_examples_equals_the_batched_layer() -> None:
    jax = pytest.importorskip("jax")
    spec = SequentialSpec([LinearSpec("s [c1->c2]", axes={"c2": 6}), NormSpec("s [c]"), "silu"])
    single = spec.resolve((5, 4))
    batched = SequentialSpec(
        [LinearSpec("b s [c1->c2]", axes={"c2": 6}), NormSpec("b s [c]"), "silu"]
    ).resolve((3, 5, 4))
    assert dict(single.params) == dict(batched.params)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    params = {k: rng.normal(size=p.shape).astype("float32") for k, p in single.params.items()}
    mapped = jax.vmap(lambda xi: single.apply(params, xi)[0])(jax.numpy.asarray(x))
    direct, _ = batched.apply(params, jax.numpy.asarray(x))
    np.testing.assert_allclose(np.asarray(mapped), np.asarray(direct), rtol=1e-5, atol=1e-5)


def test_torch_autograd_reaches_parameters_but_not_the_ema_state() -> None:
    torch = pytest.importorskip("torch")
    resolved = MODEL.resolve(X_SHAPE)
    x, params, state = _numpy_inputs()
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    tstate = {k: torch.tensor(v) for k, v in state.items()}
    y, new_state = resolved.apply(
        tparams, torch.tensor(x), state=tstate, training=True, rng=torch.Generator().manual_seed(0)
    )
    y.square().sum().backward()
    assert all(p.grad is not None and torch.any(p.grad != 0) for p in tparams.values())
    assert not any(s.requires_grad for s in new_state.values())


def test_torch_compile_gives_the_eager_result() -> None:
    torch = pytest.importorskip("torch")
    spec = SequentialSpec(
        [LinearSpec("b [...->c]", axes={"c": 8}), NormSpec("[b] c", decay_rate=0.9)]
    )
    resolved = spec.resolve(X_SHAPE)
    rng = np.random.default_rng(0)
    params = {
        k: torch.tensor(sample_init(p.init, p.shape, rng=rng)) for k, p in resolved.params.items()
    }
    state = {
        k: torch.tensor(sample_init(p.init, p.shape, rng=rng)) for k, p in resolved.state.items()
    }
    x = torch.tensor(rng.normal(size=X_SHAPE).astype("float32"))

    def run(p: Any, s: Any, x: Any) -> Any:
        return resolved.apply(p, x, state=s, training=True)

    eager_y, eager_state = run(params, state, x)
    compiled_y, compiled_state = torch.compile(run)(params, state, x)
    np.testing.assert_allclose(compiled_y.numpy(), eager_y.numpy(), rtol=1e-5, atol=1e-5)
    for name in state:
        np.testing.assert_allclose(
            compiled_state[name].numpy(), eager_state[name].numpy(), rtol=1e-5, atol=1e-6
        )

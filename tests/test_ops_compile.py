"""Ops under jax.jit / grad / vmap and torch.compile(fullgraph=True) + autograd."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import einx_typed as einx

ROOT = Path(__file__).resolve().parent.parent


def _block(x, w, b):  # type: ignore[no-untyped-def]
    y = einx.dot("b... [c1->c2]", x, w)
    y = einx.add("b... [c]", y, b)
    y = einx.softmax("b [s] c", y)
    y = einx.rearrange("b s c -> b c s", y)
    return einx.mean("b [c s]", y) + einx.var("b [c s]", y)


def _reference(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    y = x.astype(np.float64) @ w + b
    e = np.exp(y - y.max(1, keepdims=True))
    y = e / e.sum(1, keepdims=True)
    return y.mean((1, 2)) + y.var((1, 2))


rng = np.random.default_rng(1)
X, W, B = (rng.standard_normal(s).astype(np.float32) for s in ((4, 8, 16), (16, 6), (6,)))


def test_jax_jit_grad_vmap() -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    x, w, b = jnp.asarray(X), jnp.asarray(W), jnp.asarray(B)
    np.testing.assert_allclose(jax.jit(_block)(x, w, b), _reference(X, W, B), rtol=1e-4)
    grad = jax.grad(lambda w: _block(x, w, b).sum())(w)
    assert grad.shape == W.shape and bool(jnp.all(jnp.isfinite(grad)))
    per_row = jax.vmap(lambda row: einx.sum("s [c]", row))(x)
    np.testing.assert_allclose(per_row, X.sum(-1), rtol=1e-5)


_TORCH_SCRIPT = """
import numpy as np, torch
from tests.test_ops_compile import X, W, B, _block, _reference
x, b = torch.as_tensor(X), torch.as_tensor(B)
w = torch.as_tensor(W).requires_grad_(True)
_block(x, w.detach(), b)  # plans are built eagerly; compiled code only looks them up
compiled = torch.compile(_block, fullgraph=True)
out = compiled(x, w, b)
np.testing.assert_allclose(out.detach().numpy(), _reference(X, W, B), rtol=1e-4)
out.sum().backward()
eager = torch.as_tensor(W).requires_grad_(True)
_block(x, eager, b).sum().backward()
np.testing.assert_allclose(w.grad.numpy(), eager.grad.numpy(), rtol=1e-4, atol=1e-6)
print("compiled-ok")
"""


def test_torch_compile_fullgraph_and_autograd() -> None:
    """Runs in a fresh interpreter: typeguard's instrumentation (installed by conftest)
    calls ``globals()``, which dynamo cannot trace; users never run under that hook."""
    pytest.importorskip("torch")
    env = {**os.environ, "EINX_TYPED_TYPEGUARD": "0", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", _TORCH_SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "compiled-ok" in result.stdout

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


def _indexed_block(x, w, b, idx):  # type: ignore[no-untyped-def]
    """``_block`` plus ``get_at``; used cold (no eager call first) under torch.compile."""
    y = einx.dot("b... [c1->c2]", x, w)
    y = einx.add("b... [c]", y, b)
    y = einx.softmax("b [s] c", y)
    y = einx.rearrange("b s c -> b c s", y)
    picked = einx.get_at("b [c] s, p -> b p s", y, idx)
    return einx.mean("b [c s]", y) + einx.var("b [c s]", y) + einx.sum("b [p s]", picked)


def _indexed_reference(x: np.ndarray, w: np.ndarray, b: np.ndarray, idx: np.ndarray) -> np.ndarray:
    y = x.astype(np.float64) @ w + b
    e = np.exp(y - y.max(1, keepdims=True))
    y = (e / e.sum(1, keepdims=True)).transpose(0, 2, 1)
    return y.mean((1, 2)) + y.var((1, 2)) + y[:, idx].sum((1, 2))


IDX = np.array([0, 2, 5, 2])

_TORCH_SCRIPT = """
import numpy as np, torch
from tests.test_ops_compile import X, W, B, IDX, _indexed_block, _indexed_reference
x, b, idx = torch.as_tensor(X), torch.as_tensor(B), torch.as_tensor(IDX)
w = torch.as_tensor(W).requires_grad_(True)
# Cold: no op ran eagerly before, so dynamo meets every op (and its planning) first here.
compiled = torch.compile(_indexed_block, fullgraph=True)
out = compiled(x, w, b, idx)
np.testing.assert_allclose(out.detach().numpy(), _indexed_reference(X, W, B, IDX), rtol=1e-4)
out.sum().backward()
eager = torch.as_tensor(W).requires_grad_(True)
_indexed_block(x, eager, b, idx).sum().backward()
np.testing.assert_allclose(w.grad.numpy(), eager.grad.numpy(), rtol=1e-4, atol=1e-6)
# A new batch shape recompiles with symbolic sizes; the ops specialise them.
x2 = torch.as_tensor(np.concatenate([X, X[:1]]))
again = compiled(x2, w, b, idx).detach().numpy()
np.testing.assert_allclose(again[:4], out.detach().numpy(), rtol=1e-5)
print("compiled-ok")
"""


def test_torch_compile_cold_fullgraph_and_autograd() -> None:
    """Runs in a fresh interpreter: typeguard's instrumentation (installed by conftest)
    calls ``globals()``, which dynamo cannot trace; users never run under that hook."""
    pytest.importorskip("torch")
    result = _run_script(_TORCH_SCRIPT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "compiled-ok" in result.stdout


_REGISTRATION_SCRIPT = """
import einx_typed, einx_typed.ops
from einx_typed.backends import _torch_compile
import torch  # imported after einx_typed: nothing is registered yet
from torch._dynamo.trace_rules import is_callable_allowed
assert not any(is_callable_allowed(f) for f in _torch_compile._graph_ops)
einx_typed.backends.enable_torch_compile()
einx_typed.backends.enable_torch_compile()  # idempotent
tensor_ops = set(einx_typed.ops.__all__) - {"solve", "matches", "check", "register_factory_adapter"}
registered = {f.__name__ for f in _torch_compile._graph_ops if is_callable_allowed(f)}
assert registered == tensor_ops, sorted(tensor_ops ^ registered)
assert not is_callable_allowed(einx_typed.solve)
print("registered-ok")
"""


def test_every_tensor_op_is_registered_for_torch_compile() -> None:
    """Without compiling: registration is explicit when torch comes after einx_typed, and
    it covers every public op that returns tensors."""
    pytest.importorskip("torch")
    result = _run_script(_REGISTRATION_SCRIPT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "registered-ok" in result.stdout


def _run_script(script: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EINX_TYPED_TYPEGUARD": "0", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

"""Dtype rules on torch: the ops follow NumPy's promotions where torch itself refuses.

Integer and bool inputs of mean/var/std/softmax/log_softmax/logaddexp become floats (torch's
default float dtype), a non-bool ``where`` condition selects where it is nonzero, and ``dot``
promotes operands of different dtypes. Values are compared with NumPy in float64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import einx_typed as einx

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
INTS = RNG.integers(-3, 4, size=(2, 3, 4))


@pytest.mark.parametrize(
    ("op", "reference"),
    [
        ("mean", lambda x: x.mean(-1)),
        ("var", lambda x: x.var(-1)),
        ("std", lambda x: x.std(-1)),
        (
            "softmax",
            lambda x: (
                np.exp(x - x.max(-1, keepdims=True))
                / np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)
            ),
        ),
        (
            "log_softmax",
            lambda x: (
                x
                - x.max(-1, keepdims=True)
                - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True))
            ),
        ),
    ],
)
@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_integer_inputs_become_default_floats(
    op: str, reference: Callable[[np.ndarray], np.ndarray], dtype: str
) -> None:
    values = INTS.astype(dtype)
    out = getattr(einx, op)("a b [c]", torch.as_tensor(values))
    assert out.dtype == torch.get_default_dtype()
    expected = reference(values.astype(np.float64))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)
    # numpy itself promotes too (to float64): the backends agree on the values.
    np.testing.assert_allclose(getattr(einx, op)("a b [c]", values), expected, rtol=1e-12)


def test_default_float_dtype_is_followed() -> None:
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        out = einx.mean("a [b]", torch.tensor([[1, 2], [3, 5]]))
    finally:
        torch.set_default_dtype(previous)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, torch.tensor([1.5, 4.0], dtype=torch.float64))


def test_logaddexp_of_integers() -> None:
    a, b = INTS[0], INTS[1]
    out = einx.logaddexp("b c, b c", torch.as_tensor(a), torch.as_tensor(b))
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), np.logaddexp(a, b), rtol=1e-6)


@pytest.mark.parametrize("condition_dtype", ["int64", "float32"])
def test_where_selects_where_the_condition_is_nonzero(condition_dtype: str) -> None:
    condition = np.array([0, 2, -1, 0]).astype(condition_dtype)
    x, y = np.arange(4.0), -np.arange(4.0)
    out = einx.where("a, a, a", torch.as_tensor(condition), torch.as_tensor(x), torch.as_tensor(y))
    np.testing.assert_array_equal(out.numpy(), np.where(condition, x, y))
    np.testing.assert_array_equal(einx.where("a, a, a", condition, x, y), np.where(condition, x, y))


@pytest.mark.parametrize(
    ("x_dtype", "w_dtype", "expected"),
    [
        ("float32", "float64", "float64"),
        ("int64", "float32", "float32"),
        ("float64", "float32", "float64"),
        ("int32", "int64", "int64"),
    ],
)
def test_dot_promotes_mixed_dtypes(x_dtype: str, w_dtype: str, expected: str) -> None:
    x = RNG.integers(-4, 5, size=(2, 3, 4))
    w = RNG.integers(-4, 5, size=(4, 5))
    tx = torch.as_tensor(x).to(getattr(torch, x_dtype))
    tw = torch.as_tensor(w).to(getattr(torch, w_dtype))
    for text in ("a b [c->d]", "a b c, c d -> a d"):  # a matmul, and an einsum
        out = einx.dot(text, tx, tw)
        assert out.dtype == getattr(torch, expected)
        reference: Any = np.einsum("abc,cd->abd" if "[" in text else "abc,cd->ad", x, w)
        np.testing.assert_array_equal(out.numpy(), reference)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", ["int32", "bool"])
def test_jax_softmax_of_integers_and_bools(op: str, dtype: str) -> None:
    jnp = pytest.importorskip("jax.numpy")
    values = INTS.astype(dtype)
    out = getattr(einx, op)("a b [c]", jnp.asarray(values))
    assert out.dtype == jnp.float32
    expected = getattr(einx, op)("a b [c]", values.astype(np.float64))
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-5, atol=1e-6)


def _converter(framework: str) -> Callable[[np.ndarray], Any]:
    if framework == "jax":
        return pytest.importorskip("jax.numpy").asarray
    return torch.as_tensor if framework == "torch" else np.asarray


@pytest.mark.parametrize("framework", ["numpy", "torch", "jax"])
def test_subtract_with_bools_follows_numpy(framework: str) -> None:
    convert = _converter(framework)
    mask, counts = np.array([True, False, True]), np.array([5, 6, 7])
    # A bool mixed with numbers promotes (torch itself would refuse).
    for a, b in ((mask, counts), (counts, mask)):
        out = einx.subtract("a, a", convert(a), convert(b))
        np.testing.assert_array_equal(np.asarray(out), a.astype(np.int64) - b.astype(np.int64))
    out = einx.subtract("a, ", convert(counts), True)
    np.testing.assert_array_equal(np.asarray(out), counts - 1)
    # Only bools: an error that shows the call, on every framework.
    with pytest.raises(einx.OperationError, match="every operand is bool") as info:
        einx.subtract("a, a", convert(mask), convert(mask))
    assert "Input shapes: (3,), (3,)" in str(info.value)
    with pytest.raises(einx.OperationError, match="every operand is bool"):
        einx.subtract("a, ", convert(mask), False)

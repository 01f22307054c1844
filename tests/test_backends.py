"""Backend detection, the primitive index ops, and abstract (shape-only) arrays."""

from __future__ import annotations

import numpy as np
import pytest

import einx_typed as einx
from einx_typed.backends import AbstractArray, get_backend

torch = pytest.importorskip("torch")
jnp = pytest.importorskip("jax.numpy")


def test_backend_follows_argument_types() -> None:
    x = np.ones((2, 3), np.float32)
    assert isinstance(einx.sum("a [b]", torch.as_tensor(x)), torch.Tensor)
    assert isinstance(einx.add("a b, b", torch.as_tensor(x), np.ones(3)), torch.Tensor)
    assert isinstance(einx.add("a b, b", np.ones((2, 3)), jnp.ones(3)), type(jnp.ones(1)))
    assert isinstance(einx.add("a b, b", x, [1.0, 2.0, 3.0]), np.ndarray)


def test_mixing_frameworks_or_missing_backend_is_an_error() -> None:
    with pytest.raises(einx.OperationError, match="different frameworks"):
        einx.add("a, a", torch.ones(2), jnp.ones(2))
    with pytest.raises(einx.OperationError, match="backend="):
        einx.sum("[a]", [1.0, 2.0])
    assert float(einx.sum("[a]", [1.0, 2.0], backend="torch")) == 3.0


def test_scalars_follow_the_tensor_dtype_and_device() -> None:
    x = torch.ones(3, dtype=torch.float16)
    assert einx.add("a, ", x, 2.5).dtype == torch.float16
    assert einx.dot("a [->]", x, 2).dtype == torch.float16


@pytest.mark.parametrize("name", ["numpy", "jax", "torch"])
def test_var_is_population_variance(name: str) -> None:
    backend = get_backend(name)
    x = backend.asarray(np.arange(6.0).reshape(2, 3))
    np.testing.assert_allclose(np.asarray(backend.reduce("var", x, (1,))), [2 / 3, 2 / 3])


@pytest.mark.parametrize("name", ["numpy", "jax", "torch"])
def test_gather_and_scatter_follow_numpy_indexing_without_mutation(name: str) -> None:
    backend = get_backend(name)
    x = backend.asarray(np.zeros((3, 2)))
    rows, cols = backend.asarray(np.array([0, 2, 0])), backend.asarray(np.array([1, 0, 1]))
    updates = backend.asarray(np.array([1.0, 2.0, 3.0]))
    added = np.asarray(backend.scatter(x, (rows, cols), updates, "add"))
    np.testing.assert_array_equal(added, [[0, 4], [0, 0], [2, 0]])
    subtracted = np.asarray(backend.scatter(x, (rows, cols), updates, "subtract"))
    np.testing.assert_array_equal(subtracted, -added)
    written = np.asarray(backend.scatter(x, (rows[1:], cols[1:]), updates[1:], "set"))
    np.testing.assert_array_equal(written, [[0, 3], [0, 0], [2, 0]])
    np.testing.assert_array_equal(np.asarray(x), np.zeros((3, 2)))
    source = backend.asarray(np.arange(6.0).reshape(3, 2))
    np.testing.assert_array_equal(np.asarray(backend.gather(source, (rows, cols))), [1, 4, 1])


def test_abstract_arrays_give_shapes_and_dtypes() -> None:
    x = AbstractArray((4, 16, 32), "float32")
    y = einx.dot("b... [c1->c2]", x, lambda shape: AbstractArray(shape, "float32"), c2=8)
    assert y == AbstractArray((4, 16, 8), "float32")
    assert einx.mean("b [s] c", AbstractArray((2, 5, 3), "int32")).dtype == "float64"
    assert einx.add("b... [c]", x, np.zeros(32, np.float64)).dtype == "float64"
    assert einx.less("a, ", AbstractArray((3,), "int8"), 2).dtype == "bool"
    parts = einx.rearrange("b (s + t) -> s b, b t", AbstractArray((2, 7), "float16"), s=3)
    assert parts == (AbstractArray((3, 2), "float16"), AbstractArray((2, 4), "float16"))
    with pytest.raises(einx.OperationError, match="different frameworks"):
        einx.add("a, a", AbstractArray((3,)), torch.ones(3))

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
    # Only a factory and scalars: nothing tells the framework.
    with pytest.raises(einx.OperationError, match="backend="):
        einx.add("a, ", lambda shape: np.ones(shape), 1, a=2)
    # Only Python lists/scalars: numpy, as in einx 0.3.0; an explicit backend wins.
    result = einx.sum("[a]", [1.0, 2.0])
    assert isinstance(result, np.ndarray | np.floating) and float(result) == 3.0
    torch_result = einx.sum("[a]", [1.0, 2.0], backend="torch")
    assert isinstance(torch_result, torch.Tensor) and float(torch_result) == 3.0


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


# --- normalize: the fused normalisation primitive ---------------------------------------

_NORM_LAYOUTS = {
    # name: (x shape, NormLayout fields without stats_shape, stats_shape)
    "layer": ((6, 8), (6, 1, 8, 1), (6,)),
    "group": ((3, 5, 4, 8), (3, 20, 8, 2), (3, 2)),
    "group_2d": ((6, 8), (6, 1, 8, 4), (6, 4)),
    "instance": ((3, 5, 4, 8), (3, 20, 8, 8), (3, 8)),
    "batch": ((3, 5, 4, 8), (1, 60, 8, 8), (8,)),
    "batch_2d": ((6, 8), (1, 6, 8, 8), (8,)),
    "rows": ((2, 3, 4, 8), (6, 4, 8, 1), (2, 3)),
    "one_channel": ((4, 5, 1), (4, 5, 1, 1), (4,)),
    "one_row": ((1, 8), (1, 1, 8, 2), (1, 2)),
}


def _normalize_reference(
    x: np.ndarray, fields: tuple[int, int, int, int], center: bool, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float64 statistics per (batch row, group) over length and the group's channels."""
    batch, length, channels, groups = fields
    xg = x.astype(np.float64).reshape(batch, length, groups, channels // groups)
    mean = xg.mean(axis=(1, 3), keepdims=True)
    var = xg.var(axis=(1, 3)) if center else (xg * xg).mean(axis=(1, 3))
    centered = xg - mean if center else xg
    y = centered / np.sqrt(var[:, None, :, None] + eps)
    return y.reshape(x.shape), mean.reshape(batch, groups), var


@pytest.mark.parametrize("name", ["numpy", "jax", "torch", "keras", "abstract"])
@pytest.mark.parametrize("kind", list(_NORM_LAYOUTS))
@pytest.mark.parametrize("center", [True, False])
def test_normalize_matches_float64_statistics(name: str, kind: str, center: bool) -> None:
    from einx_typed.backends.base import NormLayout

    if name == "keras":
        pytest.importorskip("keras")

    shape, fields, stats_shape = _NORM_LAYOUTS[kind]
    layout = NormLayout(*fields, stats_shape=stats_shape)
    rng = np.random.default_rng(5)
    x = rng.normal(1.0, 2.0, size=shape)
    scale, bias = rng.normal(size=fields[2]), rng.normal(size=fields[2])
    backend = get_backend(name)

    def arg(a: np.ndarray) -> object:
        if name == "abstract":
            return AbstractArray(a.shape, "float32")
        return backend.asarray(a.astype("float32"))

    y, mean, var = backend.normalize(
        arg(x), layout, arg(scale), arg(bias), epsilon=1e-3, center=center, with_stats=True
    )
    if name == "abstract":
        assert y == AbstractArray(shape, "float32")
        assert var == AbstractArray(stats_shape, "float32")
        assert mean == (var if center else None)
        return
    ref_y, ref_mean, ref_var = _normalize_reference(x, fields, center, 1e-3)
    np.testing.assert_allclose(np.asarray(y), ref_y * scale + bias, rtol=1e-4, atol=1e-4)
    assert np.asarray(y).dtype == np.float32
    np.testing.assert_allclose(np.asarray(var), ref_var.reshape(stats_shape), rtol=1e-4)
    if center:
        np.testing.assert_allclose(
            np.asarray(mean), ref_mean.reshape(stats_shape), rtol=1e-4, atol=1e-5
        )
    else:
        assert mean is None
    y_only = backend.normalize(arg(x), layout, None, None, epsilon=1e-3, center=center)
    np.testing.assert_allclose(np.asarray(y_only[0]), ref_y, rtol=1e-4, atol=1e-4)
    assert y_only[1:] == (None, None)


@pytest.mark.parametrize("name", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("kind", ["batch", "group", "layer"])
def test_normalize_uses_given_statistics(name: str, kind: str) -> None:
    from einx_typed.backends.base import NormLayout

    shape, fields, stats_shape = _NORM_LAYOUTS[kind]
    layout = NormLayout(*fields, stats_shape=stats_shape)
    rng = np.random.default_rng(6)
    x = rng.normal(size=shape)
    mean, var = rng.normal(size=stats_shape), rng.uniform(0.5, 2.0, size=stats_shape)
    scale = rng.normal(size=fields[2])
    backend = get_backend(name)
    y, new_mean, new_var = backend.normalize(
        backend.asarray(x.astype("f4")),
        layout,
        backend.asarray(scale.astype("f4")),
        None,
        epsilon=1e-5,
        center=True,
        mean=backend.asarray(mean.astype("f4")),
        var=backend.asarray(var.astype("f4")),
        with_stats=True,
    )
    batch, length, channels, groups = fields
    xg = x.reshape(batch, length, groups, channels // groups)
    m = mean.reshape(batch, 1, groups, 1)
    v = var.reshape(batch, 1, groups, 1)
    expected = ((xg - m) / np.sqrt(v + 1e-5)).reshape(shape) * scale
    np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-4, atol=1e-4)
    assert new_mean is None and new_var is None  # given statistics are not returned


@pytest.mark.parametrize("memory", ["channels_first", "strided"])
def test_torch_normalize_takes_non_contiguous_inputs_and_keeps_gradients(memory: str) -> None:
    from einx_typed.backends.base import NormLayout

    layout = NormLayout(3, 20, 8, 2, stats_shape=(3, 2))
    values = np.random.default_rng(7).normal(size=(3, 5, 4, 8))
    leaf = torch.tensor(values, dtype=torch.float32, requires_grad=True)
    if memory == "channels_first":  # (3, 5, 4, 8) stored as (3, 8, 5, 4)
        x = leaf.permute(0, 3, 1, 2).contiguous().permute(0, 2, 3, 1)
    else:  # every other element of a wider tensor: neither layout is contiguous
        x = torch.stack([leaf, leaf], dim=-1)[..., 0]
    assert not x.is_contiguous()
    y, _, _ = get_backend("torch").normalize(x, layout, None, None, epsilon=1e-5, center=True)
    ref_y, _, _ = _normalize_reference(values, (3, 20, 8, 2), True, 1e-5)
    np.testing.assert_allclose(y.detach().numpy(), ref_y, rtol=1e-4, atol=1e-4)
    (y * torch.arange(8.0)).sum().backward()
    assert leaf.grad is not None
    # A normalisation's input gradient sums to zero over each statistics group.
    grad = leaf.grad.numpy().reshape(3, 20, 2, 4)
    np.testing.assert_allclose(grad.sum(axis=(1, 3)), 0.0, atol=1e-3)
    assert np.abs(grad).max() > 1e-3

"""The JAX backend's ``normalize`` against float64 references, finite differences and Flax.

Both variance paths are covered: the two-pass variance (small inputs, and whenever the
statistics run over channels only) and the one-pass ``E[x^2] - E[x]^2`` that larger inputs
with a length axis get on CPU; the ``path`` fixture's ``one_pass`` switches the size
threshold to 0 for a test, so that the small inputs here take it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

from einx_typed.backends import _jax, _jax_norm, get_backend  # noqa: E402
from einx_typed.backends.base import NormLayout  # noqa: E402

# name: (x shape, (batch, length, channels, groups), stats_shape)
LAYOUTS: dict[str, tuple[tuple[int, ...], tuple[int, int, int, int], tuple[int, ...]]] = {
    "layer": ((3, 2, 8), (6, 1, 8, 1), (3, 2)),
    "group": ((2, 3, 2, 8), (2, 6, 8, 4), (2, 4)),
    "group_no_length": ((3, 8), (3, 1, 8, 2), (3, 2)),
    "instance": ((2, 3, 2, 8), (2, 6, 8, 8), (2, 8)),
    "batch": ((2, 3, 2, 8), (1, 12, 8, 8), (8,)),
    "batch_2d": ((5, 8), (1, 5, 8, 8), (8,)),
    "rows": ((2, 3, 4, 8), (6, 4, 8, 1), (2, 3)),
    "one_channel": ((4, 5, 1), (4, 5, 1, 1), (4,)),
}
EPS = 1e-3


@pytest.fixture(autouse=True)
def _fresh_eager_traces() -> Iterator[None]:
    """Eager calls run a jitted normalize: no trace made under another test's threshold."""
    _jax._normalize_jit.clear_cache()
    yield
    _jax._normalize_jit.clear_cache()


@pytest.fixture(params=["two_pass", "one_pass"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run the test once per variance path (``one_pass``: every input counts as large)."""
    if request.param == "one_pass":
        monkeypatch.setattr(_jax_norm, "_ONE_PASS_MIN_SIZE", 0)
    yield request.param


def _layout(kind: str) -> tuple[tuple[int, ...], NormLayout]:
    shape, fields, stats_shape = LAYOUTS[kind]
    return shape, NormLayout(*fields, stats_shape=stats_shape)


def _reference(
    x: np.ndarray,
    layout: NormLayout,
    scale: np.ndarray | None,
    bias: np.ndarray | None,
    center: bool,
    mean: np.ndarray | None = None,
    var: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """float64 ``(y, mean, var)``; statistics in ``(batch, groups)``."""
    b, n, g = layout.batch, layout.length, layout.groups
    xg = np.asarray(x, np.float64).reshape(b, n, g, layout.group_size)
    if var is None:
        mean = xg.mean(axis=(1, 3)) if center else None
        var = xg.var(axis=(1, 3)) if center else (xg * xg).mean(axis=(1, 3))
    else:
        var = np.asarray(var, np.float64).reshape(b, g)
        mean = None if mean is None or not center else np.asarray(mean, np.float64).reshape(b, g)
    centered = xg if mean is None else xg - mean[:, None, :, None]
    y = (centered / np.sqrt(var[:, None, :, None] + EPS)).reshape(b, n, layout.channels)
    if scale is not None:
        y = y * np.asarray(scale, np.float64)
    if bias is not None:
        y = y + np.asarray(bias, np.float64)
    return y.reshape(x.shape), mean, var


def _inputs(
    kind: str, seed: int = 0, offset: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, NormLayout]:
    shape, layout = _layout(kind)
    rng = np.random.default_rng(seed)
    x = rng.normal(offset, 2.0, size=shape).astype(np.float32)
    scale = rng.normal(1.0, 0.5, size=layout.channels).astype(np.float32)
    bias = rng.normal(size=layout.channels).astype(np.float32)
    return x, scale, bias, layout


def _normalize(layout: NormLayout, center: bool, **kwargs: Any) -> Callable[..., Any]:
    backend = get_backend("jax")

    def run(x: Any, scale: Any, bias: Any) -> Any:
        return backend.normalize(x, layout, scale, bias, epsilon=EPS, center=center, **kwargs)

    return run


# --- values ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(LAYOUTS))
@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_statistics_match_float64(kind: str, center: bool, affine: bool, path: str) -> None:
    x, scale, bias, layout = _inputs(kind)
    scale_, bias_ = (scale, bias) if affine else (None, None)
    y, mean, var = _normalize(layout, center, with_stats=True)(
        jnp.asarray(x),
        None if scale_ is None else jnp.asarray(scale_),
        None if bias_ is None else jnp.asarray(bias_),
    )
    ref_y, ref_mean, ref_var = _reference(x, layout, scale_, bias_, center)
    assert y.shape == x.shape and y.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(y), ref_y, rtol=1e-5, atol=1e-5)
    assert var.shape == layout.stats_shape and var.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(var), ref_var.reshape(layout.stats_shape), rtol=1e-5)
    if center:
        assert mean is not None and mean.shape == layout.stats_shape
        np.testing.assert_allclose(
            np.asarray(mean), ref_mean.reshape(layout.stats_shape), rtol=1e-5, atol=1e-6
        )
    else:
        assert mean is None
    assert _normalize(layout, center)(jnp.asarray(x), None, None)[1:] == (None, None)


@pytest.mark.parametrize("kind", ["layer", "group", "instance", "batch", "rows"])
@pytest.mark.parametrize("center", [True, False])
def test_given_statistics_are_used_and_not_returned(kind: str, center: bool) -> None:
    x, scale, bias, layout = _inputs(kind, seed=1)
    rng = np.random.default_rng(2)
    mean = rng.normal(size=layout.stats_shape).astype(np.float32)
    var = rng.uniform(0.5, 2.0, size=layout.stats_shape).astype(np.float32)
    y, new_mean, new_var = _normalize(
        layout, center, mean=jnp.asarray(mean), var=jnp.asarray(var), with_stats=True
    )(jnp.asarray(x), jnp.asarray(scale), jnp.asarray(bias))
    ref_y, _, _ = _reference(x, layout, scale, bias, center, mean, var)
    np.testing.assert_allclose(np.asarray(y), ref_y, rtol=1e-5, atol=1e-5)
    assert new_mean is None and new_var is None


@pytest.mark.parametrize("kind", ["instance", "batch", "layer"])
def test_two_pass_variance_is_exact_for_large_offsets(kind: str) -> None:
    """A mean 10^4 standard deviations from zero: ``E[x^2] - E[x]^2`` alone returns noise."""
    x, _, _, layout = _inputs(kind, seed=3, offset=2e4)
    _, mean, var = _normalize(layout, True, with_stats=True)(jnp.asarray(x), None, None)
    _, ref_mean, ref_var = _reference(x, layout, None, None, True)
    np.testing.assert_allclose(np.asarray(var), ref_var.reshape(layout.stats_shape), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(mean), ref_mean.reshape(layout.stats_shape), rtol=1e-6)


@pytest.mark.parametrize("kind", ["instance", "batch", "group"])
def test_one_pass_variance_error_grows_with_the_offset(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented bound: relative error about ``1e-7 * (1 + mean^2 / var)``."""
    monkeypatch.setattr(_jax_norm, "_ONE_PASS_MIN_SIZE", 0)
    for offset in (40.0, 400.0):  # mean / std about 20 and 200
        x, _, _, layout = _inputs(kind, seed=3, offset=offset)
        _, _, var = _normalize(layout, True, with_stats=True)(jnp.asarray(x), None, None)
        _, ref_mean, ref_var = _reference(x, layout, None, None, True)
        bound = 5e-7 * (ref_var + ref_mean**2)
        error = np.abs(np.asarray(var, np.float64).reshape(ref_var.shape) - ref_var)
        assert np.all(error <= bound), (error / bound).max()


def test_constant_and_zero_groups_have_zero_variance(path: str) -> None:
    _, layout = _layout("batch")
    x = np.zeros((2, 3, 2, 8), np.float32)
    x[..., 1] = 3.0  # constant channel; channel 0 stays zero
    x[..., 2:] = np.random.default_rng(4).normal(size=(2, 3, 2, 6))
    y, _, var = _normalize(layout, True, with_stats=True)(jnp.asarray(x), None, None)
    if path == "two_pass":
        np.testing.assert_array_equal(np.asarray(var)[:2], 0.0)
        np.testing.assert_array_equal(np.asarray(y)[..., :2], 0.0)
    else:  # E[x^2] - E[x]^2 in one XLA kernel: rounding of 9 - 9, clipped at 0, as in Flax
        assert np.all((np.asarray(var)[:2] >= 0) & (np.asarray(var)[:2] <= 1e-6 * 9))
        np.testing.assert_allclose(np.asarray(y)[..., :2], 0.0, atol=1e-5)


# --- reduced precision -----------------------------------------------------------------


@pytest.mark.parametrize("dtype, tol", [("bfloat16", 2e-2), ("float16", 2e-3)])
@pytest.mark.parametrize("kind", ["layer", "group", "instance", "batch"])
def test_half_precision_inputs(dtype: str, tol: float, kind: str, path: str) -> None:
    x, scale, bias, layout = _inputs(kind, seed=5)
    xh, sh, bh = (jnp.asarray(a).astype(dtype) for a in (x, scale, bias))
    y, mean, var = _normalize(layout, True, with_stats=True)(xh, sh, bh)
    assert y.dtype == mean.dtype == var.dtype == jnp.dtype(dtype)
    rounded = [np.asarray(a.astype(jnp.float32)) for a in (xh, sh, bh)]
    ref_y, ref_mean, ref_var = _reference(rounded[0], layout, rounded[1], rounded[2], True)
    np.testing.assert_allclose(np.asarray(y, np.float32), ref_y, rtol=tol, atol=tol * 4)
    np.testing.assert_allclose(
        np.asarray(var, np.float32), ref_var.reshape(layout.stats_shape), rtol=tol
    )
    np.testing.assert_allclose(
        np.asarray(mean, np.float32), ref_mean.reshape(layout.stats_shape), rtol=tol, atol=tol
    )
    # float32 scale and bias promote the output, as jnp arithmetic would
    y32, _, _ = _normalize(layout, True)(xh, jnp.asarray(scale), jnp.asarray(bias))
    assert y32.dtype == jnp.float32


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_statistics_accumulate_in_float32(dtype: str) -> None:
    """4096 values in one statistic: a half-precision running sum would stall far off."""
    x = np.random.default_rng(6).uniform(0.5, 1.5, size=(4096, 2)).astype(np.float32)
    xh = jnp.asarray(x).astype(dtype)
    layout = NormLayout(1, 4096, 2, 2, stats_shape=(2,))
    _, mean, var = _normalize(layout, True, with_stats=True)(xh, None, None)
    exact = np.asarray(xh.astype(jnp.float32), np.float64)
    np.testing.assert_allclose(np.asarray(mean, np.float32), exact.mean(0), rtol=4e-3)
    np.testing.assert_allclose(np.asarray(var, np.float32), exact.var(0), rtol=1e-2)


# --- gradients -------------------------------------------------------------------------


def _numeric_grads(
    fn: Callable[..., float], args: list[np.ndarray], step: float = 1e-6
) -> list[np.ndarray]:
    """Central differences of a float64 scalar function, argument by argument."""
    grads = []
    for i, arg in enumerate(args):
        grad = np.zeros_like(arg)
        for index in np.ndindex(arg.shape):
            shifted = [a.copy() for a in args]
            shifted[i][index] += step
            up = fn(*shifted)
            shifted[i][index] -= 2 * step
            grad[index] = (up - fn(*shifted)) / (2 * step)
        grads.append(grad)
    return grads


@pytest.mark.parametrize("kind", ["layer", "group", "instance", "batch", "rows"])
@pytest.mark.parametrize("center", [True, False])
def test_gradients_match_finite_differences(kind: str, center: bool, path: str) -> None:
    x, scale, bias, layout = _inputs(kind, seed=7)
    weight = np.random.default_rng(8).normal(size=x.shape)
    normalize = _normalize(layout, center)

    def loss(x: Any, scale: Any, bias: Any) -> Any:
        return jnp.sum(normalize(x, scale, bias)[0] * weight.astype(np.float32))

    grads = jax.grad(loss, argnums=(0, 1, 2))(*map(jnp.asarray, (x, scale, bias)))

    def reference(x: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> float:
        return float(np.sum(_reference(x, layout, scale, bias, center)[0] * weight))

    expected = _numeric_grads(reference, [a.astype(np.float64) for a in (x, scale, bias)])
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-3, atol=1e-3)


def test_gradients_through_given_statistics() -> None:
    x, scale, _, layout = _inputs("batch", seed=9)
    rng = np.random.default_rng(10)
    mean = rng.normal(size=layout.stats_shape)
    var = rng.uniform(0.5, 2.0, size=layout.stats_shape)
    weight = rng.normal(size=x.shape)
    backend = get_backend("jax")

    def loss(x: Any, mean: Any, var: Any) -> Any:
        y, _, _ = backend.normalize(
            x, layout, jnp.asarray(scale), None, epsilon=EPS, center=True, mean=mean, var=var
        )
        return jnp.sum(y * weight.astype(np.float32))

    args = [x.astype(np.float64), mean, var]
    grads = jax.grad(loss, argnums=(0, 1, 2))(*(jnp.asarray(a, jnp.float32) for a in args))

    def reference(x: np.ndarray, mean: np.ndarray, var: np.ndarray) -> float:
        return float(np.sum(_reference(x, layout, scale, None, True, mean, var)[0] * weight))

    for got, want in zip(grads, _numeric_grads(reference, args)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("kind", ["instance", "layer"])
def test_second_order_and_forward_mode_derivatives(kind: str, path: str) -> None:
    """Hessian-vector products (forward over reverse) agree with finite differences."""
    x, scale, bias, layout = _inputs(kind, seed=11)
    weight = jnp.asarray(np.random.default_rng(12).normal(size=x.shape).astype(np.float32))
    normalize = _normalize(layout, True)

    def loss(x: Any) -> Any:
        return jnp.sum(normalize(x, jnp.asarray(scale), jnp.asarray(bias))[0] ** 2 * weight)

    tangent = jnp.asarray(np.random.default_rng(13).normal(size=x.shape).astype(np.float32))
    _, hvp = jax.jvp(jax.grad(loss), (jnp.asarray(x),), (tangent,))
    step = 1e-2
    numeric = (
        jax.grad(loss)(jnp.asarray(x) + step * tangent)
        - jax.grad(loss)(jnp.asarray(x) - step * tangent)
    ) / (2 * step)
    np.testing.assert_allclose(np.asarray(hvp), np.asarray(numeric), rtol=2e-2, atol=2e-2)


def test_vmap_and_jit_give_the_same_values(path: str) -> None:
    x, scale, bias, layout = _inputs("instance", seed=14)
    stacked = np.stack([x, x * 3 + 5])
    normalize = _normalize(layout, True)
    batched = jax.vmap(lambda x: normalize(x, jnp.asarray(scale), jnp.asarray(bias))[0])
    y = jax.jit(batched)(jnp.asarray(stacked))
    for i in range(2):
        np.testing.assert_allclose(
            np.asarray(y[i]),
            _reference(stacked[i], layout, scale, bias, True)[0],
            rtol=1e-4,
            atol=1e-4,
        )


# --- against Flax ----------------------------------------------------------------------

SHAPE = (2, 3, 4, 8)


def _flax_cases() -> list[tuple[str, Any, Callable[[], Any]]]:
    from einx_typed.layers import NormSpec

    nn = pytest.importorskip("flax.linen")
    return [
        ("layer", NormSpec("b... [c]", epsilon=EPS), lambda: nn.LayerNorm(EPS)),
        (
            "rms",
            NormSpec("b... [c]", mean=False, bias=False, epsilon=EPS),
            lambda: nn.RMSNorm(EPS),
        ),
        (
            "group",
            NormSpec("b [s...] (g [c])", axes={"g": 4}, epsilon=EPS),
            lambda: nn.GroupNorm(num_groups=4, epsilon=EPS),
        ),
        ("instance", NormSpec("b [s...] c", epsilon=EPS), lambda: nn.InstanceNorm(EPS)),
        (
            "batch",
            NormSpec("[b...] c", decay_rate=0.9, epsilon=EPS),
            lambda: nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=EPS),
        ),
    ]


@pytest.mark.parametrize("index", range(5), ids=["layer", "rms", "group", "instance", "batch"])
def test_layers_match_flax_with_copied_parameters(index: int) -> None:
    _, spec, make = _flax_cases()[index]
    rng = np.random.default_rng(15)
    x = jnp.asarray(rng.normal(0.5, 2.0, size=SHAPE).astype(np.float32))
    resolved = spec.resolve(SHAPE)
    params = {
        k: jnp.asarray(rng.normal(1.0, 0.5, size=p.shape).astype(np.float32))
        for k, p in resolved.params.items()
    }
    state = {
        k: jnp.asarray(rng.uniform(0.5, 1.5, size=p.shape).astype(np.float32))
        for k, p in resolved.state.items()
    }
    module = make()
    weight = jnp.asarray(rng.normal(size=SHAPE).astype(np.float32))

    def ours(params: Any, x: Any) -> Any:
        y, new_state = resolved.apply(params, x, state=state, training=True)
        return jnp.sum(y * weight), (y, new_state)

    def theirs(params: Any, x: Any) -> Any:
        if not state:
            y = module.apply({"params": params}, x)
            return jnp.sum(y * weight), (y, {})
        y, mutated = module.apply(
            {"params": params, "batch_stats": state}, x, mutable=["batch_stats"]
        )
        return jnp.sum(y * weight), (y, dict(mutated["batch_stats"]))

    grads, (y, new_state) = jax.grad(ours, argnums=(0, 1), has_aux=True)(params, x)
    flax_grads, (flax_y, flax_state) = jax.grad(theirs, argnums=(0, 1), has_aux=True)(params, x)
    np.testing.assert_allclose(np.asarray(y), np.asarray(flax_y), rtol=1e-4, atol=1e-4)
    for name in new_state:
        np.testing.assert_allclose(
            np.asarray(new_state[name]), np.asarray(flax_state[name]), rtol=1e-5
        )
    assert set(new_state) == set(flax_state)
    for ours_grad, flax_grad in zip(jax.tree.leaves(grads), jax.tree.leaves(flax_grads)):
        np.testing.assert_allclose(
            np.asarray(ours_grad), np.asarray(flax_grad), rtol=1e-3, atol=1e-4
        )


def test_eager_calls_run_one_jitted_normalize_and_traces_inline_it() -> None:
    x, scale, bias, layout = _inputs("group", seed=11)
    run = _normalize(layout, True)
    _jax._normalize_jit.clear_cache()
    eager = run(jnp.asarray(x), jnp.asarray(scale), jnp.asarray(bias))[0]
    assert _jax._normalize_jit._cache_size() == 1  # concrete arrays: the jitted function
    traced = jax.jit(run)(x, scale, bias)[0]
    np.testing.assert_allclose(np.asarray(eager), np.asarray(traced), rtol=1e-6, atol=1e-6)
    jaxpr = jax.make_jaxpr(run)(x, scale, bias)
    assert not any(eqn.primitive.name in ("jit", "pjit") for eqn in jaxpr.eqns)
    # Linear too: eagerly one kernel, inlined under a trace, the same numbers.
    backend = get_backend("jax")
    w = np.random.default_rng(12).normal(size=(8, 3)).astype(np.float32)
    b = np.ones(3, np.float32)
    got = backend.linear(jnp.asarray(x), jnp.asarray(w), jnp.asarray(b))
    np.testing.assert_allclose(np.asarray(got), x @ w + b, rtol=1e-5, atol=1e-5)
    jaxpr = jax.make_jaxpr(backend.linear)(x, w, b)
    assert not any(eqn.primitive.name in ("jit", "pjit") for eqn in jaxpr.eqns)

"""Resolved layers on numpy, JAX and PyTorch against float64 numpy references.

The references below are written directly with numpy (reshape, mean, einsum); they share no
code with the layers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import pytest
from conftest import ArrayBackend

from einx_typed.errors import OperationError
from einx_typed.layers import (
    ActivationSpec,
    DropoutSpec,
    LinearSpec,
    NormSpec,
    Resolved,
    SequentialSpec,
)

EPS = 1e-5
X_SHAPE = (4, 6, 5, 16)


def _rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def _to(backend: ArrayBackend, mapping: dict[str, np.ndarray]) -> dict[str, Any]:
    return {k: backend.asarray(v.astype("float32")) for k, v in mapping.items()}


# --- Norm ------------------------------------------------------------------------------


def _normalise(x: np.ndarray, axes: tuple[int, ...], mean: bool, var: bool) -> np.ndarray:
    out = x
    if mean:
        out = out - x.mean(axis=axes, keepdims=True)
        if var:
            out = out / np.sqrt(x.var(axis=axes, keepdims=True) + EPS)
    elif var:
        out = out / np.sqrt((x * x).mean(axis=axes, keepdims=True) + EPS)
    return out


def _ref_layer(x: np.ndarray) -> np.ndarray:
    return _normalise(x, (3,), True, True)


def _ref_instance(x: np.ndarray) -> np.ndarray:
    return _normalise(x, (1, 2), True, True)


def _ref_group(x: np.ndarray) -> np.ndarray:
    groups = x.reshape(*x.shape[:3], 4, x.shape[3] // 4)
    return _normalise(groups, (1, 2, 4), True, True).reshape(x.shape)


def _ref_batch(x: np.ndarray) -> np.ndarray:
    return _normalise(x, (0, 1, 2), True, True)


def _ref_rms(x: np.ndarray) -> np.ndarray:
    return _normalise(x, (3,), False, True)


NORMS: dict[str, tuple[NormSpec, Callable[[np.ndarray], np.ndarray]]] = {
    "layer": (NormSpec("b... [c]"), _ref_layer),
    "instance": (NormSpec("b [s...] c"), _ref_instance),
    "group": (NormSpec("b [s...] (g [c])", axes={"g": 4}), _ref_group),
    "batch": (NormSpec("[b...] c", decay_rate=0.9), _ref_batch),
    "rms": (NormSpec("b... [c]", mean=False, bias=False), _ref_rms),
}


def _norm_inputs(resolved: Resolved) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = _rng()
    x = rng.normal(1.5, 2.0, size=X_SHAPE)
    params = {k: rng.normal(1.0, 0.5, size=p.shape) for k, p in resolved.params.items()}
    return x, params


def _affine(y: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    if "scale" in params:
        y = y * params["scale"]
    if "bias" in params:
        y = y + params["bias"]
    return y


@pytest.mark.parametrize("kind", list(NORMS))
@pytest.mark.parametrize("fastvar", [True, False])
def test_norm_training_matches_reference(
    kind: str, fastvar: bool, array_backend: ArrayBackend
) -> None:
    spec, reference = NORMS[kind]
    spec = NormSpec(**{**_fields(spec), "fastvar": fastvar})
    resolved = spec.resolve(X_SHAPE)
    x, params = _norm_inputs(resolved)
    state = {k: np.full(p.shape, 0.0 if k == "mean" else 1.0) for k, p in resolved.state.items()}
    y, new_state = resolved.apply(
        _to(array_backend, params),
        array_backend.asarray(x.astype("float32")),
        state=_to(array_backend, state),
        training=True,
    )
    assert array_backend.is_result(y)
    assert ArrayBackend.to_numpy(y).dtype == np.float32
    expected = _affine(reference(x), params)
    np.testing.assert_allclose(ArrayBackend.to_numpy(y), expected, rtol=2e-4, atol=2e-4)
    assert set(new_state) == set(resolved.state)


def _fields(spec: NormSpec) -> dict[str, Any]:
    return attrs.asdict(spec, recurse=False)


@pytest.mark.parametrize("kind", [k for k in NORMS if NORMS[k][0].decay_rate is None])
def test_norm_without_ema_uses_batch_statistics_in_eval(
    kind: str, array_backend: ArrayBackend
) -> None:
    spec, reference = NORMS[kind]
    resolved = spec.resolve(X_SHAPE)
    x, params = _norm_inputs(resolved)
    y, new_state = resolved.apply(
        _to(array_backend, params), array_backend.asarray(x.astype("float32")), training=False
    )
    np.testing.assert_allclose(
        ArrayBackend.to_numpy(y), _affine(reference(x), params), rtol=2e-4, atol=2e-4
    )
    assert new_state == {}


def _batch_norm_case() -> tuple[Resolved, np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    spec = NormSpec("[b...] c", decay_rate=0.9)
    resolved = spec.resolve(X_SHAPE)
    x, params = _norm_inputs(resolved)
    rng = _rng()
    state = {"mean": rng.normal(size=(16,)), "var": rng.uniform(0.5, 2.0, size=(16,))}
    return resolved, x, params, state


def test_batch_norm_ema_update_in_training(array_backend: ArrayBackend) -> None:
    resolved, x, params, state = _batch_norm_case()
    y, new_state = resolved.apply(
        _to(array_backend, params),
        array_backend.asarray(x.astype("float32")),
        state=_to(array_backend, state),
        training=True,
    )
    np.testing.assert_allclose(
        ArrayBackend.to_numpy(y), _affine(_ref_batch(x), params), rtol=2e-4, atol=2e-4
    )
    batch_mean = x.mean(axis=(0, 1, 2))
    batch_var = x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(
        ArrayBackend.to_numpy(new_state["mean"]),
        0.9 * state["mean"] + 0.1 * batch_mean,
        rtol=1e-4,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        ArrayBackend.to_numpy(new_state["var"]),
        0.9 * state["var"] + 0.1 * batch_var,
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.parametrize(
    ("training", "initializing"), [(False, False), (True, True), (False, True)]
)
def test_batch_norm_uses_ema_in_eval_and_init_phase(
    training: bool, initializing: bool, array_backend: ArrayBackend
) -> None:
    resolved, x, params, state = _batch_norm_case()
    y, new_state = resolved.apply(
        _to(array_backend, params),
        array_backend.asarray(x.astype("float32")),
        state=_to(array_backend, state),
        training=training,
        initializing=initializing,
    )
    expected = (x - state["mean"]) / np.sqrt(state["var"] + EPS)
    np.testing.assert_allclose(
        ArrayBackend.to_numpy(y), _affine(expected, params), rtol=2e-4, atol=2e-4
    )
    for name in ("mean", "var"):
        np.testing.assert_allclose(
            ArrayBackend.to_numpy(new_state[name]), state[name].astype("float32")
        )


def test_rms_norm_ema_tracks_mean_of_squares() -> None:
    resolved = NormSpec("b... [c]", mean=False, bias=False, decay_rate=0.5).resolve((3, 4))
    assert list(resolved.state) == ["var"]
    x = _rng().normal(size=(3, 4))
    _, new_state = resolved.apply(
        {"scale": np.ones(4, "float32")},
        x.astype("float32"),
        state={"var": np.ones(3, "float32")},
        training=True,
    )
    np.testing.assert_allclose(new_state["var"], 0.5 + 0.5 * (x * x).mean(axis=1), rtol=1e-5)


def test_apply_never_writes_into_its_arguments() -> None:
    resolved, x, params, state = _batch_norm_case()
    args = {k: v.astype("float32") for k, v in params.items()}
    st = {k: v.astype("float32") for k, v in state.items()}
    x32 = x.astype("float32")
    copies = (
        {k: v.copy() for k, v in args.items()},
        {k: v.copy() for k, v in st.items()},
        x32.copy(),
    )
    _, new_state = resolved.apply(args, x32, state=st, training=True)
    for before, after in zip(copies[:2], (args, st)):
        for k in before:
            np.testing.assert_array_equal(before[k], after[k])
    np.testing.assert_array_equal(copies[2], x32)
    assert all(new_state[k] is not st[k] for k in st)


def test_apply_checks_parameter_names_and_shapes() -> None:
    resolved = NormSpec("[b...] c", decay_rate=0.9).resolve((2, 3))
    good = {"scale": np.ones(3, "float32"), "bias": np.zeros(3, "float32")}
    state = {"mean": np.zeros(3, "float32"), "var": np.ones(3, "float32")}
    x = np.ones((2, 3), "float32")
    with pytest.raises(OperationError, match="missing 'bias'"):
        resolved.apply({"scale": good["scale"]}, x, state=state)
    with pytest.raises(OperationError, match="unexpected 'shift'"):
        resolved.apply({**good, "shift": good["bias"]}, x, state=state)
    with pytest.raises(OperationError, match=r"has shape \(4,\)"):
        resolved.apply({**good, "scale": np.ones(4, "float32")}, x, state=state)
    with pytest.raises(OperationError, match="state=None"):
        resolved.apply(good, x)


# --- Linear ----------------------------------------------------------------------------


def _patch_reference(x: np.ndarray, p: dict[str, np.ndarray]) -> np.ndarray:
    b, h, w, c = x.shape
    patches = x.reshape(b, h // 4, 4, w // 4, 4, c)
    return np.einsum("bipjqc,pqcd->bijd", patches, p["weight"]) + p["bias"]


LINEARS: dict[str, tuple[LinearSpec, tuple[int, ...], tuple[int, ...], Any]] = {
    "channel_mix": (
        LinearSpec("b... [c1->c2]", axes={"c2": 7}),
        (4, 8, 8, 3),
        (4, 8, 8, 7),
        lambda x, p: np.einsum("bhwc,cd->bhwd", x, p["weight"]) + p["bias"],
    ),
    "spatial_mix1": (
        LinearSpec("b [s...->s2] c", axes={"s2": 6}),
        (4, 8, 8, 3),
        (4, 6, 3),
        lambda x, p: np.einsum("bhwc,hws->bsc", x, p["weight"]) + p["bias"][:, None],
    ),
    "spatial_mix2": (
        LinearSpec("b [s2->s...] c", axes={"s": (5, 6)}),
        (4, 8, 3),
        (4, 5, 6, 3),
        lambda x, p: np.einsum("btc,tij->bijc", x, p["weight"]) + p["bias"][:, :, None],
    ),
    "patch_embed": (
        LinearSpec("b (s [s2->])... [c1->c2]", axes={"s2": 4, "c2": 7}),
        (4, 8, 8, 3),
        (4, 2, 2, 7),
        _patch_reference,
    ),
    "no_bias": (
        LinearSpec("b [...->c]", bias=False, axes={"c": 5}),
        (4, 3, 2),
        (4, 5),
        lambda x, p: np.einsum("bij,ijc->bc", x, p["weight"]),
    ),
}


@pytest.mark.parametrize("kind", list(LINEARS))
def test_linear_matches_einsum(kind: str, array_backend: ArrayBackend) -> None:
    spec, in_shape, out_shape, reference = LINEARS[kind]
    resolved = spec.resolve(in_shape)
    assert resolved.output_shape == out_shape
    rng = _rng()
    x = rng.normal(size=in_shape)
    params = {k: rng.normal(size=p.shape) for k, p in resolved.params.items()}
    y, state = resolved.apply(
        _to(array_backend, params), array_backend.asarray(x.astype("float32"))
    )
    assert state == {}
    assert tuple(ArrayBackend.to_numpy(y).shape) == out_shape
    np.testing.assert_allclose(ArrayBackend.to_numpy(y), reference(x, params), rtol=1e-4, atol=1e-4)


def test_linear_parameter_axes_name_every_dimension() -> None:
    resolved = LINEARS["patch_embed"][0].resolve((4, 8, 8, 3))
    assert resolved.params["weight"].axes == ("s2.0", "s2.1", "c1", "c2")
    assert resolved.params["bias"].axes == ("c2",)
    spatial = LINEARS["spatial_mix2"][0].resolve((4, 8, 3))
    assert spatial.params["weight"].axes == ("s2", "s.0", "s.1")
    assert spatial.params["bias"].axes == ("s.0", "s.1")


# --- Dropout ---------------------------------------------------------------------------


def _dropout_rng(backend: ArrayBackend, seed: int = 0) -> Any:
    if backend.name == "numpy":
        return np.random.default_rng(seed)
    if backend.name == "jax":
        import jax

        return jax.random.key(seed)
    import torch

    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("expr", ["[...]", "[b] ... [c]", "[b] ..."])
def test_dropout_is_identity_outside_training(expr: str, array_backend: ArrayBackend) -> None:
    resolved = DropoutSpec(expr, 0.5).resolve((3, 4, 5))
    x = array_backend.asarray(_rng().normal(size=(3, 4, 5)).astype("float32"))
    y, state = resolved.apply({}, x, training=False)
    assert y is x
    assert state == {}


@pytest.mark.parametrize("drop_rate", [0.1, 0.5])
def test_dropout_keep_rate_and_scaling(drop_rate: float, array_backend: ArrayBackend) -> None:
    shape = (64, 128, 16)
    resolved = DropoutSpec("[...]", drop_rate).resolve(shape)
    x = np.ones(shape, "float32")
    y, _ = resolved.apply(
        {}, array_backend.asarray(x), training=True, rng=_dropout_rng(array_backend)
    )
    out = ArrayBackend.to_numpy(y)
    keep = 1 - drop_rate
    kept = out[out != 0]
    np.testing.assert_allclose(kept, 1 / keep, rtol=1e-6)
    n = out.size
    measured = float(np.mean(out != 0))
    assert abs(measured - keep) <= 3 * np.sqrt(keep * (1 - keep) / n)


@pytest.mark.parametrize(
    ("expr", "shared_axes"),
    [("[b] ... [c]", (1, 2)), ("[b] ...", (1, 2, 3)), ("b... [c]", (0, 1, 2))],
)
def test_dropout_mask_is_shared_along_unbracketed_axes(
    expr: str, shared_axes: tuple[int, ...], array_backend: ArrayBackend
) -> None:
    shape = (16, 5, 6, 8)
    resolved = DropoutSpec(expr, 0.5).resolve(shape)
    x = np.ones(shape, "float32")
    y, _ = resolved.apply(
        {}, array_backend.asarray(x), training=True, rng=_dropout_rng(array_backend, 3)
    )
    kept = ArrayBackend.to_numpy(y) != 0
    assert np.array_equal(kept.all(axis=shared_axes), kept.any(axis=shared_axes))
    assert 0 < kept.mean() < 1


def test_dropout_is_reproducible_with_a_seeded_generator(array_backend: ArrayBackend) -> None:
    resolved = DropoutSpec("[...]", 0.5).resolve((8, 8))
    x = array_backend.asarray(np.ones((8, 8), "float32"))
    first, _ = resolved.apply({}, x, training=True, rng=_dropout_rng(array_backend, 7))
    second, _ = resolved.apply({}, x, training=True, rng=_dropout_rng(array_backend, 7))
    np.testing.assert_array_equal(ArrayBackend.to_numpy(first), ArrayBackend.to_numpy(second))


def test_dropout_rejects_an_rng_of_another_library() -> None:
    resolved = DropoutSpec("[...]", 0.5).resolve((2, 3))
    x = np.ones((2, 3), "float32")
    with pytest.raises(OperationError, match=r"numpy\.random\.Generator"):
        resolved.apply({}, x, training=True, rng=None)
    with pytest.raises(OperationError, match=r"got builtins\.int"):
        resolved.apply({}, x, training=True, rng=3)


def test_dropout_on_jax_needs_a_key() -> None:
    jnp = pytest.importorskip("jax.numpy")
    resolved = DropoutSpec("[...]", 0.5).resolve((2, 3))
    with pytest.raises(OperationError, match="JAX PRNG key"):
        resolved.apply({}, jnp.ones((2, 3)), training=True, rng=None)


# --- Sequential ------------------------------------------------------------------------


def test_sequential_prefixes_names_and_chains_layers(array_backend: ArrayBackend) -> None:
    spec = SequentialSpec(
        [
            LinearSpec("b [...->c]", axes={"c": 6}),
            NormSpec("[b] c", decay_rate=0.9),
            "relu",
            DropoutSpec("[...]", 0.3),
            LinearSpec("b [c1->c2]", axes={"c2": 3}),
        ]
    )
    resolved = spec.resolve((5, 2, 4))
    assert list(resolved.params) == [
        "0.weight",
        "0.bias",
        "1.scale",
        "1.bias",
        "4.weight",
        "4.bias",
    ]
    assert list(resolved.state) == ["1.mean", "1.var"]
    assert resolved.output_shape == (5, 3)
    rng = _rng()
    x = rng.normal(size=(5, 2, 4))
    params = {k: rng.normal(size=p.shape) for k, p in resolved.params.items()}
    state = {"1.mean": np.zeros(6), "1.var": np.ones(6)}
    y, new_state = resolved.apply(
        _to(array_backend, params),
        array_backend.asarray(x.astype("float32")),
        state=_to(array_backend, state),
        training=False,
    )
    h = np.einsum("bij,ijc->bc", x, params["0.weight"]) + params["0.bias"]
    h = h / np.sqrt(1 + EPS) * params["1.scale"] + params["1.bias"]
    h = np.maximum(h, 0)
    expected = h @ params["4.weight"] + params["4.bias"]
    np.testing.assert_allclose(ArrayBackend.to_numpy(y), expected, rtol=1e-4, atol=1e-4)
    assert set(new_state) == {"1.mean", "1.var"}


@pytest.mark.parametrize("name", ["gelu", "relu", "silu", "tanh", "sigmoid"])
def test_activations_agree_across_backends(name: str, array_backend: ArrayBackend) -> None:
    x = np.linspace(-4, 4, 33)
    reference = {
        "gelu": 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
        "relu": np.maximum(x, 0),
        "silu": x / (1 + np.exp(-x)),
        "tanh": np.tanh(x),
        "sigmoid": 1 / (1 + np.exp(-x)),
    }[name]
    resolved = SequentialSpec([name]).resolve((33,))
    y, _ = resolved.apply({}, array_backend.asarray(x.astype("float32")))
    np.testing.assert_allclose(ArrayBackend.to_numpy(y), reference, rtol=1e-5, atol=1e-6)


def test_softmax_activation_normalises_the_bracketed_axis(array_backend: ArrayBackend) -> None:
    x = _rng().normal(size=(3, 5))
    resolved = ActivationSpec("softmax", "b [c]").resolve((3, 5))
    y, _ = resolved.apply({}, array_backend.asarray(x.astype("float32")))
    expected = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ArrayBackend.to_numpy(y), expected, rtol=1e-5, atol=1e-6)


def test_nested_sequentials_nest_the_prefixes() -> None:
    inner = SequentialSpec(
        [LinearSpec("b [c1->c2]", axes={"c2": 4}), NormSpec("[b] c", decay_rate=0.5)]
    )
    resolved = SequentialSpec(["tanh", inner, LinearSpec("b [c1->c2]", axes={"c2": 2})]).resolve(
        (3, 5)
    )
    assert list(resolved.params) == [
        *("1.0.weight", "1.0.bias", "1.1.scale", "1.1.bias", "2.weight", "2.bias")
    ]
    assert list(resolved.state) == ["1.1.mean", "1.1.var"]
    rng = _rng()
    params = {k: rng.normal(size=p.shape).astype("float32") for k, p in resolved.params.items()}
    state = {"1.1.mean": np.zeros(4, "float32"), "1.1.var": np.ones(4, "float32")}
    x = rng.normal(size=(3, 5))
    y, new_state = resolved.apply(params, x.astype("float32"), state=state, training=True)
    h = np.tanh(x) @ params["1.0.weight"] + params["1.0.bias"]
    np.testing.assert_allclose(new_state["1.1.mean"], 0.5 * h.mean(axis=0), rtol=1e-4, atol=1e-5)
    h = (h - h.mean(axis=0)) / np.sqrt(h.var(axis=0) + EPS) * params["1.1.scale"]
    h = h + params["1.1.bias"]
    expected = h @ params["2.weight"] + params["2.bias"]
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def test_resolve_errors_keep_their_type_and_name_the_layer() -> None:
    from einx_typed.errors import AxisSizeError, RankError

    with pytest.raises(RankError) as info:
        LinearSpec("b h w [->c]", axes={"c": 3}).resolve((4, 8))
    assert "does not fit an input of shape (4, 8)" in str(info.value)
    with pytest.raises(AxisSizeError):
        NormSpec("b [s...] (g [c])", axes={"g": 3}).resolve((2, 4, 4, 8))
    with pytest.raises(RankError, match=r"SequentialSpec item layers\[1\]"):
        SequentialSpec(["relu", LinearSpec("b h [c1->c2]", axes={"c2": 2})]).resolve((4, 8))


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [((4, 0), "float32"), ((4, -1), "float32"), ((4, True), "float32"), ((4, 8), "floaty")],
)
def test_resolve_checks_its_arguments(shape: Any, dtype: str) -> None:
    with pytest.raises(OperationError, match="resolve needs"):
        NormSpec("b [c]").resolve(shape, dtype=dtype)


# --- Norm: fused and general paths ----------------------------------------------------


def _grouped_reference(
    x: np.ndarray,
    view: tuple[int, ...],
    axes: tuple[int, ...],
    mean: bool,
    var: bool,
    eps: float = EPS,
) -> np.ndarray:
    """Normalise ``x`` viewed as ``view`` over ``axes`` (float64), back in ``x``'s shape."""
    xv = x.reshape(view)
    out = xv - xv.mean(axis=axes, keepdims=True) if mean else xv
    if var:
        second = (
            xv.var(axis=axes, keepdims=True) if mean else (xv * xv).mean(axis=axes, keepdims=True)
        )
        out = out / np.sqrt(second + eps)
    return out.reshape(x.shape)


# spec and its float64 reference on inputs of X_SHAPE = (4, 6, 5, 16)
LAYOUT_CASES: dict[str, tuple[NormSpec, Callable[[np.ndarray], np.ndarray]]] = {
    # fused: stats over trailing dims, scale/bias over the last one
    "spatial_and_channels": (
        NormSpec("b [s... c]"),
        lambda x: _grouped_reference(x, X_SHAPE, (1, 2, 3), True, True),
    ),
    "layer_over_two_dims": (
        NormSpec("b s [t c]", "b s [t c]"),
        lambda x: _grouped_reference(x, X_SHAPE, (2, 3), True, True),
    ),
    "group_rms": (
        NormSpec("b [s...] (g [c])", mean=False, axes={"g": 4}),
        lambda x: _grouped_reference(x, (4, 6, 5, 4, 4), (1, 2, 4), False, True),
    ),
    "group_without_affine": (
        NormSpec("b [s...] (g [c])", scale=False, bias=False, epsilon=0.5, axes={"g": 2}),
        lambda x: _grouped_reference(x, (4, 6, 5, 2, 8), (1, 2, 4), True, True, eps=0.5),
    ),
    # general: no backend layout fits
    "batch_and_channels": (
        NormSpec("[b] s t [c]", "b... [c]"),
        lambda x: _grouped_reference(x, X_SHAPE, (0, 3), True, True),
    ),
    "params_wider_than_stats": (
        NormSpec("b... [c]", "b [s t c]"),
        lambda x: _grouped_reference(x, X_SHAPE, (3,), True, True),
    ),
    "mean_only": (
        NormSpec("b... [c]", var=False),
        lambda x: _grouped_reference(x, X_SHAPE, (3,), True, False),
    ),
    "channels_first_groups": (
        NormSpec("b [s...] ([c] g)", axes={"g": 4}),
        lambda x: _grouped_reference(
            x.reshape(4, 6, 5, 4, 4).transpose(0, 1, 2, 4, 3),
            (4, 6, 5, 4, 4),
            (1, 2, 4),
            True,
            True,
        ).transpose(0, 1, 2, 4, 3),
    ),
}


@pytest.mark.parametrize("kind", list(LAYOUT_CASES))
def test_norm_layouts_match_reference(kind: str, array_backend: ArrayBackend) -> None:
    spec, reference = LAYOUT_CASES[kind]
    resolved = spec.resolve(X_SHAPE)
    x, params = _norm_inputs(resolved)
    for training in (True, False):
        y, _ = resolved.apply(
            _to(array_backend, params),
            array_backend.asarray(x.astype("float32")),
            training=training,
        )
        expected = _affine(reference(x).reshape(X_SHAPE), params)
        np.testing.assert_allclose(ArrayBackend.to_numpy(y), expected, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize(
    ("spec", "stats_axes", "view"),
    [
        (NormSpec("b [s...] (g [c])", decay_rate=0.8, axes={"g": 4}), (1, 2, 4), (4, 6, 5, 4, 4)),
        (NormSpec("b... [c]", decay_rate=0.8), (3,), X_SHAPE),
        (NormSpec("[b...] c", mean=False, decay_rate=0.8), (0, 1, 2), X_SHAPE),
    ],
)
def test_norm_ema_of_any_layout_tracks_batch_statistics(
    spec: NormSpec, stats_axes: tuple[int, ...], view: tuple[int, ...], array_backend: ArrayBackend
) -> None:
    resolved = spec.resolve(X_SHAPE)
    x, params = _norm_inputs(resolved)
    rng = _rng()
    state = {k: rng.uniform(0.5, 1.5, size=p.shape) for k, p in resolved.state.items()}
    y, new_state = resolved.apply(
        _to(array_backend, params),
        array_backend.asarray(x.astype("float32")),
        state=_to(array_backend, state),
        training=True,
    )
    xv = x.reshape(view)
    batch = {"mean": xv.mean(axis=stats_axes), "var": xv.var(axis=stats_axes)}
    if not spec.mean:
        batch["var"] = (xv * xv).mean(axis=stats_axes)
    assert set(new_state) == set(resolved.state) == ({"mean", "var"} if spec.mean else {"var"})
    for name, value in new_state.items():
        expected = 0.8 * state[name] + 0.2 * batch[name].reshape(state[name].shape)
        np.testing.assert_allclose(ArrayBackend.to_numpy(value), expected, rtol=1e-4, atol=1e-5)
    expected_y = _grouped_reference(x, view, stats_axes, spec.mean, True)
    np.testing.assert_allclose(
        ArrayBackend.to_numpy(y), _affine(expected_y, params), rtol=2e-4, atol=2e-4
    )


@pytest.mark.parametrize(
    ("spec", "kernel"),
    [
        (NormSpec("b... [c]"), "layer_norm"),
        (NormSpec("b... [c]", mean=False, bias=False), "rms_norm"),
        (NormSpec("b [s...] (g [c])", axes={"g": 4}), "native_group_norm"),
        (NormSpec("b [s...] c"), "native_group_norm"),
        (NormSpec("[b...] c", decay_rate=0.9), "native_batch_norm"),
    ],
)
def test_torch_norms_run_one_fused_kernel(spec: NormSpec, kernel: str) -> None:
    torch = pytest.importorskip("torch")
    from torch.overrides import TorchFunctionMode

    calls: list[str] = []

    class Calls(TorchFunctionMode):  # type: ignore[misc]
        def __torch_function__(
            self, func: Any, types: Any, args: Any = (), kwargs: Any = None
        ) -> Any:
            calls.append(getattr(func, "__name__", ""))
            return func(*args, **(kwargs or {}))

    resolved = spec.resolve(X_SHAPE)
    params = {k: torch.ones(p.shape) for k, p in resolved.params.items()}
    state = {k: torch.ones(p.shape) for k, p in resolved.state.items()}
    with Calls():
        resolved.apply(params, torch.randn(X_SHAPE), state=state or None, training=True)
    assert calls.count(kernel) == 1
    # no separate reductions or elementwise steps over the input
    assert not {"mean", "var", "var_mean", "sub", "rsqrt"} & set(calls), calls


def test_torch_dropout_of_every_element_uses_the_global_generator() -> None:
    torch = pytest.importorskip("torch")
    shape = (64, 128, 16)
    resolved = DropoutSpec("[...]", 0.25).resolve(shape)
    x = torch.ones(shape)
    torch.manual_seed(11)
    first, _ = resolved.apply({}, x, training=True)
    torch.manual_seed(11)
    second, _ = resolved.apply({}, x, training=True)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    out = first.numpy()
    np.testing.assert_allclose(out[out != 0], 1 / 0.75, rtol=1e-6)
    assert abs(float(np.mean(out != 0)) - 0.75) <= 3 * np.sqrt(0.75 * 0.25 / out.size)
    other, _ = resolved.apply({}, x, training=True)
    assert not torch.equal(first, other)

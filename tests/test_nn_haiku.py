"""einx_typed.nn.haiku: the tutorial's Haiku code, numerics against Resolved.apply and the
native Haiku layers, and golden parameter tables."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _tutorial import tutorial_layers

import einx_typed as einx
import einx_typed.config
import einx_typed.nn.haiku as einn
from einx_typed.layers import DropoutSpec, LayerSpec, LinearSpec, NormSpec

GOLDEN = Path(__file__).parent / "data" / "haiku_golden"
SPECS = Path(__file__).parent.parent / "specs"
X_SHAPE = (4, 16, 16, 32)
KEY = jax.random.key(0)

Forward = Callable[..., jax.Array]

# Every layer variant of the tutorial: (constructor, input shape, documented output shape).
TUTORIAL_LAYERS = tutorial_layers(einn, X_SHAPE, mix2_input=(4, 16, 32))

SPEC_MODELS = {
    "digits_mlp": (SPECS / "digits_mlp.toml", (4, 8, 8)),
    "digits_mixer": (SPECS / "digits_mixer.toml", (4, 8, 8)),
    "tutorial_catalogue": (SPECS / "tutorial_catalogue.toml", (2, 16, 16, 3)),
}


def _x(shape: tuple[int, ...], seed: int = 0, dtype: Any = np.float32) -> jax.Array:
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


def _layer(make: Callable[[], einn.LayerModule]) -> hk.TransformedWithState:
    return hk.transform_with_state(lambda x, training: make()(x, training))


def _init(model: Any, x: jax.Array, *args: Any) -> tuple[Any, Any]:
    """Parameters and state of ``model``'s structure with random values, without running
    its init (Haiku's truncated normal takes seconds to compile on CPU per shape)."""
    params, state = jax.eval_shape(lambda x: model.init(KEY, x, *args), x)
    rng = np.random.default_rng(1)

    def fill(low: float, high: float) -> Callable[[Any], jax.Array]:
        return lambda a: jnp.asarray(rng.uniform(low, high, a.shape), a.dtype)

    return jax.tree.map(fill(-1.0, 1.0), params), jax.tree.map(fill(0.5, 1.5), state)


def _shapes(tree: Any) -> Any:
    return jax.tree.map(lambda a: (tuple(a.shape), str(a.dtype)), tree)


# ----------------------------------------------------------------------------- tutorial


def test_tutorial_linear_with_lambda_factories() -> None:
    # The tutorial's first Haiku Linear, as written (with einx_typed as einx).
    class Linear(hk.Module):
        def __call__(self, x: jax.Array) -> jax.Array:
            w = lambda shape: hk.get_parameter(  # noqa: E731
                name="weight",
                shape=shape,
                dtype="float32",
                init=hk.initializers.VarianceScaling(1.0, "fan_in", "truncated_normal"),
            )
            b = lambda shape: hk.get_parameter(  # noqa: E731
                name="bias", shape=shape, dtype="float32", init=hk.initializers.Constant(0.0)
            )

            x = einx.dot("b... [c1->c2]", x, w, c2=64)
            x = einx.add("b... [c2]", x, b)
            return x

    model = hk.transform(lambda x: Linear()(x))
    x = _x((8, 32))
    params = model.init(KEY, x)
    assert _shapes(params) == {
        "linear": {"weight": ((32, 64), "float32"), "bias": ((64,), "float32")}
    }
    w, b = params["linear"]["weight"], params["linear"]["bias"]
    y = model.apply(params, None, x)
    np.testing.assert_allclose(y, x @ w + b, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(jax.jit(model.apply)(params, None, x), y)
    grads = jax.grad(lambda p: model.apply(p, None, x).sum())(params)
    np.testing.assert_allclose(grads["linear"]["bias"], np.full(64, 8.0))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_tutorial_linear_with_einn_param_takes_the_module_dtype(dtype: str) -> None:
    class Linear(hk.Module):
        def __call__(self, x: jax.Array) -> jax.Array:
            x = einx.dot("... [c1->c2]", x, einn.param(), c2=64)
            x = einx.add("... [c2]", x, einn.param())
            return x

    Linear.dtype = dtype  # type: ignore[attr-defined]  # the tutorial's class attribute
    model = hk.transform(lambda x: Linear()(x))
    x = _x((8, 32))
    params = model.init(KEY, x)
    assert _shapes(params) == {"linear": {"weight": ((32, 64), dtype), "bias": ((64,), dtype)}}
    sigma = math.sqrt(1 / 32) / 0.87962566103423978  # LeCun normal, truncated at 2 sigma
    assert float(jnp.abs(params["linear"]["weight"].astype(jnp.float32)).max()) <= 2 * sigma + 1e-2
    y = jax.jit(model.apply)(params, None, x)
    assert y.shape == (8, 64)
    grads = jax.grad(lambda p: model.apply(p, None, x).astype(jnp.float32).sum())(params)
    assert _shapes(grads) == _shapes(params)


def test_tutorial_param_forms_create_parameters_and_state() -> None:
    # The five forms the tutorial lists, each on its own module.
    forms: dict[str, Callable[[jax.Array], jax.Array]] = {
        "param_get_parameter": lambda x: einx.add("... [c]", x, einn.param(hk.get_parameter)),
        "param_default": lambda x: einx.add("... [c]", x, einn.param()),
        "get_parameter": lambda x: einx.add("... [c]", x, hk.get_parameter),
        "param_get_state": lambda x: einx.add("... [c]", x, einn.param(hk.get_state)),
        "get_state": lambda x: einx.add("... [c]", x, hk.get_state),
    }

    class Form(hk.Module):
        def __init__(self, name: str) -> None:
            super().__init__(name=name)
            self.form = forms[name]

        def __call__(self, x: jax.Array) -> jax.Array:
            return self.form(x)

    def forward(x: jax.Array) -> jax.Array:
        return sum((Form(name)(x) for name in forms), start=jnp.zeros_like(x))

    model = hk.transform_with_state(forward)
    x = _x((2, 3, 4))
    params, state = model.init(KEY, x)
    bias = ((4,), "float32")
    assert _shapes(params) == {
        "param_get_parameter": {"bias": bias},
        "param_default": {"bias": bias},
        "get_parameter": {"bias": bias},
    }
    assert _shapes(state) == {"param_get_state": {"bias": bias}, "get_state": {"bias": bias}}
    y, _ = jax.jit(model.apply)(params, state, None, x)
    np.testing.assert_allclose(y, 5 * x)  # zeros added
    grads = jax.grad(lambda p: model.apply(p, state, None, x)[0].sum())(params)
    assert all(np.all(g == 6.0) for g in jax.tree.leaves(grads))


def test_lambda_factory_and_einn_param_give_the_same_parameter() -> None:
    init = hk.initializers.VarianceScaling(1.0, "fan_in", "truncated_normal")
    w1 = lambda shape: hk.get_parameter(  # noqa: E731
        name="weight", shape=shape, dtype="float32", init=init
    )
    w2 = einn.param(name="weight", dtype="float32", init=init)
    x = _x((3, 7))
    results = []
    for w in (w1, w2):
        model = hk.transform(lambda x, w=w: einx.dot("b [c1->c2]", x, w, c2=5))
        params = model.init(KEY, x)
        results.append((params, model.apply(params, None, x)))
    (params1, y1), (params2, y2) = results
    assert _shapes(params1) == {"~": {"weight": ((7, 5), "float32")}}
    np.testing.assert_array_equal(params1["~"]["weight"], params2["~"]["weight"])
    np.testing.assert_array_equal(y1, y2)


def test_param_arguments_override_the_defaults() -> None:
    def forward(x: jax.Array) -> jax.Array:
        # Initialize bias with non-zero values
        x = einx.add("b... [c]", x, einn.param(init=hk.initializers.RandomNormal(stddev=0.02)))
        # Initialize layerscale with small value
        x = einx.multiply("b... [c]", x, einn.param(init=1e-5, name="layerscale"))
        return x

    model = hk.transform(forward)
    x = _x((3, 4000))
    params = model.init(KEY, x)["~"]
    assert set(params) == {"bias", "layerscale"}
    assert np.all(params["layerscale"] == np.float32(1e-5))
    assert 0.015 < float(jnp.std(params["bias"])) < 0.025
    np.testing.assert_allclose(model.apply({"~": params}, None, x), (x + params["bias"]) * 1e-5)


@pytest.mark.parametrize("name", sorted(TUTORIAL_LAYERS))
def test_tutorial_layers_train_evaluate_and_differentiate_under_jit(name: str) -> None:
    make, in_shape, out_shape = TUTORIAL_LAYERS[name]
    model = _layer(make)
    x = _x(in_shape)
    params, state = _init(model, x, True)

    @jax.jit
    def step(params: Any, state: Any, x: jax.Array) -> Any:
        def loss(params: Any, x: jax.Array) -> Any:
            y, _ = model.apply(params, state, jax.random.key(1), x, True)
            return jnp.sum(y * y), y

        grads, y = jax.grad(loss, argnums=(0, 1), has_aux=True)(params, x)
        evaluated, _ = model.apply(params, state, None, x, False)
        return grads, y, evaluated

    (param_grads, x_grad), y, evaluated = step(params, state, x)
    assert y.shape == evaluated.shape == out_shape and y.dtype == jnp.float32
    assert _shapes(param_grads) == _shapes(params) and x_grad.shape == x.shape
    assert bool(jnp.all(jnp.isfinite(x_grad))) and bool(jnp.any(x_grad != 0))
    if name.endswith(("dropout", "droppath")):
        np.testing.assert_array_equal(evaluated, x)  # the identity in evaluation
        kept = np.asarray(y != 0)
        np.testing.assert_allclose(np.asarray(y)[kept], np.asarray(x)[kept] / 0.8, rtol=1e-6)
        if name == "droppath":  # one draw per sample (4 of them): kept or dropped whole
            assert all(np.all(k) or not np.any(k) for k in kept)
        else:
            assert 0.6 < float(np.mean(kept)) < 0.95


def test_tutorial_net_trains_and_switches_modes() -> None:
    # The tutorial's fully-connected classifier, written for Haiku.
    class Net(hk.Module):
        def __call__(self, x: jax.Array, training: bool) -> jax.Array:
            for c in [64, 32]:
                x = einn.Linear("b [...->c]", c=c)(x)
                x = einn.Norm("[b] c", decay_rate=0.99)(x, training=training)
                x = jax.nn.gelu(x)
                x = einn.Dropout("[...]", drop_rate=0.2)(x, training=training)
            x = einn.Linear("b [...->c]", c=10)(x)  # 10 classes
            return x

    model = hk.transform_with_state(lambda x, training: Net()(x, training))
    x = _x((16, 8, 8))
    params, state = model.init(KEY, x, training=True)
    assert set(params) == {
        "net/linear",
        "net/linear_1",
        "net/linear_2",
        "net/norm",
        "net/norm_1",
    }
    assert set(state) == {"net/norm", "net/norm_1"}
    assert np.all(state["net/norm"]["mean"] == 0) and np.all(state["net/norm"]["var"] == 1)
    apply = jax.jit(model.apply, static_argnames="training")
    y, new_state = apply(params, state, jax.random.key(1), x, training=True)
    assert y.shape == (16, 10)
    assert not np.array_equal(new_state["net/norm"]["mean"], state["net/norm"]["mean"])
    evaluated, same_state = apply(params, new_state, None, x, training=False)
    np.testing.assert_array_equal(apply(params, new_state, None, x, training=False)[0], evaluated)
    assert jax.tree.all(jax.tree.map(np.array_equal, same_state, new_state))


# ----------------------------------------------------------------------------- numerics

NORM_STATS = {
    "layernorm": ("b... [c]", {}),
    "instancenorm": ("b [s...] c", {}),
    "groupnorm": ("b [s...] (g [c])", {"g": 4}),
    "batchnorm": ("[b...] c", {}),
}


def _flat(tree: Any, module: str) -> dict[str, jax.Array]:
    return dict(tree.get(module, {}))


NORM_SETTINGS = [
    {"mean": mean, "scale": scale, "decay_rate": decay_rate}
    for mean in (True, False)
    for scale in (True, False)
    for decay_rate in (None, 0.9)
]


@pytest.mark.parametrize("form", sorted(NORM_STATS))
def test_norm_forms_equal_resolved_apply_eager_and_jitted(form: str) -> None:
    # Every combination of mean, scale and decay_rate, in training and evaluation: one
    # model holding all of them, so that one jit compiles them all.
    stats, axes = NORM_STATS[form]
    specs = [NormSpec(stats, axes=axes, **settings) for settings in NORM_SETTINGS]  # type: ignore[arg-type]
    x = _x((3, 4, 5, 8)) * 2 + 1

    def forward(x: jax.Array, training: bool) -> list[jax.Array]:
        return [einn.Norm(spec, name=f"norm{i}")(x, training) for i, spec in enumerate(specs)]

    model = hk.transform_with_state(forward)
    params, state = model.init(KEY, x, True)
    params = jax.tree.map(lambda p: p + 0.25, params)  # not the initial ones and zeros
    state = jax.tree.map(lambda s: s * 0.5 + 0.75, state)
    resolved = [spec.resolve(x.shape) for spec in specs]

    def ours(params: Any, state: Any, x: jax.Array) -> Any:
        return [model.apply(params, state, None, x, training) for training in (True, False)]

    def reference(params: Any, state: Any, x: jax.Array) -> Any:
        return [
            [
                r.apply(
                    params.get(f"norm{i}", {}), x, state=state.get(f"norm{i}"), training=training
                )
                for i, r in enumerate(resolved)
            ]
            for training in (True, False)
        ]

    for run_ours, run_reference in ((ours, reference), (jax.jit(ours), jax.jit(reference))):
        got = run_ours(params, state, x)
        expected = run_reference(params, state, x)
        for (ys, new_state), references in zip(got, expected):
            for i, (y, (y_ref, state_ref)) in enumerate(zip(ys, references)):
                np.testing.assert_array_equal(y, y_ref)
                assert _flat(new_state, f"norm{i}").keys() == state_ref.keys()
                for name, value in state_ref.items():
                    np.testing.assert_array_equal(new_state[f"norm{i}"][name], value)
    (_, trained), (_, evaluated) = got
    assert jax.tree.all(jax.tree.map(np.array_equal, evaluated, state))  # evaluation keeps it
    for i, spec in enumerate(specs):
        assert (f"norm{i}" in state) == (spec.decay_rate is not None)
        if spec.decay_rate is not None:  # training updates the statistics
            assert not np.array_equal(trained[f"norm{i}"]["var"], state[f"norm{i}"]["var"])


@pytest.mark.parametrize(
    "spec",
    [
        LinearSpec("b... [c1->c2]", axes={"c2": 6}),
        LinearSpec("b [s...->s2] c", axes={"s2": 5}, bias=False),
        LinearSpec("b (s [s2->])... [c1->c2]", axes={"s2": 2, "c2": 6}),
        DropoutSpec("[...]", 0.3),
        DropoutSpec("[b] ... [c]", 0.3),
        DropoutSpec("[b] ...", 0.3),
    ],
    ids=str,
)
def test_linear_and_dropout_equal_resolved_apply(spec: LayerSpec) -> None:
    model = _layer(lambda: einn.from_spec(spec))
    x = _x((3, 4, 6, 8))
    params, state = _init(model, x, True)
    resolved = spec.resolve(x.shape)
    module = "linear" if isinstance(spec, LinearSpec) else "dropout"
    key = jax.random.key(7)
    drawn = next(hk.PRNGSequence(key))  # what hk.next_rng_key() gives the module
    for training in (True, False):
        y, _ = model.apply(params, state, key, x, training)
        expected, _ = resolved.apply(_flat(params, module), x, training=training, rng=drawn)
        np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("model_name", sorted(SPEC_MODELS))
def test_spec_models_equal_resolved_apply_with_gradients(model_name: str) -> None:
    path, shape = SPEC_MODELS[model_name]
    spec = einx_typed.config.load(path)
    model = _layer(lambda: einn.from_spec(spec))
    x = _x(shape)
    params, state = _init(model, x, True)
    resolved = spec.resolve(shape)
    key = jax.random.key(3)

    def ours(params: Any, x: jax.Array) -> Any:
        y, new_state = model.apply({"sequential": params}, state, key, x, True)
        return jnp.sum(jnp.sin(y)), (y, new_state.get("sequential", {}))

    def reference(params: Any, x: jax.Array) -> Any:
        drawn = next(hk.PRNGSequence(key))  # what hk.next_rng_key() gives the module
        y, new_state = resolved.apply(
            params, x, state=state.get("sequential", {}), training=True, rng=drawn
        )
        return jnp.sum(jnp.sin(y)), (y, new_state)

    got, expected = (
        jax.jit(jax.grad(f, argnums=(0, 1), has_aux=True))(params["sequential"], x)
        for f in (ours, reference)
    )
    assert jax.tree.structure(got) == jax.tree.structure(expected)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
        np.testing.assert_array_equal(a, b)


def _native(
    ours: Callable[[], einn.LayerModule],
    native: Callable[[], Callable[[jax.Array, bool], jax.Array]],
    names: dict[str, str],
    x: jax.Array,
    *,
    training: bool = True,
    sync_state: Callable[[dict[str, jax.Array], Any], Any] | None = None,
) -> None:
    """Ours and the native Haiku layer with the same parameters (and EMA statistics, through
    ``sync_state``): outputs and gradients with respect to parameters and input."""
    mine = _layer(ours)
    theirs = hk.transform_with_state(lambda x, training: native()(x, training))
    params, state = _init(mine, x, True)
    (module,) = params
    native_params, native_state = _init(theirs, x, True)
    (native_module,) = native_params
    native_shapes = {k: v.shape for k, v in native_params[native_module].items()}
    native_params = {  # hk.BatchNorm keeps size-1 axes in its parameters
        native_module: {
            names[k]: v.reshape(native_shapes[names[k]]) for k, v in params[module].items()
        }
    }
    if sync_state is not None:
        native_state = sync_state(state[module], native_state)

    def loss(run: Callable[..., Any], params: Any, state: Any, x: jax.Array) -> Any:
        y, new_state = run(params, state, None, x, training)
        return jnp.sum(y * jnp.cos(y)), (y, new_state)

    grad = jax.jit(jax.grad(loss, argnums=(1, 3), has_aux=True), static_argnums=0)
    (g_params, g_x), (y, _) = grad(mine.apply, params, state, x)
    (n_params, n_x), (y_native, _) = grad(theirs.apply, native_params, native_state, x)
    np.testing.assert_allclose(y, y_native, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(g_x, n_x, rtol=1e-4, atol=1e-4)
    for ours_name, native_name in names.items():
        np.testing.assert_allclose(
            g_params[module][ours_name],
            n_params[native_module][native_name].reshape(g_params[module][ours_name].shape),
            rtol=1e-4,
            atol=1e-3,
        )


def test_linear_matches_hk_linear() -> None:
    _native(
        lambda: einn.Linear("b... [c1->c2]", c2=24),
        lambda: _no_training(hk.Linear(24)),
        {"weight": "w", "bias": "b"},
        _x((6, 5, 16)),
    )


def test_layernorm_matches_hk_layernorm() -> None:
    _native(
        lambda: einn.Norm("b... [c]"),
        lambda: _no_training(hk.LayerNorm(-1, create_scale=True, create_offset=True, eps=1e-5)),
        {"scale": "scale", "bias": "offset"},
        _x((4, 9, 32)) * 3 + 1,
    )


def test_rmsnorm_matches_hk_rmsnorm() -> None:
    _native(
        lambda: einn.Norm("b... [c]", mean=False, bias=False),
        lambda: _no_training(hk.RMSNorm(-1, eps=1e-5)),
        {"scale": "scale"},
        _x((4, 9, 32)) * 3 + 1,
    )


def test_groupnorm_and_instancenorm_match_hk() -> None:
    x = _x((3, 5, 6, 32)) * 3 + 1
    _native(
        lambda: einn.Norm("b [s...] (g [c])", g=8),
        lambda: _no_training(hk.GroupNorm(8, eps=1e-5)),
        {"scale": "scale", "bias": "offset"},
        x,
    )
    _native(
        lambda: einn.Norm("b [s...] c"),
        lambda: _no_training(hk.InstanceNorm(True, True, eps=1e-5)),
        {"scale": "scale", "bias": "offset"},
        x,
    )


def _no_training(module: hk.Module) -> Callable[[jax.Array, bool], jax.Array]:
    return lambda x, training: module(x)


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_matches_hk_batchnorm(training: bool) -> None:
    decay = 0.8

    def sync(ours: dict[str, jax.Array], native: Any) -> Any:
        native = jax.tree.map(lambda a: a, native)
        for name in ("mean", "var"):
            ema = native[f"batch_norm/~/{name}_ema"]
            ema["average"] = ours[name].reshape(ema["average"].shape)
        return native

    _native(
        lambda: einn.Norm("[b...] c", decay_rate=decay),
        lambda: hk.BatchNorm(True, True, decay, eps=1e-5),
        {"scale": "scale", "bias": "offset"},
        _x((10, 3, 6)) * 3 + 1,
        training=training,
        sync_state=sync,
    )


def test_batchnorm_statistics_track_hk_batchnorm() -> None:
    # hk.BatchNorm keeps zero-debiased averages; its "hidden" EMA is the spec's EMA.
    decay = 0.8
    ours = _layer(lambda: einn.Norm("[b] c", decay_rate=decay))
    native = hk.transform_with_state(
        lambda x, training: hk.BatchNorm(True, True, decay, eps=1e-5)(x, training)
    )
    x = _x((10, 6)) * 3 + 1
    params, state = ours.init(KEY, x, True)
    native_params, native_state = native.init(KEY, x, True)
    native_params = {
        "batch_norm": {
            "scale": params["norm"]["scale"][None],  # hk.BatchNorm keeps the size-1 axis
            "offset": params["norm"]["bias"][None],
        }
    }
    apply, native_apply = (
        jax.jit(ours.apply, static_argnums=4),
        jax.jit(native.apply, static_argnums=4),
    )
    for step in range(4):
        x = _x((10, 6), seed=step + 1) * 3 + 1
        y, state = apply(params, state, None, x, True)
        y_native, native_state = native_apply(native_params, native_state, None, x, True)
        np.testing.assert_allclose(y, y_native, rtol=1e-5, atol=1e-5)
        for ours_name, ema in (("mean", "mean_ema"), ("var", "var_ema")):
            hidden = native_state[f"batch_norm/~/{ema}"]["hidden"][0]
            initial = 0.0 if ours_name == "mean" else decay ** (step + 1)  # ours starts at 1
            np.testing.assert_allclose(
                state["norm"][ours_name], hidden + initial, rtol=1e-5, atol=1e-5
            )
    # Evaluation normalises with the tracked statistics, as hk.BatchNorm does with its own.
    for name, ema in (("mean", "mean_ema"), ("var", "var_ema")):
        native_state[f"batch_norm/~/{ema}"]["average"] = state["norm"][name][None]
    y, _ = apply(params, state, None, x, False)
    y_native, _ = native_apply(native_params, native_state, None, x, False)
    np.testing.assert_allclose(y, y_native, rtol=1e-5, atol=1e-5)


def test_dot_init_is_truncated_lecun_normal() -> None:
    model = _layer(lambda: einn.Linear("b [c1->c2]", c2=2000))
    params, _ = model.init(KEY, _x((1, 50)), True)
    w = np.asarray(params["linear"]["weight"], np.float64)
    sigma = math.sqrt(1 / 50) / 0.87962566103423978
    assert float(np.abs(w).max()) <= 2 * sigma + 1e-6
    assert abs(float(w.var()) - 1 / 50) < 0.05 / 50
    assert np.all(params["linear"]["bias"] == 0)


# ----------------------------------------------------------------------------- golden tables

GOLDEN_VARIANTS: dict[str, tuple[Callable[[], einn.LayerModule], tuple[int, ...]]] = {
    **{name: (make, shape) for name, (make, shape, _) in TUTORIAL_LAYERS.items()},
    "groupnorm_ema": (lambda: einn.Norm("[b s...] (g [c])", g=8, decay_rate=0.9), X_SHAPE),
    "norm_no_mean_no_scale_ema": (
        lambda: einn.Norm("b... [c]", mean=False, scale=False, decay_rate=0.9),
        X_SHAPE,
    ),
    "linear_no_bias_bfloat16": (
        lambda: einn.Linear("b... [c1->c2]", c2=16, bias=False, dtype="bfloat16"),
        X_SHAPE,
    ),
    "activation": (lambda: einn.Activation("gelu"), X_SHAPE),
    **{
        name: (lambda path=path: einn.from_spec(einx_typed.config.load(path)), shape)
        for name, (path, shape) in SPEC_MODELS.items()
    },
}


def _table(tree: Any) -> dict[str, str]:
    """``{"module/name": "float32 (32, 64)"}`` for every array of a Haiku tree."""
    return {
        f"{module}/{name}": f"{value.dtype} {tuple(value.shape)}"
        for module, values in tree.items()
        for name, value in values.items()
    }


@pytest.mark.parametrize("variant", sorted(GOLDEN_VARIANTS))
def test_parameter_and_state_tables_match_the_golden_files(variant: str) -> None:
    make, shape = GOLDEN_VARIANTS[variant]
    model = _layer(make)
    params, state = jax.eval_shape(
        lambda x: model.init(KEY, x, True), jax.ShapeDtypeStruct(shape, jnp.float32)
    )
    table = {
        "input_shape": list(shape),
        "params": _table(params),
        "state": _table(state),
    }
    path = GOLDEN / f"{variant}.json"
    if os.environ.get("EINX_TYPED_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    assert path.exists(), f"no golden file {path}; run with EINX_TYPED_UPDATE_GOLDEN=1"
    assert table == json.loads(path.read_text())


# ----------------------------------------------------------------------------- kit additions

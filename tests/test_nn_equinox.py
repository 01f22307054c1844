"""einx_typed.nn.equinox: the tutorial's layers and snippets, numerics, the Equinox protocol.

Modules are used the way Equinox users use theirs: as pytrees under ``eqx.filter_jit`` and
``eqx.filter_grad``, with ``eqx.nn.make_with_state``/``eqx.nn.State`` for EMA statistics,
``eqx.nn.inference_mode``, ``jax.vmap`` per example, ``eqx.tree_at``, ``eqx.partition``
and ``tree_serialise_leaves``.  Outputs are compared with ``Resolved.apply`` (exactly) and
with ``eqx.nn`` layers holding the same parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _tutorial import tutorial_layers

import einx_typed as einx
import einx_typed.config
import einx_typed.nn.equinox as einn
from einx_typed.layers import DropoutSpec, LinearSpec, NormSpec, SequentialSpec

ROOT = Path(__file__).resolve().parent.parent
KEY = jax.random.key(0)
X_SHAPE = (2, 4, 4, 16)

# Every layer variant of the tutorial: (constructor, input shape, documented output shape).
TUTORIAL_LAYERS = tutorial_layers(einn, X_SHAPE, mix2_input=(2, 3, 4), batchnorm=False)
"""The batch norm of the tutorial keeps EMA statistics: see the tests of stateful norms."""


def _x(shape: tuple[int, ...], seed: int = 1, dtype: Any = jnp.float32) -> jax.Array:
    return (jax.random.normal(jax.random.key(seed), shape) * 2.0 + 0.5).astype(dtype)


def _params(module: Any) -> dict[str, jax.Array]:
    """The arrays a module's spec names, gathered for ``Resolved.apply``."""
    if isinstance(module, einn.Sequential):
        return {
            f"{i}.{name}": value
            for i, layer in enumerate(module.layers)
            for name, value in _params(layer).items()
        }
    names = [name for name, trainable in module.spec.variables() if trainable]
    return {name: getattr(module, name) for name in names if getattr(module, name) is not None}


def _stats(module: Any, state: eqx.nn.State) -> dict[str, jax.Array]:
    if isinstance(module, einn.Sequential):
        return {
            f"{i}.{name}": value
            for i, layer in enumerate(module.layers)
            for name, value in _stats(layer, state).items()
        }
    names = [name for name, trainable in module.spec.variables() if not trainable]
    return {name: state.get(getattr(module, name)) for name in names}


def _equal(a: Any, b: Any) -> None:
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert u.dtype == v.dtype and u.shape == v.shape
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def _jit_apply(module: Any, shape: tuple[int, ...], *, training: bool) -> Callable[..., Any]:
    """``Resolved.apply`` of ``module``'s spec under ``jax.jit``: what a module runs.

    A module runs its layer's program as one compiled function (eager calls under
    ``jax.jit``, calls inside ``eqx.filter_jit`` as part of the trace), so its numbers
    equal those of the jitted ``apply`` exactly.
    """
    resolved = module.spec.resolve(shape, module.dtype)

    def apply(params: Any, x: jax.Array, state: Any = None, rng: Any = None) -> Any:
        return resolved.apply(params, x, state=state, training=training, rng=rng)

    return jax.jit(apply)


# ----------------------------------------------------------------------------- tutorial


@pytest.mark.parametrize("name", sorted(TUTORIAL_LAYERS))
def test_tutorial_layer_first_call_creates_fields_and_equals_apply(name: str) -> None:
    make, in_shape, out_shape = TUTORIAL_LAYERS[name]
    layer = make()
    assert jax.tree.leaves(layer) == [] or isinstance(layer, einn.Dropout | einn.Norm)
    x = _x(in_shape)
    y = layer(x, rng=KEY)  # einx 0.3.0's way: the first call creates the parameters
    assert y.shape == out_shape
    params = _params(layer)
    assert set(params) == set(layer.spec.resolve(in_shape).params)
    expected, _ = _jit_apply(layer, in_shape, training=True)(params, x, rng=KEY)
    _equal(y, expected)
    # Under eqx.filter_jit the same program compiles as part of the trace.
    _equal(eqx.filter_jit(lambda m, x, key: m(x, key=key))(layer, x, KEY), expected)
    inference = eqx.nn.inference_mode(layer)
    if isinstance(layer, einn.Dropout):
        _equal(inference(x), x)
    else:
        _equal(layer(x), expected)  # later calls need no key
        _equal(inference(x), expected)  # no EMA: the same in inference


def test_tutorial_custom_equinox_linear_with_matching_field_names() -> None:
    # The tutorial's Equinox Linear, with fields named like the parameters.
    class Linear(eqx.Module):
        weight: jax.Array
        bias: jax.Array
        dtype: str = "float32"

        def __init__(self) -> None:
            self.weight = None  # type: ignore[assignment]
            self.bias = None  # type: ignore[assignment]

        def forward(self, x: jax.Array, rng: Any = None) -> jax.Array:
            x = einx.dot("b... [c1->c2]", x, einn.param(self, name="weight", rng=rng), c2=64)
            x = einx.add("b... [c2]", x, einn.param(self, name="bias", rng=rng))
            return x

    layer = Linear()
    x = _x((8, 32))
    y = layer.forward(x, rng=KEY)
    assert layer.weight.shape == (32, 64) and layer.bias.shape == (64,)
    assert not np.any(np.asarray(layer.bias))
    sigma = math.sqrt(1 / 32) / 0.87962566103423978
    assert float(jnp.max(jnp.abs(layer.weight))) <= 2 * sigma + 1e-6
    np.testing.assert_allclose(y, x @ layer.weight + layer.bias, rtol=1e-6, atol=1e-6)
    assert len(jax.tree.leaves(layer)) == 2  # both are fields: pytree leaves
    # Later calls need no key, under eqx.filter_jit too, and have gradients.
    _equal(layer.forward(x), y)
    forward = eqx.filter_jit(lambda m, x: m.forward(x))
    np.testing.assert_allclose(forward(layer, x), y, rtol=1e-6, atol=1e-6)
    grads = eqx.filter_grad(lambda m, x: jnp.sum(m.forward(x) ** 2))(layer, x)
    expected = jax.grad(lambda w, b: jnp.sum((x @ w + b) ** 2), argnums=(0, 1))(
        layer.weight, layer.bias
    )
    np.testing.assert_allclose(grads.weight, expected[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grads.bias, expected[1], rtol=1e-5, atol=1e-5)


def test_tutorial_param_defaults_and_overrides() -> None:
    class Block(eqx.Module):
        bias: jax.Array | None
        layerscale: jax.Array | None
        embedding: jax.Array | None
        dtype: str = "bfloat16"

        def __init__(self) -> None:
            self.bias = self.layerscale = self.embedding = None

        def __call__(self, x: jax.Array, rng: Any = None) -> jax.Array:
            # The tutorial's snippets: default name from the op, overridden init and name.
            x = einx.add("... [c]", x, einn.param(self, rng=rng))
            x = einx.multiply("b... [c]", x, einn.param(self, init=1e-5, name="layerscale"))
            init = jax.nn.initializers.normal(stddev=0.02)
            return einx.add("b... [c]", x, einn.param(self, name="embedding", init=init, rng=rng))

    block = Block()
    x = _x((3, 5), dtype=jnp.bfloat16)
    block(x, rng=KEY)
    assert block.bias is not None and block.layerscale is not None
    assert block.bias.dtype == jnp.bfloat16  # module.dtype is the default dtype
    assert np.all(np.asarray(block.layerscale, np.float32) == np.float32(jnp.bfloat16(1e-5)))
    assert block.embedding is not None and 0 < float(jnp.std(block.embedding)) < 0.1
    with pytest.raises(einx.EinxError, match="init"):
        einx.subtract("b [c]", x, einn.param(Block(), name="bias"))  # no default init


def test_tutorial_net_with_batch_norm_trains_under_filter_jit() -> None:
    # The tutorial's classifier, the Equinox way (make_with_state; channels given).
    class Net(eqx.Module):
        layers: tuple[einn.LayerModule, ...]

        def __init__(self, key: jax.Array) -> None:
            layers: list[einn.LayerModule] = []
            for i, c in enumerate([32, 16]):
                layers += [
                    einn.Linear(
                        "b [...->c]",
                        c=c,
                        key=jax.random.fold_in(key, i),
                        input_shape=(1, 8, 8) if i == 0 else (1, 32),
                    ),
                    einn.Norm("[b] c", decay_rate=0.99, c=c),
                    einn.Dropout("[...]", drop_rate=0.2),
                ]
            layers.append(
                einn.Linear("b [...->c]", c=10, key=jax.random.fold_in(key, 9), input_shape=(1, 16))
            )
            self.layers = tuple(layers)

        def __call__(self, x: jax.Array, state: eqx.nn.State, key: Any = None) -> Any:
            for i, layer in enumerate(self.layers):
                if isinstance(layer, einn.Norm):
                    x, state = layer(x, state)
                    x = jax.nn.gelu(x)
                else:
                    x = layer(x, rng=None if key is None else jax.random.fold_in(key, i))
            return x, state

    net, state = eqx.nn.make_with_state(Net)(KEY)
    x, labels = _x((16, 8, 8)), jnp.arange(16) % 10

    @eqx.filter_jit
    def step(net: Net, state: eqx.nn.State, key: jax.Array) -> Any:
        def loss(net: Net) -> Any:
            logits, new_state = net(x, state, key)
            return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(16), labels]), new_state

        (value, new_state), grads = eqx.filter_value_and_grad(loss, has_aux=True)(net)
        net = eqx.apply_updates(net, jax.tree.map(lambda g: -0.1 * g, grads))
        return net, new_state, value

    losses = []
    for i in range(5):
        net, state, value = step(net, state, jax.random.key(i))
        losses.append(float(value))
    assert losses[-1] < losses[0]
    norm = net.layers[1]
    assert isinstance(norm, einn.Norm)
    assert not np.allclose(state.get(norm.mean), 0)  # EMA statistics moved
    inference = eqx.nn.inference_mode(net)
    a, state_a = inference(x, state)
    b, _ = inference(x, state_a)
    _equal(a, b)  # deterministic, statistics unchanged in inference


# ----------------------------------------------------------------------------- creation


def test_lazy_and_eager_creation_give_the_same_parameters() -> None:
    lazy = einn.Linear("b... [c1->c2]", c2=32)
    assert lazy.weight is None and lazy.bias is None
    x = _x((4, 16))
    lazy(x, rng=KEY)
    eager = einn.Linear("b... [c1->c2]", c1=16, c2=32, key=KEY)
    _equal((lazy.weight, lazy.bias), (eager.weight, eager.bias))
    from_shape = einn.Linear("b... [c1->c2]", c2=32, key=KEY, input_shape=(7, 16))
    _equal((lazy.weight, lazy.bias), (from_shape.weight, from_shape.bias))
    # Without a key, shapes alone create nothing random, but a norm needs no key.
    assert einn.Linear("b [c1->c2]", c1=4, c2=3).weight is None
    norm = einn.Norm("b... [c]", c=8)
    assert norm.scale is not None and norm.scale.shape == (8,)


def test_bias_false_and_dtype_are_honoured() -> None:
    layer = einn.Linear("b... [c1->c2]", c1=8, c2=4, bias=False, dtype="bfloat16", key=KEY)
    assert layer.bias is None and layer.weight is not None
    assert layer.weight.dtype == jnp.bfloat16
    assert len(jax.tree.leaves(layer)) == 1
    x = _x((3, 8), dtype=jnp.bfloat16)
    y = layer(x)
    assert y.dtype == jnp.bfloat16
    norm = einn.Norm("b... [c]", bias=False, dtype=jnp.float16)
    norm(_x((3, 8), dtype=jnp.float16))
    assert norm.bias is None and norm.scale is not None and norm.scale.dtype == jnp.float16


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_every_floating_dtype_trains_under_filter_jit(dtype: str) -> None:
    with jax.enable_x64(dtype == "float64"):
        model, state = eqx.nn.make_with_state(einn.from_spec)(
            SequentialSpec(
                [
                    LinearSpec("b [c1->c2]", axes={"c2": 8}),
                    NormSpec("[b] c", decay_rate=0.9),
                    "gelu",
                    DropoutSpec("[...]", 0.1),
                ]
            ),
            dtype=dtype,
            key=KEY,
            input_shape=(4, 6),
        )
        x = _x((4, 6), dtype=dtype)
        assert all(leaf.dtype == dtype for leaf in jax.tree.leaves(eqx.filter(model, eqx.is_array)))

        @eqx.filter_jit
        def grads(model: Any, state: eqx.nn.State, x: jax.Array) -> Any:
            def loss(model: Any) -> Any:
                y, new_state = model(x, state, key=KEY)
                return jnp.sum(y.astype(jnp.float32) ** 2), (y, new_state)

            return eqx.filter_grad(loss, has_aux=True)(model)

        g, (y, new_state) = grads(model, state, x)
        assert y.dtype == dtype and g.layers[0].weight.dtype == dtype
        assert new_state.get(model.layers[1].mean).dtype == dtype
        assert np.all(np.isfinite(np.asarray(y, np.float32)))


def test_mlp_spec_file_builds_and_matches_apply() -> None:
    x = _x((16, 8, 8))
    # digits_mlp has batch norms: make_with_state needs their shapes, from input_shape.
    spec = einx_typed.config.load(ROOT / "specs" / "digits_mlp.toml")
    model, state = eqx.nn.make_with_state(einn.from_spec)(spec, key=KEY, input_shape=(64, 8, 8))
    assert isinstance(model, einn.Sequential) and len(model.layers) == len(spec.layers)
    params, stats = _params(model), _stats(model, state)
    resolved = spec.resolve(x.shape)
    assert set(params) == set(resolved.params) and set(stats) == set(resolved.state)
    expected, expected_state = _jit_apply(model, x.shape, training=True)(params, x, stats, KEY)
    # Under eqx.filter_jit the whole model is one trace, like the jitted apply: exact.
    y, new_state = eqx.filter_jit(lambda m, x, s, key: m(x, s, rng=key))(model, x, state, KEY)
    _equal(y, expected)
    _equal(_stats(model, new_state), expected_state)


def test_mixer_spec_file_builds_and_matches_apply() -> None:
    # digits_mixer has no state: a plain module (the first-call way is tested elsewhere).
    x = _x((16, 8, 8))
    mixer_spec = einx_typed.config.load(ROOT / "specs" / "digits_mixer.toml")
    mixer = einn.from_spec(mixer_spec, key=KEY, input_shape=x.shape)
    assert set(_params(mixer)) == set(mixer_spec.resolve(x.shape).params)
    expected, _ = _jit_apply(mixer, x.shape, training=True)(_params(mixer), x, rng=KEY)
    _equal(eqx.filter_jit(lambda m, x, key: m(x, rng=key))(mixer, x, KEY), expected)


# ----------------------------------------------------------------------------- norms


NORM_EXPRS = {
    "layer": ("b... [c]", {}),
    "batch": ("[b...] c", {"c": 8}),
    "group": ("b [s...] (g [c2])", {"g": 2, "c2": 4, "c": 8}),
}
NORM_CASES = [
    *(("batch", m, s, d) for m in (True, False) for s in (True, False) for d in (None, 0.9)),
    *((kind, m, m, d) for kind in ("layer", "group") for m, d in ((True, 0.9), (False, None))),
]
"""Every combination of mean, scale and EMA on batch norm; two on layer and group norm."""


@pytest.mark.parametrize(("kind", "mean", "scale", "decay_rate"), NORM_CASES)
def test_norm_forms_match_apply_in_training_and_inference(
    kind: str, mean: bool, scale: bool, decay_rate: float | None
) -> None:
    stats_expr, axes = NORM_EXPRS[kind]
    x = _x((3, 5, 8))
    make = eqx.nn.make_with_state(einn.Norm)
    norm, state = make(
        stats_expr, mean=mean, scale=scale, decay_rate=decay_rate, input_shape=x.shape, **axes
    )
    norm = eqx.tree_at(lambda m: m.bias, norm, _x((8,), seed=7))
    params, stats = _params(norm), _stats(norm, state)

    @eqx.filter_jit
    def run(norm: einn.Norm, state: eqx.nn.State, x: jax.Array) -> Any:
        inference, same = eqx.nn.inference_mode(norm)(x, state)
        assert same is state  # inference writes nothing
        return inference, *norm(x, state)

    inference, y, new_state = run(norm, state, x)
    expected, expected_state = _jit_apply(norm, x.shape, training=True)(params, x, stats)
    _equal(y, expected)
    _equal(_stats(norm, new_state), expected_state)
    if decay_rate is not None:
        name = "mean" if mean else "var"
        assert not np.allclose(expected_state[name], stats[name])
    expected, _ = _jit_apply(norm, x.shape, training=False)(params, x, stats)
    _equal(inference, expected)


@pytest.mark.parametrize("kind", sorted(NORM_EXPRS))
def test_norm_gradients_under_filter_jit_match_apply(kind: str) -> None:
    stats_expr, axes = NORM_EXPRS[kind]
    x = _x((3, 5, 8))
    make = eqx.nn.make_with_state(einn.Norm)
    norm, state = make(stats_expr, decay_rate=0.8, input_shape=x.shape, **axes)
    norm = eqx.tree_at(lambda m: m.scale, norm, _x((8,), seed=3))
    resolved = norm.spec.resolve(x.shape)

    @eqx.filter_jit
    def ours(norm: einn.Norm, state: eqx.nn.State, x: jax.Array) -> Any:
        def loss(norm: einn.Norm, x: jax.Array) -> Any:
            y, new_state = norm(x, state)
            return jnp.sum(jnp.sin(y)), new_state

        return eqx.filter_grad(loss, has_aux=True)(norm, x)

    @jax.jit
    def reference(params: Any, stats: Any, x: jax.Array) -> Any:
        def loss(params: Any, x: jax.Array) -> Any:
            y, new_state = resolved.apply(params, x, state=stats, training=True)
            return jnp.sum(jnp.sin(y)), new_state

        return jax.grad(loss, argnums=(0, 1), has_aux=True)(params, x)

    (grads, new_state) = ours(norm, state, x)
    (expected, expected_state) = reference(_params(norm), _stats(norm, state), x)
    _equal(_params(grads), expected[0])
    _equal(_stats(norm, new_state), expected_state)


def test_norm_without_ema_passes_a_given_state_through() -> None:
    norm, state = eqx.nn.make_with_state(einn.Norm)("b... [c]", c=8)
    x = _x((2, 8))
    y, same = norm(x, state)
    assert same is state
    _equal(norm(x), y)
    assert not norm.is_stateful()


# ----------------------------------------------------------------------------- eqx.nn


def test_linear_matches_eqx_linear_vmapped() -> None:
    native = eqx.nn.Linear(16, 24, key=jax.random.key(5))
    ours = einn.Linear("b... [c1->c2]", c1=16, c2=24, key=KEY)
    ours = eqx.tree_at(lambda m: (m.weight, m.bias), ours, (native.weight.T, native.bias))
    x = _x((6, 5, 16))
    expected = jax.vmap(jax.vmap(native))(x)
    np.testing.assert_allclose(ours(x), expected, rtol=1e-5, atol=1e-5)
    grad = eqx.filter_grad(lambda m: jnp.sum(m(x) ** 2))(ours)
    native_grad = eqx.filter_grad(lambda m: jnp.sum(jax.vmap(jax.vmap(m))(x) ** 2))(native)
    np.testing.assert_allclose(grad.weight, native_grad.weight.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grad.bias, native_grad.bias, rtol=1e-4, atol=1e-4)


def test_layer_and_rms_norm_match_eqx_vmapped() -> None:
    x = _x((4, 3, 32))
    native = eqx.nn.LayerNorm(32, eps=1e-5)
    native = eqx.tree_at(lambda m: (m.weight, m.bias), native, (_x((32,), 2), _x((32,), 3)))
    ours = einn.Norm("b... [c]", c=32)
    ours = eqx.tree_at(lambda m: (m.scale, m.bias), ours, (native.weight, native.bias))
    np.testing.assert_allclose(ours(x), jax.vmap(jax.vmap(native))(x), rtol=1e-5, atol=1e-5)
    rms_native = eqx.nn.RMSNorm(32, eps=1e-5, use_bias=False)
    rms = einn.Norm("b... [c]", mean=False, bias=False, c=32)
    np.testing.assert_allclose(rms(x), jax.vmap(jax.vmap(rms_native))(x), rtol=1e-5, atol=1e-5)


def test_group_norm_matches_eqx_group_norm_channels_first() -> None:
    x = _x((3, 5, 6, 32))  # channels last for ours; eqx.nn.GroupNorm wants (channels, ...)
    native = eqx.nn.GroupNorm(8, 32, eps=1e-5)
    native = eqx.tree_at(lambda m: (m.weight, m.bias), native, (_x((32,), 2), _x((32,), 3)))
    ours = einn.Norm("b [s...] (g [c])", g=8)
    ours(x)
    ours = eqx.tree_at(lambda m: (m.scale, m.bias), ours, (native.weight, native.bias))
    expected = jnp.moveaxis(jax.vmap(native)(jnp.moveaxis(x, -1, 1)), 1, -1)
    np.testing.assert_allclose(ours(x), expected, rtol=1e-4, atol=1e-4)


def test_batch_norm_matches_eqx_batch_norm_in_batch_mode() -> None:
    decay = 0.8
    native, native_state = eqx.nn.make_with_state(eqx.nn.BatchNorm)(
        6, "batch", eps=1e-5, momentum=decay, mode="batch"
    )
    ours, state = eqx.nn.make_with_state(einn.Norm)("[b...] c", decay_rate=decay, c=6)
    run_native = jax.vmap(native, axis_name="batch", in_axes=(0, None), out_axes=(0, None))
    x = _x((10, 6))
    # Before any training both normalise with mean 0 and variance 1 in inference.
    a = eqx.nn.inference_mode(ours)(x, state)[0]
    b = jax.vmap(
        eqx.nn.inference_mode(native), axis_name="batch", in_axes=(0, None), out_axes=(0, None)
    )(x, native_state)[0]
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    for seed in range(3):
        x = _x((10, 6), seed=seed) * 3 + 1
        y, state = ours(x, state)
        expected, native_state = run_native(x, native_state)
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
        native_mean, native_var = native_state.get(native.batch_state_index)
        np.testing.assert_allclose(state.get(ours.mean), native_mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(state.get(ours.var), native_var, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- protocol


def test_sequential_matches_apply_with_dropout_masks() -> None:
    spec = SequentialSpec(
        [
            LinearSpec("b [...->c]", axes={"c": 16}),
            "gelu",
            DropoutSpec("[...]", 0.5),
            LinearSpec("b... [c1->c2]", axes={"c2": 8}),
            DropoutSpec("[b] ...", 0.5),
        ]
    )
    model = einn.from_spec(spec)
    x = _x((8, 3, 4))
    y = model(x, key=KEY)  # item i gets fold_in(key, i), as in the spec's apply
    expected, _ = _jit_apply(model, x.shape, training=True)(_params(model), x, rng=KEY)
    _equal(eqx.filter_jit(lambda m, x, key: m(x, rng=key))(model, x, KEY), expected)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)  # one program per item
    _equal(model(x, rng=KEY), y)  # the same key gives the same masks
    assert not np.array_equal(model(x, rng=jax.random.key(1)), y)
    inference = eqx.nn.inference_mode(model)
    assert all(layer.inference for layer in inference.layers if isinstance(layer, einn.Dropout))
    expected, _ = _jit_apply(model, x.shape, training=False)(_params(model), x)
    np.testing.assert_allclose(inference(x), expected, rtol=1e-6, atol=1e-6)  # no key needed
    # eqx.nn.Sequential holds our layers too (it passes key=, splits it per layer).
    native = eqx.nn.Sequential(list(model.layers))
    assert native(x, key=KEY).shape == (8, 8)


def test_eqx_sequential_carries_the_state_of_our_batch_norm() -> None:
    model, state = eqx.nn.make_with_state(eqx.nn.Sequential)(
        [
            einn.Linear("b [c1->c2]", c1=5, c2=6, key=KEY),
            einn.Norm("[b] c", decay_rate=0.5, c=6),
            eqx.nn.Lambda(jax.nn.relu),
        ]
    )
    y, new_state = model(_x((4, 5)), state)
    assert y.shape == (4, 6)
    assert not np.allclose(new_state.get(model.layers[1].mean), 0)


def test_serialise_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    spec = einx_typed.config.load(ROOT / "specs" / "digits_mlp.toml")
    make = eqx.nn.make_with_state(einn.from_spec)
    model, state = make(spec, key=KEY, input_shape=(16, 8, 8))
    x = _x((16, 8, 8))
    for i in range(2):  # move the parameters and statistics away from their initial values
        _, state = model(x * (i + 1), state, rng=KEY)
    model = jax.tree.map(lambda a: a * 1.5 if eqx.is_inexact_array(a) else a, model)
    path = tmp_path / "model.eqx"
    eqx.tree_serialise_leaves(path, (model, state))
    # The skeleton to load into, without drawing parameters (Equinox's idiom).
    like = eqx.filter_eval_shape(make, spec, key=jax.random.key(9), input_shape=(16, 8, 8))
    loaded, loaded_state = eqx.tree_deserialise_leaves(path, like)
    _equal(_params(loaded), _params(model))
    _equal(_stats(loaded, loaded_state), _stats(model, state))
    _equal(
        eqx.nn.inference_mode(loaded)(x, loaded_state)[0], eqx.nn.inference_mode(model)(x, state)[0]
    )
    a, new_state = model(x, state, rng=KEY)
    b, new_loaded_state = loaded(x, loaded_state, rng=KEY)
    _equal(a, b)
    _equal(_stats(loaded, new_loaded_state), _stats(model, new_state))


def test_partition_combine_tree_at_and_vmap_per_example() -> None:
    layer = einn.Linear("b... [c1->c2]", c2=8)
    x = _x((5, 6))
    layer(x, rng=KEY)
    params, static = eqx.partition(layer, eqx.is_inexact_array)
    assert len(jax.tree.leaves(params)) == 2
    _equal(eqx.combine(params, static)(x), layer(x))
    # Replacing a parameter with eqx.tree_at is seen by the next call.
    replaced = eqx.tree_at(lambda m: m.bias, layer, jnp.ones(8))
    np.testing.assert_allclose(replaced(x), layer(x) - layer.bias + 1.0, rtol=1e-6, atol=1e-6)
    # Per example, the way Equinox layers are called: the same numbers.
    np.testing.assert_allclose(jax.vmap(layer)(x), layer(x), rtol=1e-6, atol=1e-6)
    norm = einn.Norm("b... [c]")
    norm(x)
    np.testing.assert_allclose(jax.vmap(norm)(x), norm(x), rtol=1e-6, atol=1e-6)


def test_dropout_keys_and_inference_mode() -> None:
    layer = einn.Dropout("[b] ... [c]", drop_rate=0.5)
    x = jnp.ones((32, 3, 3, 4))
    y = layer(x, rng=KEY)
    assert set(np.unique(np.asarray(y)).tolist()) == {0.0, 2.0}
    assert bool(jnp.all(y == y[:, :1, :1, :]))  # one draw per (b, c)
    _equal(layer(x, key=KEY), y)  # Equinox's key= works too
    assert not np.array_equal(layer(x, rng=jax.random.key(1)), y)
    _equal(layer(x, inference=True), x)
    _equal(eqx.nn.inference_mode(layer)(x), x)
    assert eqx.nn.inference_mode(eqx.nn.inference_mode(layer), False).inference is False
    jitted = eqx.filter_jit(lambda m, x, key: m(x, key=key))
    _equal(jitted(layer, x, KEY), y)


# ----------------------------------------------------------------------------- mistakes


def _raises(error: type[Exception], match: str, fn: Callable[[], object]) -> str:
    with pytest.raises(error, match=match) as info:
        fn()
    return str(info.value)


def test_mistakes_are_einx_errors_that_name_the_layer() -> None:
    linear = einn.Linear("b... [c1->c2]", c2=8)
    x = _x((2, 4))
    linear(x, rng=KEY)
    named = "Linear('b... [c1->c2]', c2=8)"
    # Wrong channel count after the first call, eager and under eqx.filter_jit.
    assert named in _raises(einx.AxisSizeError, r"\(5, 8\)", lambda: linear(_x((2, 5))))
    jitted = eqx.filter_jit(lambda m, x: m(x))
    assert named in _raises(einx.AxisSizeError, "weight", lambda: jitted(linear, _x((2, 5))))
    # A parameter replaced with one of the wrong shape.
    wrong = eqx.tree_at(lambda m: m.bias, linear, jnp.zeros(3))
    _raises(einx.AxisSizeError, "bias", lambda: wrong(x))
    _raises(einx.RankError, "rank", lambda: linear(jnp.ones(())))
    _raises(einx.RankError, "rank", lambda: einn.Norm("b [s...] c")(jnp.ones((3,))))
    assert named in _raises(einx.OperationError, "JAX array", lambda: linear([[1.0] * 4]))
    # The first call creates parameters: it needs a key, and must run eagerly.
    fresh = einn.Linear("b [c1->c2]", c2=3)
    _raises(einx.OperationError, r"Linear\('b \[c1->c2\]', c2=3\) needs a key", lambda: fresh(x))
    first = eqx.filter_jit(lambda m, x, key: m(x, rng=key))
    _raises(einx.OperationError, "eagerly", lambda: first(fresh, x, KEY))
    assert fresh.weight is None
    # Dropout needs a PRNG key in training, eager or traced, but only one kind of key.
    dropout = einn.Dropout("[...]", drop_rate=0.2)
    named = "Dropout('[...]', drop_rate=0.2)"
    assert named in _raises(einx.OperationError, "needs a key", lambda: dropout(x))
    _raises(einx.OperationError, "needs a key", lambda: eqx.filter_jit(dropout)(x))
    _raises(einx.OperationError, "PRNG key", lambda: dropout(x, rng=3))
    _raises(einx.OperationError, "both", lambda: dropout(x, rng=KEY, key=KEY))
    # jax.jit (not eqx.filter_jit) traces the module's bool field `inference`.
    plain_jit = jax.jit(lambda m, x: m(x, rng=KEY))
    assert named in _raises(einx.OperationError, "filter_jit", lambda: plain_jit(dropout, x))
    # Statistics live in a State made with the module.
    norm, state = eqx.nn.make_with_state(einn.Norm)("[b] c", decay_rate=0.9, c=4)
    _raises(einx.OperationError, "without one", lambda: norm(x))
    _raises(einx.OperationError, "eqx.nn.State", lambda: norm(x, {"mean": 0}))
    _raises(einx.AxisSizeError, "c", lambda: norm(_x((2, 5)), state))
    _raises(einx.SpecError, "axis values", lambda: einn.Norm("[b] c", decay_rate=0.9))
    _raises(einx.SpecError, "key=", lambda: einn.Linear("b [c1->c2]", c2=3, key=KEY))


@pytest.mark.parametrize("dtype", [jnp.int32, jnp.bool_])
def test_integer_and_bool_inputs_to_norm_and_dropout(dtype: Any) -> None:
    x = jnp.ones((2, 4), dtype)
    message = _raises(einx.OperationError, "floating", lambda: einn.Norm("b... [c]")(x))
    assert "Norm('b... [c]')" in message
    dropout = einn.Dropout("[...]", drop_rate=0.2)
    _raises(einx.OperationError, "Dropout", lambda: dropout(x, rng=KEY))


@pytest.mark.parametrize("dtype", ["int32", "foo", bool, None, "float64"])
def test_a_dtype_argument_that_is_no_float(dtype: object) -> None:
    _raises(einx.SpecError, "dtype", lambda: einn.Linear("b [c1->c2]", c2=3, dtype=dtype))
    if dtype is None:
        return  # einn.param's default: the module's dtype
    x = _x((2, 4))
    _raises(
        einx.SpecError,
        "dtype",
        lambda: einx.add(
            "b [c]", x, einn.param(eqx.nn.Identity(), name="x", dtype=dtype, init=0.0)
        ),
    )


def test_param_mistakes() -> None:
    class Module(eqx.Module):
        weight: jax.Array | None = None

    x = _x((2, 4))
    _raises(
        einx.OperationError,
        "needs rng",
        lambda: einx.dot("b [c1->c2]", x, einn.param(Module()), c2=3),
    )
    _raises(
        einx.SpecError,
        "init",
        lambda: einx.dot("b [c1->c2]", x, einn.param(Module(), init="bogus", rng=KEY), c2=3),
    )
    _raises(
        einx.OperationError,
        "no field 'w'",
        lambda: einx.dot("b [c1->c2]", x, einn.param(Module(), name="w", rng=KEY), c2=3),
    )
    module = Module()
    einx.dot("b [c1->c2]", x, einn.param(module, rng=KEY), c2=3)
    _raises(
        einx.AxisSizeError, "shape", lambda: einx.dot("b [c1->c2]", x, einn.param(module), c2=5)
    )


def test_threads_make_the_first_call_at_once() -> None:
    from concurrent.futures import ThreadPoolExecutor

    layer = einn.Linear("b... [c1->c2]", c2=4)
    x = _x((3, 6))
    with ThreadPoolExecutor(4) as pool:
        outputs = list(pool.map(lambda _: layer(x, rng=KEY), range(4)))
    for y in outputs[1:]:
        _equal(y, outputs[0])
    _equal(layer(x), outputs[0])


# ----------------------------------------------------------------------------- kit additions


def test_every_registered_spec_type_has_an_equinox_module() -> None:
    from einx_typed.layers import SPEC_TYPES, module_name

    for cls in SPEC_TYPES.values():
        if cls is not SequentialSpec:
            assert module_name(cls) in einn._MODULES


def test_parameters_moved_to_another_dtype_later() -> None:
    spec = SequentialSpec(
        [LinearSpec("b [c1->c2]", axes={"c2": 8}), NormSpec("[b] c", decay_rate=0.9), "gelu"]
    )
    model, state = eqx.nn.make_with_state(einn.from_spec)(spec, key=KEY, input_shape=(4, 6))
    x = _x((4, 6))

    def cast(tree: Any) -> Any:
        return jax.tree.map(
            lambda a: a.astype(jnp.bfloat16) if eqx.is_inexact_array(a) else a, tree
        )

    moved, moved_state = cast(model), cast(state)
    expected, _ = model(x, state)
    run = eqx.filter_jit(lambda m, s, x: m(x, s))
    y, new_state = run(moved, moved_state, x.astype(jnp.bfloat16))
    assert y.dtype == jnp.bfloat16
    assert new_state.get(moved.layers[1].mean).dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(y, np.float32), expected, rtol=0.05, atol=0.05)

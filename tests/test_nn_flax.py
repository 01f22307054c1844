"""einx_typed.nn.flax: tutorial layers and param forms, numerics against Resolved.apply and
flax.linen's own layers, the EMA rule, dropout keys, dtypes, serialisation, partitioning."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _tutorial import tutorial_layers
from flax import serialization
from jax.sharding import PartitionSpec

import einx_typed as einx
import einx_typed.config
import einx_typed.nn.flax as einn
from einx_typed.errors import AxisSizeError, EinxError, RankError, SpecError
from einx_typed.layers import (
    DropoutSpec,
    LayerSpec,
    LinearSpec,
    NormSpec,
    Resolved,
    SequentialSpec,
)

X_SHAPE = (4, 8, 8, 16)


def _key(seed: int) -> jax.Array:
    # XLA compiles JAX's default threefry bits for a few thousand values in seconds on
    # CPU; the RNG-bit-generator keys compile in milliseconds (same API).
    return jax.random.key(seed, impl="rbg")


KEY = _key(0)

# Every layer variant of the tutorial: (constructor, input shape, documented output shape).
TUTORIAL_LAYERS = tutorial_layers(einn, X_SHAPE, mix2_input=(4, 8, 16), mix2_space=(16, 16))


def _x(shape: tuple[int, ...], dtype: Any = jnp.float32, seed: int = 0) -> jax.Array:
    return jax.random.normal(_key(seed), shape, dtype) * 2 + 0.5


def _init(module: nn.Module, x: Any, **kwargs: Any) -> Any:
    """``module.init`` with plain arrays (``nn.unbox``: no partitioning metadata)."""
    return nn.unbox(module.init(KEY, x, **kwargs))


def _rngs(seed: int = 1) -> dict[str, jax.Array]:
    return {"dropout": _key(seed)}


def _apply(module: nn.Module, variables: Any, x: Any, training: bool, seed: int = 1) -> Any:
    """``module.apply`` in training (new statistics returned) or evaluation."""
    if training:
        return module.apply(variables, x, training=True, rngs=_rngs(seed), mutable=[einn.STATS])
    return module.apply(variables, x, training=False), {}


class _MadeKey(nn.Module):
    @nn.compact
    def __call__(self) -> jax.Array:
        return self.make_rng("dropout")


def _made_key(seed: int = 1) -> jax.Array:
    """The key that ``make_rng("dropout")`` gives a top-level module applied with ``_rngs``."""
    return _MadeKey().apply({}, rngs=_rngs(seed))


def _reference(module: einn.LayerModule, variables: Any, x: Any, training: bool) -> Any:
    """``Resolved.apply`` with the module's variables: what the module must give exactly."""
    plain = nn.unbox(variables)
    resolved = module.spec.resolve(x.shape, module.param_dtype)
    rng = _made_key() if training else None
    return resolved.apply(
        plain.get("params", {}), x, state=plain.get("stats", {}), training=training, rng=rng
    )


# ----------------------------------------------------------------------------- tutorial


@pytest.mark.parametrize("name", sorted(TUTORIAL_LAYERS))
def test_tutorial_layer_shapes_in_train_and_eval(name: str) -> None:
    make, in_shape, out_shape = TUTORIAL_LAYERS[name]
    module = make()
    x = _x(in_shape)
    variables = module.init(KEY, x, training=False)
    y, _ = _apply(module, variables, x, training=True)
    assert y.shape == out_shape
    assert _apply(module, variables, x, training=False)[0].shape == out_shape


def test_tutorial_custom_flax_linear_with_param_self() -> None:
    # The tutorial's Flax Linear, with the @nn.compact that the snippet misses.
    class Linear(nn.Module):
        dtype: str = "float32"

        @nn.compact
        def __call__(self, x: jax.Array) -> jax.Array:
            x = einx.dot("... [c1->c2]", x, einn.param(self), c2=64)
            x = einx.add("... [c2]", x, einn.param(self))
            return x

    layer = Linear()
    x = _x((8, 32))
    variables = _init(layer, x)
    w, b = variables["params"]["weight"], variables["params"]["bias"]
    assert w.shape == (32, 64) and w.dtype == jnp.float32 and b.shape == (64,)
    assert bool(jnp.all(b == 0))
    sigma = math.sqrt(1 / 32) / 0.87962566103423978  # LeCun normal, truncated at 2 sigma
    assert float(jnp.max(jnp.abs(w))) <= 2 * sigma + 1e-6
    y = jax.jit(layer.apply)(variables, x)
    np.testing.assert_allclose(y, x @ w + b, rtol=1e-5, atol=1e-5)
    grads = jax.jit(jax.grad(lambda v, x: jnp.sum(layer.apply(v, x) ** 2)))(variables, x)
    expected = jax.grad(lambda w, b: jnp.sum((x @ w + b) ** 2), argnums=(0, 1))(w, b)
    np.testing.assert_allclose(grads["params"]["weight"], expected[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grads["params"]["bias"], expected[1], rtol=1e-4, atol=1e-4)


def test_tutorial_param_forms_and_overrides() -> None:
    class Layer(nn.Module):
        @nn.compact
        def __call__(self, x: jax.Array) -> jax.Array:
            x = einx.add("... [c]", x, einn.param(self.param, name="b1"))  # einn.param(self.param)
            x = einx.add("... [c]", x, einn.param(self, name="b2", init=0.5))  # einn.param(self)
            x = einx.add("... [c]", x, self.param)  # calls einn.param(self.param): "bias"
            x = einx.multiply("... [c]", x, self)  # calls einn.param(self.param): "scale"
            x = einx.add("... [c]", x, einn.param(self.variable, col="stats", name="shift"))
            x = einx.add(
                "b... [c]", x, einn.param(self, name="b3", init=nn.initializers.normal(stddev=0.02))
            )
            return einx.multiply("b... [c]", x, einn.param(self, init=1e-5, name="layerscale"))

    x = _x((2, 3, 4))
    variables = Layer().init(KEY, x)
    params, stats = variables["params"], variables["stats"]
    assert set(params) == {"b1", "b2", "bias", "scale", "b3", "layerscale"}
    assert set(stats) == {"shift"} and stats["shift"].shape == (4,)
    assert all(v.shape == (4,) and v.dtype == jnp.float32 for v in params.values())
    assert bool(jnp.all(params["b2"] == 0.5)) and bool(jnp.all(params["scale"] == 1))
    assert bool(jnp.all(params["layerscale"] == 1e-5))
    assert 0 < float(jnp.std(params["b3"])) < 0.1
    expected = (x + 0.5) * 1 + params["b3"]
    np.testing.assert_allclose(Layer().apply(variables, x), expected * 1e-5, rtol=1e-6)


class DtypeFields(nn.Module):
    dtype: Any = None
    param_dtype: Any = None
    explicit: Any = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return einx.add("b [c]", x, einn.param(self, dtype=self.explicit))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, jnp.float32),
        ({"dtype": "bfloat16"}, jnp.bfloat16),
        ({"dtype": "float32", "param_dtype": "float16"}, jnp.float16),
        ({"dtype": "float16", "explicit": "bfloat16"}, jnp.bfloat16),
    ],
)
def test_param_dtype_default_comes_from_the_module(fields: dict[str, str], expected: Any) -> None:
    # The op passes its input's dtype to factories; the tutorial's default is the module's.
    variables = _init(DtypeFields(**fields), jnp.ones((2, 3), jnp.float32))
    assert variables["params"]["bias"].dtype == expected


def test_param_mistakes_are_einx_errors() -> None:
    def run(body: Callable[[nn.Module, jax.Array], Any]) -> None:
        class Module(nn.Module):
            @nn.compact
            def __call__(self, x: jax.Array) -> Any:
                return body(self, x)

        Module().init(KEY, jnp.ones((2, 3)))

    with pytest.raises(EinxError, match="init"):
        run(lambda self, x: einx.subtract("b [c]", x, einn.param(self)))  # no default init
    with pytest.raises(EinxError, match="col="):
        run(lambda self, x: einx.add("b [c]", x, einn.param(self.variable)))
    with pytest.raises(EinxError, match="no col"):
        run(lambda self, x: einx.add("b [c]", x, einn.param(self.param, col="stats")))
    with pytest.raises(EinxError, match="init must"):
        run(lambda self, x: einx.add("b [c]", x, einn.param(self, init=object())))
    with pytest.raises(EinxError, match="Flax module"):
        einn.param(lambda shape: jnp.zeros(shape))
    with pytest.raises(EinxError, match="name 'bias' twice"):  # two parameters named bias
        run(lambda self, x: einx.add("b [c]", einx.add("b [c]", x, self.param), self))
    with pytest.raises(EinxError, match="missing"):

        class Uses(nn.Module):
            @nn.compact
            def __call__(self, x: jax.Array) -> Any:
                return einx.add("b [c]", x, einn.param(self))

        Uses().apply({"params": {}}, jnp.ones((2, 3)))


class Net(nn.Module):
    """The tutorial's Net, sized down."""

    @nn.compact
    def __call__(self, x: jax.Array, training: bool) -> jax.Array:
        for c in [16, 8]:
            x = einn.Linear("b [...->c]", c=c)(x)
            x = einn.Norm("[b] c", decay_rate=0.99)(x, training=training)
            x = nn.gelu(x)
            x = einn.Dropout("[...]", drop_rate=0.2)(x, training=training)
        x = einn.Linear("b [...->c]", c=10)(x)  # 10 classes
        return x


def test_tutorial_net_trains_under_jit_and_switches_modes() -> None:
    net = Net()
    x, labels = _x((16, 4, 4)), jnp.arange(16) % 10
    variables = _init(net, x, training=False)
    assert set(variables) == {"params", "stats"}
    params, stats = variables["params"], variables["stats"]

    @jax.jit
    def step(params: Any, stats: Any, key: jax.Array) -> Any:
        def loss(params: Any) -> Any:
            logits, updates = net.apply(
                {"params": params, "stats": stats},
                x,
                training=True,
                rngs={"dropout": key},
                mutable=["stats"],
            )
            one_hot = jax.nn.one_hot(labels, 10)
            return -jnp.mean(jnp.sum(jax.nn.log_softmax(logits) * one_hot, -1)), updates

        (value, updates), grads = jax.value_and_grad(loss, has_aux=True)(params)
        params = jax.tree.map(lambda p, g: p - 0.1 * g, params, grads)
        return params, updates["stats"], value

    losses = []
    for i in range(5):
        params, new_stats, value = step(params, stats, _key(i))
        assert not jax.tree.all(jax.tree.map(jnp.array_equal, new_stats, stats))
        stats = new_stats
        losses.append(float(value))
    assert losses[-1] < losses[0]
    evaluate = jax.jit(lambda v: net.apply(v, x, training=False))
    out = evaluate({"params": params, "stats": stats})
    assert bool(jnp.array_equal(out, evaluate({"params": params, "stats": stats})))


# ----------------------------------------------------------------------------- numerics

NORM_FORMS = {
    "layernorm": ("b... [c]", {}),
    "instancenorm": ("b [s...] c", {}),
    "groupnorm": ("b [s...] (g [c])", {"g": 4}),
    "batchnorm": ("[b...] c", {}),
}
SWITCHES = [
    {"mean": mean, "scale": scale, "bias": mean, "decay_rate": decay}
    for mean in (True, False)
    for scale in (True, False)
    for decay in (None, 0.9)
]
"""mean, scale and decay_rate on and off (rmsnorm is the mean=False, bias=False case)."""


def _perturbed(variables: Any) -> Any:
    """Variables with values that are not their initial ones (EMA statistics included)."""
    leaves, tree = jax.tree.flatten(nn.unbox(variables))
    keys = jax.random.split(_key(7), len(leaves))
    return jax.tree.unflatten(
        tree, [v + jax.random.uniform(k, v.shape, v.dtype) for v, k in zip(leaves, keys)]
    )


@pytest.mark.parametrize("form", sorted(NORM_FORMS))
def test_norm_forms_equal_resolved_apply_eager_and_jitted(form: str) -> None:
    stats, axes = NORM_FORMS[form]
    modules = [einn.Norm(stats, **switches, **axes) for switches in SWITCHES]
    x = _x((4, 3, 3, 8))
    variables = [_perturbed(m.init(KEY, x, training=False)) for m in modules]

    def every(variables: Any, x: jax.Array) -> Any:
        return [
            (_apply(m, v, x, training), _reference(m, v, x, training))
            for m, v in zip(modules, variables)
            for training in (True, False)
        ]

    for results in (every(variables, x), jax.jit(every)(variables, x)):
        for (y, updates), (y_ref, state_ref) in results:
            assert bool(jnp.array_equal(y, y_ref))
            if updates:
                assert set(updates["stats"]) == set(state_ref)
                for name, value in updates["stats"].items():
                    assert bool(jnp.array_equal(value, state_ref[name]))


@pytest.mark.parametrize(
    ("ours", "native", "rename"),
    [
        (lambda: einn.Linear("b... [c1->c2]", c2=24), lambda: nn.Dense(24), {"weight": "kernel"}),
        (lambda: einn.Norm("b... [c]"), lambda: nn.LayerNorm(epsilon=1e-5), {}),
        (
            lambda: einn.Norm("b [s...] (g [c])", g=4),
            lambda: nn.GroupNorm(num_groups=4, epsilon=1e-5),
            {},
        ),
        (
            lambda: einn.Norm("b... [c]", mean=False, bias=False),
            lambda: nn.RMSNorm(epsilon=1e-5),
            {},
        ),
    ],
    ids=["Dense", "LayerNorm", "GroupNorm", "RMSNorm"],
)
def test_layers_match_flax_with_copied_parameters(
    ours: Callable[[], einn.LayerModule], native: Callable[[], nn.Module], rename: dict[str, str]
) -> None:
    module, reference = ours(), native()
    x = _x((6, 5, 5, 16))
    variables = _perturbed(module.init(KEY, x))
    copied = {"params": {rename.get(k, k): v for k, v in variables["params"].items()}}
    assert jax.tree.map(jnp.shape, copied) == jax.tree.map(jnp.shape, reference.init(KEY, x))
    np.testing.assert_allclose(
        module.apply(variables, x), reference.apply(copied, x), rtol=1e-5, atol=1e-5
    )
    # Gradients with respect to parameters and input; a weighted sum, since the input
    # gradient of a plain sum through a norm is zero up to rounding.
    weights = _x(module.apply(variables, x).shape, seed=3)

    def loss(m: nn.Module, v: Any, x: jax.Array) -> jax.Array:
        return jnp.sum(m.apply(v, x) * weights)

    ours_grads = jax.jit(jax.grad(partial(loss, module), argnums=(0, 1)))(variables, x)
    native_grads = jax.jit(jax.grad(partial(loss, reference), argnums=(0, 1)))(copied, x)
    np.testing.assert_allclose(ours_grads[1], native_grads[1], rtol=1e-4, atol=1e-4)
    for name, grad in ours_grads[0]["params"].items():
        np.testing.assert_allclose(
            grad, native_grads[0]["params"][rename.get(name, name)], rtol=1e-4, atol=1e-3
        )


def test_batchnorm_statistics_track_flax_batchnorm() -> None:
    decay = 0.8
    ours = einn.Norm("[b...] c", decay_rate=decay)
    native = nn.BatchNorm(momentum=decay, epsilon=1e-5)
    x = _x((10, 3, 6))
    variables = _init(ours, x, training=True)  # init phase: statistics unchanged
    assert bool(jnp.all(variables["stats"]["mean"] == 0))
    assert bool(jnp.all(variables["stats"]["var"] == 1))
    reference = native.init(KEY, x, use_running_average=False)
    assert bool(jnp.all(reference["batch_stats"]["mean"] == 0))
    for seed in range(3):
        x = _x((10, 3, 6), seed=seed) * 3 + 1
        y, updates = _apply(ours, variables, x, training=True)
        y_ref, ref_updates = native.apply(
            reference, x, use_running_average=False, mutable=["batch_stats"]
        )
        np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
        variables = {**variables, **updates}
        reference = {**reference, **ref_updates}
        for name in ("mean", "var"):
            np.testing.assert_allclose(
                variables["stats"][name], reference["batch_stats"][name], rtol=1e-5, atol=1e-6
            )
    y, _ = _apply(ours, variables, x, training=False)
    np.testing.assert_allclose(
        y, native.apply(reference, x, use_running_average=True), rtol=1e-5, atol=1e-5
    )
    # Training gradients (batch statistics) with respect to the input and scale.
    weights = _x(x.shape, seed=5)
    ours_grads = jax.jit(
        jax.grad(
            lambda v, x: jnp.sum(_apply(ours, v, x, training=True)[0] * weights), argnums=(0, 1)
        )
    )(variables, x)
    native_grads = jax.jit(
        jax.grad(
            lambda v, x: jnp.sum(
                native.apply(v, x, use_running_average=False, mutable=["batch_stats"])[0] * weights
            ),
            argnums=(0, 1),
        )
    )(reference, x)
    np.testing.assert_allclose(ours_grads[1], native_grads[1], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        ours_grads[0]["params"]["scale"], native_grads[0]["params"]["scale"], rtol=1e-4, atol=1e-4
    )


def test_dot_init_is_lecun_normal_as_flax_draws_it() -> None:
    module = einn.Linear("b [c1->c2]", c2=2000)
    weight = _init(module, jnp.ones((1, 50)))["params"]["weight"]
    sigma = math.sqrt(1 / 50) / 0.87962566103423978
    assert float(jnp.max(jnp.abs(weight))) <= 2 * sigma + 1e-6
    assert abs(float(jnp.var(weight)) - 1 / 50) < 0.05 / 50


# ----------------------------------------------------------------------------- EMA and dropout


def test_ema_statistics_update_in_training_only() -> None:
    module = einn.Norm("[b...] c", decay_rate=0.5)
    x = _x((8, 4))
    variables = _init(module, x, training=True)
    y_eval, none = _apply(module, variables, x, training=False)
    assert none == {}
    _, updates = _apply(module, variables, x, training=True)
    np.testing.assert_allclose(updates["stats"]["mean"], 0.5 * jnp.mean(x, 0), rtol=1e-6)
    # Evaluation normalises with the statistics it is given, in any order of modes.
    y_eval_again, _ = _apply(module, variables, x, training=False)
    assert bool(jnp.array_equal(y_eval, y_eval_again))
    with pytest.raises(EinxError, match=r"mutable=\['stats'\]"):
        module.apply(variables, x, training=True)


def test_dropout_keys_masks_and_evaluation() -> None:
    module = einn.Dropout("[b] ... [c]", drop_rate=0.5)
    x = jnp.ones((64, 3, 3, 8))
    variables = module.init(KEY, x, training=False)
    assert variables == {}
    apply = jax.jit(lambda x, key: module.apply({}, x, training=True, rngs={"dropout": key}))
    y = apply(x, _key(3))
    assert set(np.unique(np.asarray(y)).tolist()) == {0.0, 2.0}
    assert bool(jnp.all(y == y[:, :1, :1, :]))  # one draw per (b, c)
    assert bool(jnp.array_equal(y, apply(x, _key(3))))
    assert not bool(jnp.array_equal(y, apply(x, _key(4))))
    # The mask is the one Resolved.apply draws from the same key.
    expected, _ = (
        DropoutSpec("[b] ... [c]", 0.5)
        .resolve(x.shape)
        .apply({}, x, training=True, rng=_made_key(3))
    )
    assert bool(jnp.array_equal(y, expected))
    # Evaluation needs no key; training without one is an EinxError that says what to pass.
    assert bool(jnp.array_equal(module.apply({}, x, training=False), x))
    with pytest.raises(EinxError, match=r"rngs=\{'dropout': key\}"):
        module.apply({}, x, training=True)
    with pytest.raises(EinxError, match="training=True or training=False"):
        module.apply({}, x)


# ----------------------------------------------------------------------------- from_spec


def test_spec_file_runs_as_one_module_equal_to_resolved_apply() -> None:
    # (The mixer of specs/ runs in test_nn_flax_sharding.py.)
    spec = einx_typed.config.load("specs/digits_mlp.toml")
    model = einn.from_spec(spec)
    assert isinstance(model, einn.Sequential)
    x = _x((8, 8, 8))
    variables = _init(model, x, training=False)
    resolved = spec.resolve(x.shape)
    assert set(variables["params"]) == set(resolved.params)
    assert set(variables.get("stats", {})) == set(resolved.state)
    run = jax.jit(lambda v, x: [_apply(model, v, x, t) for t in (True, False)])
    for (y, updates), training in zip(run(variables, x), (True, False)):
        # The sequential derives item i's key as fold_in(key, i), as Resolved.apply does.
        y_ref, state_ref = _reference(model, variables, x, training)
        np.testing.assert_allclose(y, y_ref, rtol=1e-6, atol=1e-6)
        assert y.shape == (8, 10)
        for name, value in updates.get("stats", {}).items():
            np.testing.assert_allclose(value, state_ref[name], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "spec",
    [
        LinearSpec("b [c1->c2]", axes={"c2": 3}),
        NormSpec("b [c]"),
        DropoutSpec("[...]", 0.5),
        SequentialSpec([LinearSpec("b [c1->c2]", axes={"c2": 3}), "relu"]),
    ],
    ids=repr,
)
def test_from_spec_builds_the_module_of_every_spec_type(spec: LayerSpec) -> None:
    module = einn.from_spec(spec, name="layer")
    assert module.spec is spec and module.name == "layer"
    x = _x((2, 5))
    variables = module.init(KEY, x, training=False)
    y, _ = _apply(module, variables, x, training=False)
    assert y.shape == spec.resolve(x.shape).output_shape
    activation = einn.Activation("gelu", name="act")
    assert activation.name == "act" and activation.spec.name == "gelu"
    np.testing.assert_allclose(activation.apply({}, x), jax.nn.gelu(x), rtol=1e-6)


def test_from_spec_rejects_specs_without_a_module() -> None:
    class CustomSpec(LayerSpec):
        def _build(self, input_shape: tuple[int, ...], dtype: str) -> Resolved:
            raise NotImplementedError

    with pytest.raises(SpecError, match="CustomSpec"):
        einn.from_spec(CustomSpec())


# ----------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_every_floating_dtype_as_param_dtype(dtype: str) -> None:
    spec = SequentialSpec(
        [
            LinearSpec("b [...->c]", axes={"c": 8}),
            NormSpec("[b] c", decay_rate=0.9),
            "gelu",
            DropoutSpec("[...]", 0.2),
        ]
    )
    model = einn.from_spec(spec, param_dtype=dtype)

    @jax.jit
    def run(x: jax.Array) -> Any:
        variables = nn.unbox(model.init(KEY, x, training=False))
        y, updates = _apply(model, variables, x, training=True)
        y_eval, _ = _apply(model, variables, x, training=False)
        grads = jax.grad(lambda v: jnp.sum(_apply(model, v, x, True)[0].astype(jnp.float32)))(
            variables
        )
        return variables, y, updates, y_eval, grads

    with jax.enable_x64(dtype == "float64"):
        variables, y, updates, y_eval, grads = run(_x((8, 3, 2), dtype))
    assert {v.dtype.name for v in jax.tree.leaves((variables, updates, grads))} == {dtype}
    assert y.dtype == y_eval.dtype == dtype
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))


def test_dtype_is_the_computation_dtype_and_param_dtype_the_storage() -> None:
    x = _x((4, 16), jnp.bfloat16)
    promoted = einn.Linear("b [c1->c2]", c2=8)
    variables = _init(promoted, x)
    assert variables["params"]["weight"].dtype == jnp.float32
    assert promoted.apply(variables, x).dtype == jnp.float32  # promoted, as nn.Dense does
    mixed = einn.Linear("b [c1->c2]", c2=8, dtype="bfloat16")
    assert _init(mixed, x)["params"]["weight"].dtype == jnp.float32
    assert mixed.apply(variables, x).dtype == jnp.bfloat16
    dense = nn.Dense(8, dtype=jnp.bfloat16)
    np.testing.assert_allclose(
        mixed.apply(variables, x).astype(jnp.float32),
        dense.apply(
            {
                "params": {
                    "kernel": variables["params"]["weight"],
                    "bias": variables["params"]["bias"],
                }
            },
            x,
        ).astype(jnp.float32),
        rtol=2e-2,
        atol=2e-2,
    )
    with pytest.raises(SpecError, match="dtype"):
        einn.Linear("b [c1->c2]", c2=3, dtype="float99")
    with pytest.raises(SpecError, match="param_dtype"):
        einn.Linear("b [c1->c2]", c2=3, param_dtype="int32")


# ----------------------------------------------------------------------------- Flax protocol


def test_init_under_eval_shape_computes_nothing() -> None:
    model = einn.from_spec(einx_typed.config.load("specs/digits_mlp.toml"))
    shapes = jax.eval_shape(lambda x: model.init(KEY, x, training=False), jnp.ones((8, 8, 8)))
    leaves = jax.tree.leaves(shapes)
    assert leaves and all(isinstance(v, jax.ShapeDtypeStruct) for v in leaves)
    assert nn.get_partition_spec(shapes)["params"]["0.weight"] == PartitionSpec(
        "_anonymous_ellipsis_axis.0", "_anonymous_ellipsis_axis.1", "c"
    )


def test_logical_partitioning_metadata_names_the_spec_axes() -> None:
    module = einn.Linear("b... [c1->c2]", c2=64)
    variables = module.init(KEY, jnp.ones((2, 32)))
    assert isinstance(variables["params"]["weight"], nn.LogicallyPartitioned)
    specs = nn.get_partition_spec(variables)
    assert specs["params"] == {"weight": PartitionSpec("c1", "c2"), "bias": PartitionSpec("c2")}
    norm = einn.Norm("b [s...] (g [c])", g=4, decay_rate=0.9)
    specs = nn.get_partition_spec(norm.init(KEY, jnp.ones((2, 3, 8)), training=False))
    assert specs["stats"] == {"mean": PartitionSpec("b", "g"), "var": PartitionSpec("b", "g")}
    assert specs["params"]["scale"] == PartitionSpec("c")
    rules = (("c2", "model"), ("c1", None))
    assert nn.logical_to_mesh(nn.get_partition_spec(variables), rules)["params"]["weight"] == (
        PartitionSpec(None, "model")
    )


def test_serialisation_round_trips_give_identical_outputs() -> None:
    model = einn.from_spec(einx_typed.config.load("specs/digits_mlp.toml"))
    x = _x((8, 8, 8))
    variables = model.init(KEY, x, training=False)
    _, updates = _apply(model, variables, x, training=True)
    variables = {**variables, **updates}
    expected, _ = _apply(model, variables, x, training=False)
    template = model.init(_key(5), x, training=False)  # other values, same tree
    restored = serialization.from_bytes(template, serialization.to_bytes(variables))
    assert bool(jnp.array_equal(_apply(model, restored, x, training=False)[0], expected))
    plain = serialization.msgpack_restore(serialization.to_bytes(nn.unbox(variables)))
    # A fresh module applies restored variables with no init and no first call before.
    assert bool(jnp.array_equal(_apply(einn.from_spec(model.spec), plain, x, False)[0], expected))


def test_grad_vmap_and_leak_checking_over_apply() -> None:
    module = einn.Linear("b... [c1->c2]", c2=5)
    x = _x((6, 7))
    variables = _init(module, x)
    with jax.checking_leaks():
        y = jax.jit(module.apply)(variables, x)
        jax.jit(jax.grad(lambda v: jnp.sum(module.apply(v, x))))(variables)
    per_example = jax.vmap(lambda x: module.apply(variables, x))(x)
    np.testing.assert_allclose(per_example, y, rtol=1e-6, atol=1e-6)
    grads = jax.grad(lambda v: jnp.sum(module.apply(v, x)))(variables)
    np.testing.assert_allclose(
        grads["params"]["weight"], jnp.broadcast_to(x.sum(0)[:, None], (7, 5)), rtol=1e-5
    )


def test_lifted_remat_and_vmap() -> None:
    x = _x((4, 8, 6))
    remat = nn.remat(einn.Norm, static_argnums=(2,))("[b...] c", decay_rate=0.9)
    variables = nn.unbox(remat.init(KEY, x, False))  # static arguments are positional
    y, updates = remat.apply(variables, x, True, mutable=["stats"])
    plain = einn.Norm("[b...] c", decay_rate=0.9)
    y_plain, updates_plain = _apply(plain, variables, x, training=True)
    np.testing.assert_allclose(y, y_plain, rtol=1e-6)
    np.testing.assert_allclose(updates["stats"]["var"], updates_plain["stats"]["var"], rtol=1e-6)
    ensemble = nn.vmap(
        einn.Linear,
        variable_axes={"params": 0},
        split_rngs={"params": True},
        in_axes=None,
        axis_size=3,
        metadata_params={nn.PARTITION_NAME: "ensemble"},  # the new axis's logical name
    )("b... [c1->c2]", c2=2)
    boxed = ensemble.init(KEY, x)
    assert nn.get_partition_spec(boxed)["params"]["weight"] == PartitionSpec("ensemble", "c1", "c2")
    variables = nn.unbox(boxed)
    assert variables["params"]["weight"].shape == (3, 6, 2)
    y = ensemble.apply(variables, x)
    assert y.shape == (3, 4, 8, 2)
    np.testing.assert_allclose(
        y[1], x @ variables["params"]["weight"][1] + variables["params"]["bias"][1], rtol=1e-5
    )


# ----------------------------------------------------------------------------- errors


def test_mistakes_are_einx_errors_naming_the_layer() -> None:
    linear = einn.Linear("b... [c1->c2]", c2=8)
    variables = linear.init(KEY, jnp.ones((2, 16)))
    with pytest.raises(AxisSizeError) as info:
        linear.apply(variables, jnp.ones((2, 12)))
    message = str(info.value)
    assert "Linear('b... [c1->c2]', c2=8)" in message and "weight" in message
    assert "(16, 8)" in message and "(12, 8)" in message
    with pytest.raises(RankError):
        einn.Norm("b h w [c]").init(KEY, jnp.ones((2, 3, 4)))
    with pytest.raises(EinxError, match="floating-point"):
        einn.Norm("b [c]").init(KEY, jnp.ones((2, 3), jnp.int32))
    with pytest.raises(EinxError, match="floating-point"):
        einn.Dropout("[...]", drop_rate=0.1).init(KEY, jnp.ones((2, 3), bool), training=False)
    with pytest.raises(EinxError, match="training=True or training=False"):
        einn.Norm("[b] c", decay_rate=0.9).init(KEY, jnp.ones((2, 3)))
    with pytest.raises(EinxError, match="JAX or NumPy array"):
        linear.apply(variables, [[1.0] * 16])
    with pytest.raises(EinxError, match="missing"):
        einn.Norm("[b] c", decay_rate=0.9).apply(
            {"params": variables["params"]}, jnp.ones((2, 16)), training=False
        )
    with pytest.raises(SpecError):
        einn.Dropout("[...]", drop_rate=1.5)
    with pytest.raises(EinxError):
        einn.Linear("b [c1->c2]", c2=3, c3=4)  # an axis value that no expression uses
    # NumPy inputs are accepted, integers follow NumPy's promotion in Linear.
    tokens = np.array([[1, 0, 2, 1], [0, 3, 1, 1]])
    out = einn.Linear("b [c1->c2]", c2=3).init_with_output(KEY, tokens)[0]
    assert out.dtype == jnp.float32

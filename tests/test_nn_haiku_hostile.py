"""einx_typed.nn.haiku used the way a demanding Haiku user uses a native layer.

Every layer form of the seed tutorial and of ``specs/``: keys (same key, same mask;
evaluation draws none), evaluation before training, dtypes chosen at construction, stable
names, weight sharing, ``hk.vmap``, leaked tracers, and mistakes that must be
``EinxError``\\ s naming the layer.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _tutorial import hostile_layers

import einx_typed as einx
import einx_typed.config
import einx_typed.nn.haiku as einn
from einx_typed.errors import AxisSizeError, EinxError, OperationError, RankError, SpecError
from einx_typed.layers import DropoutSpec, LinearSpec, NormSpec

X_SHAPE = (4, 6, 6, 16)
KEY = jax.random.key(0)

LAYERS = hostile_layers(einn)
"""Layer forms; the digits models take (b, 8, 8) inputs."""

RANDOM = {"dropout", "spatial_dropout", "droppath", "digits_mlp", "mlp_dropout"}
WITH_STATE = {"batchnorm", "groupnorm_ema", "digits_mlp"}


def _x(name: str, seed: int = 0, dtype: Any = np.float32) -> jax.Array:
    shape = (16, 8, 8) if name.startswith(("digits", "mlp")) else X_SHAPE
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


def _model(name: str) -> hk.TransformedWithState:
    make = LAYERS[name]
    return hk.transform_with_state(lambda x, training: make()(x, training))


def _init(model: hk.TransformedWithState, x: jax.Array) -> tuple[Any, Any]:
    """Random parameters and state of the model's structure, without compiling its init."""
    params, state = jax.eval_shape(lambda x: model.init(KEY, x, True), x)
    rng = np.random.default_rng(1)
    fill = lambda a: jnp.asarray(rng.uniform(0.5, 1.5, a.shape), a.dtype)  # noqa: E731
    return jax.tree.map(fill, params), jax.tree.map(fill, state)


# --- keys --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_keys_give_masks_and_evaluation_draws_none(name: str) -> None:
    model = _model(name)
    x = _x(name)
    params, state = _init(model, x)
    apply = jax.jit(model.apply, static_argnums=4)
    # Evaluation draws no key: no rng, and hk.without_apply_rng, both work.
    evaluated, eval_state = apply(params, state, None, x, False)
    without_rng = jax.jit(hk.without_apply_rng(model).apply, static_argnums=3)
    np.testing.assert_array_equal(without_rng(params, state, x, False)[0], evaluated)
    assert jax.tree.all(jax.tree.map(np.array_equal, eval_state, state))
    first, _ = apply(params, state, jax.random.key(1), x, True)
    again, _ = apply(params, state, jax.random.key(1), x, True)
    other, _ = apply(params, state, jax.random.key(2), x, True)
    np.testing.assert_array_equal(first, again)
    if name in RANDOM:
        assert not np.array_equal(first, other)
        with pytest.raises(OperationError, match="random key"):
            model.apply(params, state, None, x, True)
    else:
        np.testing.assert_array_equal(first, other)
        # A layer without randomness needs no key in training either.
        np.testing.assert_array_equal(apply(params, state, None, x, True)[0], first)


@pytest.mark.parametrize("name", sorted(WITH_STATE))
def test_evaluation_before_training_uses_the_initial_statistics(name: str) -> None:
    model = _model(name)
    x = _x(name) * 3 + 1
    params, _ = _init(model, x)
    _, state = jax.eval_shape(lambda x: model.init(KEY, x, True), x)
    state = jax.tree.map(  # the documented initial statistics: mean 0, var 1
        lambda s: jnp.zeros(s.shape, s.dtype), state
    )
    state = {
        m: {k: (v + 1 if k.endswith("var") else v) for k, v in values.items()}
        for m, values in state.items()
    }
    apply = jax.jit(model.apply, static_argnums=4)
    _, after_eval = apply(params, state, None, x, False)
    assert jax.tree.all(jax.tree.map(np.array_equal, after_eval, state))
    _, trained = apply(params, state, jax.random.key(1), x, True)
    assert not jax.tree.all(jax.tree.map(np.array_equal, trained, state))
    _, after_eval = apply(params, trained, None, x, False)
    assert jax.tree.all(jax.tree.map(np.array_equal, after_eval, trained))


# --- dtypes, names, sharing, transforms ----------------------------------------------------


DTYPE_SPECS = {
    "layernorm": NormSpec("b... [c]"),
    "batchnorm": NormSpec("[b...] c", decay_rate=0.9),
    "channel_mix": LinearSpec("b... [c1->c2]", axes={"c2": 8}),
    "dropout": DropoutSpec("[...]", 0.3),
}


DTYPE_CASES = [
    (name, dtype)
    for name in sorted(DTYPE_SPECS)
    for dtype in ("float16", "bfloat16")
    if name != "dropout" or dtype == "bfloat16"  # a mask's compile is slow; one dtype will do
]


@pytest.mark.parametrize(("name", "dtype"), DTYPE_CASES)
def test_dtype_at_construction_equals_resolved_apply(name: str, dtype: str) -> None:
    spec = DTYPE_SPECS[name]
    model = hk.transform_with_state(
        lambda x, training: einn.from_spec(spec, name="layer", dtype=dtype)(x, training)
    )
    x = _x(name, dtype=dtype)
    params, state = jax.eval_shape(lambda x: model.init(KEY, x, True), x)
    assert all(a.dtype == jnp.dtype(dtype) for a in jax.tree.leaves((params, state)))
    params, state = _init(model, x)
    key = jax.random.key(3)
    y, new_state = jax.jit(model.apply, static_argnums=4)(params, state, key, x, True)
    resolved = spec.resolve(x.shape, dtype=dtype)
    reference = jax.jit(  # jitted too: XLA fuses float16 arithmetic differently eagerly
        lambda params, state, x: resolved.apply(
            params, x, state=state, training=True, rng=next(hk.PRNGSequence(key))
        )
    )
    expected, expected_state = reference(params.get("layer", {}), state.get("layer"), x)
    assert y.dtype == expected.dtype == jnp.dtype(dtype)
    np.testing.assert_array_equal(np.asarray(y, np.float32), np.asarray(expected, np.float32))
    assert set(new_state.get("layer", {})) == set(expected_state)
    for k, v in expected_state.items():
        np.testing.assert_array_equal(new_state["layer"][k], v)


def test_names_are_stable_across_transforms_and_modules_share_weights() -> None:
    def forward(x: jax.Array) -> jax.Array:
        shared = einn.Linear("b [c1->c2]", c2=8, name="shared")
        y = shared(shared(x))  # one module called twice: one set of parameters
        return einn.Linear("b [c1->c2]", c2=8)(y) + einn.Linear("b [c1->c2]", c2=8)(y)

    x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 8)), jnp.float32)
    trees = [
        jax.eval_shape(lambda x: hk.transform(forward).init(KEY, x), x).keys() for _ in range(2)
    ]
    assert sorted(trees[0]) == sorted(trees[1]) == ["linear", "linear_1", "shared"]
    model = hk.transform(forward)
    params = jax.tree.map(
        lambda a: jnp.full(a.shape, 0.1, a.dtype),
        jax.eval_shape(lambda x: model.init(KEY, x), x),
    )
    w, b = params["shared"]["weight"], params["shared"]["bias"]
    h = (x @ w + b) @ w + b
    expected = 2 * (h @ params["linear"]["weight"] + params["linear"]["bias"])
    np.testing.assert_allclose(model.apply(params, None, x), expected, rtol=1e-5)


def test_hk_vmap_per_example_equals_the_batched_layer() -> None:
    def per_example(x: jax.Array) -> jax.Array:
        x = einn.Linear("[c1->c2]", c2=8, name="linear")(x)
        return einn.Norm("[c]", name="norm")(x)

    def batched(x: jax.Array) -> jax.Array:
        x = einn.Linear("b [c1->c2]", c2=8, name="linear")(x)
        return einn.Norm("b [c]", name="norm")(x)

    vmapped = hk.transform(lambda x: hk.vmap(per_example, split_rng=False)(x))
    model = hk.transform(batched)
    x = _x("layernorm").reshape(-1, 16)[:5]
    params = jax.tree.map(
        lambda a: jnp.asarray(np.random.default_rng(0).uniform(-1, 1, a.shape), a.dtype),
        jax.eval_shape(lambda x: model.init(KEY, x), x),
    )
    assert jax.tree.structure(jax.eval_shape(lambda x: vmapped.init(KEY, x), x)) == (
        jax.tree.structure(params)
    )
    np.testing.assert_allclose(
        jax.jit(vmapped.apply)(params, None, x), model.apply(params, None, x), atol=1e-6
    )


def test_no_leaked_tracers() -> None:
    model = _model("digits_mlp")  # EMA statistics and dropout
    x = _x("digits_mlp")
    params, state = _init(model, x)

    def loss(params: Any) -> jax.Array:
        y, _ = model.apply(params, state, jax.random.key(1), x, True)
        return jnp.sum(y)

    with jax.checking_leaks():
        jax.jit(jax.grad(loss))(params)


# --- mistakes ----------------------------------------------------------------------------


def _raises(error: type[EinxError], match: str, run: Callable[[], Any]) -> None:
    with pytest.raises(error, match=match):
        run()


def test_mistakes_are_einx_errors_that_name_the_layer() -> None:
    x = jnp.ones((4, 8))
    linear = hk.transform_with_state(
        lambda x, training=None: einn.Linear("b [c1->c2]", c2=3)(x, training)
    )
    params, state = linear.init(KEY, x)
    _raises(RankError, "rank", lambda: linear.apply(params, state, None, jnp.ones((4, 8, 2))))
    _raises(
        AxisSizeError,
        r"Linear\('b \[c1->c2\]', c2=3\).*weight",
        lambda: linear.apply(params, state, None, jnp.ones((4, 9))),
    )
    _raises(OperationError, "could not provide", lambda: linear.apply({}, state, None, x))

    norm = hk.transform_with_state(
        lambda x, training=None: einn.Norm("[b] c", decay_rate=0.9)(x, training)
    )
    for dtype in (jnp.int32, jnp.bool_):
        _raises(
            OperationError,
            r"Norm\('\[b\] c', decay_rate=0.9\) needs a floating",
            lambda dtype=dtype: norm.init(KEY, jnp.ones((4, 8), dtype), True),
        )
    _raises(OperationError, r"Norm\(.*training=True or training=False", lambda: norm.init(KEY, x))
    params, state = norm.init(KEY, x, True)
    _raises(AxisSizeError, "scale", lambda: norm.apply(params, state, None, jnp.ones((4, 9)), True))

    dropout = hk.transform_with_state(
        lambda x, training=None: einn.Dropout("[...]", drop_rate=0.2)(x, training)
    )
    _raises(
        OperationError, "needs a floating", lambda: dropout.init(KEY, x.astype(jnp.int32), True)
    )
    _raises(OperationError, r"Dropout\(.*random key", lambda: dropout.apply({}, {}, None, x, True))

    def build(make: Callable[[], Any]) -> Callable[[], Any]:
        return lambda: hk.transform(lambda x: make()(x)).init(KEY, x)

    _raises(SpecError, "dtype", build(lambda: einn.Linear("b [c1->c2]", c2=3, dtype="int32")))
    _raises(SpecError, "dtype", build(lambda: einn.Norm("b [c]", dtype="float17")))
    _raises(SpecError, "drop_rate", build(lambda: einn.Dropout("[...]", drop_rate=2.0)))
    _raises(SpecError, "never closed", build(lambda: einn.Linear("b [c1->c2", c2=3)))
    _raises(OperationError, "inside a function transformed", lambda: einn.Linear("b [c]"))
    _raises(OperationError, "hk.get_parameter or hk.get_state", lambda: einn.param(print))  # type: ignore[arg-type]
    _raises(SpecError, "dtype", lambda: einn.param(dtype="float17"))
    _raises(SpecError, "name", lambda: einn.param(name=""))

    add = hk.transform(lambda x: einx.add("b [c]", x, einn.param(name="bias")))
    params = add.init(KEY, x)
    _raises(AxisSizeError, "einn.param.*bias", lambda: add.apply(params, None, jnp.ones((4, 9))))
    add_state = hk.transform_with_state(lambda x: einx.add("b [c]", x, hk.get_state))
    params, state = add_state.init(KEY, x)  # hk.get_state itself does not compare shapes
    _raises(AxisSizeError, "bias", lambda: add_state.apply(params, state, None, jnp.ones((4, 9))))
    _raises(
        SpecError,
        "foo",
        lambda: hk.transform(lambda x: einx.add("b [c]", x, einn.param(init="foo"))).init(KEY, x),
    )


def test_checkpoints_remat_and_vmap_over_models() -> None:
    def forward(x: jax.Array, training: bool) -> jax.Array:
        x = einn.Linear("b [...->c]", c=8)(x)
        x = einn.Norm("[b] c", decay_rate=0.9)(x, training)
        return einn.Dropout("[...]", drop_rate=0.3)(x, training)

    model = hk.transform_with_state(forward)
    remat = hk.transform_with_state(
        lambda x, training: hk.remat(lambda x: forward(x, training))(x)  # training: static
    )
    x = _x("layernorm")[:, 0, 0, :]
    params, state = _init(model, x)
    key = jax.random.key(5)
    apply = jax.jit(model.apply, static_argnums=4)
    y, new_state = apply(params, state, key, x, True)
    # A checkpoint written and read back (no init in the new process's transform) gives
    # identical numbers; names and shapes are all a checkpoint needs.
    loaded = pickle.loads(pickle.dumps(jax.device_get((params, state))))
    fresh = hk.transform_with_state(forward)
    y_loaded, state_loaded = jax.jit(fresh.apply, static_argnums=4)(*loaded, key, x, True)
    np.testing.assert_array_equal(y_loaded, y)
    assert jax.tree.all(jax.tree.map(np.array_equal, state_loaded, new_state))
    # hk.remat recomputes the same values, gradients included.
    grads = [
        jax.jit(jax.grad(lambda p, m=m: m.apply(p, state, key, x, True)[0].sum()))(params)
        for m in (model, remat)
    ]
    assert jax.tree.all(jax.tree.map(np.array_equal, grads[0], grads[1]))
    # jax.vmap over an ensemble of parameter sets equals applying each set on its own.
    ensemble = jax.tree.map(lambda a: jnp.stack([a, a * 0.5]), params)
    ys, _ = jax.vmap(lambda p: model.apply(p, state, key, x, True))(ensemble)
    second = jax.tree.map(lambda a: a[1], ensemble)
    np.testing.assert_allclose(ys[1], apply(second, state, key, x, True)[0], atol=1e-6)

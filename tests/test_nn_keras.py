"""einx_typed.nn.keras: the tutorial's Keras layers, numerics, Keras protocol and mistakes.

Runs in-process on the suite's Keras backend (JAX by default); test_nn_keras_backends.py
runs this file once more in a subprocess on the other one (PyTorch). Models are small and
compiled once per test.
"""

from __future__ import annotations

import copy as copy_module
import math
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from _tutorial import tutorial_layers

import einx_typed as einx
import einx_typed.config
import einx_typed.nn.keras as einn
from einx_typed.errors import AxisSizeError, OperationError, RankError, SpecError
from einx_typed.layers import DropoutSpec, LayerSpec, LinearSpec, NormSpec, Resolved, SequentialSpec

BACKEND = keras.config.backend()
ROOT = Path(__file__).resolve().parent.parent
X_SHAPE = (2, 8, 8, 16)

# Every layer variant of the tutorial: (constructor, input shape, documented output shape).
TUTORIAL_LAYERS = tutorial_layers(einn, X_SHAPE, mix2_input=(2, 16, 4))


def _x(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype("float32") * 2 + 0.5


def _np(x: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


@pytest.fixture(autouse=True)
def _float32_policy() -> Iterator[None]:
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


# ----------------------------------------------------------------------------- tutorial


@pytest.mark.parametrize("name", sorted(TUTORIAL_LAYERS))
def test_tutorial_layer_shapes_eagerly_in_training_and_inference(name: str) -> None:
    make, in_shape, out_shape = TUTORIAL_LAYERS[name]
    layer = make()
    x = _x(in_shape)
    assert tuple(layer(x, training=True).shape) == out_shape
    assert tuple(layer(x, training=False).shape) == out_shape
    assert tuple(layer(x).shape) == out_shape
    assert layer.built


def test_tutorial_layers_in_compiled_fit_and_predict_with_unknown_batch_size() -> None:
    # keras.Input(shape) leaves the batch size unknown (einx 0.3.0 failed here).
    names = sorted(TUTORIAL_LAYERS)
    inputs = [keras.Input(TUTORIAL_LAYERS[n][1][1:]) for n in names]
    outputs = [TUTORIAL_LAYERS[n][0]()(x) for n, x in zip(names, inputs)]
    for name, y in zip(names, outputs):
        assert tuple(y.shape) == (None, *TUTORIAL_LAYERS[name][2][1:])
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss=["mse"] * len(names))
    data = [_x((4, *TUTORIAL_LAYERS[n][1][1:]), seed=i) for i, n in enumerate(names)]
    targets = [np.zeros((4, *TUTORIAL_LAYERS[n][2][1:]), "float32") for n in names]
    history = model.fit(data, targets, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    predicted = model.predict(data, batch_size=4, verbose=0)
    for name, y in zip(names, predicted):
        assert y.shape == (4, *TUTORIAL_LAYERS[name][2][1:])


def test_tutorial_keras_linear_as_written() -> None:
    # The tutorial's Keras layer; the batch size is unknown when the model is built.
    class Linear(einn.Layer):
        def call(self, x: Any) -> Any:
            x = einx.dot("b... [c1->c2]", x, einn.param(self, name="weight"), c2=64)
            x = einx.add("b... [c2]", x, einn.param(self, name="bias"))
            return x

    layer = Linear()
    inputs = keras.Input((16,))
    outputs = layer(inputs)
    assert tuple(outputs.shape) == (None, 64)
    assert [(v.name, tuple(v.shape)) for v in layer.weights] == [
        ("weight", (16, 64)),
        ("bias", (64,)),
    ]
    assert np.all(_np(layer.bias) == 0)
    # Default dot init: LeCun normal truncated at +-2 sigma, variance 1 / fan_in.
    sigma = math.sqrt(1 / 16) / 0.87962566103423978
    assert float(np.abs(_np(layer.weight)).max()) <= 2 * sigma + 1e-6
    model = keras.Model(inputs, outputs)
    x = _x((5, 16))
    expected = x @ _np(layer.weight) + _np(layer.bias)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_np(layer(x)), expected, rtol=1e-5, atol=1e-5)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(x, expected + 1, batch_size=5, verbose=0)
    assert np.all(_np(layer.bias) > 0)  # param variables train in fit


def test_tutorial_param_snippets() -> None:
    class Layer(einn.Layer):
        def call(self, x: Any) -> Any:
            x = einx.multiply("... [c]", x, einn.param(self, init=1e-5, name="layerscale"))
            x = einx.add("... [c]", x, einn.param(self))  # name from the op: "bias"
            init = keras.initializers.RandomNormal(stddev=0.02)
            x = einx.add("b... [c]", x, einn.param(self, init=init, name="shift"))
            return einx.add("... [c]", x, self)  # the layer itself is a factory: "bias" again

    layer = Layer()
    x = _x((3, 8))
    y = layer(x)
    assert [v.name for v in layer.weights] == ["layerscale", "bias", "shift"]
    np.testing.assert_allclose(_np(layer.layerscale), np.full(8, 1e-5, "float32"))
    shift = _np(layer.shift)
    assert 0 < np.abs(shift).max() < 0.1
    np.testing.assert_allclose(_np(y), x * 1e-5 + shift, rtol=1e-6, atol=1e-6)


def test_tutorial_net_trains_with_fit_and_updates_its_statistics() -> None:
    # The tutorial's classifier with the Keras binder (from specs/digits_mlp.toml).
    model = einn.from_spec(einx_typed.config.load(ROOT / "specs" / "digits_mlp.toml"))
    assert isinstance(model, keras.Sequential)
    model.build((None, 8, 8))
    assert [layer.name for layer in model.layers] == [str(i) for i in range(9)]
    assert model.layers[0].weight.path.endswith("0/weight")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x, y = _x((16, 8, 8)), np.arange(16) % 10
    before = _np(model.layers[1].mean)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    after = _np(model.layers[1].mean)
    assert not np.array_equal(before, after)  # EMA statistics move in fit
    first = model.predict(x, verbose=0)
    np.testing.assert_allclose(_np(model(x)), first, rtol=1e-5, atol=1e-5)  # no dropout
    np.testing.assert_array_equal(_np(model.layers[1].mean), after)  # nor EMA updates


# ----------------------------------------------------------------------------- numerics

NUMERIC_SPECS = {
    "linear": LinearSpec("b... [c1->c2]", axes={"c2": 5}),
    "spatial": LinearSpec("b [s...->s2] c", axes={"s2": 3}),
    "patch": LinearSpec("b (s [s2->])... [c1->c2]", axes={"s2": 2, "c2": 5}),
    "layernorm": NormSpec("b... [c]"),
    "instancenorm": NormSpec("b [s...] c"),
    "groupnorm": NormSpec("b [s...] (g [c])", axes={"g": 2}),
    "rmsnorm": NormSpec("b... [c]", mean=False, bias=False),
    **{
        f"norm_mean{mean:d}_scale{scale:d}_ema{ema:d}": NormSpec(
            "[b...] c", mean=mean, scale=scale, decay_rate=0.9 if ema else None
        )
        for mean in (False, True)
        for scale in (False, True)
        for ema in (False, True)
    },
    "rms_ema": NormSpec("b... [c]", mean=False, decay_rate=0.8),
    "dropout": DropoutSpec("[...]", 0.5),
    "spatial_dropout": DropoutSpec("[b] ... [c]", 0.5),
    "droppath": DropoutSpec("[b] ...", 0.5),
}


def _rng_of(layer: keras.Layer) -> Any:
    """The random key or generator the layer's next training call draws from."""
    seed = _np(layer.seed_generator.state.value)
    if BACKEND == "jax":
        import jax.numpy as jnp

        return jnp.asarray(seed)
    import torch

    return torch.Generator().manual_seed(int(seed[0] + seed[1]) & 0xFFFFFFFF)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("name", sorted(NUMERIC_SPECS))
def test_outputs_and_state_equal_resolved_apply_exactly(name: str, training: bool) -> None:
    spec = NUMERIC_SPECS[name]
    layer = einn.from_spec(spec, seed=1)
    shape = (4, 4, 6, 8)
    x = keras.ops.convert_to_tensor(_x(shape))
    layer.build(shape)
    rng = np.random.default_rng(2)
    for variable in layer.weights:  # values away from their initialisers
        variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype("float32"))
    resolved = spec.resolve(shape, "float32")
    params = {k: getattr(layer, k).value for k in resolved.params}
    state = {k: getattr(layer, k).value for k in resolved.state}
    random = isinstance(spec, DropoutSpec) and training
    expected, new_state = resolved.apply(
        params, x, state=state, training=training, rng=_rng_of(layer) if random else None
    )
    y = layer(x, training=training)
    np.testing.assert_array_equal(_np(y), _np(expected))
    for key, value in new_state.items():
        np.testing.assert_array_equal(_np(getattr(layer, key)), _np(value))
    if state and not training:
        np.testing.assert_array_equal(_np(new_state["var"]), _np(state["var"]))


TUTORIAL_NORMS = {
    "layernorm": ("b... [c]", {}),
    "instancenorm": ("b [s...] c", {}),
    "groupnorm": ("b [s...] (g [c])", {"g": 2}),
    "batchnorm": ("[b...] c", {}),
    "rmsnorm": ("b... [c]", {"bias": False}),
}


@pytest.mark.parametrize("form", sorted(TUTORIAL_NORMS))
def test_every_tutorial_norm_with_mean_scale_and_ema_on_or_off(form: str) -> None:
    # Each tutorial norm with mean, scale and decay_rate toggled, in training and inference:
    # the documented shape, outputs and EMA updates equal to Resolved.apply's exactly.
    stats, extra = TUTORIAL_NORMS[form]
    shape = (3, 4, 2, 8)
    x = keras.ops.convert_to_tensor(_x(shape))
    for mean in (True, False):
        for scale in (True, False):
            for decay_rate in (None, 0.9):
                options = {"mean": mean, "scale": scale, "decay_rate": decay_rate, **extra}
                layer = einn.Norm(stats, **options)
                layer.build(shape)
                for variable in layer.weights:
                    variable.assign(keras.ops.ones(variable.shape) * 1.25)
                resolved = layer.spec.resolve(shape, "float32")
                assert set(resolved.state) == ({"mean", "var"} if mean else {"var"}) & (
                    {"mean", "var"} if decay_rate else set()
                )
                for training in (True, False):
                    params = {k: getattr(layer, k).value for k in resolved.params}
                    state = {k: getattr(layer, k).value for k in resolved.state}
                    before = {k: _np(v).copy() for k, v in state.items()}  # torch: in place
                    expected, new_state = resolved.apply(params, x, state=state, training=training)
                    y = layer(x, training=training)
                    assert tuple(y.shape) == shape, options
                    np.testing.assert_array_equal(_np(y), _np(expected), err_msg=str(options))
                    for key, value in new_state.items():
                        np.testing.assert_array_equal(_np(getattr(layer, key)), _np(value))
                        moved = not np.array_equal(_np(value), before[key])
                        assert moved == training, (options, key)


def _copy_and_compare(ours: keras.Layer, native: keras.Layer, x: np.ndarray) -> None:
    ours.build(x.shape)
    native.build(x.shape)
    rng = np.random.default_rng(3)
    values = [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in native.get_weights()]
    native.set_weights(values)
    ours.set_weights([v.reshape(w.shape) for v, w in zip(values, ours.get_weights())])
    for training in (True, False):
        kwargs = (
            {"training": training} if isinstance(native, keras.layers.BatchNormalization) else {}
        )
        expected = _np(native(x, **kwargs))
        np.testing.assert_allclose(_np(ours(x, training=training)), expected, rtol=1e-4, atol=1e-4)
    for a, b in zip(ours.get_weights(), native.get_weights()):  # moving statistics
        np.testing.assert_allclose(a.reshape(b.shape), b, rtol=1e-5, atol=1e-5)


NATIVE = {
    "dense": (lambda: einn.Linear("b... [c1->c2]", c2=5), lambda: keras.layers.Dense(5)),
    "einsum_dense": (
        lambda: einn.Linear("b [s...->s2] c", s2=3),
        lambda: keras.layers.EinsumDense("abcd,bce->aed", output_shape=(3, 8), bias_axes="e"),
    ),
    "layer_norm": (
        lambda: einn.Norm("b... [c]"),
        lambda: keras.layers.LayerNormalization(epsilon=1e-5),
    ),
    "group_norm": (
        lambda: einn.Norm("b [s...] (g [c])", g=4),
        lambda: keras.layers.GroupNormalization(groups=4, epsilon=1e-5),
    ),
    "instance_norm": (
        lambda: einn.Norm("b [s...] c"),
        lambda: keras.layers.GroupNormalization(groups=-1, epsilon=1e-5),
    ),
    "rms_norm": (
        lambda: einn.Norm("b... [c]", mean=False, bias=False),
        lambda: keras.layers.RMSNormalization(epsilon=1e-5),
    ),
    "batch_norm": (
        lambda: einn.Norm("[b...] c", decay_rate=0.9),
        lambda: keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5),
    ),
}


@pytest.mark.parametrize("name", sorted(NATIVE))
def test_numerics_match_the_native_keras_layer_with_copied_weights(name: str) -> None:
    ours, native = NATIVE[name]
    _copy_and_compare(ours(), native(), _x((4, 5, 6, 8)))


def test_ema_statistics_in_compiled_fit_match_batch_normalization() -> None:
    def model(norm: keras.Layer) -> keras.Model:
        result = keras.Sequential([keras.Input((6,)), norm])
        result.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
        return result

    ours = model(einn.Norm("[b...] c", decay_rate=0.8))
    native = model(keras.layers.BatchNormalization(momentum=0.8, epsilon=1e-5))
    x = _x((20, 6)) * 3
    for m in (ours, native):  # last batch smaller: 8, 8, 4
        m.fit(x, np.zeros_like(x), batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert not np.allclose(_np(ours.layers[0].mean), 0)
    for a, b in zip(ours.get_weights(), native.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), native.predict(x, verbose=0), rtol=1e-4, atol=1e-4
    )
    y = np.ones_like(x)
    losses = [m.evaluate(x, y, batch_size=8, verbose=0) for m in (ours, native)]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)


# ----------------------------------------------------------------------------- dropout


def test_dropout_draws_from_its_seed_generator() -> None:
    x = np.ones((64, 4, 4, 8), "float32")
    first, second, other = (
        einn.Dropout("[b] ... [c]", drop_rate=0.5, seed=seed) for seed in (3, 3, 4)
    )
    a, b, c = (_np(layer(x, training=True)) for layer in (first, second, other))
    np.testing.assert_array_equal(a, b)  # the same seed gives the same mask
    assert not np.array_equal(a, c)
    assert set(np.unique(a)) == {0.0, 2.0}
    assert np.all(a == a[:, :1, :1, :])  # one draw per (b, c)
    state = _np(first.seed_generator.state.value)
    np.testing.assert_array_equal(_np(first(x)), x)  # inference: the identity, nothing drawn
    np.testing.assert_array_equal(_np(first.seed_generator.state.value), state)
    assert not np.array_equal(_np(first(x, training=True)), a)  # the generator advanced


def test_dropout_advances_inside_compiled_predict() -> None:
    class AlwaysDrop(einn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.dropout = einn.Dropout("[...]", drop_rate=0.5, seed=0)

        def call(self, x: Any) -> Any:
            return self.dropout(x, training=True)

    inputs = keras.Input((16,))
    model = keras.Model(inputs, AlwaysDrop()(inputs))
    x = np.ones((8, 16), "float32")
    first, second = (model.predict(x, batch_size=4, verbose=0) for _ in range(2))
    assert not np.array_equal(first, second)
    assert not np.array_equal(first[:4], first[4:])
    assert 0.3 < np.mean(first == 0) < 0.7


# ----------------------------------------------------------------------------- mixed precision


def test_mixed_bfloat16_keeps_float32_variables_and_computes_in_bfloat16() -> None:
    keras.config.set_dtype_policy("mixed_bfloat16")
    layers = [
        einn.Linear("b... [c1->c2]", c2=8),
        einn.Norm("[b] c", decay_rate=0.9),
        einn.Dropout("[...]", drop_rate=0.1, seed=0),
        einn.Linear("b... [c1->c2]", c2=3),
    ]
    model = keras.Sequential([keras.Input((6,)), *layers])
    assert all(v.dtype == "float32" for v in model.weights)
    x = _x((8, 6))
    for training in (True, False):
        assert keras.backend.standardize_dtype(model(x, training=training).dtype) == "bfloat16"
    model.compile(optimizer=keras.optimizers.SGD(1e-2), loss="mse")
    model.fit(x, np.zeros((8, 3), "float32"), batch_size=4, verbose=0)
    assert layers[1].mean.dtype == "float32" and not np.allclose(_np(layers[1].mean), 0)
    keras.config.set_dtype_policy("float32")
    layer = einn.Norm("b... [c]", dtype="mixed_bfloat16")  # a policy by argument
    y = layer(_x((2, 6)))
    assert layer.scale.dtype == "float32"
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"


# ----------------------------------------------------------------------------- serialisation


def test_get_config_and_from_config_round_trip() -> None:
    layers = [
        einn.Linear("b [s...->s2] c", s2=3, name="mix", dtype="float16"),
        einn.Norm("b [s...] (g [c])", g=2, decay_rate=0.9, epsilon=1e-3),
        einn.Dropout("[b] ...", drop_rate=0.3, seed=7),
        einn.Activation("softmax", "b... [c]"),
    ]
    for layer in layers:
        config = layer.get_config()
        assert config["spec"] == einx_typed.config.to_dict(layer.spec)
        copy = type(layer).from_config(config)
        assert copy.spec == layer.spec and copy.get_config() == config
    assert layers[0].name == "mix" and layers[0].variable_dtype == "float16"
    assert layers[2].get_config()["seed"] == 7
    x = _x((2, 4, 6))
    layers[0](x)
    copy = einn.Linear.from_config(layers[0].get_config())
    copy.build(x.shape)
    copy.set_weights(layers[0].get_weights())
    np.testing.assert_array_equal(_np(copy(x)), _np(layers[0](x)))


def test_clone_model_deepcopy_and_pickle_give_the_same_outputs() -> None:
    spec = SequentialSpec(
        [LinearSpec("b [...->c]", axes={"c": 8}), NormSpec("[b] c", decay_rate=0.9)]
    )
    inputs = keras.Input((4, 4))
    model = keras.Model(inputs, einn.from_spec(spec)(inputs))
    x = _x((6, 4, 4))
    model(x, training=True)  # moves the EMA statistics
    expected = _np(model(x))
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    assert [w.name for w in clone.weights] == ["weight", "bias", "scale", "bias", "mean", "var"]
    for copy in (clone, copy_module.deepcopy(model), pickle.loads(pickle.dumps(model))):
        np.testing.assert_array_equal(_np(copy(x)), expected)


def test_saved_model_loads_with_only_the_binder_imported(tmp_path: Path) -> None:
    spec = SequentialSpec(
        [
            LinearSpec("b [...->c]", axes={"c": 8}),
            NormSpec("[b] c", decay_rate=0.9),
            "gelu",
            DropoutSpec("[...]", 0.2),
            NormSpec("b [(g [c])]", axes={"g": 2}),
        ]
    )
    inputs = keras.Input((4, 4))
    model = keras.Model(inputs, einn.from_spec(spec, seed=0)(inputs))
    x = _x((6, 4, 4))
    model(x, training=True)  # moves the EMA statistics
    assert not np.allclose(_np(model.layers[1].layers[1].mean), 0)
    np.save(tmp_path / "y.npy", _np(model(x)))
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(
        """
        import sys
        import keras, numpy as np
        import einx_typed.nn.keras
        model = keras.saving.load_model(sys.argv[1] + "/m.keras")
        x, y = np.load(sys.argv[1] + "/x.npy"), np.load(sys.argv[1] + "/y.npy")
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x)), y)
        print("identical")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0 and "identical" in result.stdout, result.stderr[-3000:]


# ----------------------------------------------------------------------------- mistakes


def test_mistakes_are_einx_errors_that_name_the_layer() -> None:
    norm = einn.Norm("b [s...] (g [c])", g=4)
    norm(_x((2, 3, 16)))
    label = r"Norm\('b \[s\.\.\.\] \(g \[c\]\)', g=4\)"
    with pytest.raises(AxisSizeError, match=label):
        norm(_x((2, 3, 8)))  # another channel count than the variables
    with pytest.raises(AxisSizeError, match=label):
        norm(keras.Input((3, 8)))  # the same, symbolically
    with pytest.raises(RankError, match=label):
        norm(_x((2,)))
    with pytest.raises(RankError, match=r"Linear\(.*unknown lengths were read as 1"):
        einn.Linear("b h w [c1->c2]", c2=3)(keras.Input((4,)))
    with pytest.raises(SpecError, match="for axis 'rate'"):
        einn.Dropout("[...]", rate=0.2, drop_rate=0.2)  # a typo of a field is an axis value
    with pytest.raises(SpecError, match="'c3', which no expression of the layer uses"):
        einn.Linear("b [c1->c2]", c2=3, c3=4)  # a typo of an axis must not pass silently


@pytest.mark.parametrize("name", ["layernorm", "batchnorm", "dropout", "droppath"])
@pytest.mark.parametrize("dtype", ["int32", "bool"])
def test_integer_and_bool_inputs_to_norm_and_dropout(name: str, dtype: str) -> None:
    layer = TUTORIAL_LAYERS[name][0]()
    x = np.ones((2, 4, 4, 8), dtype)
    with pytest.raises(OperationError, match="needs a floating-point input, got"):
        layer(x, training=True)
    with pytest.raises(OperationError, match="needs a floating-point input, got"):
        layer(keras.Input((4, 4, 8), dtype=dtype))


@pytest.mark.parametrize("dtype", ["int32", "floaty", 3, "mixed_int8"])
def test_a_dtype_argument_that_is_no_float(dtype: object) -> None:
    with pytest.raises(SpecError, match="dtype"):
        einn.Linear("b [c1->c2]", c2=4, dtype=dtype)


def test_param_mistakes() -> None:
    with pytest.raises(SpecError, match="init must not be a bool"):
        einn.param(keras.layers.Dense(2), init=True)
    with pytest.raises(SpecError, match="dtype"):
        einn.param(keras.layers.Dense(2), dtype="int8")

    class Late(einn.Layer):
        def call(self, x: Any) -> Any:
            return einx.multiply("b [c]", x, einn.param(self, name="scale", init="unknown_op"))

    with pytest.raises(SpecError):
        Late()(_x((2, 3)))

    class Unnamed(einn.Layer):
        def call(self, x: Any) -> Any:
            return einx.dot("b [c1->c2]", x, lambda shape: einn.param(self)(shape), c2=2)

    with pytest.raises(SpecError, match="pass name="):
        Unnamed()(_x((2, 3)))


def test_parameters_that_depend_on_an_unknown_batch_size() -> None:
    layer = einn.Linear("[b... c1->b... c2]", c2=3)
    with pytest.raises(OperationError, match="depend on the unknown"):
        layer(keras.Input((4,)))
    assert tuple(
        einn.Linear("[b... c1->b... c2]", c2=3)(keras.Input((4,), batch_size=2)).shape
    ) == (
        2,
        3,
    )


def test_from_spec_rejects_specs_without_a_layer() -> None:
    class CustomSpec(LayerSpec):
        def _build(self, input_shape: tuple[int, ...], dtype: str) -> Resolved:
            raise NotImplementedError

    with pytest.raises(SpecError, match="CustomSpec"):
        einn.from_spec(CustomSpec())
    sequential = einn.from_spec(
        SequentialSpec([LinearSpec("b [c1->c2]", axes={"c2": 3}), DropoutSpec("[...]", 0.5)]),
        seed=5,
    )
    assert isinstance(sequential, keras.Sequential)
    assert sequential.layers[1].seed == 6


# ----------------------------------------------------------------------------- kit additions


def test_kit_resolve_partial_probes_unknown_lengths() -> None:
    from einx_typed.nn import _kit

    linear = LinearSpec("b [...->c]", axes={"c": 8})
    partial = _kit.resolve_partial(linear, (None, 4, 4), "float32")
    assert partial.output_shape == (None, 8)
    assert partial.resolved.params["weight"].shape == (4, 4, 8)
    norm = NormSpec("b [s...] c")
    assert _kit.resolve_partial(norm, (2, None, None, 3), "float32").output_shape == (
        2,
        None,
        None,
        3,
    )
    mix = LinearSpec("b [s...->s2] c", axes={"s2": 6})
    assert _kit.resolve_partial(mix, (None, 2, 3, 5), "float32").output_shape == (None, 6, 5)
    known = _kit.resolve_partial(linear, (3, 4, 4), "float32")
    assert known.output_shape == (3, 8)
    with pytest.raises(OperationError, match="depend on the unknown lengths"):
        _kit.resolve_partial(NormSpec("b [c]", decay_rate=0.9), (None, 4), "float32")
    with pytest.raises(RankError):
        _kit.resolve_partial(LinearSpec("b h [c1->c2]", axes={"c2": 2}), (None, 3), "float32")
    assert _kit.probe_shape((None, 3, None), 7) == (7, 3, 7)


def test_kit_naming_layer() -> None:
    from einx_typed.nn import _kit

    naming = _kit.naming_layer
    with pytest.raises(AxisSizeError, match=r"^Layer\(x\): bad") as caught, naming("Layer(x)"):
        raise AxisSizeError("bad")
    with pytest.raises(AxisSizeError, match=r"^Layer\(x\): bad$"), naming("Layer(x)"):
        raise caught.value  # named already: left as it is

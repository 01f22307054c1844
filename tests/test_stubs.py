"""The Keras stubs in ``stubs/``: mypy uses them, accepts correct Keras code and rejects
wrong calls; stubtest finds no difference from the installed Keras beyond the allowlist.

mypy runs in a subprocess with this repository's ``mypy.ini`` (``mypy_path = stubs``) on two
snippets. ``GOOD`` must pass; its ``assert_type`` lines fail if a Keras name were ``Any``
(that is, if the stubs were not in use), and it also runs under Keras, so the stubs accept
only what Keras does. Each line of ``BAD`` that ends in ``# E: <code>`` must get exactly
that error, and no other line any error.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

REPO_ROOT: Final = Path(__file__).resolve().parent.parent

GOOD: Final = """
from typing import TYPE_CHECKING, Any, assert_type

import numpy as np

import keras
from keras import ops

if TYPE_CHECKING:
    from keras._types import DTypeName, FloatDTypeName

x = ops.convert_to_tensor(np.zeros((2, 3), "float32"))
ops.reshape(x, (3, 2))
ops.reshape(x, (-1,))
ops.reshape(x, 6)
ops.sum(x, axis=(0, 1), keepdims=True)
ops.max(x, axis=-1)
ops.logsumexp(x, axis=(0,), keepdims=True)
ops.gelu(x, approximate=False)
ops.softmax(x, axis=-1)
ops.cast(x, "bfloat16")
ops.cast(x, keras.config.floatx())
ops.cast(x, np.float32)
ops.transpose(x, (1, 0))
ops.broadcast_to(x, (4, 2, 3))
ops.concatenate([x, x], axis=0)
ops.slice(x, [0, 1], [2, 2])
ops.einsum("ab,bc->ac", x, ops.ones((3, 4)))
ops.where(x > 0, x, 0.0)
ops.take(x, np.array([0, 1]), axis=1)
ops.scatter(np.array([[0], [1]]), ops.ones((2, 3)), (4, 3))
ops.scatter_update(x, np.array([[0, 0]]), np.array([1.0]), reduction="add")
ops.clip(ops.rsqrt(ops.square(x) + 1.0), 0.0, 1.0)
ops.arange(6, dtype="int32")
ops.full((2, 2), 3.0)
assert_type(ops.is_tensor(x), bool)
assert_type(ops.dtype(x), "DTypeName")
values, indices = ops.top_k(x, 2)
mean, variance = ops.moments(x, axes=[0])

inp = keras.Input((6, 8), batch_size=4, dtype="float32")
assert_type(inp, keras.KerasTensor)
assert_type(inp.shape, tuple[int | None, ...])
assert_type(inp.ndim, int)
assert_type(inp * 2 + 1, keras.KerasTensor)
assert_type(ops.shape(inp), tuple[int | None, ...])

seed = keras.random.SeedGenerator(0)
keras.random.uniform((2, 3), minval=-1.0, maxval=1.0, seed=seed)
keras.random.normal((2,), seed=1)
keras.random.truncated_normal([2, 2], stddev=0.02, dtype="bfloat16")
keras.random.dropout(x, 0.5, seed=seed)
keras.random.randint((3,), 0, 10)

scaling = keras.initializers.VarianceScaling(2.0, "fan_avg", "uniform", seed=seed)
scaling((3, 4), dtype="float32")
assert_type(keras.initializers.get("lecun_normal"), keras.Initializer)
assert_type(keras.initializers.get(keras.initializers.Zeros), keras.initializers.Zeros)
assert_type(keras.initializers.get(None), None)
keras.initializers.Constant(0.5)
keras.initializers.TruncatedNormal(stddev=0.02)


def zeros_init(shape: tuple[int, ...], dtype: str | None = None) -> Any:
    return ops.zeros(shape, dtype)


@keras.saving.register_keras_serializable(package="einx_typed_test")
class Scale(keras.layers.Layer):
    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.kernel = self.add_weight(
            shape=(input_shape[-1] or 1, self.units),
            initializer="glorot_uniform",
            dtype=self.variable_dtype,
            trainable=True,
            name="kernel",
        )
        self.offset = self.add_weight(shape=(self.units,), initializer=zeros_init)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return ops.matmul(inputs, self.kernel) + self.offset

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


layer = Scale(4, name="scale", dtype="mixed_bfloat16", trainable=True)
assert_type(Scale.from_config(layer.get_config()), Scale)
out = layer(inp)
assert_type(layer.kernel, keras.Variable)
assert_type(layer.dtype_policy, keras.DTypePolicy)
assert_type(layer.compute_dtype, "DTypeName")
assert_type(layer.trainable_weights, list[keras.Variable])
assert_type(layer.built, bool)
layer.dtype_policy = "float32"
dense = keras.layers.Dense(4, activation="gelu", use_bias=False, name="dense")
keras.layers.EinsumDense("abc,cd->abd", output_shape=(None, 4), bias_axes="d")
keras.layers.LayerNormalization(axis=-1, epsilon=1e-5, rms_scaling=False)
keras.layers.GroupNormalization(groups=2, axis=-1)
keras.layers.BatchNormalization(momentum=0.9, dtype="float32")
keras.layers.Dropout(0.1, seed=0)
model = keras.Model(inp, out)
sequential = keras.Sequential([keras.Input((8,)), dense, keras.layers.Dropout(0.1)])

variable = keras.Variable(np.zeros((2, 2)), dtype="float32", trainable=False, name="v")
assert_type(variable.shape, tuple[int, ...])
variable.assign(np.ones((2, 2)))
variable.numpy()

keras.config.set_dtype_policy("mixed_float16")
keras.config.set_dtype_policy(keras.DTypePolicy("float32"))
keras.mixed_precision.set_global_policy("float32")
assert_type(keras.config.floatx(), "FloatDTypeName")
keras.backend.standardize_dtype("float32") == "float32"
if keras.config.backend() == "jax":
    pass

config = keras.saving.serialize_keras_object(layer)
keras.saving.deserialize_keras_object(config)
keras.saving.save_model(model, "model.keras", include_optimizer=False)
assert_type(keras.saving.load_model("model.keras", compile=False), keras.Model)
keras.activations.gelu(x)
keras.optimizers.Adam(1e-3)
"""

BAD: Final = """
import numpy as np

import keras
from keras import ops

x = ops.convert_to_tensor(np.zeros((2, 3), "float32"))
inp = keras.Input((6, 8), batch_size=4)
layer = keras.layers.Layer()

ops.reshape(x, "ab")  # E: arg-type
ops.reshape(x, (2.0, 3))  # E: arg-type
ops.sum(x, axis="0")  # E: arg-type
ops.sum(x, axis=[0, 1])  # E: arg-type
ops.mean(x, axis=0, keepdims=None)  # E: arg-type
ops.cast(x, 32)  # E: arg-type
ops.gelu(x, approximate="tanh")  # E: arg-type
ops.gelu(x, approx=True)  # E: call-arg
ops.transpose(x, axes="ba")  # E: arg-type
ops.max_pool(x, 2, padding="full")  # E: arg-type
ops.reshpe(x, (3, 2))  # E: attr-defined
ops.broadcast_to(x, 6)  # E: arg-type
keras.random.uniform((2,), seed="x")  # E: arg-type
keras.random.normal((2.5,))  # E: arg-type
keras.random.normal((2,), mean="0")  # E: arg-type
layer.add_weight(shape=(2,), intializer="zeros")  # E: call-arg
layer.add_weight(shape=(2,), trainable="yes")  # E: arg-type
layer.add_weight((2,), "zeros")  # E: call-arg
keras.layers.Layer(name=3)  # E: arg-type
keras.layers.Dense("4")  # E: arg-type
keras.layers.Dense(4, activaton="relu")  # E: call-arg
keras.layers.Dropout(0.1, nme="drop")  # E: call-arg
keras.Input(shape="6,8")  # E: arg-type
keras.config.set_floatx("float128")  # E: arg-type
keras.initializers.VarianceScaling(mode="fan_out_avg")  # E: arg-type
keras.initializers.RandomNormal(seed="0")  # E: arg-type
keras.saving.register_keras_serializable(package=1)  # E: arg-type
keras.Varaible  # E: attr-defined
static: tuple[int, ...] = inp.shape  # E: assignment
inp.shape[0] + 1  # E: operator
for element in inp:  # E: attr-defined
    pass
"""

_ERROR_LINE: Final = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")
_EXPECTED: Final = re.compile(r"# E: (?P<code>[a-z-]+)$")


def _run_mypy(tmp_path: Path) -> dict[str, set[tuple[int, str]]]:
    """mypy on GOOD and BAD with the repository's config; {file name: {(line, code)}}."""
    (tmp_path / "good.py").write_text(GOOD)
    (tmp_path / "bad.py").write_text(BAD)
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(REPO_ROOT / "mypy.ini"),
            "--cache-dir",
            str(tmp_path / "mypy_cache"),
            str(tmp_path / "good.py"),
            str(tmp_path / "bad.py"),
        ],
        cwd=REPO_ROOT,  # mypy_path = stubs is relative to the working directory
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode in (0, 1), completed.stdout + completed.stderr
    errors: dict[str, set[tuple[int, str]]] = {"good.py": set(), "bad.py": set()}
    for line in completed.stdout.splitlines():
        match = _ERROR_LINE.match(line)
        if match:
            errors[Path(match["file"]).name].add((int(match["line"]), match["code"]))
        else:
            assert ": note: " in line or line.startswith("Found "), line
    return errors


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[tuple[int, str]]]:
    return _run_mypy(tmp_path_factory.mktemp("stubs"))


def test_correct_keras_code_passes(mypy_errors: dict[str, set[tuple[int, str]]]) -> None:
    assert mypy_errors["good.py"] == set()


def test_wrong_keras_calls_are_errors(mypy_errors: dict[str, set[tuple[int, str]]]) -> None:
    expected = {
        (number, match["code"])
        for number, line in enumerate(BAD.splitlines(), start=1)
        if (match := _EXPECTED.search(line))
    }
    assert len(expected) == 31
    assert mypy_errors["bad.py"] == expected


def test_correct_keras_code_runs(tmp_path: Path) -> None:
    """GOOD is real Keras code, not only code that the stubs accept (it saves a model file)."""
    pytest.importorskip("keras")
    (tmp_path / "good.py").write_text(GOOD)
    completed = subprocess.run(
        [sys.executable, str(tmp_path / "good.py")],
        cwd=tmp_path,
        # Keras' NumPy backend compiles nothing, so this takes seconds (JAX: one XLA
        # compilation per op); the snippet is backend-neutral Keras code.
        env={**os.environ, "KERAS_BACKEND": "numpy"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "model.keras").is_file()


def test_stubs_match_installed_keras() -> None:
    """stubtest: every name, parameter and default declared in stubs/ exists in Keras."""
    pytest.importorskip("keras")
    env = {**os.environ, "MYPYPATH": str(REPO_ROOT / "stubs"), "KERAS_BACKEND": "jax"}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy.stubtest",
            "keras",
            "--ignore-missing-stub",
            "--mypy-config-file",
            str(REPO_ROOT / "mypy.ini"),
            "--allowlist",
            str(REPO_ROOT / "stubs" / "stubtest_allowlist.txt"),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr

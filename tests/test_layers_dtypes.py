"""Every floating dtype that frameworks train with: resolve, ParamSpec, apply and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from einx_typed._dtypes import dtype_name, result_dtype
from einx_typed.errors import OperationError
from einx_typed.layers import LinearSpec, NormSpec, SequentialSpec, sample_init

FLOATS = ("float16", "bfloat16", "float32", "float64")
MODEL = SequentialSpec(
    [
        LinearSpec("b [...->c]", axes={"c": 16}),
        NormSpec("[b] c", decay_rate=0.9),
        "gelu",
        LinearSpec("b... [c1->c2]", axes={"c2": 4}),
    ]
)


@pytest.mark.parametrize("dtype", FLOATS)
def test_resolve_records_the_dtype_in_every_param_spec(dtype: str) -> None:
    resolved = MODEL.resolve((8, 4, 4), dtype=dtype)
    assert resolved.dtype == dtype
    for spec in (*resolved.params.values(), *resolved.state.values()):
        assert spec.dtype == dtype
    assert resolved.program(training=True).avals[0].dtype == dtype  # type: ignore[union-attr]


def test_dtype_objects_of_every_library_name_the_same_dtype() -> None:
    import ml_dtypes
    import torch

    assert dtype_name(torch.bfloat16) == dtype_name(ml_dtypes.bfloat16) == "bfloat16"
    assert dtype_name(np.dtype("float16")) == dtype_name(torch.half) == "float16"
    assert dtype_name(np.float64) == "float64"
    assert MODEL.resolve((8, 4, 4), dtype=torch.bfloat16) is MODEL.resolve((8, 4, 4), "bfloat16")
    with pytest.raises(OperationError, match="Unknown dtype"):
        dtype_name("bfloat17")


@pytest.mark.parametrize(
    ("operands", "expected"),
    [
        (("bfloat16", "bfloat16"), "bfloat16"),
        (("bfloat16", "float16"), "float32"),
        (("bfloat16", "float32"), "float32"),
        (("bfloat16", "float64"), "float64"),
        (("bfloat16", "int32"), "bfloat16"),
        (("bfloat16", float), "bfloat16"),
        (("float16", float), "float16"),
        (("float32", int), "float32"),
        (("int32", "int64"), "int64"),
    ],
)
def test_promotion_places_bfloat16_as_the_frameworks_do(
    operands: tuple[str | type, ...], expected: str
) -> None:
    assert result_dtype(*operands) == expected


@pytest.mark.parametrize("dtype", FLOATS)
def test_sample_init_draws_every_float_dtype(dtype: str) -> None:
    resolved = MODEL.resolve((8, 4, 4), dtype=dtype)
    for spec in resolved.params.values():
        array = sample_init(spec.init, spec.shape, spec.dtype)
        assert array.dtype.name == dtype and array.shape == spec.shape


@pytest.mark.parametrize("library", ["torch", "jax"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_apply_in_reduced_precision_tracks_float64(library: str, dtype: str) -> None:
    resolved = MODEL.resolve((8, 4, 4), dtype=dtype)
    rng = np.random.default_rng(0)
    params64 = {k: sample_init(p.init, p.shape, "float64", rng) for k, p in resolved.params.items()}
    state64 = {k: sample_init(p.init, p.shape, "float64", rng) for k, p in resolved.state.items()}
    x64 = rng.standard_normal((8, 4, 4))
    model64 = MODEL.resolve((8, 4, 4), "float64")
    expected, _ = model64.apply(params64, x64, state=state64, training=True)
    if library == "torch":
        import torch

        def convert(a: np.ndarray) -> object:
            return torch.as_tensor(a).to(getattr(torch, dtype))

        def back(t: object) -> np.ndarray:
            return np.asarray(t.float())  # type: ignore[attr-defined]
    else:
        import jax.numpy as jnp

        def convert(a: np.ndarray) -> object:
            return jnp.asarray(a, dtype=dtype)

        def back(t: object) -> np.ndarray:
            return np.asarray(t, dtype="float32")

    y, new_state = resolved.apply(
        {k: convert(v) for k, v in params64.items()},
        convert(x64),
        state={k: convert(v) for k, v in state64.items()},
        training=True,
    )
    assert str(getattr(y, "dtype", "")).endswith(dtype)
    np.testing.assert_allclose(back(y), expected, atol=0.1, rtol=0.1)
    assert all(str(v.dtype).endswith(dtype) for v in new_state.values())


def test_the_command_line_resolves_every_float_dtype() -> None:
    root = Path(__file__).resolve().parent.parent
    for dtype in FLOATS:
        result = subprocess.run(
            [
                *(sys.executable, "-m", "einx_typed", "inspect", "specs/digits_mlp.toml"),
                *("--input-shape", "64,8,8", "--dtype", dtype, "--program"),
            ],
            capture_output=True,
            text=True,
            cwd=root,
            env={**os.environ, "EINX_TYPED_TYPEGUARD": "0"},
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert f"Input shape: (64, 8, 8) ({dtype})" in result.stdout
        assert f"params['0.weight']  # (8, 8, 256) {dtype}" in result.stdout
        assert "Program, training:" in result.stdout and "Program, evaluation:" in result.stdout
        assert "linear(" in result.stdout

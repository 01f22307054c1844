"""``python -m einx_typed inspect``: the parameter table, without any framework."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from einx_typed import config

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "specs" / "digits_mlp.toml"


def _run(*args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EINX_TYPED_TYPEGUARD": "0"}
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "einx_typed"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )


def test_inspect_prints_the_parameter_table() -> None:
    result = _run("inspect", str(DIGITS), "--input-shape", "64,8,8")
    assert result.returncode == 0, result.stderr
    resolved = config.load(DIGITS).resolve((64, 8, 8))
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.split()[:2] == ["name", "shape"])
    assert header.split() == ["name", "shape", "axes", "init", "count"]
    for name, param in [*resolved.params.items(), *resolved.state.items()]:
        row = next(line for line in lines if line.split() and line.split()[0] == name)
        assert str(param.shape) in row
        assert row.split()[-1] == f"{param.size:,}"
    weight_row = next(line for line in lines if line.split()[0:1] == ["0.weight"])
    assert "lecun_normal(fan_in=64)" in weight_row
    assert "...0 ...1 c" in weight_row
    assert f"Output shape: {resolved.output_shape}" in lines
    assert f"Total parameters: {resolved.param_count:,}" in lines
    assert resolved.output_shape == (64, 10)


def test_inspect_loads_no_framework() -> None:
    code = (
        "import sys\n"
        "from einx_typed.__main__ import main\n"
        "status = main(sys.argv[1:])\n"
        "loaded = [m for m in ('torch', 'jax', 'flax', 'haiku', 'equinox', 'keras')"
        " if m in sys.modules]\n"
        "print('LOADED', loaded)\n"
        "sys.exit(status)\n"
    )
    result = _run("inspect", str(DIGITS), "--input-shape", "64,8,8", code=code)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inspect", "specs/absent.toml", "--input-shape", "64,8,8"], "cannot read the file"),
        (["inspect", str(DIGITS), "--input-shape", "64,x,8"], "is not a shape"),
        (["inspect", str(DIGITS), "--input-shape", "0,8"], "is not a shape"),
        (["inspect", str(DIGITS)], "--input-shape"),
        (
            ["inspect", str(ROOT / "specs" / "digits_mixer.toml"), "--input-shape", "64,7,8"],
            "not divisible",
        ),
        (["inspect", str(DIGITS), "--input-shape", "64,8,8", "--dtype", "floaty"], "dtype"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_gives_one_line_and_status_2(args: list[str], message: str) -> None:
    result = _run(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "error" in lines[0]
    assert message in lines[0]


def test_bad_spec_file_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('type = "dropout"\nexpr = "[...]"\ndrop_rate = 1.5\n')
    result = _run("inspect", str(path), "--input-shape", "4,4")
    assert result.returncode == 2
    assert "key drop_rate" in result.stderr
    assert str(path) in result.stderr

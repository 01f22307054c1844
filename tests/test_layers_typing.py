"""mypy (strict) sees the fields of the specs and rejects writes to them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

GOOD = """
from typing import assert_type
from einx_typed.layers import (
    AxisValue, DropoutSpec, FrozenMap, InitSpec, LayerSpec, LinearSpec, NormSpec, ParamSpec,
    Resolved, SequentialSpec,
)

linear = LinearSpec("b... [c1->c2]", axes={"c2": 64})
assert_type(linear.expr, str)
assert_type(linear.bias, bool)
assert_type(linear.axes, FrozenMap[str, AxisValue])
norm = NormSpec("[b...] c", decay_rate=0.9)
assert_type(norm.decay_rate, float | None)
assert_type(norm.epsilon, float)
assert_type(DropoutSpec("[...]", 0.2).drop_rate, float)
assert_type(SequentialSpec([linear, "gelu"]).layers, tuple[LayerSpec, ...])
resolved = linear.resolve((4, 32))
assert_type(resolved, Resolved)
assert_type(resolved.output_shape, tuple[int, ...])
weight = resolved.params["weight"]
assert_type(weight, ParamSpec)
assert_type(weight.shape, tuple[int, ...])
assert_type(weight.axes, tuple[str, ...])
assert_type(weight.init, InitSpec)
"""

BAD = """
from einx_typed.layers import LinearSpec

linear = LinearSpec("b... [c1->c2]", axes={"c2": 64})
linear.bias = False
linear.resolve((4, 32)).output_shape.append(3)
"""


def _mypy(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "snippet.py"
    path.write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def test_spec_fields_have_precise_types(tmp_path: Path) -> None:
    result = _mypy(GOOD, tmp_path)
    assert result.returncode == 0, result.stdout


def test_mypy_rejects_misuse(tmp_path: Path) -> None:
    result = _mypy(BAD, tmp_path)
    assert result.returncode == 1
    out = result.stdout
    assert "snippet.py:5: error" in out  # frozen field
    assert "snippet.py:6: error" in out  # tuple has no append

"""Importing einx_typed loads no deep-learning framework; the test suite runs under typeguard.

The import checks run in fresh interpreters (``sys.executable -c``) because the test
process itself has long imported jax and torch.  A second test feeds the same checker a
script that imports torch first, proving that the check can fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

FRAMEWORKS = ("torch", "jax", "jaxlib", "flax", "haiku", "equinox", "keras", "tensorflow")

CHECKER = """
import json, sys
{prelude}
for name in {modules!r}:
    __import__(name)
frameworks = {frameworks!r}
loaded = sorted(
    {{m.split(".")[0] for m in sys.modules}} & set(frameworks)
)
print(json.dumps(loaded))
"""


def loaded_frameworks(modules: tuple[str, ...], prelude: str = "") -> list[str]:
    """Import ``modules`` in a fresh interpreter and return the frameworks it ended up with."""
    script = CHECKER.format(prelude=prelude, modules=modules, frameworks=FRAMEWORKS)
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result: list[str] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    "modules",
    [
        ("einx_typed",),
        ("einx_typed.notation",),
        ("einx_typed.layers",),
        ("einx_typed.config",),
        ("einx_typed", "einx_typed.notation", "einx_typed.layers", "einx_typed.config"),
    ],
    ids=lambda modules: "+".join(modules),
)
def test_import_loads_no_framework(modules: tuple[str, ...]) -> None:
    for module in modules:
        path = REPO_ROOT.joinpath(*module.split("."))
        if not (path.is_dir() or path.with_suffix(".py").is_file()):
            pytest.skip(f"{module} does not exist yet")
    assert loaded_frameworks(modules) == []


def test_import_check_can_fail() -> None:
    loaded = loaded_frameworks(("einx_typed",), prelude="import torch")
    assert loaded == ["torch"]


def test_ops_on_numpy_load_no_framework() -> None:
    """A numpy call picks its backend without importing (or probing) another framework."""
    call = (
        "import numpy as np, einx_typed\n"
        "y = einx_typed.rearrange('a b -> b a', np.zeros((2, 3)))\n"
        "assert y.shape == (3, 2)\n"
    )
    assert loaded_frameworks(("einx_typed",), prelude=call) == []


def test_typeguard_hook_instruments_the_package() -> None:
    """tests/conftest.py imported einx_typed through typeguard's import hook."""
    typeguard = pytest.importorskip("typeguard")
    if os.environ.get("EINX_TYPED_TYPEGUARD", "1") == "0":
        pytest.skip("typeguard switched off with EINX_TYPED_TYPEGUARD=0")
    import einx_typed
    import einx_typed.errors

    if einx_typed.__spec__ is None or einx_typed.__spec__.origin is None:
        pytest.fail("einx_typed was imported as a namespace package; run `python -m pytest`")
    loader = einx_typed.errors.__spec__.loader
    assert type(loader).__name__ == "TypeguardLoader"
    # caret_line is annotated ``span: tuple[int, int] | None``: a list must be rejected.
    with pytest.raises(typeguard.TypeCheckError):
        einx_typed.errors.caret_line("a b", [0, 1])  # type: ignore[arg-type]
    with pytest.raises(typeguard.TypeCheckError):
        einx_typed.errors.caret_line(42, None)  # type: ignore[arg-type]
    assert einx_typed.errors.caret_line("a b", (2, 3)).endswith("  ^")
    # The ops are instrumented too: ``op_string: str`` rejects bytes before any parsing.
    with pytest.raises(typeguard.TypeCheckError):
        einx_typed.rearrange(b"a -> a", [1, 2], backend="numpy")  # type: ignore[arg-type]

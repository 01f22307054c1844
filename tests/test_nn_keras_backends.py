"""tests/test_nn_keras.py once more, on the other Keras backend, in a subprocess.

Keras picks its backend once, at import: the suite's process runs test_nn_keras.py on its
backend (``KERAS_BACKEND``, JAX by default), this test runs it on the other of JAX and
PyTorch. A file of its own, so that ``pytest -n 2 --dist loadfile`` runs the two at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OTHER = "jax" if os.environ.get("KERAS_BACKEND", "jax") == "torch" else "torch"


def test_the_keras_binder_tests_on_the_other_keras_backend() -> None:
    env = {**os.environ, "KERAS_BACKEND": OTHER, "JAX_PLATFORMS": "cpu", "CI": "true"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
    result = subprocess.run(
        [*command, str(ROOT / "tests" / "test_nn_keras.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in result.stdout.splitlines()[-1], result.stdout[-2000:]

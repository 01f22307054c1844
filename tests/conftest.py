"""Shared test configuration: Hypothesis profiles, the typeguard hook and backend fixtures.

Profiles: ``ci`` (used when the ``CI`` environment variable is set), ``dev`` (default) and
``thorough``; pick one with ``HYPOTHESIS_PROFILE=thorough``.

typeguard: the whole ``einx_typed`` package is imported through typeguard's import hook,
so every annotated function checks its arguments and return values at run time while the
suite runs.  The hook must be installed before anything imports ``einx_typed``; pytest
imports this file before the test modules, and the assertion below catches a plugin or
another conftest that imported the package earlier.  Modules whose instrumentation must be
skipped are listed in ``TYPEGUARD_IGNORED_MODULES`` (with the reason); setting
``EINX_TYPED_TYPEGUARD=0`` switches the hook off for a run (e.g. to time the suite).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Final, cast, final

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# --- typeguard -------------------------------------------------------------------------

TYPEGUARD_IGNORED_MODULES: Final[tuple[str, ...]] = (
    # Module forward passes are traced by torch.compile(fullgraph=True); dynamo cannot
    # trace the globals() lookups that typeguard inserts.  The binder's public API is
    # still checked by mypy, and everything it calls below nn/ stays instrumented.
    "einx_typed.nn.torch",
    # A module's compiled program calls the torch backend's primitives, which dynamo traces
    # into the graph the same way.  The primitives are still checked by mypy, and the
    # tests of every backend run them eagerly against references.
    "einx_typed.backends._torch",
)
"""Sub-modules of einx_typed that are imported without typeguard instrumentation.

Add a dotted module name here (with a comment saying
why) only when instrumentation breaks something that is not a typing bug, e.g. tracing
under ``torch.compile(fullgraph=True)``.
"""

TYPEGUARD_ENABLED: Final[bool] = os.environ.get("EINX_TYPED_TYPEGUARD", "1") != "0"

if TYPEGUARD_ENABLED:
    if "einx_typed" in sys.modules:
        raise RuntimeError(
            "einx_typed was imported before tests/conftest.py could install the typeguard "
            "import hook; the suite would run without run-time type checks."
        )
    from typeguard import install_import_hook

    install_import_hook("einx_typed", ignore_packages=TYPEGUARD_IGNORED_MODULES)

# --- Hypothesis profiles ---------------------------------------------------------------

# CI is derandomized: the same examples every run, so a green main stays green; the
# "dev" and "thorough" profiles explore new examples on every run.
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=5000, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# --- array backends --------------------------------------------------------------------

BACKEND_NAMES: Final[tuple[str, ...]] = ("numpy", "jax", "torch")


@final
class ArrayBackend:
    """Moves numpy test data into one array library and results back to numpy.

    Frameworks are imported on first use, so a test module that only needs numpy never
    loads jax or torch.
    """

    def __init__(self, name: str) -> None:
        if name not in BACKEND_NAMES:
            raise ValueError(f"unknown test backend {name!r}")
        self.name = name

    def __repr__(self) -> str:
        return f"ArrayBackend({self.name!r})"

    def asarray(self, x: Any) -> Any:
        """``x`` (numpy array or nested list) as a tensor of this library."""
        if self.name == "numpy":
            return np.asarray(x)
        if self.name == "jax":
            import jax.numpy as jnp

            return jnp.asarray(x)
        import torch

        return torch.as_tensor(np.asarray(x))

    def zeros(self, shape: tuple[int, ...], dtype: str) -> Any:
        """Zeros of ``shape`` and (numpy-named) ``dtype`` in this library."""
        return self.asarray(np.zeros(shape, dtype=dtype))

    def tensor_type(self) -> type:
        """The array type this library's ops return."""
        if self.name == "numpy":
            return np.ndarray
        if self.name == "jax":
            import jax

            return cast(type, jax.Array)
        import torch

        return cast(type, torch.Tensor)

    @staticmethod
    def to_numpy(x: Any) -> np.ndarray:
        """Any backend tensor, numpy scalar or Python scalar as a numpy array."""
        if type(x).__module__.startswith("torch"):
            return np.asarray(x.detach().cpu().numpy())
        return np.asarray(x)

    def is_result(self, x: Any) -> bool:
        """True if ``x`` is an op result of this library (numpy: array or numpy scalar)."""
        if self.name == "numpy":
            return isinstance(x, np.ndarray | np.generic)
        return isinstance(x, self.tensor_type())


@pytest.fixture(params=BACKEND_NAMES)
def array_backend(request: pytest.FixtureRequest) -> ArrayBackend:
    """Each array library in turn; skips when the library is not installed."""
    name: str = request.param
    pytest.importorskip(name)
    return ArrayBackend(name)

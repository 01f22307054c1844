"""TorchBackend.normalize's fused kernels: every norm form, layout, dtype and autograd situation.

The tutorial's and ``specs/``'s norm forms (and two more fused layouts) run forward and
backward with inputs that do and do not require grad, in contiguous, transposed,
channels-first and sliced memory, 2-D to 5-D, float32/float64/bfloat16/float16, against float64
references written with elementary torch ops (``torch_norm_kernel_worker.py``), through
the spec layer and through ``einn`` modules (whose later calls replay the first).  torch
2.13's CPU channels-last group-norm backward killed the interpreter (SIGSEGV) when the
input's gradient was not needed, so the cases run in separate interpreters: worker
processes that fork a child per chunk of cases and name the case a dying child was running.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import torch
from torch_norm_kernel_worker import FORMS, Case, cases

from einx_typed.backends._torch import _SOUND_CHANNELS_LAST_BACKWARD_LENGTH, _group_norm_input
from einx_typed.layers import NormSpec
from einx_typed.layers._norm import _norm_layout

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().with_name("torch_norm_kernel_worker.py")
WORKERS = 2  # worker processes run side by side
WORKER_TIMEOUT = 600  # seconds; a child that hangs is killed by its worker after 120

CASES_BY_FORM: dict[str, list[str]] = {}
for _case in cases():
    CASES_BY_FORM.setdefault(_case.form, []).append(_case.id)


def run_worker(case_ids: list[str]) -> dict[str, str]:
    """Every case's problems ("" if it passes), from one worker process.

    The worker isolates the cases from each other; should it die itself, every case it did
    not report fails with how it died.
    """
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
        "OMP_NUM_THREADS": "1",
    }
    try:
        done = subprocess.run(
            [sys.executable, str(WORKER), *case_ids],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=WORKER_TIMEOUT,
        )
        stdout, how = done.stdout, f"the worker exited with status {done.returncode}"
        stderr = done.stderr
    except subprocess.TimeoutExpired as expired:
        stdout = expired.stdout.decode() if isinstance(expired.stdout, bytes) else ""
        stderr = expired.stderr.decode() if isinstance(expired.stderr, bytes) else ""
        how = f"the worker timed out after {WORKER_TIMEOUT} s"
    results: dict[str, str] = {}
    for line in stdout.splitlines():
        kind, _, rest = line.partition(" ")
        case_id, _, problems = rest.partition(" ")
        if kind in ("PASS", "FAIL") and case_id in case_ids:
            results[case_id] = "" if kind == "PASS" else problems or "failed"
    tail = " | ".join(stderr.strip().splitlines()[-5:])
    for case_id in case_ids:
        results.setdefault(case_id, f"not reported: {how} ({tail})")
    return results


@pytest.fixture(scope="module")
def outcomes() -> dict[str, str]:
    """The outcome of every case, the cases shared out among the workers."""
    ids = [case.id for case in cases()]
    with ThreadPoolExecutor(WORKERS) as pool:
        parts = pool.map(run_worker, [ids[i::WORKERS] for i in range(WORKERS)])
    return {case_id: problems for part in parts for case_id, problems in part.items()}


@pytest.mark.parametrize("form", list(CASES_BY_FORM))
def test_forward_backward_against_reference(form: str, outcomes: dict[str, str]) -> None:
    failures = {c: outcomes[c] for c in CASES_BY_FORM[form] if outcomes[c]}
    assert not failures, "\n".join(f"{case_id}: {msg}" for case_id, msg in failures.items())


def test_a_case_that_kills_the_interpreter_fails_alone() -> None:
    """The worker names the case its child died in (with the signal); the others still run."""
    results = run_worker(["selftest-a", "selftest-segfault", "selftest-b"])
    assert results["selftest-a"] == "" and results["selftest-b"] == ""
    assert "SIGSEGV" in results["selftest-segfault"]


# --- which forms and kernels the cases cover ----------------------------------------------


def _spec_norm_layers() -> list[dict[str, Any]]:
    layers = []
    for path in sorted((ROOT / "specs").glob("*.toml")):
        config = tomllib.loads(path.read_text())
        layers += [layer for layer in config.get("layers", []) if layer.get("type") == "norm"]
    return layers


def _as_config(form_name: str) -> dict[str, Any]:
    form = FORMS[form_name]
    return {"type": "norm", "stats": form.stats, **form.options}


def test_cases_cover_every_norm_form_of_specs() -> None:
    layers = _spec_norm_layers()
    assert layers
    covered = [_as_config(name) for name in FORMS]
    missing = [layer for layer in layers if layer not in covered]
    assert not missing, f"norm layers of specs/ without kernel cases: {missing}"


def test_cases_run_every_fused_kernel() -> None:
    """Each form has a NormLayout on the shapes it runs with (so normalize's kernels run)."""
    for name, form in FORMS.items():
        for rank in form.ranks:
            shape = {2: (4, 32), 3: (4, 6, 32), 4: (4, 6, 5, 32), 5: (3, 4, 3, 5, 32)}[rank]
            assert _norm_layout(form.spec(), shape) is not None, (name, shape)


# --- the kernel input -------------------------------------------------------------------

SMALL = (4, 8, 8, 16)  # HxW = 64: the guarded range
LARGE = (2, 32, _SOUND_CHANNELS_LAST_BACKWARD_LENGTH // 32, 16)


def _input(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None) -> torch.Tensor:
    layout = _norm_layout(NormSpec("b [s...] c"), tuple(x.shape))
    assert layout is not None
    return _group_norm_input(x, layout, weight, bias)


def test_the_input_is_a_view_of_channels_last_memory_where_no_guard_is_needed() -> None:
    weight, bias = torch.ones(16, requires_grad=True), torch.zeros(16, requires_grad=True)
    x = torch.randn(LARGE)
    image = _input(x, weight, bias)
    assert image.data_ptr() == x.data_ptr()
    assert image.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(SMALL)
    assert _input(x, None, None).data_ptr() == x.data_ptr()


@pytest.mark.parametrize("params", ["weight", "bias", "both"])
def test_below_the_threshold_the_input_gradient_is_tied_to_the_parameters(params: str) -> None:
    """Asking for a parameter's gradient asks for the input's: the kernel computes dX."""
    weight = torch.rand(16, requires_grad=True) if params != "bias" else None
    bias = torch.randn(16, requires_grad=True) if params != "weight" else None
    x = torch.randn(SMALL)  # needs no gradient itself
    image = _input(x, weight, bias)
    assert torch.equal(image, x.movedim(-1, 1))
    assert image.is_contiguous(memory_format=torch.channels_last)
    assert image.requires_grad
    params = [param for param in (weight, bias) if param is not None]
    for grad in torch.autograd.grad(image.sum(), params):
        assert torch.equal(grad, torch.zeros(16))


@pytest.mark.parametrize("stats", ["b [s...] c", "b [s...] (g [c])", "b [s... c]"])
def test_the_output_is_the_channels_last_kernels_in_every_situation(stats: str) -> None:
    """Bit for bit, whatever the strides, grad mode and requires_grad of a call."""
    spec = NormSpec(stats, axes={"g": 4} if "g" in stats else {})
    resolved = spec.resolve(SMALL)
    layout = _norm_layout(spec, SMALL)
    assert layout is not None
    x = torch.randn(SMALL)
    weight, bias = torch.rand(16) + 0.5, torch.randn(16)
    expected = torch.native_group_norm(
        x.movedim(-1, 1), weight, bias, 4, 16, layout.length, layout.groups, 1e-5
    )[0].movedim(1, -1)
    transposed = x.transpose(0, 1).contiguous().transpose(0, 1)
    for inp in (x, transposed, x.movedim(-1, 1).contiguous().movedim(1, -1)):
        for grad in (False, True):
            params = {
                "scale": weight.clone().requires_grad_(grad),
                "bias": bias.clone().requires_grad_(grad),
            }
            with torch.set_grad_enabled(grad):
                y, _ = resolved.apply(params, inp.clone().requires_grad_(grad))
            assert torch.equal(y, expected)
        with torch.inference_mode():
            y, _ = resolved.apply({"scale": weight, "bias": bias}, inp)
        assert torch.equal(y, expected)


def test_case_ids_round_trip() -> None:
    for case in cases():
        assert Case.parse(case.id) == case

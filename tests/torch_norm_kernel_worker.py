"""Norm-kernel cases for ``test_torch_norm_kernels.py``, run in a child interpreter.

    python tests/torch_norm_kernel_worker.py CASE_ID...

Every case resolves a ``NormSpec`` form, applies it to a PyTorch input in one memory
layout, dtype and autograd situation, runs the backward where there is one, and compares
the output, the new EMA state and the gradients with a float64 reference written with
elementary torch ops; ``module`` cases do the same through an ``einn`` module, whose
later calls replay its recorded first one.

Native kernels can kill the interpreter, so this script runs the cases in forked children
of itself (torch imported once, no torch op run before the fork), a chunk of cases per
child; a child that dies names the case it was running, which is re-run alone to confirm
(see :func:`run_isolated`).  It prints ``PASS id`` or ``FAIL id problems`` per case.
"""

from __future__ import annotations

import faulthandler
import math
import os
import select
import signal
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

import einx_typed.nn.torch as einn
from einx_typed.layers import NormSpec

EPSILON = 1e-5  # NormSpec's default
DECAY = 0.9
CHANNELS = 32  # 4 per group at g=8: with 2, a 2-D group norm's input gradient is noise


@dataclass(frozen=True)
class Form:
    """A ``NormSpec`` form and what it computes, for the reference.

    Statistics are taken per channel group (``groups`` of them, ``None``: one per channel)
    over the group's channels and the leading dimensions ``reduced`` names: ``"none"``,
    ``"spatial"`` (all but the first) or ``"leading"`` (all).
    """

    stats: str
    options: dict[str, Any] = field(default_factory=dict)
    reduced: str = "none"
    groups: int | None = 1
    ranks: tuple[int, ...] = (2, 3, 4, 5)

    @property
    def center(self) -> bool:
        return bool(self.options.get("mean", True))

    @property
    def stateful(self) -> bool:
        return self.options.get("decay_rate") is not None

    def spec(self) -> NormSpec:
        return NormSpec(self.stats, **self.options)


FORMS: dict[str, Form] = {
    # The seed tutorial's norm layers (also specs/tutorial_catalogue.toml).
    "layer": Form("b... [c]"),
    "instance": Form("b [s...] c", reduced="spatial", groups=None, ranks=(3, 4, 5)),
    "group": Form("b [s...] (g [c])", {"axes": {"g": 8}}, reduced="spatial", groups=8),
    "batch": Form("[b...] c", {"decay_rate": DECAY}, reduced="leading", groups=None),
    "rms": Form("b... [c]", {"mean": False, "bias": False}),
    # specs/digits_mlp.toml
    "batch_2d": Form("[b] c", {"decay_rate": DECAY}, reduced="leading", groups=None, ranks=(2,)),
    # Further fused layouts: per-sample norm, and grouped batch norm (statistics over all
    # leading dims of each channel group, one kernel row).
    "sample": Form("b [s... c]", reduced="spatial"),
    "batch_group": Form(
        "[b s...] (g [c])", {"axes": {"g": 4}, "decay_rate": DECAY}, reduced="leading", groups=4
    ),
}

SHAPES: dict[str, tuple[int, ...]] = {
    "2d": (4, CHANNELS),
    "3d": (4, 6, CHANNELS),
    "4d": (4, 6, 5, CHANNELS),
    "5d": (3, 4, 3, 5, CHANNELS),
    # Around the spatial size where torch's CPU channels-last group-norm backward changes
    # implementation (einx_typed.backends._torch._SOUND_CHANNELS_LAST_BACKWARD_LENGTH): the
    # fused channels-last kernel is used from 2048 on, also without input gradients.
    "L2047": (2, 2047, 8),
    "L2048": (2, 2048, 8),
    "4d_L2048": (2, 32, 64, 8),
}

LAYOUTS = ("contiguous", "transposed", "channels_first", "sliced")
DTYPES = ("float32", "float64", "bfloat16", "float16")

VARIANTS = ("x", "nox", "params_only", "frozen", "no_grad", "inference", "module")
"""Autograd situations.

``x``: input and parameters require grad, ``loss.backward()``.  ``nox``: only the
parameters do (a layer on data).  ``params_only``: both do, but only the parameters'
gradients are asked for (``torch.autograd.grad``).  ``frozen``: only the input does.
``no_grad`` / ``inference``: forward under ``torch.no_grad()`` / ``torch.inference_mode()``.
``module``: an ``einn`` module called in several layouts and situations in turn
(:data:`MODULE_CALLS`; its layout is ``"sequence"``).
"""

TOLERANCES = {"float64": 1e-12, "float32": 2e-5, "bfloat16": 2e-2, "float16": 1e-2}
"""Largest error relative to ``max(1, max |reference|)``, for outputs, state and gradients.

bfloat16 and float16 round to 8 and 11 significant bits (errors 2**-9, 2**-12); their
results are within a few roundings of the float64 reference (up to 9e-3 and 3e-3 here).
"""

PARAM_GRAD_TOLERANCES = {**TOLERANCES, "bfloat16": 1e-1, "float16": 2e-2}
"""The same for parameter gradients: torch's CPU ``layer_norm`` backward (what
``torch.nn.LayerNorm`` runs too, bit for bit) sums them over all rows with reduced-precision
error growth, up to 4e-2 (bfloat16) and 5e-3 (float16) here, over 180 rows.  A missing or
garbage contribution is off by far more.
"""


@dataclass(frozen=True)
class Case:
    form: str
    shape: str
    layout: str
    dtype: str
    variant: str

    @property
    def id(self) -> str:
        return ":".join((self.form, self.shape, self.layout, self.dtype, self.variant))

    @staticmethod
    def parse(case_id: str) -> Case:
        form, shape, layout, dtype, variant = case_id.split(":")
        return Case(form, shape, layout, dtype, variant)


def _shapes_of(form: Form) -> list[str]:
    return [f"{rank}d" for rank in form.ranks]


def cases() -> Iterator[Case]:
    """Every case, grouped by form."""
    for name, form in FORMS.items():
        for shape in _shapes_of(form):
            for layout in LAYOUTS:
                for dtype in DTYPES:
                    for variant in ("x", "nox"):
                        yield Case(name, shape, layout, dtype, variant)
                yield Case(name, shape, layout, "float32", "params_only")
                yield Case(name, shape, layout, "float32", "frozen")
                for variant in ("no_grad", "inference"):
                    yield Case(name, shape, layout, "float32", variant)
        for shape in _shapes_of(form):
            for dtype in DTYPES:
                yield Case(name, shape, "sequence", dtype, "module")
        if form.reduced != "none" and 3 in form.ranks:
            for shape in ("L2047", "L2048", "4d_L2048"):
                for variant in ("nox", "params_only"):
                    yield Case(name, shape, "contiguous", "float32", variant)


# --- inputs ------------------------------------------------------------------------------


def _shape(case: Case, form: Form) -> tuple[int, ...]:
    shape = SHAPES[case.shape]
    if form.reduced == "leading" and "L20" in case.shape:
        return (1, *shape[1:])  # batch 1: the statistics run over `length` rows
    return shape


def _make_input(shape: tuple[int, ...], layout: str, dtype: torch.dtype) -> torch.Tensor:
    """A float tensor of ``shape`` whose memory is laid out as ``layout`` says."""
    b, c, rest = shape[0], shape[-1], shape[1:-1]

    def values(*dims: int) -> torch.Tensor:
        return (torch.randn(dims, dtype=torch.float64) * 2 + 0.5).to(dtype)

    if layout == "contiguous":
        x = values(*shape)
    elif layout == "transposed":  # the first two dims swapped in memory
        x = values(shape[1], b, *shape[2:]).transpose(0, 1)
    elif layout == "channels_first":  # (b, c, ...) in memory
        x = values(b, c, *rest).movedim(1, -1)
    elif layout == "sliced":  # every other batch row, channels cut from wider rows
        x = values(2 * b, *rest, c + 3)[::2, ..., 1 : 1 + c]
    else:
        raise ValueError(layout)
    assert tuple(x.shape) == shape
    return x


# --- reference ---------------------------------------------------------------------------


def _reduced_dims(form: Form, ndim: int) -> tuple[int, ...]:
    if form.reduced == "none":
        return ()
    if form.reduced == "spatial":
        return tuple(range(1, ndim - 1))
    return tuple(range(ndim - 1))


def _grouped(form: Form, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    """``x`` as ``(..., groups, channels per group)`` and the dims its statistics run over."""
    c = x.shape[-1]
    groups = c if form.groups is None else form.groups
    xg = x.reshape(*x.shape[:-1], groups, c // groups)
    return xg, (*_reduced_dims(form, x.ndim), xg.ndim - 1)


def reference_stats(form: Form, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch ``(mean, population var)`` per group, flattened (a leading-reduced form)."""
    xg, dims = _grouped(form, x)
    mean = xg.mean(dims, keepdim=True)
    var = ((xg - mean) ** 2).mean(dims, keepdim=True)
    return mean.reshape(-1), var.reshape(-1)


def reference(
    form: Form,
    x: torch.Tensor,
    params: dict[str, torch.Tensor],
    stats: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """The form's output from elementary ops; ``stats``: EMA ``(mean, var)`` to use."""
    xg, dims = _grouped(form, x)
    if stats is not None:
        shape = [1] * xg.ndim
        shape[-2] = xg.shape[-2]
        mean, var = (t.reshape(shape) for t in stats)
        centered = xg - mean
    elif form.center:
        centered = xg - xg.mean(dims, keepdim=True)
        var = (centered * centered).mean(dims, keepdim=True)
    else:
        centered = xg
        var = (xg * xg).mean(dims, keepdim=True)
    y = (centered / torch.sqrt(var + EPSILON)).reshape(x.shape)
    y = y * params["scale"].reshape(-1)
    if "bias" in params:
        y = y + params["bias"].reshape(-1)
    return y


# --- one case ----------------------------------------------------------------------------


def _error(got: torch.Tensor | None, want: torch.Tensor) -> float:
    if got is None:
        return math.inf
    got64 = got.detach().double().reshape(want.shape)
    scale = max(1.0, want.abs().max().item())
    return (got64 - want).abs().max().item() / scale


class _Checker:
    def __init__(self, tolerance: float) -> None:
        self.tolerance = tolerance
        self.problems: list[str] = []

    def close(
        self,
        what: str,
        got: torch.Tensor | None,
        want: torch.Tensor,
        tolerance: float | None = None,
    ) -> None:
        tolerance = self.tolerance if tolerance is None else tolerance
        err = _error(got, want)
        if not err <= tolerance:
            self.problems.append(f"{what} off by {err:.3g} (tolerance {tolerance:.3g})")

    def check(self, what: str, ok: bool) -> None:
        if not ok:
            self.problems.append(what)


def run_case(case: Case) -> list[str]:
    """Problems found in ``case`` (empty: it passes)."""
    form = FORMS[case.form]
    dtype = getattr(torch, case.dtype)
    torch.manual_seed(zlib.crc32(case.id.encode()))
    shape = _shape(case, form)
    if case.variant == "module":
        return _run_module(form, shape, dtype)
    # The spec layer resolves with NumPy dtype names; its apply path is dtype-agnostic.
    resolved = form.spec().resolve(
        shape, dtype="float32" if case.dtype == "bfloat16" else case.dtype
    )
    params_grad = case.variant in ("x", "nox", "params_only")
    x_grad = case.variant in ("x", "params_only", "frozen")
    params = {}
    for name, spec in resolved.params.items():
        values = torch.rand(spec.shape, dtype=torch.float64) + 0.5
        if name == "bias":
            values = torch.randn(spec.shape, dtype=torch.float64)
        params[name] = values.to(dtype).requires_grad_(params_grad)
    params64 = {name: p.detach().double() for name, p in params.items()}
    state: dict[str, torch.Tensor] | None = None
    ema: tuple[torch.Tensor, torch.Tensor] | None = None
    if form.stateful:
        state = {
            name: (torch.zeros if name == "mean" else torch.ones)(spec.shape, dtype=dtype)
            for name, spec in resolved.state.items()
        }
        ema = (state["mean"].double().reshape(-1), state["var"].double().reshape(-1))
    checker = _Checker(TOLERANCES[case.dtype])
    context: Callable[[], Any] = {
        "no_grad": torch.no_grad,
        "inference": torch.inference_mode,
    }.get(case.variant, torch.enable_grad)
    # Stateful forms train twice (on two batches), then evaluate with the EMA statistics.
    calls = (
        [("train 1", True), ("train 2", True), ("eval", False)] if form.stateful else [("", True)]
    )
    for label, training in calls:
        x = _make_input(shape, case.layout, dtype).requires_grad_(x_grad)
        x64 = x.detach().double()
        with context():
            y, new_state = resolved.apply(params, x, state=state, training=training)
        prefix = f"{label}: " if label else ""
        checker.check(
            f"{prefix}output is {y.dtype} {tuple(y.shape)}, expected {dtype} {shape}",
            y.dtype == dtype and tuple(y.shape) == shape,
        )
        use_ema = form.stateful and not training
        checker.close(
            f"{prefix}output", y, reference(form, x64, params64, ema if use_ema else None)
        )
        if form.stateful and training:
            assert ema is not None and state is not None
            batch_mean, batch_var = reference_stats(form, x64)
            ema = (
                DECAY * ema[0] + (1 - DECAY) * batch_mean,
                DECAY * ema[1] + (1 - DECAY) * batch_var,
            )
            checker.close(f"{prefix}EMA mean", new_state.get("mean"), ema[0])
            checker.close(f"{prefix}EMA var", new_state.get("var"), ema[1])
            checker.check(
                f"{prefix}EMA state requires grad",
                not any(t.requires_grad for t in new_state.values()),
            )
            state = new_state
        if case.variant in ("no_grad", "inference"):
            checker.check(f"{prefix}output requires grad under {case.variant}", not y.requires_grad)
            continue
        _check_gradients(
            case.variant, form, checker, prefix, x, y, params, params64, ema if use_ema else None
        )
    return checker.problems


def _check_gradients(
    variant: str,
    form: Form,
    checker: _Checker,
    prefix: str,
    x: torch.Tensor,
    y: torch.Tensor,
    params: dict[str, torch.Tensor],
    params64: dict[str, torch.Tensor],
    ema: tuple[torch.Tensor, torch.Tensor] | None,
) -> None:
    """The backward of ``sum(y * cotangent)`` against the reference's."""
    cotangent = torch.randn(y.shape, dtype=torch.float64).to(y.dtype)
    loss = (y * cotangent).sum()
    names = list(params)
    want_x = variant in ("x", "frozen")
    want_params = variant in ("x", "nox", "params_only")
    if variant == "params_only":
        got = dict(zip(names, torch.autograd.grad(loss, [params[n] for n in names])))
    else:
        for t in (x, *params.values()):
            t.grad = None
        loss.backward()
        got = {n: params[n].grad for n in names}
    x_ref = x.detach().double().requires_grad_(True)
    p_ref = {n: p.clone().requires_grad_(True) for n, p in params64.items()}
    y_ref = reference(form, x_ref, p_ref, ema)
    grads = torch.autograd.grad((y_ref * cotangent.double()).sum(), [x_ref, *p_ref.values()])
    if want_x:
        checker.close(f"{prefix}input gradient", x.grad, grads[0])
    elif variant != "params_only":
        checker.check(f"{prefix}input got a gradient it does not need", x.grad is None)
    for name, want in zip(names, grads[1:]):
        if want_params:
            tolerance = PARAM_GRAD_TOLERANCES[str(y.dtype).removeprefix("torch.")]
            checker.close(f"{prefix}{name} gradient", got[name], want, tolerance)
        else:
            checker.check(f"{prefix}frozen {name} got a gradient", params[name].grad is None)


MODULE_CALLS: tuple[tuple[str, str, bool], ...] = (
    ("contiguous", "x", True),
    ("transposed", "nox", True),
    ("channels_first", "no_grad", True),
    ("sliced", "params_only", True),
    ("contiguous", "nox", False),
)
"""``(layout, variant, training)`` of the calls of one ``einn`` module.

The module records its first call of an input signature (under ``no_grad``) and replays
the recording for later calls of that signature, whatever their strides and autograd
situation; stateful forms start in the init phase (the initial EMA statistics).
"""


def _run_module(form: Form, shape: tuple[int, ...], dtype: torch.dtype) -> list[str]:
    """The form as an ``einn`` module, called as :data:`MODULE_CALLS` says."""
    module = einn.from_spec(form.spec(), dtype="float64" if dtype == torch.float64 else "float32")
    module.materialize(shape)
    with torch.no_grad():
        for name, param in module.named_parameters():
            values = torch.randn(param.shape) if name == "bias" else torch.rand(param.shape) + 0.5
            param.copy_(values)
    module.to(dtype)
    checker = _Checker(TOLERANCES[str(dtype).removeprefix("torch.")])
    groups = shape[-1] if form.groups is None else form.groups
    ema = (torch.zeros(groups, dtype=torch.float64), torch.ones(groups, dtype=torch.float64))
    init_phase = form.stateful
    for index, (layout, variant, training) in enumerate(MODULE_CALLS):
        prefix = f"call {index + 1} ({layout}, {variant}, {'train' if training else 'eval'}): "
        module.train(training)
        x = _make_input(shape, layout, dtype).requires_grad_(variant in ("x", "params_only"))
        x64 = x.detach().double()
        params = dict(module.named_parameters())
        params64 = {name: p.detach().double() for name, p in params.items()}
        with torch.no_grad() if variant == "no_grad" else torch.enable_grad():
            y = module(x)
        use_ema = form.stateful and (init_phase or not training)
        checker.close(
            f"{prefix}output", y, reference(form, x64, params64, ema if use_ema else None)
        )
        if form.stateful and training and not init_phase:
            batch_mean, batch_var = reference_stats(form, x64)
            ema = (
                DECAY * ema[0] + (1 - DECAY) * batch_mean,
                DECAY * ema[1] + (1 - DECAY) * batch_var,
            )
            buffers = dict(module.named_buffers())
            checker.close(f"{prefix}EMA mean", buffers["mean"], ema[0])
            checker.close(f"{prefix}EMA var", buffers["var"], ema[1])
        init_phase = False
        if variant != "no_grad":
            for param in params.values():
                param.grad = None
            _check_gradients(
                variant, form, checker, prefix, x, y, params, params64, ema if use_ema else None
            )
    return checker.problems


# --- running cases in isolation ------------------------------------------------------------

CHUNK = 40  # cases per forked child
CHILD_TIMEOUT = 120.0  # seconds for one child's cases


def _run_one(case_id: str) -> str:
    """``case_id``'s problems as one line ("" if it passes); the self-test ids crash on purpose."""
    if case_id.startswith("selftest-segfault"):
        os.kill(os.getpid(), signal.SIGSEGV)
    if case_id.startswith("selftest-"):
        return ""
    try:
        problems = run_case(Case.parse(case_id))
    except Exception as error:  # reported per case; the run goes on
        problems = [f"raised {type(error).__name__}: {error}"]
    return "; ".join(problems).replace("\n", " ")


def _death(status: int | None) -> str:
    if status is None:
        return f"timed out after {CHILD_TIMEOUT:g} s"
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            return f"the interpreter was killed by {signal.Signals(number).name}"
        except ValueError:
            return f"the interpreter was killed by signal {number}"
    return f"the interpreter exited with status {os.waitstatus_to_exitcode(status)}"


def _in_child(case_ids: list[str]) -> tuple[dict[str, str], str | None, str]:
    """Run cases in a forked child: their outcomes, the case it died in (or ``None``), how.

    The child writes ``START id`` before and ``DONE id problems`` after each case straight
    into a pipe, so nothing written before a crash is lost.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running any cleanup
        os.close(read_end)
        try:
            torch.set_num_threads(1)
            for case_id in case_ids:
                os.write(write_end, f"START {case_id}\n".encode())
                os.write(write_end, f"DONE {case_id} {_run_one(case_id)}\n".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    chunks: list[bytes] = []
    deadline = time.monotonic() + CHILD_TIMEOUT
    timed_out = False
    with os.fdopen(read_end, "rb") as reader:
        while True:
            ready, _, _ = select.select([reader], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            data = os.read(reader.fileno(), 1 << 16)
            if not data:
                break
            chunks.append(data)
    _, status = os.waitpid(pid, 0)
    outcomes: dict[str, str] = {}
    running: str | None = None
    for line in b"".join(chunks).decode().splitlines():
        kind, _, rest = line.partition(" ")
        case_id, _, problems = rest.partition(" ")
        if kind == "START":
            running = case_id
        elif kind == "DONE":
            outcomes[case_id] = problems
            running = None
    if not timed_out and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and running is None:
        return outcomes, None, ""
    died_in = running or next((c for c in case_ids if c not in outcomes), case_ids[-1])
    return outcomes, died_in, _death(None if timed_out else status)


def run_isolated(case_ids: list[str]) -> dict[str, str]:
    """Every case's problems ("" if it passes), each chunk of cases in a forked child.

    When a child dies, the case it was running is re-run alone: if it dies again it is the
    culprit; if not, the cases the child finished are re-run one by one, since one of them
    may have corrupted the interpreter.  The other cases go on in a fresh child.
    """
    results: dict[str, str] = {}
    pending = list(case_ids)
    while pending:
        chunk = pending[:CHUNK]
        outcomes, died_in, how = _in_child(chunk)
        results.update(outcomes)
        if died_in is not None:
            if died_in in outcomes:  # the child died after its last case
                results[died_in] = f"{how} after this case"
            else:
                alone, alone_died_in, alone_how = _in_child([died_in])
                if alone_died_in is not None:
                    results[died_in] = f"{alone_how} while running this case"
                else:
                    culprits = [c for c in outcomes if _in_child([c])[1] is not None]
                    for culprit in culprits:
                        results[culprit] = "the interpreter died after this case (alone too)"
                    results[died_in] = (
                        f"{how} while running this case after others (it passes alone: "
                        f"{alone[died_in] or 'no problems'}); cases that kill it alone: "
                        f"{culprits or 'none'}"
                    )
        pending = [c for c in pending if c not in results]
    return results


def main(case_ids: list[str]) -> None:
    """Print ``PASS id`` or ``FAIL id problems`` for every case."""
    faulthandler.enable()
    for case_id, problems in run_isolated(case_ids).items():
        print(
            "FAIL" if problems else "PASS", case_id, *([problems] if problems else []), flush=True
        )


if __name__ == "__main__":
    main(sys.argv[1:])

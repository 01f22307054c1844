"""Time einx_typed.nn.torch layers against native PyTorch layers and einx 0.3.0's einx.nn.torch.

Every ratio in the table compares timings taken in this one process, on the same input,
interleaved per case: ``ours / native`` and ``einx 0.3.0 / native``.

    python benchmarks/bench_torch_layers.py                      # everything (slow: compiles)
    python benchmarks/bench_torch_layers.py --modes eager        # eager only, a few seconds
    python benchmarks/bench_torch_layers.py --large-batch 64     # the issue's large input
    python benchmarks/bench_torch_layers.py --threads 1          # stable on a busy machine
    python benchmarks/bench_torch_layers.py --sizes medium       # small images (16x16)

Use the same ``--threads`` for every comparison: torch's default intra-op thread count
oversubscribes a small shared machine and then gives erratic native timings.

The large input defaults to (16, 56, 56, 32) instead of (64, 56, 56, 32): on a 2-core CPU
the bigger one makes a full run take far too long, and the ratio is what matters.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

import einx_typed.nn.torch as einn

Factory = Callable[[], torch.nn.Module]


@dataclass(frozen=True)
class Case:
    """One layer in three implementations; inputs are channels-last ``(b, ..., c)``."""

    name: str
    ours: Factory
    native: Factory
    einx03: Factory | None
    native_layout: str  # "last": same input; "first": native gets (b, c, ...) channels-last
    min_rank: int = 2  # smaller inputs are skipped (instance norm needs spatial dims)


def _einx03() -> object | None:
    try:
        import einx.nn.torch as einn03
    except ImportError:  # einx 0.3.0 is a dev-only oracle
        return None
    return einn03


def _cases(channels: int) -> list[Case]:
    c = channels
    old = _einx03()

    def old_layer(make: Callable[[object], torch.nn.Module]) -> Factory | None:
        return None if old is None else (lambda: make(old))

    return [
        Case(
            "Linear",
            lambda: einn.Linear("b... [c1->c2]", c2=c),
            lambda: torch.nn.Linear(c, c),
            old_layer(lambda m: m.Linear("b... [c1->c2]", c2=c)),  # type: ignore[attr-defined]
            "last",
        ),
        Case(
            "LayerNorm",
            lambda: einn.Norm("b... [c]"),
            lambda: torch.nn.LayerNorm(c),
            old_layer(lambda m: m.Norm("b... [c]")),  # type: ignore[attr-defined]
            "last",
        ),
        Case(
            "GroupNorm",
            lambda: einn.Norm("b [s...] (g [c])", g=8),
            lambda: torch.nn.GroupNorm(8, c),
            old_layer(lambda m: m.Norm("b [s...] (g [c])", g=8)),  # type: ignore[attr-defined]
            "first",
        ),
        Case(
            "InstanceNorm",
            lambda: einn.Norm("b [s...] c"),
            lambda: torch.nn.InstanceNorm2d(c, affine=True),
            old_layer(lambda m: m.Norm("b [s...] c")),  # type: ignore[attr-defined]
            "first",
            min_rank=3,
        ),
        Case(
            "BatchNorm",
            lambda: einn.Norm("[b...] c", decay_rate=0.9),
            lambda: torch.nn.BatchNorm2d(c, momentum=0.1),
            old_layer(lambda m: m.Norm("[b...] c", decay_rate=0.9)),  # type: ignore[attr-defined]
            "first",
        ),
        Case(
            "RMSNorm",
            lambda: einn.Norm("b... [c]", mean=False, bias=False),
            lambda: torch.nn.RMSNorm(c, eps=1e-5),
            old_layer(lambda m: m.Norm("b... [c]", mean=False, bias=False)),  # type: ignore[attr-defined]
            "last",
        ),
        Case(
            "Dropout",
            lambda: einn.Dropout("[...]", drop_rate=0.2),
            lambda: torch.nn.Dropout(0.2),
            old_layer(lambda m: m.Dropout("[...]", drop_rate=0.2)),  # type: ignore[attr-defined]
            "last",
        ),
    ]


def _native_input(x: torch.Tensor, case: Case) -> torch.Tensor:
    """The native layer's view of ``x``: channels-first shape, channels-last memory."""
    if case.native_layout == "last":
        return x
    if x.ndim == 2:  # (b, c) is already what GroupNorm/BatchNorm1d-style layers take
        return x
    return x.movedim(-1, 1)  # (b, c, h, w) with channels-last strides: same memory as x


def _native_module(case: Case, x: torch.Tensor) -> torch.nn.Module:
    if case.name == "BatchNorm" and x.ndim == 2:
        return torch.nn.BatchNorm1d(x.shape[-1], momentum=0.1)
    return case.native()


def _loop_size(fn: Callable[[], object], min_time: float) -> int:
    """Calls per timed repeat so that one repeat lasts about ``min_time`` seconds."""
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    return max(1, int(min_time / once))


def _time_interleaved(
    fns: dict[str, Callable[[], object]], *, min_time: float, repeats: int
) -> dict[str, float]:
    """Median seconds per call of each function, their repeats interleaved.

    Round-robin repeats expose every implementation to the same machine load, so the
    ratios stay meaningful on a busy machine even when the absolute times drift.
    """
    numbers = {name: _loop_size(fn, min_time) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            number = numbers[name]
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append((time.perf_counter() - start) / number)
    return {name: statistics.median(values) for name, values in samples.items()}


def _step(module: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, backward: bool):
    if not backward:

        def forward() -> object:
            with torch.no_grad():
                return module(x)

        return forward
    grad = torch.ones_like(module(x))

    def forward_backward() -> object:
        y = module(x)
        y.backward(grad)
        return y

    return forward_backward


def _measure(
    case: Case,
    x: torch.Tensor,
    *,
    mode: str,
    backward: bool,
    min_time: float,
    repeats: int,
) -> dict[str, float | None]:
    """Seconds per step for ours, native and einx 0.3.0 (None where one cannot run)."""
    makers: dict[str, tuple[Callable[[], torch.nn.Module] | None, torch.Tensor]] = {
        "native": (lambda: _native_module(case, x), _native_input(x, case)),
        "ours": (case.ours, x),
        "einx03": (case.einx03, x),
    }
    steps: dict[str, Callable[[], object]] = {}
    if mode == "compile":
        # Each case compiles fresh modules of the same classes: without a reset, dynamo's
        # per-code-object recompile limit (8) is hit after a few cases.
        torch._dynamo.reset()
    for impl, (make, inp) in makers.items():
        if make is None:
            continue
        try:
            module = make().train()
            with torch.no_grad():
                module(inp)  # create lazy parameters (einx 0.3.0, ours when lazy)
            runner: Callable[[torch.Tensor], torch.Tensor] = module
            if mode == "compile":
                runner = torch.compile(module, fullgraph=impl != "einx03", dynamic=False)
            step = _step(runner, inp, backward)
            step()  # compiles, and checks that it runs
            steps[impl] = step
        except Exception as error:  # einx 0.3.0 under torch.compile may not work at all
            if impl == "ours":
                raise
            print(f"  ({case.name} {impl} {mode}: {type(error).__name__}: {error})"[:200])
    times = _time_interleaved(steps, min_time=min_time, repeats=repeats)
    return {impl: times.get(impl) for impl in makers}


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None else f"{a / b:5.2f}x"


def _us(t: float | None) -> str:
    return "n/a" if t is None else f"{t * 1e6:9.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--layers",
        default="Linear,LayerNorm,GroupNorm,InstanceNorm,BatchNorm,RMSNorm,Dropout",
    )
    parser.add_argument("--modes", default="eager,compile", help="eager and/or compile")
    parser.add_argument(
        "--sizes", default="small,large", help="small (16, 32), medium (16, 16, 16, 32), large"
    )
    parser.add_argument("--large-batch", type=int, default=16, help="b of (b, 56, 56, 32)")
    parser.add_argument("--min-time", type=float, default=0.05, help="seconds per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    layers = args.layers.split(",")
    cases = [case for case in _cases(32) if case.name in layers]
    # medium: spatial size 256, below the 2048 from which torch's CPU channels-last group-norm
    # backward is sound by itself (see einx_typed.backends._torch).
    shapes = {
        "small": (16, 32),
        "medium": (16, 16, 16, 32),
        "large": (args.large_batch, 56, 56, 32),
    }

    header = (
        f"{'layer':<10} {'input':<16} {'mode':<8} {'pass':<8} "
        f"{'native us':>9} {'ours us':>9} {'0.3.0 us':>9}  {'ours/nat':>8} {'0.3.0/nat':>9}"
    )
    print(f"torch {torch.__version__}, {args.threads} threads; times are medians per step")
    print(header)
    print("-" * len(header))
    for size in args.sizes.split(","):
        x = torch.randn(shapes[size])
        for case in cases:
            if x.ndim < case.min_rank:
                continue
            for mode in args.modes.split(","):
                for backward in (False, True):
                    t = _measure(
                        case,
                        x.detach().requires_grad_(backward),
                        mode=mode,
                        backward=backward,
                        min_time=args.min_time,
                        repeats=args.repeats,
                    )
                    print(
                        f"{case.name:<10} {size + str(tuple(x.shape)):<16} {mode:<8} "
                        f"{'fwd+bwd' if backward else 'fwd':<8} {_us(t['native'])} "
                        f"{_us(t['ours'])} {_us(t['einx03'])}  "
                        f"{_ratio(t['ours'], t['native']):>8} "
                        f"{_ratio(t['einx03'], t['native']):>9}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()

"""Per-call overhead of einx_typed's functional ops against native calls, einx 0.3.0 and einops.

    python benchmarks/bench_ops.py              # the full table (well under a minute)
    python benchmarks/bench_ops.py --quick      # fewer repeats, for a smoke test

Every number comes from this one process: steady-state time per call is the best of
``--repeats`` timeit runs (each long enough to be measurable), so ratios between columns
are meaningful even on a noisy machine.  "First call" is one call with an input shape the
library has not seen yet, so it includes parsing, solving and planning (einx_typed) or
tracing and code generation (einx 0.3.0); the median over several fresh shapes is shown.

The printed table is Markdown and can be pasted into the README as is.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import timeit
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np

import einx_typed

Fn = Callable[[], Any]
Make = Callable[[Any], Fn]
"""Given an input ``x``, build the zero-argument call to time."""

SHAPE = (16, 64, 32)
W_SHAPE = (32, 48)


@dataclass(frozen=True)
class Case:
    """One op in up to four implementations, each a function of the input ``x``."""

    name: str
    typed: Make
    native: Make
    einx03: Make | None
    einops: Make | None


def _optional(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:  # einx 0.3.0 and einops are dev-only comparisons
        return None


def cases(lib: str) -> list[Case]:
    """The benchmarked calls for ``lib`` ("numpy" or "torch")."""
    einx03 = _optional("einx")
    einops = _optional("einops")
    if lib == "torch":
        import torch

        torch.set_num_threads(1)  # thread spin-waits on a busy 2-core machine swamp the numbers
        weight: Any = torch.randn(W_SHAPE)
    else:
        weight = np.random.default_rng(1).standard_normal(W_SHAPE).astype(np.float32)

    def native_reshape(x: Any) -> Fn:
        b, hw, c = x.shape
        return lambda: x.reshape(b, 8, hw // 8, c)

    return [
        Case(
            'rearrange("b (h w) c -> b h w c", h=8)',
            typed=lambda x: lambda: einx_typed.rearrange("b (h w) c -> b h w c", x, h=8),
            native=native_reshape,
            einx03=None
            if einx03 is None
            else (lambda x: lambda: einx03.rearrange("b (h w) c -> b h w c", x, h=8)),
            einops=None
            if einops is None
            else (lambda x: lambda: einops.rearrange(x, "b (h w) c -> b h w c", h=8)),
        ),
        Case(
            'dot("b... [c1->c2]"), w (32, 48)',
            typed=lambda x: lambda: einx_typed.dot("b... [c1->c2]", x, weight),
            native=lambda x: lambda: x @ weight,
            einx03=None
            if einx03 is None
            else (lambda x: lambda: einx03.dot("b... [c1->c2]", x, weight)),
            einops=None,
        ),
        Case(
            'mean("b... [c]")',
            typed=lambda x: lambda: einx_typed.mean("b... [c]", x),
            native=lambda x: lambda: x.mean(-1),
            einx03=None if einx03 is None else (lambda x: lambda: einx03.mean("b... [c]", x)),
            einops=None,
        ),
    ]


def make_input(lib: str, shape: tuple[int, ...]) -> Any:
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    if lib == "torch":
        import torch

        return torch.from_numpy(x)
    return x


def per_call_us(fn: Fn, repeats: int, budget_s: float) -> float:
    """Best-of-``repeats`` time per call in microseconds."""
    fn()  # warm up: plan caches, lazy imports
    timer = timeit.Timer(fn)
    number, elapsed = timer.autorange()
    number = max(1, int(number * budget_s / max(elapsed, 1e-9)))
    return min(timer.repeat(repeat=repeats, number=number)) / number * 1e6


def first_call_ms(make: Make, lib: str, fresh_shapes: list[tuple[int, ...]]) -> float:
    """Median time of one call on an input shape the library has not planned for yet."""
    times = []
    for shape in fresh_shapes:
        fn = make(make_input(lib, shape))
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def fresh_shapes(start: int, count: int) -> list[tuple[int, ...]]:
    """Never-used input shapes: new batch sizes, ``(h w)`` divisible by 8, ``c`` = 32."""
    return [(start + k, 8 * (3 + k), SHAPE[-1]) for k in range(count)]


def fmt(value: float | None, unit: str = "") -> str:
    return "—" if value is None else f"{value:.1f}{unit}"


def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None else f"{a / b:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget", type=float, default=0.05, help="seconds per timeit run")
    parser.add_argument("--quick", action="store_true", help="repeats=2, budget=0.01")
    parser.add_argument("--libs", default="numpy,torch")
    args = parser.parse_args()
    repeats, budget = (2, 0.01) if args.quick else (args.repeats, args.budget)
    warnings.filterwarnings("ignore")

    header = (
        "| op | array | native µs | einx_typed µs | einx 0.3.0 µs | einops µs "
        "| typed / native | typed / einx 0.3.0 | typed / einops "
        "| first call typed ms | first call einx 0.3.0 ms |"
    )
    print(f"Input {SHAPE} float32; best of {repeats} timeit runs per cell.\n")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    shape_index = 0
    for lib in args.libs.split(","):
        if lib == "torch" and _optional("torch") is None:
            continue
        x = make_input(lib, SHAPE)
        for case in cases(lib):
            native = per_call_us(case.native(x), repeats, budget)
            typed = per_call_us(case.typed(x), repeats, budget)
            old = None if case.einx03 is None else per_call_us(case.einx03(x), repeats, budget)
            eo = None if case.einops is None else per_call_us(case.einops(x), repeats, budget)
            count = 3 if args.quick else 5
            fresh = fresh_shapes(100 + 10 * shape_index, count)
            shape_index += 1
            first_typed = first_call_ms(case.typed, lib, fresh)
            first_old = None if case.einx03 is None else first_call_ms(case.einx03, lib, fresh)
            print(
                f"| `{case.name}` | {lib} | {fmt(native)} | {fmt(typed)} | {fmt(old)} | {fmt(eo)} "
                f"| {ratio(typed, native)} | {ratio(typed, old)} | {ratio(typed, eo)} "
                f"| {fmt(first_typed)} | {fmt(first_old)} |"
            )


if __name__ == "__main__":
    main()

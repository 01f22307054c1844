"""Timing that every layer benchmark shares: two implementations in alternating rounds.

Each round times both, in alternating order (so neither always runs right after the
other); the ratio is the median (or min) of the rounds' own ratios, which a machine whose
load drifts between rounds leaves alone better than a ratio of two medians. ``--clock cpu``
(CPU time of the process, all threads) is steadier than wall time on a shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def loop_size(fn: Callable[[], object], min_time: float) -> int:
    """Calls per timed round so that one round lasts about ``min_time`` seconds."""
    fn()
    start = time.perf_counter()
    fn()
    return max(1, int(min_time / max(time.perf_counter() - start, 1e-7)))


def time_pair(
    ours: Callable[[], object],
    native: Callable[[], object],
    *,
    min_time: float,
    repeats: int,
    stat: str = "median",
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[float, float, float]:
    """Seconds per call of ``ours`` and ``native``, and the ratio ours / native."""
    fns = {"ours": ours, "native": native}
    numbers = {name: loop_size(fn, min_time) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(repeats):
        for name in list(fns) if round_ % 2 else list(fns)[::-1]:
            start = clock()
            for _ in range(numbers[name]):
                fns[name]()
            samples[name].append((clock() - start) / numbers[name])
    pick = min if stat == "min" else statistics.median
    ratios = [a / b for a, b in zip(samples["ours"], samples["native"])]
    return pick(samples["ours"]), pick(samples["native"]), pick(ratios)


def add_timing_options(parser: argparse.ArgumentParser, *, stat: bool = True) -> None:
    """``--repeats --min-time [--stat] --clock``, with the same defaults in every script."""
    parser.add_argument("--repeats", type=int, default=15, help="alternating rounds")
    parser.add_argument("--min-time", type=float, default=0.05, help="seconds per round")
    if stat:
        parser.add_argument("--stat", choices=("median", "min"), default="median")
    parser.add_argument(
        "--clock",
        choices=tuple(CLOCKS),
        default="wall",
        help="wall: time per call; cpu: CPU time of the process per call (all threads), "
        "steadier than wall time on a machine shared with other jobs",
    )


Named = TypeVar("Named", bound="HasName")


class HasName(Protocol):
    name: str


def chosen_cases(parser: argparse.ArgumentParser, cases: list[Named], layers: str) -> list[Named]:
    """The cases named in ``layers`` (comma-separated), in their own order; an unknown
    name is a usage error that lists the known ones."""
    wanted = layers.split(",")
    known = [case.name for case in cases]
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        parser.error(f"unknown layers {unknown}; choose from {','.join(known)}")
    return [case for case in cases if case.name in wanted]

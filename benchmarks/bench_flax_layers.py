"""Time einx_typed's Flax modules (``einx_typed.nn.flax``) against flax.linen's own layers.

Every ratio compares timings taken in this one process, on the same input, with the
same parameter values copied into both modules, their repeats interleaved:
``ours / flax``.  Per-call times are of ``jax.jit``-compiled ``module.apply`` after
compilation (``block_until_ready``): forward (with the new EMA statistics of batch norm,
``mutable``) and forward plus backward (``jax.grad`` of the output sum with respect to
the parameters and the input).  "compile" is tracing + XLA compilation of the forward and
of the gradient (median of fresh ``jax.jit`` wrappers); "init" is eager ``module.init``
(median of repeats of the same call), "new shape" eager ``module.init`` on an input
shape the process has not seen (a batch size of its own for every call of each side: ours
resolves the layer anew, and both compile their eager kernels for the new shape).

    PYTHONPATH=. python benchmarks/bench_flax_layers.py                 # everything
    PYTHONPATH=. python benchmarks/bench_flax_layers.py --layers LayerNorm --sizes large
    PYTHONPATH=. taskset -c 0 python benchmarks/bench_flax_layers.py --clock cpu

(``PYTHONPATH=.`` makes a script run from a checkout import that checkout's einx_typed.)
On a machine shared with other jobs, wall-clock ratios move by 10% from run to run;
``--clock cpu`` (CPU time of all threads) and ``taskset -c 0`` steady them.
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from _timing import CLOCKS, add_timing_options, chosen_cases, time_pair

import einx_typed.nn.flax as einn

EPS = 1e-5
SHAPES = {"small": (16, 32), "large": (16, 56, 56, 32)}
FLAX_NAMES = {"weight": "kernel", "mean": "mean", "var": "var"}  # ours -> flax's


@dataclass(frozen=True)
class Case:
    """One layer as our module and as Flax's; inputs are channels-last ``(b, ..., c)``."""

    name: str
    ours: Callable[[], nn.Module]
    flax: Callable[[], nn.Module]
    stats: bool = False  # EMA statistics: ours in "stats", Flax's in "batch_stats"


def _cases() -> list[Case]:
    return [
        Case("Linear", lambda: einn.Linear("b... [c1->c2]", c2=64), lambda: nn.Dense(64)),
        Case("LayerNorm", lambda: einn.Norm("b... [c]", epsilon=EPS), lambda: nn.LayerNorm(EPS)),
        Case(
            "RMSNorm",
            lambda: einn.Norm("b... [c]", mean=False, bias=False, epsilon=EPS),
            lambda: nn.RMSNorm(EPS),
        ),
        Case(
            "GroupNorm",
            lambda: einn.Norm("b [s...] (g [c])", g=8, epsilon=EPS),
            lambda: nn.GroupNorm(num_groups=8, epsilon=EPS),
        ),
        Case(
            "BatchNorm",
            lambda: einn.Norm("[b...] c", decay_rate=0.9, epsilon=EPS),
            lambda: nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=EPS),
            stats=True,
        ),
    ]


@dataclass
class Side:
    """One implementation: its module, an eager init, and jitted forward and gradient."""

    init: Callable[[], Any]
    forward: Callable[..., Any]
    grad: Callable[..., Any]
    args: tuple[Any, ...]


def _side(
    module: nn.Module, x: jax.Array, variables: dict[str, Any], col: str | None, **kwargs: Any
) -> Side:
    def forward(params: Any, stats: Any, x: Any) -> Any:
        if col is None:
            return module.apply({"params": params}, x, **kwargs), {}
        y, mutated = module.apply({"params": params, col: stats}, x, mutable=[col], **kwargs)
        return y, mutated[col]

    def loss(params: Any, stats: Any, x: Any) -> Any:
        y, new_stats = forward(params, stats, x)
        return jnp.sum(y), new_stats

    return Side(
        init=lambda: jax.block_until_ready(module.init(jax.random.key(0), x, **kwargs)),
        forward=forward,
        grad=jax.grad(loss, argnums=(0, 2), has_aux=True),
        args=(variables["params"], variables.get(col, {}) if col else {}, x),
    )


def _pair(case: Case, x: jax.Array) -> tuple[Side, Side]:
    """Both sides with the same (random, not initial) values."""
    ours_module = case.ours()
    flax_module = case.flax()
    mode = {"training": True} if case.stats else {}  # Flax's: use_running_average=False
    ours_vars = nn.unbox(ours_module.init(jax.random.key(0), x, **mode))
    flax_vars = flax_module.init(jax.random.key(0), x)
    rng = np.random.default_rng(1)
    ours_vars = jax.tree.map(
        lambda v: jnp.asarray(rng.uniform(0.5, 1.5, v.shape).astype(np.float32)), ours_vars
    )
    copied: dict[str, Any] = {
        "params": {FLAX_NAMES.get(k, k): v for k, v in ours_vars["params"].items()}
    }
    if case.stats:
        copied["batch_stats"] = dict(ours_vars[einn.STATS])
    assert jax.tree.map(jnp.shape, copied) == jax.tree.map(jnp.shape, dict(flax_vars))
    ours = _side(ours_module, x, ours_vars, einn.STATS if case.stats else None, **mode)
    flax = _side(flax_module, x, copied, "batch_stats" if case.stats else None)
    return ours, flax


def _compile_s(
    sides: dict[str, Side], repeats: int, clock: Callable[[], float]
) -> dict[str, float]:
    """Median seconds of tracing + compiling forward and gradient in fresh ``jax.jit``\\ s.

    The two sides alternate, as the per-call timings do.
    """
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for round_ in range(repeats):
        for name in list(sides) if round_ % 2 else list(sides)[::-1]:
            side = sides[name]
            start = clock()
            for fn in (side.forward, side.grad):
                jax.jit(lambda *a, fn=fn: fn(*a)).lower(*side.args).compile()
            samples[name].append(clock() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def _new_shape_init_s(
    case: Case, shape: tuple[int, ...], repeats: int, clock: Callable[[], float], first: int
) -> dict[str, float]:
    """Median seconds of eager ``init`` of a fresh module on a never-seen batch size."""
    samples: dict[str, list[float]] = {"ours": [], "flax": []}
    makers = {"ours": case.ours, "flax": case.flax}
    mode = {"training": True} if case.stats else {}
    for round_ in range(repeats):
        for index, name in enumerate(["ours", "flax"] if round_ % 2 else ["flax", "ours"]):
            batch = first + 2 * round_ + index
            x = jnp.ones((batch, *shape[1:]), jnp.float32)
            module = makers[name]()
            kwargs = mode if name == "ours" else {}
            start = clock()
            jax.block_until_ready(module.init(jax.random.key(0), x, **kwargs))
            samples[name].append(clock() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def _check(ours: Any, flax: Any, name: str, grad: bool) -> None:
    """Both implementations compute the same thing (catches a mismatched setting)."""
    a, b = jax.tree.leaves(ours), jax.tree.leaves(flax)
    assert len(a) == len(b), name
    tolerance = 1e-2 if grad else 2e-3  # sum(batch_norm(x))'s input gradient is ~0
    for u, v in zip(a, b):
        scale = float(jnp.max(jnp.abs(v))) + 1.0
        err = float(jnp.max(jnp.abs(u - v)))
        assert err <= tolerance * scale, f"{name}: ours and flax differ by {err}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    names = ",".join(case.name for case in _cases())
    parser.add_argument("--layers", default=names, help=f"comma-separated, from {names}")
    parser.add_argument("--sizes", default="small,large", help="small (16, 32), large")
    parser.add_argument("--compile-repeats", type=int, default=5)
    add_timing_options(parser, stat=False)
    args = parser.parse_args()
    clock = CLOCKS[args.clock]
    cases = chosen_cases(parser, _cases(), args.layers)

    print(
        f"jax {jax.__version__} on {jax.default_backend()}; {args.clock} clock; median of "
        f"{args.repeats} interleaved repeats per call; ratio: median of the repeats' ratios"
    )
    print()
    print(
        "| layer (Flax) | input | fwd Flax / ours µs | fwd ours / Flax "
        "| fwd+bwd Flax / ours µs | fwd+bwd ours / Flax | init Flax / ours ms "
        "| init ours / Flax | init new shape Flax / ours ms | new shape ours / Flax "
        "| compile fwd+grad Flax / ours ms | compile ours / Flax |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    first_batch = 1000  # batch sizes of the new-shape inits: unique in the process
    for size in args.sizes.split(","):
        shape = SHAPES[size]
        x = jnp.asarray(
            np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 2.0 + 0.5
        )
        for case in cases:
            ours, flax = _pair(case, x)
            compile_s = _compile_s({"ours": ours, "flax": flax}, args.compile_repeats, clock)
            cells = []
            for pass_ in ("forward", "grad"):
                jitted = {
                    name: jax.jit(getattr(side, pass_))
                    for name, side in (("ours", ours), ("flax", flax))
                }
                _check(
                    jitted["ours"](*ours.args),
                    jitted["flax"](*flax.args),
                    case.name,
                    pass_ == "grad",
                )
                fns = {
                    name: lambda f=jitted[name], a=side.args: jax.block_until_ready(f(*a))
                    for name, side in (("ours", ours), ("flax", flax))
                }
                t_ours, t_flax, ratio = time_pair(
                    fns["ours"],
                    fns["flax"],
                    min_time=args.min_time,
                    repeats=args.repeats,
                    clock=clock,
                )
                cells.append(f"{t_flax * 1e6:.0f} / {t_ours * 1e6:.0f} | {ratio:.2f}")
            t_ours, t_flax, ratio = time_pair(
                ours.init,
                flax.init,
                min_time=args.min_time,
                repeats=max(3, args.repeats // 3),
                clock=clock,
            )
            cells.append(f"{t_flax * 1e3:.2f} / {t_ours * 1e3:.2f} | {ratio:.2f}")
            fresh = _new_shape_init_s(case, shape, args.compile_repeats, clock, first_batch)
            first_batch += 2 * args.compile_repeats
            cells.append(
                f"{fresh['flax'] * 1e3:.1f} / {fresh['ours'] * 1e3:.1f} "
                f"| {fresh['ours'] / fresh['flax']:.2f}"
            )
            cells.append(
                f"{compile_s['flax'] * 1e3:.0f} / {compile_s['ours'] * 1e3:.0f} "
                f"| {compile_s['ours'] / compile_s['flax']:.2f}"
            )
            print(f"| {case.name} | {shape} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()

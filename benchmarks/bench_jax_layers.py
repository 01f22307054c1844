"""Time einx_typed layers on JAX (``Resolved.apply`` under ``jax.jit``) against flax.linen.

Every ratio compares timings taken in this one process, on the same input, with the
same parameter values copied into both implementations, their repeats interleaved:
``ours / flax``.  Times are per call after compilation (``block_until_ready``);
"compile" is tracing + XLA compilation of each jitted function, measured once.

    PYTHONPATH=. python benchmarks/bench_jax_layers.py                  # everything
    PYTHONPATH=. python benchmarks/bench_jax_layers.py --layers LayerNorm,RMSNorm --sizes large
    PYTHONPATH=. python benchmarks/bench_jax_layers.py --repeats 15 --stat min

(``PYTHONPATH=.`` makes a script run from a checkout import that checkout's einx_typed.)

Forward is ``apply(params, x, state=..., training=True)`` (new EMA state included);
gradient is ``jax.grad`` of the sum of the outputs with respect to the parameters and
the input (with the new EMA state as auxiliary output where there is one).  Flax layers
keep their defaults except ``epsilon=1e-5`` (ours), so Flax uses its fast variance
``E[x^2] - E[x]^2``; ours the two-pass population variance.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from einx_typed.layers import LayerSpec, LinearSpec, NormSpec

EPS = 1e-5
SHAPES = {"small": (16, 32), "large": (16, 56, 56, 32)}
FLAX_NAMES = {"weight": "kernel"}  # our parameter name -> flax's (same otherwise)


@dataclass(frozen=True)
class Case:
    """One layer in both implementations; inputs are channels-last ``(b, ..., c)``."""

    name: str
    ours: LayerSpec
    flax: Callable[[], nn.Module]
    min_ndim: int = 2  # instance norm needs a spatial axis


def _cases() -> list[Case]:
    return [
        Case("Linear", LinearSpec("b... [c1->c2]", axes={"c2": 64}), lambda: nn.Dense(64)),
        Case("LayerNorm", NormSpec("b... [c]", epsilon=EPS), lambda: nn.LayerNorm(EPS)),
        Case(
            "RMSNorm",
            NormSpec("b... [c]", mean=False, bias=False, epsilon=EPS),
            lambda: nn.RMSNorm(EPS),
        ),
        Case(
            "GroupNorm",
            NormSpec("b [s...] (g [c])", axes={"g": 8}, epsilon=EPS),
            lambda: nn.GroupNorm(num_groups=8, epsilon=EPS),
        ),
        Case(
            "InstanceNorm",
            NormSpec("b [s...] c", epsilon=EPS),
            lambda: nn.InstanceNorm(epsilon=EPS),
            min_ndim=3,
        ),
        Case(
            "BatchNorm",
            NormSpec("[b...] c", decay_rate=0.9, epsilon=EPS),
            lambda: nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=EPS),
        ),
    ]


Step = Callable[..., Any]


@dataclass
class Impl:
    """A jitted step and its arguments."""

    step: Step
    args: tuple[Any, ...]

    def __call__(self) -> Any:
        return jax.block_until_ready(self.step(*self.args))


def _ours(case: Case, x: jax.Array, grad: bool, rng: np.random.Generator) -> tuple[Impl, dict]:
    resolved = case.ours.resolve(x.shape, "float32")
    params = {
        k: jnp.asarray(rng.standard_normal(p.shape).astype(np.float32) * 0.5 + 1.0)
        for k, p in resolved.params.items()
    }
    state = {
        k: jnp.asarray(rng.uniform(0.5, 1.5, p.shape).astype(np.float32))
        for k, p in resolved.state.items()
    }

    def forward(params: Any, state: Any, x: Any) -> Any:
        return resolved.apply(params, x, state=state, training=True)

    def loss(params: Any, state: Any, x: Any) -> Any:
        y, new_state = forward(params, state, x)
        return jnp.sum(y), new_state

    step = jax.grad(loss, argnums=(0, 2), has_aux=True) if grad else forward
    return Impl(step, (params, state, x)), {"params": params, "state": state}


def _flax(case: Case, x: jax.Array, grad: bool, values: dict) -> Impl:
    module = case.flax()
    variables = module.init(jax.random.key(0), x)
    params = {FLAX_NAMES.get(k, k): v for k, v in values["params"].items()}
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, variables["params"])
    stats = dict(values["state"])
    if stats:
        assert jax.tree.map(jnp.shape, stats) == jax.tree.map(
            jnp.shape, dict(variables["batch_stats"])
        )

    def forward(params: Any, stats: Any, x: Any) -> Any:
        if not stats:
            return module.apply({"params": params}, x), {}
        y, mutated = module.apply(
            {"params": params, "batch_stats": stats}, x, mutable=["batch_stats"]
        )
        return y, mutated["batch_stats"]

    def loss(params: Any, stats: Any, x: Any) -> Any:
        y, new_stats = forward(params, stats, x)
        return jnp.sum(y), new_stats

    step = jax.grad(loss, argnums=(0, 2), has_aux=True) if grad else forward
    return Impl(step, (params, stats, x))


def _compile(impl: Impl) -> float:
    """Trace + compile ``impl.step`` afresh; returns seconds and leaves it jitted."""
    jitted = jax.jit(impl.step)
    start = time.perf_counter()
    jitted.lower(*impl.args).compile()
    seconds = time.perf_counter() - start
    impl.step = jitted
    impl()  # jit's own cache: the timed calls below go through jit's dispatch
    return seconds


def _check(ours: Impl, flax: Impl, case: Case, grad: bool) -> None:
    """Both implementations compute the same thing (catches a mismatched setting)."""
    a, b = jax.tree.leaves(ours()), jax.tree.leaves(flax())
    assert len(a) == len(b), case.name
    # Loose for gradients: the input gradient of sum(batch_norm(x)) is zero up to float
    # cancellation, which differs between variance formulas.
    tolerance = 1e-2 if grad else 2e-3
    for u, v in zip(a, b):
        scale = float(jnp.max(jnp.abs(v))) + 1.0
        err = float(jnp.max(jnp.abs(u - v)))
        assert err <= tolerance * scale, f"{case.name}: ours and flax differ by {err}"


def _loop_size(fn: Callable[[], object], min_time: float) -> int:
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    return max(1, int(min_time / once))


def _time_interleaved(
    fns: dict[str, Callable[[], object]], *, min_time: float, repeats: int, stat: str
) -> dict[str, float]:
    """Seconds per call of each function (median or min of repeats, taken in turns)."""
    numbers = {name: _loop_size(fn, min_time) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            number = numbers[name]
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append((time.perf_counter() - start) / number)
    pick = min if stat == "min" else statistics.median
    return {name: pick(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = ",".join(case.name for case in _cases())
    parser.add_argument("--layers", default=names, help=f"comma-separated, from {names}")
    parser.add_argument("--sizes", default="small,large", help="small (16, 32), large")
    parser.add_argument("--passes", default="fwd,grad", help="fwd and/or grad")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--min-time", type=float, default=0.05, help="seconds per repeat")
    parser.add_argument("--stat", choices=("median", "min"), default="median")
    args = parser.parse_args()

    layers = args.layers.split(",")
    cases = [case for case in _cases() if case.name in layers]
    unknown = set(layers) - {case.name for case in cases}
    if unknown:
        parser.error(f"unknown layers {sorted(unknown)}; choose from {names}")
    print(
        f"jax {jax.__version__} on {jax.default_backend()}; {args.stat} of {args.repeats} "
        "interleaved repeats per call"
    )
    print()
    print(
        "| layer (flax) | input | pass | flax µs | ours µs | ours / flax "
        "| flax compile ms | ours compile ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        shape = SHAPES[size]
        x_host = np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 2.0 + 0.5
        x = jnp.asarray(x_host)
        for case in cases:
            for pass_ in args.passes.split(","):
                label = f"| {case.name} | {size} {shape} | {pass_} |"
                if len(shape) < case.min_ndim:
                    print(f"{label} n/a | n/a | n/a | | |  (no axis to reduce)")
                    continue
                grad = pass_ == "grad"
                ours, values = _ours(case, x, grad, np.random.default_rng(1))
                flax = _flax(case, x, grad, values)
                compile_s = {"flax": _compile(flax), "ours": _compile(ours)}
                _check(ours, flax, case, grad)
                t = _time_interleaved(
                    {"flax": flax, "ours": ours},
                    min_time=args.min_time,
                    repeats=args.repeats,
                    stat=args.stat,
                )
                print(
                    f"{label} {t['flax'] * 1e6:.1f} | {t['ours'] * 1e6:.1f} "
                    f"| {t['ours'] / t['flax']:.2f}x | {compile_s['flax'] * 1e3:.0f} "
                    f"| {compile_s['ours'] * 1e3:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()

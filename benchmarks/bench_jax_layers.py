"""Time einx_typed layers on JAX (``Resolved.apply`` under ``jax.jit``) against flax.linen.

Every ratio compares timings taken in this one process, on the same input, with the
same parameter values copied into both implementations, their repeats interleaved:
``ours / flax``.  Times are per call after compilation (``block_until_ready``);
"compile" is tracing + XLA compilation of each jitted function, measured once.

    PYTHONPATH=. python benchmarks/bench_jax_layers.py                  # everything
    PYTHONPATH=. python benchmarks/bench_jax_layers.py --layers LayerNorm,RMSNorm --sizes large
    PYTHONPATH=. python benchmarks/bench_jax_layers.py --repeats 31 --stat min

(``PYTHONPATH=.`` makes a script run from a checkout import that checkout's einx_typed.)

Forward is ``apply(params, x, state=..., training=True)`` (new EMA state included);
gradient is ``jax.grad`` of the sum of the outputs with respect to the parameters and
the input (with the new EMA state as auxiliary output where there is one).  Flax layers
keep their defaults except ``epsilon=1e-5`` (ours); both compute statistics in float32,
and on CPU both use ``E[x^2] - E[x]^2`` for instance, batch and group norm of the large
input (ours the two-pass variance elsewhere; see ``einx_typed/backends/_jax_norm.py``).
Instance norm has no axis to reduce on the (16, 32) input.

On a machine shared with other jobs, wall-clock ratios move by 10% from run to run;
``--clock cpu`` (CPU time of all threads) and ``taskset -c 0`` steady them.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from _timing import CLOCKS, add_timing_options, chosen_cases, time_pair

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = ",".join(case.name for case in _cases())
    parser.add_argument("--layers", default=names, help=f"comma-separated, from {names}")
    parser.add_argument("--sizes", default="small,large", help="small (16, 32), large")
    parser.add_argument("--passes", default="fwd,grad", help="fwd and/or grad")
    add_timing_options(parser)
    args = parser.parse_args()
    clock = CLOCKS[args.clock]

    cases = chosen_cases(parser, _cases(), args.layers)
    print(
        f"jax {jax.__version__} on {jax.default_backend()}; {args.clock} clock; times: "
        f"{args.stat} of {args.repeats} interleaved repeats per call; ratio: {args.stat} of "
        "the repeats' ratios"
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
                t_ours, t_flax, ratio = time_pair(
                    ours,
                    flax,
                    min_time=args.min_time,
                    repeats=args.repeats,
                    stat=args.stat,
                    clock=clock,
                )
                print(
                    f"{label} {t_flax * 1e6:.1f} | {t_ours * 1e6:.1f} | {ratio:.2f}x "
                    f"| {compile_s['flax'] * 1e3:.0f} | {compile_s['ours'] * 1e3:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()

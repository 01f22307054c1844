"""Time einx_typed's Haiku modules (``einx_typed.nn.haiku``) against Haiku's own layers.

``einn.Linear`` / ``einn.Norm`` against ``hk.Linear``, ``hk.LayerNorm``, ``hk.RMSNorm`` and
``hk.BatchNorm``, each inside ``hk.transform_with_state`` and under ``jax.jit``.  Every ratio
compares timings taken in this one process, on the same input, with the same parameter
values copied into both models, their repeats interleaved: ``ours / haiku``.  Times are per
call after compilation (``block_until_ready``)::

    PYTHONPATH=. python benchmarks/bench_haiku_layers.py                  # everything
    PYTHONPATH=. python benchmarks/bench_haiku_layers.py --layers BatchNorm --sizes large
    PYTHONPATH=. python benchmarks/bench_haiku_layers.py --clock cpu --repeats 31

(``PYTHONPATH=.`` makes a script run from a checkout import that checkout's einx_typed.)

Passes: ``fwd`` is ``apply(params, state, None, x, training=True)`` (new EMA statistics
included), ``grad`` is ``jax.grad`` of the sum of the outputs with respect to parameters and
input, ``init`` is the jitted ``model.init(key, x, training=True)`` (random weights drawn
by both), ``eager-init`` the same without ``jax.jit`` (as many Haiku users call it: Haiku
traces the modules and JAX dispatches every op).  "compile" is tracing + XLA compilation of
each jitted function, measured once.
``hk.BatchNorm`` keeps zero-debiased EMAs (three arrays per statistic), the spec a plain EMA.

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

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
from _timing import CLOCKS, add_timing_options, chosen_cases, time_pair

import einx_typed.nn.haiku as einn

EPS = 1e-5
SHAPES = {"small": (16, 32), "large": (16, 56, 56, 32)}


@dataclass(frozen=True)
class Case:
    """One layer in both implementations, and how our parameter names map to Haiku's."""

    name: str
    ours: Callable[[], einn.LayerModule]
    haiku: Callable[[], Callable[[jax.Array, bool], jax.Array]]
    names: dict[str, str]


def _no_training(module: Callable[[jax.Array], jax.Array]) -> Callable[[jax.Array, bool], Any]:
    return lambda x, training: module(x)


def _cases() -> list[Case]:
    norm = {"scale": "scale", "bias": "offset"}
    return [
        Case(
            "Linear",
            lambda: einn.Linear("b... [c1->c2]", c2=64),
            lambda: _no_training(hk.Linear(64)),
            {"weight": "w", "bias": "b"},
        ),
        Case(
            "LayerNorm",
            lambda: einn.Norm("b... [c]", epsilon=EPS),
            lambda: _no_training(hk.LayerNorm(-1, True, True, eps=EPS)),
            norm,
        ),
        Case(
            "RMSNorm",
            lambda: einn.Norm("b... [c]", mean=False, bias=False, epsilon=EPS),
            lambda: _no_training(hk.RMSNorm(-1, eps=EPS)),
            {"scale": "scale"},
        ),
        Case(
            "BatchNorm",
            lambda: einn.Norm("[b...] c", decay_rate=0.9, epsilon=EPS),
            lambda: hk.BatchNorm(True, True, 0.9, eps=EPS),
            norm,
        ),
    ]


@dataclass
class Impl:
    """A step (jitted by ``_compile``) and its arguments."""

    step: Callable[..., Any]
    args: tuple[Any, ...]

    def __call__(self) -> Any:
        return jax.block_until_ready(self.step(*self.args))


def _models(case: Case, x: jax.Array) -> tuple[Any, Any, Any, Any]:
    """Both transformed models and their variables, with our parameter values copied."""
    ours = hk.transform_with_state(lambda x, training: case.ours()(x, training))
    haiku = hk.transform_with_state(lambda x, training: case.haiku()(x, training))
    key = jax.random.key(0)
    params, state = ours.init(key, x, True)
    rng = np.random.default_rng(1)
    params = jax.tree.map(
        lambda p: jnp.asarray(rng.standard_normal(p.shape).astype(np.float32) * 0.5 + 1), params
    )
    native_params, native_state = haiku.init(key, x, True)
    ((module, values),) = params.items()
    ((native_module, native_values),) = native_params.items()
    native_params = {
        native_module: {
            case.names[k]: v.reshape(native_values[case.names[k]].shape) for k, v in values.items()
        }
    }
    return (ours, params, state), (haiku, native_params, native_state), module, native_module


def _steps(case: Case, x: jax.Array, pass_: str) -> tuple[Impl, Impl]:
    (ours, params, state), (haiku, native_params, native_state), _, _ = _models(case, x)
    impls = []
    for model, p, s in ((ours, params, state), (haiku, native_params, native_state)):
        if pass_ in ("init", "eager-init"):

            def init(key: jax.Array, x: jax.Array, model: Any = model) -> Any:
                return model.init(key, x, True)

            impls.append(Impl(init, (jax.random.key(1), x)))
        elif pass_ == "fwd":

            def forward(p: Any, s: Any, x: jax.Array, model: Any = model) -> Any:
                return model.apply(p, s, None, x, True)

            impls.append(Impl(forward, (p, s, x)))
        else:

            def loss(p: Any, s: Any, x: jax.Array, model: Any = model) -> Any:
                y, new_state = model.apply(p, s, None, x, True)
                return jnp.sum(y), new_state

            impls.append(Impl(jax.grad(loss, argnums=(0, 2), has_aux=True), (p, s, x)))
    return impls[0], impls[1]


def _check(case: Case, x: jax.Array) -> None:
    """Forward outputs agree (catches a mismatched setting or a wrong parameter copy)."""
    (ours, params, state), (haiku, native_params, native_state), _, _ = _models(case, x)
    y, _ = jax.jit(ours.apply, static_argnums=4)(params, state, None, x, True)
    y_native, _ = jax.jit(haiku.apply, static_argnums=4)(native_params, native_state, None, x, True)
    err = float(jnp.max(jnp.abs(y - y_native)))
    assert err <= 2e-3 * (float(jnp.max(jnp.abs(y_native))) + 1), f"{case.name}: differ by {err}"


def _compile(impl: Impl) -> float:
    """Trace + compile ``impl.step`` afresh; returns seconds and leaves it jitted."""
    jitted = jax.jit(impl.step)
    start = time.perf_counter()
    jitted.lower(*impl.args).compile()
    seconds = time.perf_counter() - start
    impl.step = jitted
    impl()  # jit's own cache: the timed calls below go through jit's dispatch
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = ",".join(case.name for case in _cases())
    parser.add_argument("--layers", default=names, help=f"comma-separated, from {names}")
    parser.add_argument("--sizes", default="small,large", help="small (16, 32), large")
    parser.add_argument(
        "--passes", default="fwd,grad,init,eager-init", help="fwd, grad, init, eager-init"
    )
    add_timing_options(parser)
    args = parser.parse_args()
    clock = CLOCKS[args.clock]

    cases = chosen_cases(parser, _cases(), args.layers)
    print(
        f"jax {jax.__version__}, dm-haiku {hk.__version__} on {jax.default_backend()}; "
        f"{args.clock} clock; times: {args.stat} of {args.repeats} interleaved repeats per "
        f"call; ratio: {args.stat} of the repeats' ratios"
    )
    print()
    print(
        "| layer (haiku) | input | pass | haiku µs | ours µs | ours / haiku "
        "| haiku compile ms | ours compile ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        shape = SHAPES[size]
        x_host = np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 2.0 + 0.5
        x = jnp.asarray(x_host)
        for case in cases:
            _check(case, x)
            for pass_ in args.passes.split(","):
                ours, haiku = _steps(case, x, pass_)
                if pass_ == "eager-init":  # no jit: Haiku's tracing of the modules included
                    compile_s = {"haiku": float("nan"), "ours": float("nan")}
                else:
                    compile_s = {"haiku": _compile(haiku), "ours": _compile(ours)}
                t_ours, t_haiku, ratio = time_pair(
                    ours,
                    haiku,
                    min_time=args.min_time,
                    repeats=args.repeats,
                    stat=args.stat,
                    clock=clock,
                )
                print(
                    f"| {case.name} | {size} {shape} | {pass_} | {t_haiku * 1e6:.1f} "
                    f"| {t_ours * 1e6:.1f} | {ratio:.2f}x | {compile_s['haiku'] * 1e3:.0f} "
                    f"| {compile_s['ours'] * 1e3:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()

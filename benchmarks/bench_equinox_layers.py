"""Time einx_typed's Equinox modules against the ``eqx.nn`` layers under ``eqx.filter_jit``.

Every ratio compares timings taken in this one process, on the same input values, with the
same parameter values copied into both modules, their repeats interleaved: ``ours /
eqx.nn``.  A call is the whole ``eqx.filter_jit`` call as a user makes it (flattening the
module, the cache lookup, dispatch, ``block_until_ready``); "compile" is the first call.

    PYTHONPATH=. python benchmarks/bench_equinox_layers.py                    # everything
    PYTHONPATH=. python benchmarks/bench_equinox_layers.py --layers LayerNorm --sizes small
    PYTHONPATH=. taskset -c 0 python benchmarks/bench_equinox_layers.py --clock cpu

(``PYTHONPATH=.`` makes a script run from a checkout import that checkout's einx_typed.)

``eqx.nn`` layers act on one example, so they run under ``jax.vmap`` the way Equinox
expects: over every leading axis for ``Linear``, ``LayerNorm`` and ``RMSNorm``; over the
batch, channels first (the input transposed once, outside the timed call), for
``GroupNorm`` and ``BatchNorm`` (``mode="batch"``, ``axis_name`` on the vmap, its state
in an ``eqx.nn.State`` like ours).  Ours take the channels-last input as it is.  Forward
of BatchNorm includes the EMA update; gradient is ``eqx.filter_grad`` of the output sum
with respect to the module's arrays and the input.  Dropout draws its mask from a key
passed to each call.

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

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from _timing import CLOCKS, add_timing_options, chosen_cases, time_pair

import einx_typed.nn.equinox as einn

EPS = 1e-5
C = 32
SHAPES = {"small": (16, C), "large": (16, 56, 56, C)}
KEY = jax.random.key(0)


@dataclass(frozen=True)
class Case:
    """One layer in both implementations.

    ``ours`` builds our module (and state) for an input shape; ``native`` the ``eqx.nn``
    module (and state) and the per-call function that applies it to the whole batch;
    ``copy`` moves our parameter values into the native module; ``channels_first`` gives
    the native layer a ``(b, c, ...)`` input.
    """

    name: str
    ours: Callable[[tuple[int, ...]], tuple[Any, Any]]
    native: Callable[[tuple[int, ...]], tuple[Any, Any, Callable[..., Any]]]
    copy: Callable[[Any, Any], Any]
    channels_first: bool = False
    stateful: bool = False
    random: bool = False


def _vmap_all(layer: Any, x: jax.Array) -> jax.Array:
    fn = layer
    for _ in range(x.ndim - 1):
        fn = jax.vmap(fn)
    return fn(x)


def _stateless(make: Callable[[], Any]) -> Callable[[tuple[int, ...]], tuple[Any, Any, Any]]:
    def native(shape: tuple[int, ...]) -> tuple[Any, Any, Any]:
        return make(), None, lambda m, s, x, key: (_vmap_all(m, x), s)

    return native


def _group_norm_native(shape: tuple[int, ...]) -> tuple[Any, Any, Any]:
    return (
        eqx.nn.GroupNorm(8, C, eps=EPS),
        None,
        lambda m, s, x, key: (jax.vmap(m)(x), s),
    )


def _batch_norm_native(shape: tuple[int, ...]) -> tuple[Any, Any, Any]:
    model, state = eqx.nn.make_with_state(eqx.nn.BatchNorm)(
        C, "batch", eps=EPS, momentum=0.9, mode="batch"
    )
    run = jax.vmap(lambda m, s, x: m(x, s), (None, None, 0), (0, None), axis_name="batch")
    return model, state, lambda m, s, x, key: run(m, s, x)


def _affine(names: tuple[str, str] = ("weight", "bias")) -> Callable[[Any, Any], Any]:
    def copy(ours: Any, native: Any) -> Any:
        return eqx.tree_at(
            lambda m: (getattr(m, names[0]), getattr(m, names[1])),
            native,
            (ours.scale, ours.bias),
        )

    return copy


def _cases() -> list[Case]:
    return [
        Case(
            "Linear",
            lambda shape: (
                einn.Linear("b... [c1->c2]", c2=64, key=KEY, input_shape=shape),
                None,
            ),
            _stateless(lambda: eqx.nn.Linear(C, 64, key=KEY)),
            lambda ours, native: eqx.tree_at(
                lambda m: (m.weight, m.bias), native, (ours.weight.T, ours.bias)
            ),
        ),
        Case(
            "LayerNorm",
            lambda shape: (einn.Norm("b... [c]", c=C), None),
            _stateless(lambda: eqx.nn.LayerNorm(C, eps=EPS)),
            _affine(),
        ),
        Case(
            "RMSNorm",
            lambda shape: (einn.Norm("b... [c]", mean=False, bias=False, c=C), None),
            _stateless(lambda: eqx.nn.RMSNorm(C, eps=EPS, use_bias=False)),
            lambda ours, native: eqx.tree_at(lambda m: m.weight, native, ours.scale),
        ),
        Case(
            "GroupNorm",
            lambda shape: (einn.Norm("b [s...] (g [c])", g=8, input_shape=shape), None),
            _group_norm_native,
            _affine(),
            channels_first=True,
        ),
        Case(
            "BatchNorm",
            lambda shape: eqx.nn.make_with_state(einn.Norm)("[b...] c", decay_rate=0.9, c=C),
            _batch_norm_native,
            _affine(),
            channels_first=True,
            stateful=True,
        ),
        Case(
            "Dropout",
            lambda shape: (einn.Dropout("[...]", drop_rate=0.1), None),
            lambda shape: (eqx.nn.Dropout(0.1), None, lambda m, s, x, key: (m(x, key=key), s)),
            lambda ours, native: native,
            random=True,
        ),
    ]


def _ours_apply(m: Any, s: Any, x: jax.Array, key: Any) -> Any:
    if s is None:
        return m(x, key=key), s
    return m(x, s, key=key)


@eqx.filter_jit
def _forward(apply: Callable[..., Any], m: Any, s: Any, x: jax.Array, key: Any) -> Any:
    return apply(m, s, x, key)


@eqx.filter_jit
def _grad(apply: Callable[..., Any], m: Any, s: Any, x: jax.Array, key: Any) -> Any:
    def loss(mx: tuple[Any, jax.Array]) -> Any:
        y, new_s = apply(mx[0], s, mx[1], key)
        return jnp.sum(y), new_s

    return eqx.filter_grad(loss, has_aux=True)((m, x))


@dataclass
class Impl:
    """A jitted step and its arguments."""

    step: Callable[..., Any]
    args: tuple[Any, ...]

    def __call__(self) -> Any:
        return jax.block_until_ready(self.step(*self.args))


def _build(case: Case, shape: tuple[int, ...], grad: bool) -> tuple[Impl, Impl]:
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal(shape).astype(np.float32) * 2.0 + 0.5)
    ours, state = case.ours(shape)
    arrays, static = eqx.partition(ours, eqx.is_inexact_array)
    arrays = jax.tree.map(
        lambda a: jnp.asarray(rng.standard_normal(a.shape).astype(np.float32) * 0.5 + 1.0),
        arrays,
    )
    ours = eqx.combine(arrays, static)
    native, native_state, native_apply = case.native(shape)
    native = case.copy(ours, native)
    native_x = jnp.moveaxis(x, -1, 1) if case.channels_first else x
    step = _grad if grad else _forward
    key = jax.random.key(3)
    return (
        Impl(step, (_ours_apply, ours, state, x, key)),
        Impl(step, (native_apply, native, native_state, native_x, key)),
    )


def _check(ours: Impl, native: Impl, case: Case, grad: bool) -> None:
    """Both compute the same thing (catches a mismatched setting)."""
    if case.random:
        return  # different masks from the same key
    a, b = ours(), native()
    if grad:
        a, b = a[0][1], b[0][1]  # input gradients (parameter layouts differ)
        if case.channels_first:
            b = jnp.moveaxis(b, 1, -1)
    else:
        a, b = a[0], b[0]
        if case.channels_first:
            b = jnp.moveaxis(b, 1, -1)
    scale = float(jnp.max(jnp.abs(b))) + 1.0
    err = float(jnp.max(jnp.abs(a - b)))
    assert err <= 1e-2 * scale, f"{case.name}: ours and eqx.nn differ by {err}"


def _first_call(impl: Impl) -> float:
    start = time.perf_counter()
    impl()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    names = ",".join(case.name for case in _cases())
    parser.add_argument("--layers", default=names, help=f"comma-separated, from {names}")
    parser.add_argument("--sizes", default="small,large", help="small (16, 32), large")
    parser.add_argument("--passes", default="fwd,grad", help="fwd and/or grad")
    add_timing_options(parser)
    args = parser.parse_args()
    clock = CLOCKS[args.clock]

    cases = chosen_cases(parser, _cases(), args.layers)
    print(
        f"equinox {eqx.__version__}, jax {jax.__version__} on {jax.default_backend()}; "
        f"{args.clock} clock; times: {args.stat} of {args.repeats} interleaved repeats per "
        f"call; ratio: {args.stat} of the repeats' ratios"
    )
    print()
    print(
        "| layer | input | pass | eqx.nn µs | ours µs | ours / eqx.nn | compile eqx.nn / ours ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        shape = SHAPES[size]
        for case in cases:
            for pass_ in args.passes.split(","):
                ours, native = _build(case, shape, pass_ == "grad")
                compile_s = (_first_call(native), _first_call(ours))
                _check(ours, native, case, pass_ == "grad")
                t_ours, t_native, ratio = time_pair(
                    ours,
                    native,
                    min_time=args.min_time,
                    repeats=args.repeats,
                    stat=args.stat,
                    clock=clock,
                )
                print(
                    f"| {case.name} | {size} {shape} | {pass_} | {t_native * 1e6:.1f} | "
                    f"{t_ours * 1e6:.1f} | {ratio:.2f}x | {compile_s[0] * 1e3:.0f} / "
                    f"{compile_s[1] * 1e3:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()

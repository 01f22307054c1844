"""Time einx_typed's Keras layers against the native Keras layers, on both Keras backends.

Each layer sits alone in a ``keras.Sequential`` model with a ``keras.Input`` of unknown
batch size, compiled with SGD and a mean-squared error; the native model gets the same
weights. Timed: ``model.predict_on_batch(x)`` and ``model.train_on_batch(x, y)`` (one
optimiser step; on JAX a jitted step, on PyTorch Keras' eager step). Ratios compare
timings taken in one process, the two models timed in alternating rounds: ``ours / native``.

    PYTHONPATH=. python benchmarks/bench_keras_layers.py                    # both backends
    PYTHONPATH=. python benchmarks/bench_keras_layers.py --backend jax --sizes small
    PYTHONPATH=. taskset -c 0 python benchmarks/bench_keras_layers.py --clock cpu

Each backend runs in its own process (Keras picks its backend once, at import).  On a
machine shared with other jobs, ``--clock cpu`` and ``taskset -c 0`` steady the ratios.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from _timing import CLOCKS, add_timing_options, time_pair

EPS = 1e-5
SHAPES = {"small": (16, 32), "large": (16, 56, 56, 32)}


@dataclass(frozen=True)
class Case:
    name: str
    ours: Callable[[], Any]
    native: Callable[[], Any]
    min_ndim: int = 2


def _cases() -> list[Case]:
    import keras

    import einx_typed.nn.keras as einn

    layers = keras.layers
    return [
        Case("Linear", lambda: einn.Linear("b... [c1->c2]", c2=64), lambda: layers.Dense(64)),
        Case(
            "LayerNorm",
            lambda: einn.Norm("b... [c]", epsilon=EPS),
            lambda: layers.LayerNormalization(epsilon=EPS),
        ),
        Case(
            "RMSNorm",
            lambda: einn.Norm("b... [c]", mean=False, bias=False, epsilon=EPS),
            lambda: layers.RMSNormalization(epsilon=EPS),
        ),
        Case(
            "GroupNorm",
            lambda: einn.Norm("b [s...] (g [c])", g=8, epsilon=EPS),
            lambda: layers.GroupNormalization(groups=8, epsilon=EPS),
            min_ndim=3,
        ),
        Case(
            "BatchNorm",
            lambda: einn.Norm("[b...] c", decay_rate=0.9, epsilon=EPS),
            lambda: layers.BatchNormalization(momentum=0.9, epsilon=EPS),
        ),
        Case(
            "Dropout",
            lambda: einn.Dropout("[...]", drop_rate=0.2, seed=0),
            lambda: layers.Dropout(0.2, seed=0),
        ),
    ]


@dataclass
class Model:
    model: Any
    x: Any
    y: Any

    def predict(self) -> Any:
        return self.model.predict_on_batch(self.x)

    def train(self) -> Any:
        return self.model.train_on_batch(self.x, self.y)


def _model(layer: Any, x: np.ndarray) -> Model:
    import keras

    model = keras.Sequential([keras.Input(x.shape[1:]), layer])
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
    y = np.zeros(model.output_shape[1:], np.float32)[None].repeat(len(x), 0)
    return Model(model, x, y)


def _pair(case: Case, x: np.ndarray) -> tuple[Model, Model]:
    ours, native = _model(case.ours(), x), _model(case.native(), x)
    rng = np.random.default_rng(1)
    weights = [
        w.reshape(n.shape) for w, n in zip(ours.model.get_weights(), native.model.get_weights())
    ]
    # Same values in both (scale/bias away from 1/0, so both are exercised).
    weights = [rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in weights]
    ours.model.set_weights(weights)
    native.model.set_weights(
        [w.reshape(n.shape) for w, n in zip(weights, native.model.get_weights())]
    )
    a, b = np.asarray(ours.predict()), np.asarray(native.predict())
    scale = float(np.max(np.abs(b))) + 1.0
    assert float(np.max(np.abs(a - b))) <= 2e-3 * scale, f"{case.name}: outputs differ"
    return ours, native


def run_backend(args: argparse.Namespace) -> None:
    import keras

    if keras.config.backend() == "torch":
        import torch

        torch.set_num_threads(args.threads)
    cases = [case for case in _cases() if case.name in args.layers.split(",")]
    print(f"\nKeras {keras.__version__}, backend {keras.config.backend()}, {args.clock} clock")
    print(
        "| layer (native) | input | predict native / ours µs | ratio "
        "| train step native / ours µs | ratio |"
    )
    print("|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        shape = SHAPES[size]
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 2.0 + 0.5
        for case in cases:
            if len(shape) < case.min_ndim:
                continue
            ours, native = _pair(case, x)
            cells = []
            for kind in ("predict", "train"):
                t_ours, t_native, ratio = time_pair(
                    getattr(ours, kind),
                    getattr(native, kind),
                    min_time=args.min_time,
                    repeats=args.repeats,
                    clock=CLOCKS[args.clock],
                )
                cells.append(f"{t_native * 1e6:.0f} / {t_ours * 1e6:.0f} | {ratio:.2f}")
            print(f"| {case.name} | {shape} | {' | '.join(cells)} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("both", "jax", "torch"), default="both")
    parser.add_argument("--layers", default="Linear,LayerNorm,RMSNorm,GroupNorm,BatchNorm,Dropout")
    parser.add_argument("--sizes", default="small,large")
    add_timing_options(parser, stat=False)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    backends = ("jax", "torch") if args.backend == "both" else (args.backend,)
    if backends == (os.environ.get("KERAS_BACKEND"),):
        run_backend(args)
        return
    for backend in backends:  # one process per backend: Keras picks it once, at import
        options = {k.replace("_", "-"): v for k, v in vars(args).items() if k != "backend"}
        argv = [f"--{k}={v}" for k, v in options.items()]
        env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu"}
        command = [sys.executable, __file__, f"--backend={backend}", *argv]
        subprocess.run(command, env=env, check=True)


if __name__ == "__main__":
    main()

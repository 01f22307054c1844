"""Train the digits model of ``specs/`` with Equinox on scikit-learn's 8x8 digits.

The model is read from a spec file (no Python model code), built with
``eqx.nn.make_with_state(einx_typed.nn.equinox.from_spec)`` (batch norm statistics live
in an ``eqx.nn.State``) and trained with optax's Adam under ``eqx.filter_jit`` on a fixed
train/test split::

    python examples/train_equinox.py                       # specs/digits_mlp.toml, 20 epochs
    python examples/train_equinox.py --spec my_model.toml --epochs 10
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import einx_typed.config
import einx_typed.nn.equinox as einn

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = ROOT / "specs" / "digits_mlp.toml"
TARGET_ACCURACY = 0.95


def load_data(seed: int) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Digits as ``(n, 8, 8)`` float32 pixels in [0, 1]; a stratified 75/25 split."""
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=0.25, random_state=seed, stratify=digits.target
    )
    return jnp.asarray(x_train), jnp.asarray(y_train), jnp.asarray(x_test), jnp.asarray(y_test)


@eqx.filter_jit
def predict(model: Any, state: eqx.nn.State, x: jax.Array) -> jax.Array:
    """Class predictions in inference mode (EMA statistics, no dropout)."""
    logits, _ = eqx.nn.inference_mode(model)(x, state)
    return jnp.argmax(logits, axis=-1)


def accuracy(model: Any, state: eqx.nn.State, x: jax.Array, y: jax.Array) -> float:
    return float(jnp.mean(predict(model, state, x) == y))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    x_train, y_train, x_test, y_test = load_data(args.seed)
    spec = einx_typed.config.load(args.spec)
    key, init_key = jax.random.split(jax.random.key(args.seed))
    model, state = eqx.nn.make_with_state(einn.from_spec)(
        spec, key=init_key, input_shape=(args.batch_size, *x_train.shape[1:])
    )
    n_params = sum(leaf.size for leaf in jax.tree.leaves(eqx.filter(model, eqx.is_array)))
    print(f"model {args.spec.name}: {n_params} parameters")

    optimizer = optax.adam(args.lr)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))

    @eqx.filter_jit
    def step(
        model: Any, state: eqx.nn.State, opt_state: Any, x: jax.Array, y: jax.Array, key: Any
    ) -> tuple[Any, eqx.nn.State, Any, jax.Array]:
        def loss_fn(model: Any) -> tuple[jax.Array, eqx.nn.State]:
            logits, new_state = model(x, state, key=key)
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
            return loss, new_state

        (loss, state), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(model)
        updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), state, opt_state, loss

    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    progress = tqdm(range(args.epochs), desc="training", unit="epoch")
    for _ in progress:
        order = rng.permutation(len(x_train))
        for first in range(0, len(order) - args.batch_size + 1, args.batch_size):
            batch = order[first : first + args.batch_size]
            key, step_key = jax.random.split(key)
            model, state, opt_state, loss = step(
                model, state, opt_state, x_train[batch], y_train[batch], step_key
            )
        progress.set_postfix(
            loss=f"{float(loss):.3f}", test_acc=f"{accuracy(model, state, x_test, y_test):.3f}"
        )
    seconds = time.perf_counter() - start

    test_accuracy = accuracy(model, state, x_test, y_test)
    print(f"test accuracy: {test_accuracy:.2%} ({len(x_test)} images, {seconds:.1f} s training)")
    if test_accuracy < TARGET_ACCURACY:
        raise SystemExit(f"test accuracy below the {TARGET_ACCURACY:.0%} target")


if __name__ == "__main__":
    main()

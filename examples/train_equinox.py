"""Train the digits model of ``specs/`` with Equinox on scikit-learn's 8x8 digits.

The model is read from a spec file (no Python model code), built with
``eqx.nn.make_with_state(einx_typed.nn.equinox.from_spec)`` (batch norm statistics live
in an ``eqx.nn.State``) and trained with optax's Adam under ``eqx.filter_jit`` on a fixed
train/test split::

    python examples/train_equinox.py                       # specs/digits_mlp.toml, 20 epochs
    python examples/train_equinox.py --spec my_model.toml --epochs 10
"""

from __future__ import annotations

import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from _digits import argument_parser, load_data, report
from tqdm import tqdm

import einx_typed.config
import einx_typed.nn.equinox as einn


@eqx.filter_jit
def predict(model: Any, state: eqx.nn.State, x: jax.Array) -> jax.Array:
    """Class predictions in inference mode (EMA statistics, no dropout)."""
    logits, _ = eqx.nn.inference_mode(model)(x, state)
    return jnp.argmax(logits, axis=-1)


def accuracy(model: Any, state: eqx.nn.State, x: jax.Array, y: jax.Array) -> float:
    return float(jnp.mean(predict(model, state, x) == y))


def main() -> None:
    parser = argument_parser((__doc__ or "").splitlines()[0])
    args = parser.parse_args()

    x_train, y_train, x_test, y_test = (jnp.asarray(a) for a in load_data(args.seed))
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
    report(test_accuracy, len(x_test), seconds)


if __name__ == "__main__":
    main()

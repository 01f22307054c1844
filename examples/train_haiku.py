"""Train the digits model of ``specs/`` with Haiku and optax on scikit-learn's 8x8 digits.

The model is read from a spec file (no Python model code), built with
``einx_typed.nn.haiku.from_spec`` inside ``hk.transform_with_state`` (the EMA statistics
of its norms are Haiku state) and trained with Adam on a fixed train/test split; one
``jax.jit`` step per batch::

    python examples/train_haiku.py                       # specs/digits_mlp.toml, 20 epochs
    python examples/train_haiku.py --spec my_model.toml --epochs 10
"""

from __future__ import annotations

import os
import time
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import optax
from _digits import argument_parser, load_data, report
from tqdm import tqdm

import einx_typed.config
import einx_typed.nn.haiku as einn


def main() -> None:
    parser = argument_parser(__doc__.splitlines()[0])
    args = parser.parse_args()

    x_train, y_train, x_test, y_test = load_data(args.seed)
    spec = einx_typed.config.load(args.spec)
    model = hk.transform_with_state(
        lambda x, training: einn.from_spec(spec, name="model")(x, training)
    )
    key = jax.random.key(args.seed)
    key, init_key = jax.random.split(key)
    params, state = model.init(init_key, x_train[: args.batch_size], training=True)
    n_params = sum(int(p.size) for p in jax.tree.leaves(params))
    print(f"model {args.spec.name}: {n_params} parameters")
    print(jax.tree.map(lambda a: a.shape, params))

    optimizer = optax.adam(args.lr)
    opt_state = optimizer.init(params)

    @jax.jit
    def step(
        params: Any, state: Any, opt_state: Any, key: jax.Array, x: jax.Array, y: jax.Array
    ) -> tuple[Any, Any, Any, jax.Array]:
        def loss_fn(params: Any) -> tuple[jax.Array, Any]:
            logits, new_state = model.apply(params, state, key, x, training=True)
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
            return loss, new_state

        (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), state, opt_state, loss

    @jax.jit
    def predict(params: Any, state: Any, x: jax.Array) -> jax.Array:
        logits, _ = model.apply(params, state, None, x, training=False)
        return jnp.argmax(logits, axis=-1)

    def accuracy(params: Any, state: Any, x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(np.asarray(predict(params, state, x)) == y))

    order_rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    progress = tqdm(range(args.epochs), desc="training", unit="epoch")
    for _ in progress:
        order = order_rng.permutation(len(x_train))
        for first in range(0, len(order) - args.batch_size + 1, args.batch_size):
            batch = order[first : first + args.batch_size]
            key, step_key = jax.random.split(key)
            params, state, opt_state, loss = step(
                params, state, opt_state, step_key, x_train[batch], y_train[batch]
            )
        progress.set_postfix(
            loss=f"{float(loss):.3f}", test_acc=f"{accuracy(params, state, x_test, y_test):.3f}"
        )
    seconds = time.perf_counter() - start

    test_accuracy = accuracy(params, state, x_test, y_test)
    report(test_accuracy, len(x_test), seconds)


if __name__ == "__main__":
    main()

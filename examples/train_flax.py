"""Train the digits model of ``specs/`` with Flax (linen) on scikit-learn's 8x8 digits.

The model is read from a spec file (no Python model code), built with
``einx_typed.nn.flax.from_spec`` and trained with optax's Adam on a fixed train/test
split, one jitted step per batch; ``--net`` trains the tutorial's ``Net`` pattern (a
``nn.Module`` of ``einn.Linear``/``Norm``/``Dropout`` in a loop) instead::

    python examples/train_flax.py                        # specs/digits_mlp.toml, 20 epochs
    python examples/train_flax.py --spec my_model.toml --epochs 10
    python examples/train_flax.py --net
"""

from __future__ import annotations

import os
import time
from typing import Any

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from _digits import argument_parser, load_data, report
from tqdm import tqdm

import einx_typed.config
import einx_typed.nn.flax as einn


class Net(nn.Module):
    """The tutorial's ``Net``: the layers are created in ``__call__``, sized on first use."""

    @nn.compact
    def __call__(self, x: jax.Array, training: bool) -> jax.Array:
        for c in [256, 128]:
            x = einn.Linear("b [...->c]", c=c)(x)
            x = einn.Norm("[b] c", decay_rate=0.99)(x, training=training)
            x = nn.gelu(x)
            x = einn.Dropout("[...]", drop_rate=0.2)(x, training=training)
        return einn.Linear("b [...->c]", c=10)(x)  # 10 classes


def main() -> None:
    parser = argument_parser((__doc__ or "").splitlines()[0])
    parser.add_argument("--net", action="store_true", help="train the tutorial's Net")
    args = parser.parse_args()

    x_train, y_train, x_test, y_test = load_data(args.seed)
    model: nn.Module = Net() if args.net else einn.from_spec(einx_typed.config.load(args.spec))
    key, init_key = jax.random.split(jax.random.key(args.seed))
    batch_shape = (args.batch_size, *x_train.shape[1:])
    variables = nn.unbox(model.init(init_key, jnp.zeros(batch_shape), training=False))
    params, stats = variables["params"], variables.get(einn.STATS, {})
    n_params = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))
    shapes = jax.tree.map(jnp.shape, params)
    print(f"model {'Net' if args.net else args.spec.name}: {n_params} parameters")
    print("\n".join(f"  {name}: {shape}" for name, shape in shapes.items()))

    optimizer = optax.adam(args.lr)
    opt_state = optimizer.init(params)

    @jax.jit
    def train_step(params: Any, stats: Any, opt_state: Any, x: Any, y: Any, key: Any) -> Any:
        def loss_fn(params: Any) -> Any:
            logits, updates = model.apply(
                {"params": params, einn.STATS: stats},
                x,
                training=True,
                rngs={"dropout": key},
                mutable=[einn.STATS],
            )
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
            return loss, updates.get(einn.STATS, {})

        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), stats, opt_state, loss

    @jax.jit
    def accuracy(params: Any, stats: Any, x: Any, y: Any) -> Any:
        logits = model.apply({"params": params, einn.STATS: stats}, x, training=False)
        return jnp.mean(jnp.argmax(logits, -1) == y)

    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    progress = tqdm(range(args.epochs), desc="training", unit="epoch")
    for _ in progress:
        order = rng.permutation(len(x_train))
        for first in range(0, len(order) - args.batch_size + 1, args.batch_size):
            batch = order[first : first + args.batch_size]
            key, step_key = jax.random.split(key)
            params, stats, opt_state, loss = train_step(
                params, stats, opt_state, x_train[batch], y_train[batch], step_key
            )
        test_acc = float(accuracy(params, stats, x_test, y_test))
        progress.set_postfix(loss=f"{float(loss):.3f}", test_acc=f"{test_acc:.3f}")
    seconds = time.perf_counter() - start

    test_accuracy = float(accuracy(params, stats, x_test, y_test))
    report(test_accuracy, len(x_test), seconds)


if __name__ == "__main__":
    main()

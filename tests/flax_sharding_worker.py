"""Sharded init and training of the ``specs/`` models on 8 simulated CPU devices.

Run by ``test_nn_flax_sharding.py`` in a fresh interpreter (the device count is fixed when
JAX starts)::

    XLA_FLAGS=--xla_force_host_platform_device_count=8 python tests/flax_sharding_worker.py

For each model: a jitted init whose output shardings come from the variables' logical
axis names and ``nn.logical_axis_rules``, then jitted training steps (SGD, dropout,
EMA statistics) with sharded parameters and a batch split over ``"data"``.  Losses,
parameters and statistics must equal those of the same steps on one device, and every
variable's sharding must be the one the rules give for its axis names.  Prints one line
per model and exits non-zero on the first mismatch.
"""

from __future__ import annotations

import os
import sys
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec  # noqa: E402

import einx_typed.config  # noqa: E402
import einx_typed.nn.flax as einn  # noqa: E402

STEPS = 3
BATCH = 16
# Logical axis names of the spec files -> mesh axes.  Earlier rules win; a mesh axis is
# used once per array, so in "5.weight" (c1, c2) only c1 is sharded over "model".
MIXER_RULES = (
    ("c", "model"),
    ("c1", "model"),
    ("c2", "model"),
    ("s2", "data"),
    ("s", "data"),
)
MLP_RULES = (("c", "data"),)  # c is 256, 128 and 10: "data" (2) divides each


def check(model_name: str, mesh: Mesh, rules: Any) -> None:
    spec = einx_typed.config.load(ROOT / "specs" / model_name)
    model = einn.from_spec(spec)
    x = jax.random.uniform(jax.random.key(1), (BATCH, 8, 8))
    labels = jnp.arange(BATCH) % 10
    # SGD, not Adam: the bias of a Linear before a batch norm gets a zero gradient up to
    # rounding, which Adam would scale up to full steps that differ between shardings.
    optimizer = optax.sgd(0.1, momentum=0.9)
    init = partial(model.init, training=False)

    def step(variables: Any, opt_state: Any, x: jax.Array, key: jax.Array) -> Any:
        def loss_fn(params: Any) -> Any:
            logits, updates = model.apply(
                {**variables, "params": params},
                x,
                training=True,
                rngs={"dropout": key},
                mutable=[einn.STATS],
            )
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
            return loss, updates

        (loss, updates), grads = jax.value_and_grad(loss_fn, has_aux=True)(variables["params"])
        changes, opt_state = optimizer.update(grads, opt_state, variables["params"])
        params = optax.apply_updates(variables["params"], changes)
        return {**variables, **updates, "params": params}, opt_state, loss

    def train(variables: Any, x: jax.Array, run: Any) -> tuple[Any, list[float]]:
        opt_state = optimizer.init(variables["params"])
        losses = []
        for i in range(STEPS):
            variables, opt_state, loss = run(variables, opt_state, x, jax.random.key(10 + i))
            losses.append(float(loss))
        return variables, losses

    # One device: the reference.
    plain = jax.jit(init)(jax.random.key(0), x)
    plain_end, plain_losses = train(plain, x, jax.jit(step))

    # Sharded: shardings from the logical names, no change to the model.
    abstract = jax.eval_shape(init, jax.random.key(0), x)
    logical = nn.get_partition_spec(abstract)
    shardings = nn.logical_to_mesh_sharding(logical, mesh, rules)
    batch = NamedSharding(mesh, PartitionSpec("data"))
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
        sharded = jax.jit(init, out_shardings=shardings)(
            jax.random.key(0), jax.device_put(x, batch)
        )
        run = jax.jit(step, out_shardings=(shardings, None, None))
        sharded_end, sharded_losses = train(sharded, jax.device_put(x, batch), run)

    for variables in (sharded, sharded_end):
        for path, value in jax.tree_util.tree_leaves_with_path(
            variables, is_leaf=lambda v: isinstance(v, nn.LogicallyPartitioned)
        ):
            assert isinstance(value, nn.LogicallyPartitioned), path
            expected = nn.logical_to_mesh_axes(value.names, rules)
            assert value.value.sharding.spec == expected, (path, value.value.sharding, expected)
            if any(axis is not None for axis in expected):
                assert len(value.value.addressable_shards) == 8
                assert value.value.addressable_shards[0].data.size < value.value.size, path
    sharded_specs = {
        jax.tree_util.keystr(p): v.value.sharding.spec
        for p, v in jax.tree_util.tree_leaves_with_path(
            sharded, is_leaf=lambda v: isinstance(v, nn.LogicallyPartitioned)
        )
    }
    used = {a for s in sharded_specs.values() for a in s if a is not None}
    assert used == {a for _, a in rules}, sharded_specs

    np.testing.assert_allclose(sharded_losses, plain_losses, rtol=1e-5)
    ends = jax.tree_util.tree_leaves_with_path(nn.unbox(sharded_end))
    for (path, a), b in zip(ends, jax.tree.leaves(nn.unbox(plain_end))):
        np.testing.assert_allclose(
            np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5, err_msg=jax.tree_util.keystr(path)
        )
    assert plain_losses[-1] < plain_losses[0]
    print(
        f"{model_name}: losses {' '.join(f'{v:.6f}' for v in sharded_losses)}; "
        f"{len(sharded_specs)} variables sharded by their axis names"
    )


def main() -> None:
    devices = jax.devices()
    assert len(devices) == 8, f"expected 8 simulated devices, got {len(devices)}"
    mesh = Mesh(np.array(devices).reshape(2, 4), ("data", "model"))
    check("digits_mixer.toml", mesh, MIXER_RULES)  # dropout
    check("digits_mlp.toml", mesh, MLP_RULES)  # dropout and EMA statistics


if __name__ == "__main__":
    main()

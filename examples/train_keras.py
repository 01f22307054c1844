"""Train the digits model of ``specs/`` with Keras 3 ``model.fit`` on scikit-learn's digits.

The model is read from a spec file (no Python model code), built with
``einx_typed.nn.keras.from_spec`` on a ``keras.Input`` of unknown batch size, and trained
with Adam on a fixed train/test split, on the JAX or the PyTorch Keras backend::

    KERAS_BACKEND=jax python examples/train_keras.py      # specs/digits_mlp.toml, 20 epochs
    KERAS_BACKEND=torch python examples/train_keras.py --spec specs/digits_mixer.toml
"""

from __future__ import annotations

import os
import time
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import keras
import numpy as np
from _digits import argument_parser, load_data, report
from tqdm import tqdm

import einx_typed.config
import einx_typed.nn.keras as einn


class Progress(keras.callbacks.Callback):
    """A tqdm bar over the epochs, with the last batch's loss and the test accuracy."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.bar = tqdm(total=epochs, desc="training", unit="epoch")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        self.bar.set_postfix(
            loss=f"{logs.get('loss', float('nan')):.3f}",
            test_acc=f"{logs.get('val_accuracy', float('nan')):.3f}",
        )
        self.bar.update()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.bar.close()


def main() -> None:
    parser = argument_parser(__doc__.splitlines()[0])
    args = parser.parse_args()

    if keras.config.backend() == "torch":
        import torch

        torch.set_num_threads(1)  # the model is tiny: one thread is fastest
    keras.utils.set_random_seed(args.seed)
    x_train, y_train, x_test, y_test = load_data(args.seed)
    spec = einx_typed.config.load(args.spec)
    inputs = keras.Input(x_train.shape[1:])  # the batch size stays unknown
    model = keras.Model(inputs, einn.from_spec(spec, seed=args.seed)(inputs))
    print(
        f"model {args.spec.name} on Keras {keras.__version__} ({keras.config.backend()}): "
        f"{model.count_params()} parameters, output {model.output_shape}"
    )
    model.summary(expand_nested=True)

    model.compile(
        optimizer=keras.optimizers.Adam(args.lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(
        x_train,
        y_train,
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_data=(x_test, y_test),
        callbacks=[Progress(args.epochs)],
        verbose=0,
    )
    seconds = time.perf_counter() - start

    logits = model.predict(x_test, batch_size=256, verbose=0)
    test_accuracy = float(np.mean(np.argmax(logits, axis=-1) == y_test))
    report(test_accuracy, len(x_test), seconds, f"Keras on {keras.config.backend()}")


if __name__ == "__main__":
    main()

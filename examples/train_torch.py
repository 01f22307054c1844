"""Train the digits model of ``specs/`` with PyTorch on scikit-learn's 8x8 digits.

The model is read from a spec file (no Python model code), built with
``einx_typed.nn.torch.from_spec`` and trained with Adam on a fixed train/test split::

    python examples/train_torch.py                       # specs/digits_mlp.toml, 20 epochs
    python examples/train_torch.py --spec my_model.toml --epochs 10
"""

from __future__ import annotations

import time

import torch
from _digits import argument_parser, load_data, report
from tqdm import tqdm

import einx_typed.config
import einx_typed.nn.torch as einn


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of correct argmax predictions, in eval mode."""
    model.eval()
    with torch.no_grad():
        predictions = model(x).argmax(dim=-1)
    return float((predictions == y).float().mean())


def main() -> None:
    parser = argument_parser(__doc__.splitlines()[0])
    # The model is tiny: one thread is fastest, and it avoids oversubscribed cores.
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x_train, y_train, x_test, y_test = (torch.from_numpy(a) for a in load_data(args.seed))
    y_train, y_test = y_train.long(), y_test.long()
    spec = einx_typed.config.load(args.spec)
    model = einn.from_spec(spec)
    output_shape = model.materialize((args.batch_size, *x_train.shape[1:]))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model {args.spec.name}: {n_params} parameters, output {output_shape}")
    print(model)

    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    progress = tqdm(range(args.epochs), desc="training", unit="epoch")
    for _ in progress:
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        for first in range(0, len(order) - args.batch_size + 1, args.batch_size):
            batch = order[first : first + args.batch_size]
            loss = loss_fn(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        progress.set_postfix(
            loss=f"{loss.item():.3f}", test_acc=f"{accuracy(model, x_test, y_test):.3f}"
        )
    seconds = time.perf_counter() - start

    test_accuracy = accuracy(model, x_test, y_test)
    report(test_accuracy, len(x_test), seconds)


if __name__ == "__main__":
    main()

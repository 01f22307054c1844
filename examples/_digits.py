"""What the digits examples share: the data split, the command line and the last line.

Each ``train_<framework>.py`` imports it (it sits next to them, so running one as a script
finds it) and keeps only its framework's model, step and loop.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = ROOT / "specs" / "digits_mlp.toml"
TARGET_ACCURACY = 0.95


def load_data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits as ``(n, 8, 8)`` float32 pixels in [0, 1], int32 labels; a stratified 75/25
    split: ``x_train, y_train, x_test, y_test``."""
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=0.25, random_state=seed, stratify=digits.target
    )
    return x_train, y_train.astype(np.int32), x_test, y_test.astype(np.int32)


def argument_parser(description: str) -> argparse.ArgumentParser:
    """The options every example takes: ``--spec --epochs --batch-size --lr --seed``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def report(test_accuracy: float, test_images: int, seconds: float, note: str = "") -> None:
    """Print the last line, ``test accuracy: NN.NN% (...)``; exit with 1 below the target."""
    extra = f", {note}" if note else ""
    print(
        f"test accuracy: {test_accuracy:.2%} ({test_images} images, {seconds:.1f} s "
        f"training{extra})"
    )
    if test_accuracy < TARGET_ACCURACY:
        raise SystemExit(f"test accuracy below the {TARGET_ACCURACY:.0%} target")

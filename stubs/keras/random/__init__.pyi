from typing import Any, Self

from keras import Variable
from keras._types import (
    Config,
    DTypeLike,
    Seed,
    ShapeLike,
    StaticShapeLike,
    Tensor,
    TensorLike,
)

class SeedGenerator:
    """Random-seed state; pass it as `seed=` to draw a new seed at every call."""

    name: str | None
    state: Variable
    def __init__(self, seed: int | None = None, name: str | None = None, **kwargs: Any) -> None: ...
    def next(self, ordered: bool = True) -> Tensor: ...
    def get_config(self) -> Config: ...
    @classmethod
    def from_config(cls, config: Config) -> Self: ...

# `seed` is an int (the same values at every call), a SeedGenerator or None (Keras' global
# generator; not usable inside a traced JAX function). JAX-only tensor seeds are not typed.
def beta(
    shape: StaticShapeLike,
    alpha: float | TensorLike,
    beta: float | TensorLike,
    dtype: DTypeLike | None = None,
    seed: Seed = None,
) -> Tensor: ...
def binomial(
    shape: StaticShapeLike,
    counts: float | TensorLike,
    probabilities: float | TensorLike,
    dtype: DTypeLike | None = None,
    seed: Seed = None,
) -> Tensor: ...
def categorical(
    logits: TensorLike, num_samples: int, dtype: DTypeLike = "int32", seed: Seed = None
) -> Tensor: ...
def dropout(
    inputs: TensorLike, rate: float, noise_shape: ShapeLike | None = None, seed: Seed = None
) -> Tensor: ...
def gamma(
    shape: StaticShapeLike, alpha: float, dtype: DTypeLike | None = None, seed: Seed = None
) -> Tensor: ...
def normal(
    shape: StaticShapeLike,
    mean: float = 0.0,
    stddev: float = 1.0,
    dtype: DTypeLike | None = None,
    seed: Seed = None,
) -> Tensor: ...
def randint(
    shape: StaticShapeLike,
    minval: int,
    maxval: int,
    dtype: DTypeLike = "int32",
    seed: Seed = None,
) -> Tensor: ...
def shuffle(x: TensorLike, axis: int = 0, seed: Seed = None) -> Tensor: ...
def truncated_normal(
    shape: StaticShapeLike,
    mean: float = 0.0,
    stddev: float = 1.0,
    dtype: DTypeLike | None = None,
    seed: Seed = None,
) -> Tensor: ...
def uniform(
    shape: StaticShapeLike,
    minval: float = 0.0,
    maxval: float = 1.0,
    dtype: DTypeLike | None = None,
    seed: Seed = None,
) -> Tensor: ...

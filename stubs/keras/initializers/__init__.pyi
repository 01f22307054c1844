from collections.abc import Mapping, Sequence
from typing import Any, Literal, Self, TypeVar, overload, type_check_only

import numpy as np
import numpy.typing as npt
from keras._types import Config, InitializerFn, Seed, StaticShape, Tensor, TensorLike

_I = TypeVar("_I", bound=Initializer)

class Initializer:
    """The base of Keras initializers: `initializer(shape, dtype=None) -> tensor`."""

    def __call__(self, shape: StaticShape, dtype: str | None = None) -> Tensor: ...
    def get_config(self) -> Config: ...
    @classmethod
    def from_config(cls, config: Config) -> Self: ...
    def clone(self) -> Self: ...

class Zeros(Initializer): ...
class Ones(Initializer): ...

class Constant(Initializer):
    value: TensorLike
    def __init__(self, value: TensorLike = 0.0) -> None: ...

class Identity(Initializer):
    gain: float
    def __init__(self, gain: float = 1.0) -> None: ...

class STFT(Initializer):
    def __init__(
        self,
        side: Literal["real", "imag"] = "real",
        window: str | npt.ArrayLike | None = "hann",
        scaling: Literal["density", "spectrum"] | None = "density",
        periodic: bool = False,
    ) -> None: ...

@type_check_only
class _RandomInitializer(Initializer):
    seed: Seed

class RandomNormal(_RandomInitializer):
    mean: float
    stddev: float
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: Seed = None) -> None: ...

class TruncatedNormal(_RandomInitializer):
    mean: float
    stddev: float
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: Seed = None) -> None: ...

class RandomUniform(_RandomInitializer):
    minval: float
    maxval: float
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: Seed = None) -> None: ...

class VarianceScaling(_RandomInitializer):
    scale: float
    mode: Literal["fan_in", "fan_out", "fan_avg"]
    distribution: Literal["truncated_normal", "untruncated_normal", "uniform"]
    input_axes: Sequence[int] | None
    output_axes: Sequence[int] | None
    def __init__(
        self,
        scale: float = 1.0,
        mode: Literal["fan_in", "fan_out", "fan_avg"] = "fan_in",
        distribution: Literal["truncated_normal", "untruncated_normal", "uniform"] = (
            "truncated_normal"
        ),
        seed: Seed = None,
        input_axes: Sequence[int] | None = None,
        output_axes: Sequence[int] | None = None,
    ) -> None: ...

class GlorotNormal(VarianceScaling):
    def __init__(
        self,
        seed: Seed = None,
        input_axes: Sequence[int] | None = None,
        output_axes: Sequence[int] | None = None,
    ) -> None: ...

class GlorotUniform(VarianceScaling):
    def __init__(
        self,
        seed: Seed = None,
        input_axes: Sequence[int] | None = None,
        output_axes: Sequence[int] | None = None,
    ) -> None: ...

class HeNormal(VarianceScaling):
    def __init__(
        self,
        seed: Seed = None,
        input_axes: Sequence[int] | None = None,
        output_axes: Sequence[int] | None = None,
    ) -> None: ...

class HeUniform(VarianceScaling):
    def __init__(
        self,
        seed: Seed = None,
        input_axes: Sequence[int] | None = None,
        output_axes: Sequence[int] | None = None,
    ) -> None: ...

class LecunNormal(VarianceScaling):
    def __init__(
        self,
        seed: Seed = None,
        input_axes: Sequence[int] | None = None,
        output_axes: Sequence[int] | None = None,
    ) -> None: ...

class LecunUniform(VarianceScaling):
    def __init__(
        self,
        seed: Seed = None,
        input_axes: Sequence[int] | None = None,
        output_axes: Sequence[int] | None = None,
    ) -> None: ...

class Orthogonal(_RandomInitializer):
    gain: float
    def __init__(self, gain: float = 1.0, seed: Seed = None) -> None: ...

# Keras exports every class under its snake_case name too (and a few long names).
zeros = Zeros
ones = Ones
constant = Constant
identity = Identity
IdentityInitializer = Identity
stft = STFT
STFTInitializer = STFT
random_normal = RandomNormal
truncated_normal = TruncatedNormal
random_uniform = RandomUniform
variance_scaling = VarianceScaling
glorot_normal = GlorotNormal
glorot_uniform = GlorotUniform
he_normal = HeNormal
he_uniform = HeUniform
lecun_normal = LecunNormal
lecun_uniform = LecunUniform
orthogonal = Orthogonal
OrthogonalInitializer = Orthogonal

@overload
def get(identifier: None) -> None: ...
@overload
def get(identifier: _I | type[_I]) -> _I: ...
@overload
def get(identifier: str | Mapping[str, Any]) -> Initializer: ...
@overload
def get(identifier: InitializerFn | npt.NDArray[Any] | np.generic) -> InitializerFn: ...
def serialize(initializer: Initializer | InitializerFn) -> Config: ...
def deserialize(
    config: Mapping[str, Any], custom_objects: Mapping[str, Any] | None = None
) -> Initializer: ...

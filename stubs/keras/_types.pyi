# Type aliases shared by the keras stubs. This module exists only for type checking:
# Keras has no `keras._types` at run time (stubtest's allowlist says so).
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol, SupportsIndex, TypeAlias, TypedDict, type_check_only

import numpy as np
import numpy.typing as npt
from keras.dtype_policies import DTypePolicy
from keras.initializers import Initializer
from keras.random import SeedGenerator

# A tensor of the active backend (jax.Array, torch.Tensor, tf.Tensor, np.ndarray), a
# KerasTensor or a keras.Variable. Keras returns whichever the backend and the inputs make,
# so results are `Any`.
Tensor: TypeAlias = Any
# What keras.ops converts to a tensor: the above, NumPy arrays, Python scalars and nested
# lists of them.
TensorLike: TypeAlias = Any

@type_check_only
class HasShape(Protocol):
    """A tensor object (anything with `shape` and `dtype`) standing in for a static value."""

    @property
    def shape(self) -> Any: ...
    @property
    def dtype(self) -> Any: ...

# A shape as Keras reports it for symbolic tensors: None marks a dimension of unknown length.
Shape: TypeAlias = tuple[int | None, ...]
# A fully known shape (variables, concrete tensors).
StaticShape: TypeAlias = tuple[int, ...]
# Shapes as arguments: a sequence of ints (NumPy integers and backend scalars are accepted
# through `__index__`; floats and strings are not).
ShapeLike: TypeAlias = Sequence[SupportsIndex | None]
StaticShapeLike: TypeAlias = Sequence[SupportsIndex]
# Array-creation functions also take a single integer, as NumPy does.
CreationShape: TypeAlias = SupportsIndex | Sequence[SupportsIndex]

# `axis` of reductions: one axis, a tuple of axes, or None for all of them. (Lists work on
# some backends only: NumPy's reductions reject them.)
Axes: TypeAlias = int | tuple[int, ...] | None

# The dtype names `keras.backend.standardize_dtype` returns.
DTypeName: TypeAlias = Literal[
    "float16",
    "float32",
    "float64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "int8",
    "int16",
    "int32",
    "int64",
    "bfloat16",
    "bool",
    "string",
    "float8_e4m3fn",
    "float8_e5m2",
    "complex64",
    "complex128",
]
FloatDTypeName: TypeAlias = Literal["bfloat16", "float16", "float32", "float64"]
# A dtype as Keras accepts it: a name ("float32", or "int" for the default integer type),
# a Python scalar type (bool, int, float, complex, str), a NumPy scalar type or a NumPy dtype.
# Backend dtype objects (torch.float32, tf.float32) are accepted at run time but not here.
DTypeLike: TypeAlias = (
    str | type[bool | int | float | complex | str] | type[np.generic] | np.dtype[Any]
)
# A layer's `dtype`: a dtype, a policy name ("mixed_float16") or a DTypePolicy.
DTypePolicyLike: TypeAlias = DTypeLike | DTypePolicy

Config: TypeAlias = dict[str, Any]

# `seed` of keras.random and of random initializers.
Seed: TypeAlias = int | SeedGenerator | None

DataFormat: TypeAlias = Literal["channels_last", "channels_first"]
Padding: TypeAlias = Literal["valid", "same"]

@type_check_only
class InitializerFn(Protocol):
    """A function initializer: `(shape, dtype=None) -> tensor`.

    Keras calls initializers with a tuple of ints and a dtype name, so that is what an
    initializer must accept (and all a subclass of `Initializer` has to accept).
    """

    def __call__(self, shape: StaticShape, dtype: str | None = None) -> Tensor: ...

# What `keras.initializers.get` and the `*_initializer` arguments accept.
InitializerLike: TypeAlias = (
    str | Mapping[str, Any] | Initializer | type[Initializer] | InitializerFn | npt.NDArray[Any]
)
# Regularizers and constraints: a name, a config dict or a callable on a tensor.
RegularizerLike: TypeAlias = str | Mapping[str, Any] | Callable[[Any], Any]
ConstraintLike: TypeAlias = str | Mapping[str, Any] | Callable[[Any], Any]
ActivationLike: TypeAlias = str | Callable[[Any], Any]

@type_check_only
class LegacyShapeKwargs(TypedDict, total=False):
    """Keras 2 keywords that `Layer.__init__` still takes (with a warning)."""

    input_shape: ShapeLike
    input_dim: int

@type_check_only
class BaseLayerKwargs(LegacyShapeKwargs, total=False):
    """The keywords a built-in layer passes on to `Layer.__init__`."""

    trainable: bool
    dtype: DTypePolicyLike | None
    autocast: bool
    name: str | None

@type_check_only
class LayerKwargs(BaseLayerKwargs, total=False):
    activity_regularizer: RegularizerLike | None

@type_check_only
class KerasTensorKwargs(TypedDict, total=False):
    """The ragged-tensor keywords `KerasTensor.__init__` takes through `**kwargs`."""

    ragged_rank: int | None
    row_splits_dtype: DTypeLike | None

# A file or directory path.
FilePath: TypeAlias = str | os.PathLike[str]

@type_check_only
class SaveKwargs(TypedDict, total=False):
    """The keywords `save_model` and `Model.save` take through `**kwargs`."""

    include_optimizer: bool
    save_format: str | None

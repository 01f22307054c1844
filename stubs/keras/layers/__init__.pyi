# keras.layers: the Layer base class in detail, and the built-in layers einx_typed compares
# against. The other layers are not stubbed: module `__getattr__` makes them `Any`.
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Self, TypedDict, Unpack, overload, type_check_only

import numpy.typing as npt
from _typeshed import Incomplete
from keras import KerasTensor, Operation, Variable
from keras._types import (
    ActivationLike,
    BaseLayerKwargs,
    Config,
    ConstraintLike,
    DTypeLike,
    DTypeName,
    DTypePolicyLike,
    InitializerLike,
    LayerKwargs,
    LegacyShapeKwargs,
    RegularizerLike,
    Shape,
    ShapeLike,
    StaticShapeLike,
    Tensor,
    TensorLike,
)
from keras.dtype_policies import DTypePolicy

def __getattr__(name: str) -> Incomplete: ...

class InputSpec:
    """What a layer's inputs must look like (rank, dtype, fixed axis lengths)."""

    dtype: DTypeName | None
    shape: Shape | None
    ndim: int | None
    max_ndim: int | None
    min_ndim: int | None
    axes: dict[int, int | None]
    allow_last_axis_squeeze: bool
    name: str | None
    optional: bool
    def __init__(
        self,
        dtype: DTypeLike | None = None,
        shape: ShapeLike | None = None,
        ndim: int | None = None,
        max_ndim: int | None = None,
        min_ndim: int | None = None,
        axes: Mapping[int, int | None] | None = None,
        allow_last_axis_squeeze: bool = False,
        name: str | None = None,
        optional: bool = False,
    ) -> None: ...
    def get_config(self) -> Config: ...
    @classmethod
    def from_config(cls, config: Config) -> Self: ...

class Layer(Operation):
    """The base class of Keras layers.

    `build`, `call` and `compute_output_shape` are the methods a subclass overrides, with
    the signature it needs: the base declares them with `*args: Any, **kwargs: Any`
    (or an `Any` shape), which mypy lets any override narrow.
    """

    built: bool
    autocast: bool
    supports_jit: bool
    activity_regularizer: Any
    def __init__(
        self,
        *,
        activity_regularizer: RegularizerLike | None = None,
        trainable: bool = True,
        dtype: DTypePolicyLike | None = None,
        autocast: bool = True,
        name: str | None = None,
        **kwargs: Unpack[LegacyShapeKwargs],
    ) -> None: ...
    # Called with the input's shape (a tuple, or a structure of them for several inputs).
    def build(self, input_shape: Any) -> None: ...
    def call(self, *args: Any, **kwargs: Any) -> Any: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...
    def compute_output_shape(self, *args: Any, **kwargs: Any) -> Any: ...
    def compute_output_spec(self, *args: Any, **kwargs: Any) -> Any: ...
    def compute_mask(self, inputs: Any, previous_mask: Any) -> Any: ...
    def symbolic_call(self, *args: Any, **kwargs: Any) -> Any: ...
    # Keras still accepts `shape, initializer, dtype` positionally (Keras 2's style); the
    # stub asks for keywords, as Keras 3's documentation does.
    def add_weight(
        self,
        *,
        shape: StaticShapeLike | None = None,
        initializer: InitializerLike | None = None,
        dtype: DTypeLike | None = None,
        trainable: bool = True,
        autocast: bool = True,
        regularizer: RegularizerLike | None = None,
        constraint: ConstraintLike | None = None,
        aggregation: Literal["none", "mean", "sum", "only_first_replica"] | None = "none",
        overwrite_with_gradient: bool = False,
        name: str | None = None,
    ) -> Variable: ...
    def add_variable(
        self,
        shape: StaticShapeLike,
        initializer: InitializerLike,
        dtype: DTypeLike | None = None,
        trainable: bool = True,
        autocast: bool = True,
        regularizer: RegularizerLike | None = None,
        constraint: ConstraintLike | None = None,
        name: str | None = None,
    ) -> Variable: ...
    def add_loss(self, loss: TensorLike) -> None: ...
    @property
    def losses(self) -> list[Tensor]: ...
    @property
    def trainable(self) -> bool: ...
    @trainable.setter
    def trainable(self, value: bool) -> None: ...
    @property
    def variables(self) -> list[Variable]: ...
    @property
    def trainable_variables(self) -> list[Variable]: ...
    @property
    def non_trainable_variables(self) -> list[Variable]: ...
    @property
    def weights(self) -> list[Variable]: ...
    @property
    def trainable_weights(self) -> list[Variable]: ...
    @property
    def non_trainable_weights(self) -> list[Variable]: ...
    @property
    def metrics(self) -> list[Any]: ...
    @property
    def metrics_variables(self) -> list[Variable]: ...
    def get_weights(self) -> list[npt.NDArray[Any]]: ...
    def set_weights(self, weights: Sequence[npt.ArrayLike]) -> None: ...
    def count_params(self) -> int: ...
    @property
    def dtype_policy(self) -> DTypePolicy: ...
    @dtype_policy.setter
    def dtype_policy(self, value: DTypePolicyLike | None) -> None: ...
    # The variable dtype.
    @property
    def dtype(self) -> DTypeName: ...
    @property
    def compute_dtype(self) -> DTypeName: ...
    @property
    def variable_dtype(self) -> DTypeName: ...
    @property
    def input_dtype(self) -> DTypeName: ...
    @property
    def quantization_mode(self) -> str | None: ...
    @property
    def input_spec(self) -> InputSpec | list[InputSpec] | None: ...
    @input_spec.setter
    def input_spec(self, value: InputSpec | Sequence[InputSpec] | None) -> None: ...
    @property
    def supports_masking(self) -> bool: ...
    @supports_masking.setter
    def supports_masking(self, value: bool) -> None: ...
    # The layer's path in its model ("model/dense"), known once it is built.
    @property
    def path(self) -> str | None: ...
    def get_build_config(self) -> Config | None: ...
    def build_from_config(self, config: Config) -> None: ...
    def save_own_variables(self, store: dict[str, Any]) -> None: ...
    def load_own_variables(self, store: dict[str, Any]) -> None: ...
    @overload
    def stateless_call(
        self,
        trainable_variables: Sequence[TensorLike],
        non_trainable_variables: Sequence[TensorLike],
        *args: Any,
        return_losses: Literal[False] = False,
        **kwargs: Any,
    ) -> tuple[Any, list[Tensor]]: ...
    @overload
    def stateless_call(
        self,
        trainable_variables: Sequence[TensorLike],
        non_trainable_variables: Sequence[TensorLike],
        *args: Any,
        return_losses: Literal[True],
        **kwargs: Any,
    ) -> tuple[Any, list[Tensor], list[Tensor]]: ...

def Input(
    shape: ShapeLike | None = None,
    batch_size: int | None = None,
    dtype: DTypeLike | None = None,
    sparse: bool | None = None,
    ragged: bool | None = None,
    batch_shape: ShapeLike | None = None,
    name: str | None = None,
    tensor: KerasTensor | None = None,
    optional: bool = False,
) -> KerasTensor: ...

@type_check_only
class _InputLayerKwargs(TypedDict, total=False):
    input_shape: ShapeLike
    batch_input_shape: ShapeLike

class InputLayer(Layer):
    sparse: bool
    ragged: bool
    optional: bool
    def __init__(
        self,
        shape: ShapeLike | None = None,
        batch_size: int | None = None,
        dtype: DTypeLike | None = None,
        sparse: bool | None = None,
        ragged: bool | None = None,
        batch_shape: ShapeLike | None = None,
        input_tensor: KerasTensor | None = None,
        optional: bool = False,
        name: str | None = None,
        **kwargs: Unpack[_InputLayerKwargs],
    ) -> None: ...
    @property
    def batch_shape(self) -> Shape: ...
    @property
    def dtype(self) -> DTypeName: ...
    def call(self) -> None: ...

class Dense(Layer):
    """`activation(inputs @ kernel + bias)` over the last axis."""

    units: int
    activation: Any
    use_bias: bool
    bias: Variable | None
    lora_rank: int | None
    lora_alpha: float | None
    def __init__(
        self,
        units: int,
        activation: ActivationLike | None = None,
        use_bias: bool = True,
        kernel_initializer: InitializerLike = "glorot_uniform",
        bias_initializer: InitializerLike = "zeros",
        kernel_regularizer: RegularizerLike | None = None,
        bias_regularizer: RegularizerLike | None = None,
        activity_regularizer: RegularizerLike | None = None,
        kernel_constraint: ConstraintLike | None = None,
        bias_constraint: ConstraintLike | None = None,
        lora_rank: int | None = None,
        lora_alpha: float | None = None,
        quantization_config: Any = None,
        **kwargs: Unpack[BaseLayerKwargs],
    ) -> None: ...
    @property
    def kernel(self) -> Variable: ...
    def build(self, input_shape: ShapeLike) -> None: ...
    def call(self, inputs: TensorLike, training: bool | None = None) -> Tensor: ...
    def compute_output_shape(self, input_shape: ShapeLike) -> Shape: ...
    def enable_lora(
        self,
        rank: int,
        lora_alpha: float | None = None,
        a_initializer: InitializerLike = "he_uniform",
        b_initializer: InitializerLike = "zeros",
    ) -> None: ...

class EinsumDense(Layer):
    """A dense layer given by an einsum equation, e.g. "abc,cd->abd"."""

    equation: str
    partial_output_shape: tuple[int | None, ...]
    full_output_shape: Shape
    bias_axes: str | None
    activation: Any
    bias: Variable | None
    lora_rank: int | None
    lora_alpha: float | None
    def __init__(
        self,
        equation: str,
        output_shape: int | ShapeLike,
        activation: ActivationLike | None = None,
        bias_axes: str | None = None,
        kernel_initializer: InitializerLike = "glorot_uniform",
        bias_initializer: InitializerLike = "zeros",
        kernel_regularizer: RegularizerLike | None = None,
        bias_regularizer: RegularizerLike | None = None,
        kernel_constraint: ConstraintLike | None = None,
        bias_constraint: ConstraintLike | None = None,
        lora_rank: int | None = None,
        lora_alpha: float | None = None,
        gptq_unpacked_column_size: int | None = None,
        quantization_config: Any = None,
        **kwargs: Unpack[LayerKwargs],
    ) -> None: ...
    @property
    def kernel(self) -> Variable: ...
    def build(self, input_shape: ShapeLike) -> None: ...
    def call(self, inputs: TensorLike, training: bool | None = None) -> Tensor: ...
    def compute_output_shape(self, input_shape: ShapeLike) -> Shape: ...
    def enable_lora(
        self,
        rank: int,
        lora_alpha: float | None = None,
        a_initializer: InitializerLike = "he_uniform",
        b_initializer: InitializerLike = "zeros",
    ) -> None: ...

@type_check_only
class _LayerNormalizationKwargs(LayerKwargs, total=False):
    rms_scaling: bool  # deprecated, warns

class LayerNormalization(Layer):
    axis: int | list[int]
    epsilon: float
    center: bool
    scale: bool
    gamma: Variable | None
    beta: Variable | None
    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        epsilon: float = 0.001,
        center: bool = True,
        scale: bool = True,
        beta_initializer: InitializerLike = "zeros",
        gamma_initializer: InitializerLike = "ones",
        beta_regularizer: RegularizerLike | None = None,
        gamma_regularizer: RegularizerLike | None = None,
        beta_constraint: ConstraintLike | None = None,
        gamma_constraint: ConstraintLike | None = None,
        **kwargs: Unpack[_LayerNormalizationKwargs],
    ) -> None: ...
    def build(self, input_shape: ShapeLike) -> None: ...
    def call(self, inputs: TensorLike) -> Tensor: ...
    def compute_output_shape(self, input_shape: ShapeLike) -> Shape: ...

class GroupNormalization(Layer):
    groups: int
    axis: int
    epsilon: float
    center: bool
    scale: bool
    gamma: Variable | None
    beta: Variable | None
    def __init__(
        self,
        groups: int = 32,
        axis: int = -1,
        epsilon: float = 0.001,
        center: bool = True,
        scale: bool = True,
        beta_initializer: InitializerLike = "zeros",
        gamma_initializer: InitializerLike = "ones",
        beta_regularizer: RegularizerLike | None = None,
        gamma_regularizer: RegularizerLike | None = None,
        beta_constraint: ConstraintLike | None = None,
        gamma_constraint: ConstraintLike | None = None,
        **kwargs: Unpack[LayerKwargs],
    ) -> None: ...
    def build(self, input_shape: ShapeLike) -> None: ...
    def call(self, inputs: TensorLike) -> Tensor: ...
    def compute_output_shape(self, input_shape: ShapeLike) -> Shape: ...

class BatchNormalization(Layer):
    axis: int
    momentum: float
    epsilon: float
    center: bool
    scale: bool
    renorm: bool
    synchronized: bool
    gamma: Variable | None
    beta: Variable | None
    moving_mean: Variable
    moving_variance: Variable
    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 0.001,
        center: bool = True,
        scale: bool = True,
        beta_initializer: InitializerLike = "zeros",
        gamma_initializer: InitializerLike = "ones",
        moving_mean_initializer: InitializerLike = "zeros",
        moving_variance_initializer: InitializerLike = "ones",
        beta_regularizer: RegularizerLike | None = None,
        gamma_regularizer: RegularizerLike | None = None,
        beta_constraint: ConstraintLike | None = None,
        gamma_constraint: ConstraintLike | None = None,
        renorm: bool = False,
        renorm_clipping: Mapping[Literal["rmax", "rmin", "dmax"], float] | None = None,
        renorm_momentum: float = 0.99,
        synchronized: bool = False,
        **kwargs: Unpack[LayerKwargs],
    ) -> None: ...
    def build(self, input_shape: ShapeLike) -> None: ...
    def call(
        self, inputs: TensorLike, training: bool | None = None, mask: TensorLike | None = None
    ) -> Tensor: ...
    def compute_output_shape(self, input_shape: ShapeLike) -> Shape: ...

class Dropout(Layer):
    rate: float
    noise_shape: Shape | None
    seed: int | None
    def __init__(
        self,
        rate: float,
        noise_shape: ShapeLike | None = None,
        seed: int | None = None,
        **kwargs: Unpack[LayerKwargs],
    ) -> None: ...
    def call(self, inputs: TensorLike, training: bool = False) -> Tensor: ...
    def compute_output_shape(self, input_shape: ShapeLike) -> Shape: ...

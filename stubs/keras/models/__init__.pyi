from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Self, Unpack

from keras import KerasTensor
from keras._types import Config, FilePath, SaveKwargs, Shape, ShapeLike, TensorLike
from keras.layers import Layer
from keras.optimizers import Optimizer
from keras.saving import load_model as load_model
from keras.saving import save_model as save_model

_Verbose = Literal["auto", 0, 1, 2]

class Model(Layer):
    """A layer with training (`compile`/`fit`) and saving.

    `Model(inputs, outputs, name=...)` builds a functional model; subclasses call
    `super().__init__(**kwargs)`. Keras takes `*args, **kwargs` here and so does the stub.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None: ...
    @property
    def layers(self) -> list[Layer]: ...
    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer: ...
    def summary(
        self,
        line_length: int | None = None,
        positions: Sequence[float] | None = None,
        print_fn: Callable[..., Any] | None = None,
        expand_nested: bool = False,
        show_trainable: bool = False,
        layer_range: Sequence[str] | None = None,
    ) -> None: ...
    def save(
        self,
        filepath: FilePath,
        overwrite: bool = True,
        zipped: bool | None = None,
        **kwargs: Unpack[SaveKwargs],
    ) -> None: ...
    def save_weights(
        self, filepath: FilePath, overwrite: bool = True, max_shard_size: int | float | None = None
    ) -> None: ...
    def load_weights(
        self, filepath: FilePath, skip_mismatch: bool = False, **kwargs: Any
    ) -> None: ...
    def to_json(self, **kwargs: Any) -> str: ...
    def export(
        self,
        filepath: FilePath,
        format: str = "tf_saved_model",
        verbose: bool | None = None,
        input_signature: Any = None,
        **kwargs: Any,
    ) -> None: ...
    @classmethod
    def from_config(
        cls, config: Config, custom_objects: Mapping[str, Any] | None = None
    ) -> Self: ...
    def compile(
        self,
        optimizer: str | Optimizer = "rmsprop",
        loss: Any = None,
        loss_weights: Any = None,
        metrics: Any = None,
        weighted_metrics: Any = None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        jit_compile: bool | Literal["auto"] = "auto",
        auto_scale_loss: bool = True,
    ) -> None: ...
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: _Verbose = "auto",
        callbacks: Sequence[Any] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: Mapping[int, float] | None = None,
        sample_weight: TensorLike | None = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int = 1,
    ) -> Any: ...
    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: _Verbose = "auto",
        sample_weight: TensorLike | None = None,
        steps: int | None = None,
        callbacks: Sequence[Any] | None = None,
        return_dict: bool = False,
        **kwargs: Any,
    ) -> Any: ...
    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: _Verbose = "auto",
        steps: int | None = None,
        callbacks: Sequence[Any] | None = None,
    ) -> Any: ...
    def train_on_batch(
        self,
        x: Any,
        y: Any = None,
        sample_weight: TensorLike | None = None,
        class_weight: Mapping[int, float] | None = None,
        return_dict: bool = False,
    ) -> Any: ...
    def test_on_batch(
        self,
        x: Any,
        y: Any = None,
        sample_weight: TensorLike | None = None,
        return_dict: bool = False,
    ) -> Any: ...
    def predict_on_batch(self, x: Any) -> Any: ...
    # {"trainable_variables": {...}, "non_trainable_variables": {...}, ...}, nested by path.
    def get_state_tree(
        self, value_format: Literal["backend_tensor", "numpy_array"] = "backend_tensor"
    ) -> dict[str, Any]: ...
    def set_state_tree(self, state_tree: Mapping[str, Any]) -> None: ...
    def quantize(
        self, mode: str | None = None, config: Any = None, filters: Any = None, **kwargs: Any
    ) -> None: ...

class Sequential(Model):
    """A stack of layers, each called on the previous one's output (`keras.Input(...)` may
    come first to fix the input shape)."""

    def __init__(
        self,
        layers: Sequence[Layer | KerasTensor] | None = None,
        trainable: bool = True,
        name: str | None = None,
    ) -> None: ...
    def add(self, layer: Layer | KerasTensor, rebuild: bool = True) -> None: ...
    def pop(self, rebuild: bool = True) -> Layer: ...
    def build(self, input_shape: ShapeLike | None = None) -> None: ...
    def call(
        self, inputs: TensorLike, training: bool | None = None, mask: Any = None, **kwargs: Any
    ) -> Any: ...
    def compute_output_shape(self, input_shape: ShapeLike) -> Shape: ...
    def compute_output_spec(
        self, inputs: TensorLike, training: bool | None = None, mask: Any = None, **kwargs: Any
    ) -> Any: ...
    @property
    def input_shape(self) -> Shape: ...
    @property
    def output_shape(self) -> Shape: ...
    @property
    def inputs(self) -> list[KerasTensor]: ...
    @property
    def outputs(self) -> list[KerasTensor]: ...

def clone_model(
    model: Model,
    input_tensors: Any = None,
    clone_function: Callable[[Layer], Layer] | None = None,
    call_function: Callable[..., Any] | None = None,
    recursive: bool = False,
    **kwargs: Any,
) -> Model: ...
def model_from_json(json_string: str, custom_objects: Mapping[str, Any] | None = None) -> Model: ...

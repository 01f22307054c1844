from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Self

from _typeshed import Incomplete
from keras import Variable
from keras._types import Config, Tensor, TensorLike

# Only the base classes are stubbed; the rest of the module is `Any` to mypy.
def __getattr__(name: str) -> Incomplete: ...

class Optimizer:
    name: str
    def __init__(
        self,
        learning_rate: float | Any,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None: ...
    @property
    def learning_rate(self) -> Tensor: ...
    @learning_rate.setter
    def learning_rate(self, learning_rate: float | Any) -> None: ...
    @property
    def iterations(self) -> Variable: ...
    @property
    def variables(self) -> list[Variable]: ...
    def build(self, variables: Sequence[Variable]) -> None: ...
    def apply(
        self, grads: Sequence[TensorLike], trainable_variables: Sequence[Variable] | None = None
    ) -> Any: ...
    def apply_gradients(self, grads_and_vars: Iterable[tuple[TensorLike, Variable]]) -> Any: ...
    def get_config(self) -> Config: ...
    @classmethod
    def from_config(
        cls, config: Config, custom_objects: Mapping[str, Any] | None = None
    ) -> Self: ...

class LossScaleOptimizer(Optimizer):
    inner_optimizer: Optimizer
    def __init__(
        self,
        inner_optimizer: Optimizer,
        initial_scale: float = 32768.0,
        dynamic_growth_steps: int = 2000,
        name: str | None = None,
        **kwargs: Any,
    ) -> None: ...
    def build(self, var_list: Sequence[Variable]) -> None: ...
    def scale_loss(self, loss: TensorLike) -> Tensor: ...

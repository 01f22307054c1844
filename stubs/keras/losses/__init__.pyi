from typing import Literal, Self

from _typeshed import Incomplete
from keras._types import Config, DTypePolicyLike, Tensor, TensorLike

# Only the base class is stubbed; the rest of the module is `Any` to mypy.
def __getattr__(name: str) -> Incomplete: ...

class Loss:
    name: str
    reduction: str | None
    def __init__(
        self,
        name: str | None = None,
        reduction: Literal["sum", "sum_over_batch_size", "mean", "mean_with_sample_weight", "none"]
        | None = "sum_over_batch_size",
        dtype: DTypePolicyLike | None = None,
    ) -> None: ...
    def __call__(
        self, y_true: TensorLike, y_pred: TensorLike, sample_weight: TensorLike | None = None
    ) -> Tensor: ...
    def call(self, y_true: TensorLike, y_pred: TensorLike) -> Tensor: ...
    @property
    def dtype(self) -> str: ...
    def get_config(self) -> Config: ...
    @classmethod
    def from_config(cls, config: Config) -> Self: ...

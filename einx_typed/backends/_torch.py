"""The PyTorch backend: device and dtype of the inputs are kept; traceable by torch.compile."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, final

import torch

from einx_typed.backends.base import ElementwiseName, ReduceName, ScatterMode

# Ops whose torch function rejects Python scalars as operands.
_NEED_TENSORS = frozenset({"maximum", "minimum", "logaddexp", "logical_and", "logical_or"})

_ELEMENTWISE: dict[str, Callable[..., Any]] = {
    "add": torch.add,
    "subtract": torch.sub,
    "multiply": torch.mul,
    "true_divide": torch.true_divide,
    "divide": torch.true_divide,
    "floor_divide": torch.floor_divide,
    "maximum": torch.maximum,
    "minimum": torch.minimum,
    "logaddexp": torch.logaddexp,
    "where": torch.where,
    "less": torch.lt,
    "less_equal": torch.le,
    "greater": torch.gt,
    "greater_equal": torch.ge,
    "equal": torch.eq,
    "not_equal": torch.ne,
    "logical_and": torch.logical_and,
    "logical_or": torch.logical_or,
}


def _prod(x: Any, axes: int | tuple[int, ...]) -> Any:
    for axis in sorted((axes,) if isinstance(axes, int) else axes, reverse=True):
        x = torch.prod(x, dim=axis)
    return x


_REDUCE: dict[str, Callable[[Any, Any], Any]] = {
    "sum": lambda x, axes: torch.sum(x, dim=axes),
    "mean": lambda x, axes: torch.mean(x, dim=axes),
    "var": lambda x, axes: torch.var(x, dim=axes, correction=0),
    "std": lambda x, axes: torch.std(x, dim=axes, correction=0),
    "prod": _prod,
    "max": lambda x, axes: torch.amax(x, dim=axes),
    "min": lambda x, axes: torch.amin(x, dim=axes),
    "logsumexp": lambda x, axes: torch.logsumexp(x, dim=axes),
    "any": lambda x, axes: torch.any(x, dim=axes),
    "all": lambda x, axes: torch.all(x, dim=axes),
    "count_nonzero": lambda x, axes: torch.count_nonzero(x, dim=axes),
}


def _first_tensor(xs: Sequence[Any]) -> Any:
    for x in xs:
        if isinstance(x, torch.Tensor):
            return x
    return None


@final
class TorchBackend:
    """Executes plans with torch; all ops are differentiable where torch's are."""

    name = "torch"

    def is_tensor(self, x: object) -> bool:
        return isinstance(x, torch.Tensor)

    def asarray(self, x: object, like: Any | None = None) -> Any:
        if not isinstance(like, torch.Tensor):
            return torch.as_tensor(x)
        if isinstance(x, (bool, int, float)):  # a weak scalar: take the tensor's dtype
            return torch.as_tensor(x, dtype=torch.result_type(like, x), device=like.device)
        return torch.as_tensor(x, device=like.device)

    def shape(self, x: Any) -> tuple[int, ...]:
        # int() specialises symbolic sizes (torch.compile's dynamic shapes) to this call's
        # sizes, with a guard, because plans need static shapes.
        return tuple([int(d) for d in x.shape])

    def dtype_name(self, x: Any) -> str:
        return str(x.dtype).removeprefix("torch.")

    def is_floating(self, x: Any) -> bool:
        return bool(x.is_floating_point())

    def reshape(self, x: Any, shape: tuple[int, ...]) -> Any:
        return x.reshape(shape)

    def transpose(self, x: Any, perm: tuple[int, ...]) -> Any:
        return x.permute(perm)

    def broadcast_to(self, x: Any, shape: tuple[int, ...]) -> Any:
        return x.expand(shape)

    def concatenate(self, xs: Sequence[Any], axis: int) -> Any:
        return torch.cat(list(xs), dim=axis)

    def slice_axis(self, x: Any, axis: int, start: int, stop: int) -> Any:
        return x.narrow(axis, start, stop - start)

    def einsum(self, subscripts: str, *xs: Any) -> Any:
        return torch.einsum(subscripts, *xs)

    def matmul(self, a: Any, b: Any) -> Any:
        return torch.matmul(a, b)

    def reduce(self, op: ReduceName, x: Any, axes: tuple[int, ...]) -> Any:
        return _REDUCE[op](x, axes[0] if len(axes) == 1 else axes)

    def elementwise(self, op: ElementwiseName, *xs: Any) -> Any:
        if op in _NEED_TENSORS or not isinstance(xs[0], torch.Tensor):
            like = _first_tensor(xs)
            device = None if like is None else like.device
            xs = tuple(
                x if isinstance(x, torch.Tensor) else torch.as_tensor(x, device=device) for x in xs
            )
        return _ELEMENTWISE[op](*xs)

    def softmax(self, x: Any, axes: tuple[int, ...]) -> Any:
        if len(axes) == 1:
            return torch.softmax(x, dim=axes[0])
        shifted = torch.exp(x - torch.amax(x, dim=axes, keepdim=True).detach())
        return shifted / torch.sum(shifted, dim=axes, keepdim=True)

    def log_softmax(self, x: Any, axes: tuple[int, ...]) -> Any:
        if len(axes) == 1:
            return torch.log_softmax(x, dim=axes[0])
        shifted = x - torch.amax(x, dim=axes, keepdim=True).detach()
        return shifted - torch.logsumexp(shifted, dim=axes, keepdim=True)

    def flip(self, x: Any, axes: tuple[int, ...]) -> Any:
        return torch.flip(x, dims=axes)

    def roll(self, x: Any, shifts: tuple[int, ...], axes: tuple[int, ...]) -> Any:
        return torch.roll(x, shifts=shifts, dims=axes)

    def arange(self, n: int, dtype: str) -> Any:
        return torch.arange(n, dtype=getattr(torch, dtype))

    def apply(self, x: Any, func: Callable[..., Any], axes: tuple[int, ...]) -> Any:
        return func(x, axis=axes)

    def gather(self, x: Any, indices: tuple[Any, ...]) -> Any:
        return x[tuple(_as_index(i, x) for i in indices)]

    def scatter(self, x: Any, indices: tuple[Any, ...], updates: Any, mode: ScatterMode) -> Any:
        index = tuple(_as_index(i, x) for i in indices)
        target_shape = torch.broadcast_shapes(*(i.shape for i in index)) + x.shape[len(index) :]
        values = torch.as_tensor(updates, device=x.device).to(x.dtype).expand(target_shape)
        if mode == "set":
            return x.index_put(index, values, accumulate=False)
        if mode == "subtract":
            values = -values
        return x.index_put(index, values, accumulate=True)


def _as_index(index: Any, like: Any) -> Any:
    if not isinstance(index, torch.Tensor):
        index = torch.as_tensor(index, device=like.device)
    if index.dtype != torch.int64:
        index = index.long()
    return index

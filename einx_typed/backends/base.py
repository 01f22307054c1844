"""The contract every backend implements.

A backend executes the primitive steps of a plan on one array library.  Plans are built
without any framework (``einx_typed.ops``) and only name these primitives, so adding a
backend means implementing this protocol once.  All methods are pure: none writes into
its arguments.  Axis arguments are always non-negative and never empty where a reduction
or an axis-wise op is requested (plans drop such no-op steps before they reach a backend).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol, final, get_args

import attrs

Tensor = Any
"""An array of the backend's library (numpy.ndarray, jax.Array, torch.Tensor, ...)."""

ReduceName = Literal[
    "sum", "mean", "var", "std", "prod", "max", "min", "logsumexp", "any", "all", "count_nonzero"
]
ElementwiseName = Literal[
    "add",
    "subtract",
    "multiply",
    "true_divide",
    "floor_divide",
    "divide",
    "maximum",
    "minimum",
    "logaddexp",
    "where",
    "less",
    "less_equal",
    "greater",
    "greater_equal",
    "equal",
    "not_equal",
    "logical_and",
    "logical_or",
]
ScatterMode = Literal["set", "add", "subtract"]
UnaryName = Literal["square", "rsqrt", "gelu", "relu", "silu", "tanh", "sigmoid"]
"""Pointwise maths on one tensor; ``gelu`` is the tanh approximation on every backend."""

REDUCE_NAMES: tuple[str, ...] = get_args(ReduceName)
ELEMENTWISE_NAMES: tuple[str, ...] = get_args(ElementwiseName)
UNARY_NAMES: tuple[str, ...] = get_args(UnaryName)


@final
@attrs.frozen
class NormLayout:
    """How a normalisation sees its input: a ``(batch, length, channels)`` view.

    Statistics are taken per batch row and channel group over ``length`` and the group's
    ``channels // groups`` channels (channel ``i`` is in group ``i // (channels // groups)``);
    scale and bias have one entry per channel.  Layer norm is ``length=1, groups=1``,
    group norm ``groups=g``, instance norm ``groups=channels``, batch norm
    ``batch=1, groups=channels``.  Statistics, given or returned, have ``stats_shape``,
    which holds ``batch * groups`` elements in ``(batch, groups)`` order.
    """

    batch: int
    length: int
    channels: int
    groups: int
    stats_shape: tuple[int, ...]

    @property
    def group_size(self) -> int:
        """Channels per group."""
        return self.channels // self.groups


class Backend(Protocol):
    """Primitive array operations on one library."""

    name: str

    def is_tensor(self, x: object) -> bool: ...
    def asarray(self, x: object, like: Tensor | None = None) -> Tensor:
        """Python scalars / nested lists to a tensor (on ``like``'s device when given)."""
        ...

    def shape(self, x: Tensor) -> tuple[int, ...]: ...
    def dtype_name(self, x: Tensor) -> str:
        """The dtype as a NumPy-style name such as ``"float32"``."""
        ...

    def is_floating(self, x: Tensor) -> bool: ...
    def reshape(self, x: Tensor, shape: tuple[int, ...]) -> Tensor: ...
    def transpose(self, x: Tensor, perm: tuple[int, ...]) -> Tensor: ...
    def broadcast_to(self, x: Tensor, shape: tuple[int, ...]) -> Tensor: ...
    def concatenate(self, xs: Sequence[Tensor], axis: int) -> Tensor: ...
    def slice_axis(self, x: Tensor, axis: int, start: int, stop: int) -> Tensor: ...
    def einsum(self, subscripts: str, *xs: Tensor) -> Tensor: ...
    def matmul(self, a: Tensor, b: Tensor) -> Tensor: ...
    def reduce(self, op: ReduceName, x: Tensor, axes: tuple[int, ...]) -> Tensor:
        """Reduce over ``axes`` (keepdims False); var/std are population estimators."""
        ...

    def elementwise(self, op: ElementwiseName, *xs: Tensor) -> Tensor:
        """Apply with the library's broadcasting; operands are already aligned.

        Operands may be Python scalars, which take part in type promotion as weak types.
        """
        ...

    def softmax(self, x: Tensor, axes: tuple[int, ...]) -> Tensor:
        """Softmax normalised jointly over all ``axes``."""
        ...

    def log_softmax(self, x: Tensor, axes: tuple[int, ...]) -> Tensor: ...
    def flip(self, x: Tensor, axes: tuple[int, ...]) -> Tensor: ...
    def roll(self, x: Tensor, shifts: tuple[int, ...], axes: tuple[int, ...]) -> Tensor: ...
    def arange(self, n: int, dtype: str) -> Tensor: ...
    def apply(self, x: Tensor, func: Callable[..., Tensor], axes: tuple[int, ...]) -> Tensor:
        """``func(x, axis=axes)``: a user function applied along ``axes``."""
        ...

    def gather(self, x: Tensor, indices: tuple[Tensor, ...]) -> Tensor:
        """``x[indices]`` with integer index tensors broadcast together (numpy semantics)."""
        ...

    def scatter(
        self, x: Tensor, indices: tuple[Tensor, ...], updates: Tensor, mode: ScatterMode
    ) -> Tensor:
        """A copy of ``x`` with ``x[indices]`` set / incremented / decremented by ``updates``.

        ``add`` and ``subtract`` accumulate repeated indices.
        """
        ...

    def normalize(
        self,
        x: Tensor,
        layout: NormLayout,
        scale: Tensor | None,
        bias: Tensor | None,
        *,
        epsilon: float,
        center: bool,
        mean: Tensor | None = None,
        var: Tensor | None = None,
        with_stats: bool = False,
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """``(x - mean) / sqrt(var + epsilon) * scale + bias`` over ``layout``'s view of ``x``.

        ``center=False`` is RMS normalisation: no mean is subtracted and ``var`` is the
        mean of squares.  With ``var`` given (and ``mean`` when centering) those statistics
        are used; otherwise they are the batch's, with the population variance.  Returns
        ``y`` (the shape of ``x``) and, for batch statistics with ``with_stats``, the
        ``(mean, var)`` it used (``mean`` is ``None`` without centering); else ``None``s.
        ``scale``/``bias`` hold ``layout.channels`` elements in any shape.
        """
        ...

    def unary(self, op: UnaryName, x: Tensor) -> Tensor:
        """Pointwise ``op`` of ``x``."""
        ...

    def stop_gradient(self, x: Tensor) -> Tensor:
        """``x`` with no gradient flowing back (the identity for libraries without autodiff)."""
        ...

    def linear(self, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        """``matmul(x, weight) + bias`` for a 2-D ``weight`` and a 1-D ``bias``, fused where the
        library has a kernel for it (programs emit it for a matmul followed by a bias add)."""
        ...

    def ema(
        self, olds: tuple[Tensor, ...], news: tuple[Tensor, ...], keep: float
    ) -> tuple[Tensor, ...]:
        """``keep * old + (1 - keep) * new`` of each pair, without gradient: one EMA step."""
        ...

    def dropout(self, x: Tensor, drop_rate: float, rng: object) -> Tensor:
        """Zero each element with probability ``drop_rate``, scale the rest by
        ``1 / (1 - drop_rate)``; ``rng`` is the library's random generator or key."""
        ...

    def keep_mask(
        self, rng: object, shape: tuple[int, ...], keep_rate: float, like: Tensor
    ) -> Tensor:
        """A mask of ``shape`` in ``like``'s dtype (and device): ``1 / keep_rate`` with
        probability ``keep_rate``, else ``0``."""
        ...

    def split_rng(self, rng: object, index: int) -> object:
        """The generator that item ``index`` of a sequence of layers draws from."""
        ...

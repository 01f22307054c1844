"""The PyTorch backend: device and dtype of the inputs are kept; traceable by torch.compile."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, final

import torch

from einx_typed.backends._errors import bool_subtraction, index_out_of_range, wrong_rng
from einx_typed.backends.base import (
    ElementwiseName,
    NormLayout,
    ReduceName,
    ScatterMode,
    UnaryName,
)


def _floating(x: Any) -> Any:
    """``x`` itself if it is floating or complex, else cast to torch's default float dtype.

    NumPy and JAX promote integer and bool inputs of mean/var/std/softmax/logaddexp to a
    float; torch refuses them. This gives torch the same behaviour, in its own default.
    """
    if x.is_floating_point() or x.is_complex():
        return x
    return x.to(torch.get_default_dtype())


def _promoted(xs: Sequence[Any]) -> Sequence[Any]:
    """Operands of a contraction in one dtype: torch's matmul and einsum refuse mixed ones."""
    dtype = xs[0].dtype
    if all(x.dtype == dtype for x in xs[1:]):
        return xs
    for x in xs[1:]:
        dtype = torch.promote_types(dtype, x.dtype)
    return [x.to(dtype) for x in xs]


def _subtract(a: Any, b: Any) -> Any:
    """``a - b``; bools mixed with numbers promote as in NumPy (torch refuses any bool).

    Checked only when torch has refused: the common case costs nothing extra.
    """
    try:
        return torch.sub(a, b)
    except RuntimeError:
        is_bool = [
            x.dtype == torch.bool if isinstance(x, torch.Tensor) else type(x) is bool
            for x in (a, b)
        ]
        if not any(is_bool):
            raise
        if all(is_bool):
            raise bool_subtraction() from None
        dtype = torch.result_type(a, b)
        a, b = (
            (x.to(dtype) if isinstance(x, torch.Tensor) else int(x)) if flag else x
            for x, flag in zip((a, b), is_bool)
        )
        return torch.sub(a, b)


def _where(condition: Any, x: Any, y: Any) -> Any:
    if condition.dtype != torch.bool:
        condition = condition != 0  # as in NumPy: a nonzero condition selects
    return torch.where(condition, x, y)


def _logaddexp(a: Any, b: Any) -> Any:
    return torch.logaddexp(_floating(a), _floating(b))


# Ops whose torch function rejects Python scalars as operands.
_NEED_TENSORS = frozenset({"maximum", "minimum", "logaddexp", "logical_and", "logical_or"})

_ELEMENTWISE: dict[str, Callable[..., Any]] = {
    "add": torch.add,
    "subtract": _subtract,
    "multiply": torch.mul,
    "true_divide": torch.true_divide,
    "divide": torch.true_divide,
    "floor_divide": torch.floor_divide,
    "maximum": torch.maximum,
    "minimum": torch.minimum,
    "logaddexp": _logaddexp,
    "where": _where,
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
    "mean": lambda x, axes: torch.mean(_floating(x), dim=axes),
    "var": lambda x, axes: torch.var(_floating(x), dim=axes, correction=0),
    "std": lambda x, axes: torch.std(_floating(x), dim=axes, correction=0),
    "prod": _prod,
    "max": lambda x, axes: torch.amax(x, dim=axes),
    "min": lambda x, axes: torch.amin(x, dim=axes),
    "logsumexp": lambda x, axes: torch.logsumexp(x, dim=axes),
    "any": lambda x, axes: torch.any(x, dim=axes),
    "all": lambda x, axes: torch.all(x, dim=axes),
    "count_nonzero": lambda x, axes: torch.count_nonzero(x, dim=axes),
}


_UNARY: dict[str, Callable[[Any], Any]] = {
    "square": torch.square,
    "rsqrt": torch.rsqrt,
    "gelu": lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
    "relu": torch.relu,
    "silu": torch.nn.functional.silu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}


def _draws(rng: object, shape: tuple[int, ...], like: Any) -> Any:
    """Uniform draws in [0, 1) from ``rng``: a ``torch.Generator``, or ``None`` (the global one)."""
    if rng is None:
        return torch.rand(shape, device=like.device)
    if not isinstance(rng, torch.Generator):
        raise wrong_rng("torch", "a torch.Generator or None", rng)
    return torch.rand(shape, generator=rng, device=rng.device).to(like.device)


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
        return torch.einsum(subscripts, *_promoted(xs))

    def matmul(self, a: Any, b: Any) -> Any:
        if a.dtype != b.dtype:
            a, b = _promoted((a, b))
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
        x = _floating(x)
        if len(axes) == 1:
            return torch.softmax(x, dim=axes[0])
        shifted = torch.exp(x - torch.amax(x, dim=axes, keepdim=True).detach())
        return shifted / torch.sum(shifted, dim=axes, keepdim=True)

    def log_softmax(self, x: Any, axes: tuple[int, ...]) -> Any:
        x = _floating(x)
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
        try:
            return x[tuple(_as_index(i, x) for i in indices)]
        except IndexError as error:
            raise index_out_of_range(error) from error

    def scatter(self, x: Any, indices: tuple[Any, ...], updates: Any, mode: ScatterMode) -> Any:
        index = tuple(_as_index(i, x) for i in indices)
        target_shape = torch.broadcast_shapes(*(i.shape for i in index)) + x.shape[len(index) :]
        values = torch.as_tensor(updates, device=x.device).to(x.dtype).expand(target_shape)
        if mode == "subtract":
            values = -values
        try:
            return x.index_put(index, values, accumulate=mode != "set")
        except IndexError as error:
            raise index_out_of_range(error) from error

    def normalize(
        self,
        x: Any,
        layout: NormLayout,
        scale: Any | None,
        bias: Any | None,
        *,
        epsilon: float,
        center: bool,
        mean: Any | None = None,
        var: Any | None = None,
        with_stats: bool = False,
    ) -> tuple[Any, Any | None, Any | None]:
        """One fused torch kernel where the layout has one, else a few elementwise ops.

        Layer norm and RMS norm go to ``layer_norm``/``rms_norm``; batch norm to
        ``native_batch_norm`` and group/instance norm to ``native_group_norm`` on a
        channels-last view (see :func:`_group_norm_input` for what keeps its CPU backward
        sound), which return the batch statistics alongside the output (``var`` is
        recovered from ``1 / sqrt(var + epsilon)``).  Which kernel runs depends only on the
        shapes, dtypes and devices of the operands, never on their strides: a layer's
        program gives the same numbers for every layout of one shape.
        """
        c = layout.channels
        weight = None if scale is None else _view(scale, (c,))
        shift = None if bias is None else _view(bias, (c,))
        kernel = _fused_kernel(
            layout,
            epsilon,
            center,
            with_stats,
            weight is not None,
            shift is not None,
            mean is not None,
            var is not None,
        )
        if kernel is None or not _fusable(x, weight, shift, mean, var):
            return _normalize_composed(
                x, layout, weight, shift, epsilon, center, mean, var, with_stats
            )
        return kernel(x, weight, shift, mean, var)

    def specialize(
        self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Callable[..., Any] | None:
        """A faster ``normalize`` for one program step: its kernel is chosen once, from the
        step's shapes (``args`` hold abstract arrays), leaving only the dtype check per call."""
        if method != "normalize":
            return None
        _, layout, scale, bias = args
        c = layout.channels
        if any(t is not None and t.shape != (c,) for t in (scale, bias)):
            return None
        static = (kwargs["epsilon"], kwargs["center"], kwargs["with_stats"])
        kernel = _fused_kernel(
            layout,
            *static,
            scale is not None,
            bias is not None,
            kwargs["mean"] is not None,
            kwargs["var"] is not None,
        )
        fallback = self.normalize

        def normalize(
            x: Any,
            layout: NormLayout,
            scale: Any | None,
            bias: Any | None,
            *,
            epsilon: float,
            center: bool,
            mean: Any | None = None,
            var: Any | None = None,
            with_stats: bool = False,
        ) -> tuple[Any, Any | None, Any | None]:
            if kernel is None:
                return _normalize_composed(
                    x, layout, scale, bias, epsilon, center, mean, var, with_stats
                )
            if _fusable(x, scale, bias, mean, var):
                return kernel(x, scale, bias, mean, var)
            return fallback(
                x,
                layout,
                scale,
                bias,
                epsilon=epsilon,
                center=center,
                mean=mean,
                var=var,
                with_stats=with_stats,
            )

        return normalize

    def unary(self, op: UnaryName, x: Any) -> Any:
        return _UNARY[op](x)

    def stop_gradient(self, x: Any) -> Any:
        return x.detach()

    def linear(self, x: Any, weight: Any, bias: Any) -> Any:
        if x.dtype == weight.dtype == bias.dtype:
            if x.ndim == 2:
                return torch.addmm(bias, x, weight)
            return torch.nn.functional.linear(x, weight.t(), bias)
        return self.matmul(x, weight) + bias

    def ema(self, olds: tuple[Any, ...], news: tuple[Any, ...], keep: float) -> tuple[Any, ...]:
        targets = [new.detach() if new.requires_grad else new for new in news]
        try:
            return tuple(torch._foreach_lerp(list(olds), targets, 1.0 - keep))  # one kernel
        except RuntimeError:  # the pairs differ in dtype or device
            return tuple(
                torch.lerp(old, new.to(old), 1.0 - keep) for old, new in zip(olds, targets)
            )

    def ema_into(
        self, olds: tuple[Any, ...], news: tuple[Any, ...], keep: float
    ) -> tuple[Any, ...]:
        """:meth:`ema` written into ``olds`` (one in-place kernel), which it returns."""
        targets = [new.detach() if new.requires_grad else new for new in news]
        try:
            torch._foreach_lerp_(list(olds), targets, 1.0 - keep)
        except RuntimeError:  # the pairs differ in dtype or device
            for old, new in zip(olds, targets):
                old.lerp_(new.to(old), 1.0 - keep)
        return olds

    def dropout(self, x: Any, drop_rate: float, rng: object) -> Any:
        if rng is None:
            return torch.nn.functional.dropout(x, drop_rate, training=True)
        return x * self.keep_mask(rng, tuple(x.shape), 1.0 - drop_rate, x)

    def keep_mask(self, rng: object, shape: tuple[int, ...], keep_rate: float, like: Any) -> Any:
        return (_draws(rng, shape, like) < keep_rate).to(like.dtype) * (1.0 / keep_rate)

    def split_rng(self, rng: object, index: int) -> object:
        return rng  # a Generator advances with every draw: one is enough for all items


def _view(t: Any, shape: tuple[int, ...]) -> Any:
    """``t`` reshaped to ``shape``; ``t`` itself if it has that shape (saves a call)."""
    return t if t.shape == shape else t.reshape(shape)


_SOUND_CHANNELS_LAST_BACKWARD_LENGTH = 2048
"""``HxW`` from which torch's CPU channels-last group-norm backward checks for a missing dX.

Its channels-last backward (``GroupNormBackwardKernelImplChannelsLastInternal`` in
``aten/src/ATen/native/cpu/group_norm_kernel.cpp``) has two implementations, switched at
``feature_map_threshold = 2048``.  The one for ``HxW < 2048`` writes the input gradient
through ``dX.data_ptr()`` without checking that autograd asked for it; when it did not, dX
is undefined and the write goes to a null pointer.  Measured on torch 2.13.0 (CPU, 1 and
2 threads), through ``torch.nn.functional.group_norm`` / ``torch.native_group_norm``:

* SIGSEGV exactly when all of: the input is 4-D/5-D and torch picks its channels-last
  kernel (channels-last memory, also the ambiguous case of a tensor contiguous in both
  formats, e.g. one channel); ``HxW < 2048`` (2047 crashes, 2048 does not, any batch
  size, channel and group count; ``D*H*W`` for 5-D); grad mode on and weight or bias
  requiring grad; and the backward does not need the input's gradient -- the input does
  not require grad (a layer on data), or ``torch.autograd.grad(loss, [weight])`` /
  ``loss.backward(inputs=[weight])`` asks only for parameters although it does.
  float16, bfloat16, float32 and float64 alike.
* Sound: every standard-contiguous (channels-first) input, 2-D and 3-D inputs (torch
  gives them its contiguous kernel), ``HxW >= 2048``, an input whose gradient is needed,
  weight and bias not requiring grad, ``no_grad`` / ``inference_mode``,
  ``torch.func.grad`` over the parameters, double backward (``create_graph=True``).
  Outputs and the gradients computed match a float64 reference.
* ``layer_norm``, ``rms_norm``, ``native_batch_norm`` (training) and ``batch_norm``
  (running statistics), which this backend runs on 2-D rows, are sound in every
  combination of memory format (contiguous, channels-last, strided), input/parameter
  ``requires_grad``, grad mode, dtype and rank (2-D to 5-D).
"""


def _group_norm_input(x: Any, layout: NormLayout, weight: Any | None, shift: Any | None) -> Any:
    """``x`` as ``native_group_norm``'s ``(batch, channels, ...)`` input, safe to differentiate.

    2-D (contiguous) when ``length == 1``, else 4-D/5-D in channels-last memory: a view of
    ``x`` when it is channels-last already (the usual ``(b, ..., c)`` layout), else a copy.
    The calls are the same for every stride, so a recorded call replays for any layout.

    On CPU below :data:`_SOUND_CHANNELS_LAST_BACKWARD_LENGTH`, torch's channels-last
    backward crashes whenever weight or bias gradients are computed without the input's
    (see there).  Whether a later backward asks for the input's gradient is not known in
    the forward (``autograd.grad(loss, [weight])`` does not), so whenever grad mode is on
    and weight or bias require grad, the input gets a zero added whose autograd graph
    runs through weight and bias: a product or sum over empty slices of them, exactly 0
    whatever their values (no ``0 * inf``).  Whenever a weight
    or bias gradient is asked for, the input's is too, so the kernel always computes dX.
    The forward is the same kernel on the same values: the output is the channels-last
    kernel's bit for bit (up to the sign of zeros).  The cost is one elementwise pass and
    a few tiny ops in the forward and a sum over dX in the backward; on one CPU thread
    with torch 2.13, about +10% forward / +20% forward+backward for 16x16 images
    (16x16x16x32), +15% / +40% for 8x8 images, nothing from 2048 pixels on.
    """
    batch, c, length = layout.batch, layout.channels, layout.length
    if length == 1:
        return _view(x, (batch, c)).contiguous()
    if x.ndim in (4, 5) and x.shape[0] == batch and x.shape[-1] == c:
        image = x.movedim(-1, 1)
    else:
        image = x.reshape(batch, length, 1, c).permute(0, 3, 1, 2)
    layout_format = torch.channels_last if image.ndim == 4 else torch.channels_last_3d
    image = image.contiguous(memory_format=layout_format)
    if (
        length < _SOUND_CHANNELS_LAST_BACKWARD_LENGTH
        and x.device.type == "cpu"
        and torch.is_grad_enabled()
        and any(p is not None and p.requires_grad for p in (weight, shift))
    ):
        if weight is not None and shift is not None:
            image = image + torch.dot(weight[:0], shift[:0])  # one op for both
        elif weight is not None:
            image = image + weight[:0].sum()
        elif shift is not None:
            image = image + shift[:0].sum()
    return image


_Kernel = Callable[[Any, Any | None, Any | None, Any | None, Any | None], tuple[Any, Any, Any]]
"""``(x, weight, shift, mean, var) -> (y, mean, var)`` with weight/shift of shape ``(c,)``."""


@functools.lru_cache(maxsize=1024)
def _fused_kernel(
    layout: NormLayout,
    epsilon: float,
    center: bool,
    with_stats: bool,
    has_weight: bool,
    has_shift: bool,
    has_mean: bool,
    has_var: bool,
) -> _Kernel | None:
    """The fused torch kernel of a normalisation, chosen from what is known before a call;
    ``None`` where torch has none (the composed path runs then)."""
    c, batch, length, groups = layout.channels, layout.batch, layout.length, layout.groups

    if has_var:
        if not (center and has_mean and batch == 1 and groups == c):
            return None
        rows = (length, c)

        def batch_norm_given(x: Any, w: Any, b: Any, mean: Any, var: Any) -> Any:
            y = torch.batch_norm(
                x.reshape(rows),
                w,
                b,
                _view(mean, (c,)),
                _view(var, (c,)),
                False,
                0.0,
                epsilon,
                False,
            )
            return _view(y, x.shape), None, None

        return batch_norm_given
    if length == 1 and groups == 1 and not with_stats:
        rows = (batch, c)
        if center:

            def layer_norm(x: Any, w: Any, b: Any, mean: Any, var: Any) -> Any:
                y = torch.layer_norm(_view(x, rows), (c,), w, b, epsilon, False)
                return _view(y, x.shape), None, None

            return layer_norm

        def rms_norm(x: Any, w: Any, b: Any, mean: Any, var: Any) -> Any:
            y = torch.rms_norm(_view(x, rows), (c,), w, epsilon)
            return _view(y if b is None else y + b, x.shape), None, None

        return rms_norm
    if not center:
        return None
    if batch == 1 and groups == c:
        rows = (length, c)

        def batch_norm(x: Any, w: Any, b: Any, mean: Any, var: Any) -> Any:
            y, batch_mean, inv_std = torch.native_batch_norm(
                _view(x, rows), w, b, None, None, True, 0.0, epsilon
            )
            stats = _stats(x, layout, batch_mean, inv_std, epsilon, with_stats)
            return _view(y, x.shape), *stats

        return batch_norm

    def group_norm(x: Any, w: Any, b: Any, mean: Any, var: Any) -> Any:
        try:
            image = _group_norm_input(x, layout, w, b)
        except RuntimeError:  # torch.func.vmap cannot ask for a channels-last layout
            return _normalize_composed(x, layout, w, b, epsilon, center, mean, var, with_stats)
        y, batch_mean, inv_std = torch.native_group_norm(
            image, w, b, batch, c, length, groups, epsilon
        )
        y = _view(y if y.ndim == 2 else y.movedim(1, -1), x.shape)
        return y, *_stats(x, layout, batch_mean, inv_std, epsilon, with_stats)

    return group_norm


def _fusable(x: Any, *others: Any) -> bool:
    """Whether torch's fused kernels take these operands (one floating dtype and device)."""
    if not x.is_floating_point():
        return False
    dtype, device = x.dtype, x.device
    for t in others:
        if t is not None and (
            not isinstance(t, torch.Tensor) or t.dtype != dtype or t.device != device
        ):
            return False
    return True


def _stats(
    x: Any, layout: NormLayout, mean: Any, inv_std: Any, epsilon: float, with_stats: bool
) -> tuple[Any | None, Any | None]:
    """``(mean, var)`` in ``layout.stats_shape`` from a fused kernel's mean and ``rsqrt``."""
    if not with_stats:
        return None, None
    # softshrink(p, eps) is max(p - eps, 0) for p > 0 in one kernel instead of two.
    var = torch.nn.functional.softshrink(inv_std.pow(-2), epsilon)
    if mean.dtype != x.dtype:  # reduced-precision inputs get float32 statistics
        mean, var = mean.to(x.dtype), var.to(x.dtype)
    shape = layout.stats_shape
    return _view(mean, shape), _view(var, shape)


def _normalize_composed(
    x: Any,
    layout: NormLayout,
    weight: Any | None,
    shift: Any | None,
    epsilon: float,
    center: bool,
    mean: Any | None,
    var: Any | None,
    with_stats: bool,
) -> tuple[Any, Any | None, Any | None]:
    """The general case from elementwise ops and one ``var_mean``."""
    # channels // groups, not layout.group_size: torch.compile traces this function, and
    # the property lives in a module that typeguard instruments during the tests.
    xg = x.reshape(layout.batch, layout.length, layout.groups, layout.channels // layout.groups)
    batch_stats = var is None
    if var is None:
        if center:
            var, mean = torch.var_mean(xg, dim=(1, 3), correction=0, keepdim=True)
        else:
            var = torch.mean(xg * xg, dim=(1, 3), keepdim=True)
    else:
        stats = (layout.batch, 1, layout.groups, 1)
        var = var.reshape(stats)
        mean = None if mean is None or not center else mean.reshape(stats)
    y = xg if mean is None else xg - mean
    y = (y * torch.rsqrt(var + epsilon)).reshape(layout.batch, layout.length, layout.channels)
    if weight is not None:
        y = y * weight
    if shift is not None:
        y = y + shift
    y = _view(y, x.shape)
    if not (batch_stats and with_stats):
        return y, None, None
    shape = layout.stats_shape
    return y, None if mean is None else _view(mean, shape), _view(var, shape)


def _as_index(index: Any, like: Any) -> Any:
    if not isinstance(index, torch.Tensor):
        index = torch.as_tensor(index, device=like.device)
    if index.dtype != torch.int64:
        index = index.long()
    return index

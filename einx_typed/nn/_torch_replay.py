"""Record a pure torch function once per input signature and replay it without Python overhead.

``resolved.apply`` plans every op call (cache lookups, checks) each time it runs.  For a
fixed input signature the torch calls it makes are always the same, so the torch binder
records them once, under a :class:`~torch.overrides.TorchFunctionMode`, into a
``torch.fx`` graph and afterwards runs the generated straight-line code.  Recording sees
torch-level calls (``torch.matmul``, ``Tensor.reshape``, ``torch.bernoulli``) before
autograd, so replays build the same autograd graph and draw fresh random numbers.

A recording is refused (``None``) when the function's result could depend on tensor
*values* through Python (``.item()``, ``bool(t)``), or returns tensors it did not make.
"""

from __future__ import annotations

import operator
import types
from collections.abc import Callable, Sequence
from typing import Any, Final

import torch
from torch.overrides import TorchFunctionMode

__all__ = ["record"]

_METADATA: Final = frozenset(
    {
        "shape",
        "size",
        "dim",
        "ndim",
        "ndimension",
        "dtype",
        "device",
        "layout",
        "numel",
        "nelement",
        "element_size",
        "stride",
        "is_contiguous",
        "is_floating_point",
        "is_complex",
        "is_cuda",
        "is_sparse",
        "requires_grad",
        "__len__",
    }
)
"""Calls whose non-tensor results depend on shapes and types only, fixed per signature."""


def _name_of(func: Callable[..., Any]) -> str:
    owner = getattr(func, "__self__", None)
    if isinstance(owner, types.GetSetDescriptorType):  # a property such as Tensor.shape
        return owner.__name__
    return str(getattr(func, "__name__", ""))


def _has_tensor(value: object) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, list | tuple):
        return any(_has_tensor(v) for v in value)
    if isinstance(value, dict):
        return any(_has_tensor(v) for v in value.values())
    return False


class _Unreplayable(Exception):
    """The recorded function cannot be replayed from its graph."""


class _Recorder(TorchFunctionMode):  # type: ignore[misc]
    """Writes every top-level torch call into an fx graph, tensors as nodes."""

    def __init__(self, inputs: Sequence[torch.Tensor]) -> None:
        super().__init__()
        self.graph = torch.fx.Graph()
        self.root = torch.nn.Module()
        self.nodes: dict[int, torch.fx.Node] = {}
        self.alive: list[object] = []  # keeps ids unique while recording
        self.failure: str | None = None
        for index, tensor in enumerate(inputs):
            self._bind(tensor, self.graph.placeholder(f"input{index}"))

    def _bind(self, tensor: torch.Tensor, node: torch.fx.Node) -> None:
        self.nodes[id(tensor)] = node
        self.alive.append(tensor)
        node.meta["shape"] = tuple(tensor.shape)
        node.meta["dtype"] = tensor.dtype

    def node_of(self, value: Any) -> Any:
        """``value`` with every tensor replaced by its node (constants become attributes)."""
        if isinstance(value, torch.Tensor):
            node = self.nodes.get(id(value))
            if node is None:
                name = f"constant{len(self.root._buffers)}"
                self.root.register_buffer(name, value)
                node = self.graph.get_attr(name)
                self._bind(value, node)
            return node
        if isinstance(value, list):
            return [self.node_of(v) for v in value]
        if isinstance(value, tuple) and not isinstance(value, torch.Size):
            return tuple(self.node_of(v) for v in value)
        if isinstance(value, dict):
            return {k: self.node_of(v) for k, v in value.items()}
        return value

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types_: Sequence[type],
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.failure is not None:
            return out
        name = _name_of(func)
        if name in _METADATA:
            return out
        if not _has_tensor(out):
            if _has_tensor((args, kwargs)):
                self.failure = f"{name} returned a value computed from tensors"
            return out
        node = self._call_node(func, name, args, kwargs)
        if isinstance(out, torch.Tensor):
            self._bind(out, node)
        elif isinstance(out, list | tuple):
            for index, item in enumerate(out):
                if isinstance(item, torch.Tensor):
                    self._bind(item, self.graph.call_function(operator.getitem, (node, index)))
        else:
            self.failure = f"{name} returned {type(out).__name__}"
        return out

    def _call_node(
        self, func: Callable[..., Any], name: str, args: Sequence[Any], kwargs: dict[str, Any]
    ) -> torch.fx.Node:
        node_args, node_kwargs = self.node_of(tuple(args)), self.node_of(kwargs)
        owner = getattr(func, "__self__", None)
        if isinstance(owner, types.GetSetDescriptorType):  # a tensor-valued property: x.T
            return self.graph.call_function(getattr, (node_args[0], name))
        if getattr(torch.Tensor, name, None) is func:
            return self.graph.call_method(name, node_args, node_kwargs)
        return self.graph.call_function(func, node_args, node_kwargs)

    def finish(self, outputs: Sequence[torch.Tensor]) -> Callable[..., tuple[torch.Tensor, ...]]:
        if self.failure is not None:
            raise _Unreplayable(self.failure)
        missing = [i for i, t in enumerate(outputs) if id(t) not in self.nodes]
        if missing:
            raise _Unreplayable(f"outputs {missing} were not made by recorded torch calls")
        self.graph.output(tuple(self.nodes[id(t)] for t in outputs))
        _fuse_linear(self.graph)
        module = torch.fx.GraphModule(self.root, self.graph)
        forward: Callable[..., tuple[torch.Tensor, ...]] = module.forward
        return forward


def _fuse_linear(graph: torch.fx.Graph) -> None:
    """Rewrite ``add(matmul(x, w), b)`` with a 2-D ``w`` and a 1-D ``b`` as one kernel.

    ``addmm`` (2-D ``x``) or ``linear`` (other ranks) adds the bias inside the matrix
    product instead of in a second pass over the output; the result is the same up to
    rounding.
    """
    for node in list(graph.nodes):
        if node.op != "call_function" or node.target is not torch.add or node.kwargs:
            continue
        if len(node.args) != 2 or not all(isinstance(a, torch.fx.Node) for a in node.args):
            continue
        for product, bias in (node.args, reversed(node.args)):
            if _is_matmul_with_bias(product, bias):
                x, weight = product.args
                with graph.inserting_before(node):
                    if len(x.meta["shape"]) == 2:
                        fused = graph.call_function(torch.addmm, (bias, x, weight))
                    else:
                        transposed = graph.call_method("t", (weight,))
                        linear = torch.nn.functional.linear
                        fused = graph.call_function(linear, (x, transposed, bias))
                fused.meta.update(node.meta)
                node.replace_all_uses_with(fused)
                graph.erase_node(node)
                graph.erase_node(product)
                break


def _is_matmul_with_bias(product: Any, bias: Any) -> bool:
    if product.op != "call_function" or product.target is not torch.matmul:
        return False
    if product.kwargs or len(product.users) != 1 or len(product.args) != 2:
        return False
    x, weight = product.args
    if not (isinstance(x, torch.fx.Node) and isinstance(weight, torch.fx.Node)):
        return False
    shapes = [n.meta.get("shape") for n in (x, weight, bias)]
    dtypes = {n.meta.get("dtype") for n in (x, weight, bias)}
    if None in shapes or len(dtypes) != 1:
        return False
    x_shape, weight_shape, bias_shape = shapes
    return (
        len(x_shape) >= 1
        and len(weight_shape) == 2
        and x_shape[-1] == weight_shape[0]
        and bias_shape == (weight_shape[1],)
    )


def record(
    func: Callable[..., Sequence[torch.Tensor]], inputs: Sequence[torch.Tensor]
) -> Callable[..., tuple[torch.Tensor, ...]] | None:
    """Run ``func(*inputs)`` once; return a replay of it, or ``None`` if it cannot be replayed.

    The replay takes tensors of the same shapes, dtypes and devices as ``inputs`` and returns
    the tuple that ``func`` returned, recomputed.
    """
    recorder = _Recorder(inputs)
    with recorder:
        outputs = tuple(func(*inputs))
    try:
        return recorder.finish(outputs)
    except _Unreplayable:
        return None

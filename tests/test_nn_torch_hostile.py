"""einx_typed.nn.torch used the way a demanding PyTorch user uses a native layer.

Every layer form of the seed tutorial and of ``specs/``: randomness and the global RNG,
threads making the first call together, dtype moves and autocast from the first call on,
any memory layout of one shape, parameters replaced after the first call, inputs not kept
alive, ``torch.func``, double backward, and mistakes that must be ``EinxError``\\ s.
(Norm forward/backward against plain-torch references, in subprocesses, live in
``test_torch_norm_kernels.py``.)
"""

from __future__ import annotations

import copy
import gc
import threading
import weakref
from collections.abc import Callable

import pytest
import torch
from _tutorial import hostile_layers

import einx_typed.nn.torch as einn
from einx_typed.errors import AxisSizeError, EinxError, OperationError, SpecError

X_SHAPE = (4, 6, 6, 16)

LAYERS = hostile_layers(einn)
"""Layer forms; the digits model takes (b, 8, 8) inputs."""

RANDOM = {"dropout", "spatial_dropout", "droppath", "digits_mlp"}
MASKS = {"dropout", "spatial_dropout", "droppath", "mlp_dropout"}
"""Random layers without state (with EMA state, the first training call is the init phase)."""
WITH_STATE = {"batchnorm", "groupnorm_ema", "digits_mlp"}


def _shape(name: str) -> tuple[int, ...]:
    return (4, 8, 8) if name.startswith(("digits", "mlp")) else X_SHAPE


def _x(name: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(_shape(name), dtype=dtype)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# --- randomness --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_eval_mode_leaves_the_global_rng_alone(name: str) -> None:
    module = LAYERS[name]().eval()
    x = _x(name)
    module.materialize(x.shape)  # initialising parameters draws, as in torch's lazy layers
    before = torch.get_rng_state()
    for _ in range(2):  # the first call (resolving, compiling) and a later one
        module(x)
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("name", sorted(MASKS))
def test_a_seeded_training_call_gives_the_same_mask_first_and_later(name: str) -> None:
    x = _x(name)
    module = LAYERS[name]().train()
    module.materialize(x.shape)  # initialising parameters draws, as in torch's lazy layers
    outputs = []
    for _ in range(3):
        torch.manual_seed(123)
        outputs.append(module(x))
    fresh = LAYERS[name]()
    fresh.load_state_dict(module.state_dict())  # parameters from the checkpoint: no draws
    torch.manual_seed(123)
    outputs.append(fresh(x))
    for out in outputs[1:]:
        torch.testing.assert_close(out, outputs[0], rtol=0, atol=0)
    torch.manual_seed(124)
    assert not torch.equal(module(x), outputs[0])


# --- threads -----------------------------------------------------------------------------


def _call_at_once(
    barrier: threading.Barrier,
    module: torch.nn.Module,
    x: torch.Tensor,
    results: list[torch.Tensor | BaseException],
    index: int,
) -> None:
    barrier.wait()
    try:
        results[index] = module(x)
    except BaseException as error:  # collected and re-raised by the test
        results[index] = error


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_eight_threads_make_the_first_call_at_once(name: str) -> None:
    for _ in range(3):
        module = LAYERS[name]().eval()
        x = _x(name)
        barrier = threading.Barrier(8)
        results: list[torch.Tensor | BaseException] = [None] * 8  # type: ignore[list-item]

        threads = [
            threading.Thread(target=_call_at_once, args=(barrier, module, x, results, i))
            for i in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, errors[0]
        for result in results[1:]:
            assert isinstance(result, torch.Tensor)
            torch.testing.assert_close(result, results[0], rtol=0, atol=0)
        # one set of parameters, made once: a later call agrees with the threads' calls
        torch.testing.assert_close(module(x), results[0], rtol=0, atol=0)


# --- dtypes and autocast -----------------------------------------------------------------

NATIVE: dict[str, tuple[Callable[[], torch.nn.Module], Callable[[], torch.nn.Module]]] = {
    "linear": (lambda: einn.Linear("b [c1->c2]", c2=8), lambda: torch.nn.LazyLinear(8)),
    "layernorm": (lambda: einn.Norm("b [c]"), lambda: torch.nn.LayerNorm(16)),
    "groupnorm": (lambda: einn.Norm("b (g [c])", g=4), lambda: torch.nn.GroupNorm(4, 16)),
    "batchnorm": (
        lambda: einn.Norm("[b] c", decay_rate=0.9),
        lambda: torch.nn.BatchNorm1d(16, momentum=0.1),
    ),
    "rmsnorm": (
        lambda: einn.Norm("b [c]", mean=False, bias=False),
        lambda: torch.nn.RMSNorm(16, eps=1e-5),
    ),
}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("name", sorted(NATIVE))
@pytest.mark.parametrize("when", ["constructed", "before_first_call", "after_first_call"])
def test_dtype_moves_work_like_the_native_layers(name: str, dtype: torch.dtype, when: str) -> None:
    ours, native = NATIVE[name]
    x = torch.randn(8, 16)
    module = ours() if when != "constructed" else _construct_with_dtype(name, dtype)
    reference = native()
    reference(x)  # materialise lazy native layers
    if when == "after_first_call":
        module(x)
    module.to(dtype)
    reference.to(dtype)
    y = module(x.to(dtype))
    assert y.dtype == reference(x.to(dtype)).dtype == dtype
    assert all(p.dtype == dtype for p in module.parameters())
    y.float().sum().backward()
    assert all(p.grad is not None and p.grad.dtype == dtype for p in module.parameters())


def _construct_with_dtype(name: str, dtype: torch.dtype) -> torch.nn.Module:
    ours, _ = NATIVE[name]
    module = ours()
    return type(module)(module.spec, dtype=dtype)


@pytest.mark.parametrize("name", sorted(NATIVE))
def test_autocast_gives_the_native_dtype_from_the_first_call(name: str) -> None:
    ours, native = NATIVE[name]
    module, reference = ours(), native()
    x = torch.randn(8, 16)
    reference(x)
    for _ in range(3):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y, y_native = module(x), reference(x)
        assert y.dtype == y_native.dtype
    assert module(x).dtype == torch.float32  # and back outside autocast


# --- memory layouts, replaced parameters, state -------------------------------------------


def _layouts(x: torch.Tensor) -> dict[str, torch.Tensor]:
    shape = x.shape
    wide = torch.randn(*shape[:-1], 2 * shape[-1])
    out = {
        "contiguous": x,
        "transposed": x.transpose(0, 1).contiguous().transpose(0, 1),
        "channels_first": x.movedim(-1, 1).contiguous().movedim(1, -1),
        "sliced": wide[..., ::2],
        "expanded": x[:1].expand(shape),
    }
    for tensor in out.values():
        assert tensor.shape == shape
    return out


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_every_memory_layout_of_one_shape(name: str) -> None:
    module = LAYERS[name]().eval()
    x = _x(name)
    module(x)  # the first call sees a contiguous input
    for layout, view in _layouts(x).items():
        expected = LAYERS[name]()
        expected.load_state_dict(module.state_dict())
        expected.eval()
        reference = expected(view.contiguous())
        torch.testing.assert_close(module(view), reference, msg=layout)


@pytest.mark.parametrize("name", ["channel_mix", "layernorm", "batchnorm"])
def test_parameters_replaced_after_the_first_call_are_used(name: str) -> None:
    module = LAYERS[name]().eval()
    x = _x(name)
    module(x)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.zero_()
    for key, tensor in list(module.named_parameters()):
        setattr(module, key, torch.nn.Parameter(torch.full_like(tensor, 0.5)))
    y = module(x)
    expected = LAYERS[name]().eval()
    expected.load_state_dict(module.state_dict())
    torch.testing.assert_close(y, expected(x))


@pytest.mark.parametrize("name", ["channel_mix", "layernorm", "groupnorm"])
def test_a_parameter_of_the_wrong_shape_is_an_axis_size_error(name: str) -> None:
    module = LAYERS[name]()
    x = _x(name)
    module(x)
    key, tensor = next(iter(module.named_parameters()))
    setattr(module, key, torch.nn.Parameter(torch.zeros(*tensor.shape[:-1], tensor.shape[-1] + 1)))
    with pytest.raises(AxisSizeError, match=repr(key)):
        module(x)


@pytest.mark.parametrize("name", sorted(WITH_STATE))
def test_train_eval_and_compile_in_any_order_keep_the_ema_rules(name: str) -> None:
    module = LAYERS[name]()
    x = _x(name)
    module.materialize(x.shape)
    buffers = lambda: [b.clone() for b in module.buffers()]  # noqa: E731
    start = buffers()
    module.train()(x)  # init phase: EMA statistics unchanged
    assert all(torch.equal(a, b) for a, b in zip(buffers(), start))
    module.eval()(x)
    assert all(torch.equal(a, b) for a, b in zip(buffers(), start))
    module.train()(x)
    changed = buffers()
    assert any(not torch.equal(a, b) for a, b in zip(changed, start))
    compiled = torch.compile(module, fullgraph=True, backend="eager")
    compiled.eval()
    compiled(x)
    assert all(torch.equal(a, b) for a, b in zip(buffers(), changed))
    compiled.train()
    compiled(x)
    assert any(not torch.equal(a, b) for a, b in zip(buffers(), changed))


# --- autograd ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(set(LAYERS) - RANDOM))
@pytest.mark.parametrize("input_grad", [False, True])
def test_backward_with_and_without_input_gradients(name: str, input_grad: bool) -> None:
    module = LAYERS[name]()
    x = _x(name).requires_grad_(input_grad)
    module(x).square().sum().backward()
    for parameter in module.parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all()
    assert (x.grad is not None) == input_grad


@pytest.mark.parametrize("name", ["channel_mix", "layernorm", "rmsnorm"])
def test_double_backward(name: str) -> None:
    module = LAYERS[name]().double()
    x = _x(name, torch.float64).requires_grad_(True)
    (grad,) = torch.autograd.grad(module(x).square().sum(), x, create_graph=True)
    grad.square().sum().backward()
    assert all(p.grad is not None for p in module.parameters())


@pytest.mark.parametrize("name", ["channel_mix", "layernorm", "groupnorm"])
def test_functional_call_vmap_and_grad(name: str) -> None:
    module = LAYERS[name]()
    x = _x(name)
    module(x)
    params = {k: torch.randn_like(v) for k, v in module.named_parameters()}
    y = torch.func.functional_call(module, params, (x,))
    expected = copy.deepcopy(module)
    expected.load_state_dict(params, strict=False)
    torch.testing.assert_close(y, expected(x))
    grads = torch.func.grad(lambda p: torch.func.functional_call(module, p, (x,)).sum())(params)
    assert set(grads) == set(params)
    batched = torch.func.vmap(lambda xs: module(xs))(x.unsqueeze(0).expand(3, *x.shape))
    torch.testing.assert_close(batched[1], module(x))


# --- references ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("training", [False, True])
def test_the_module_does_not_keep_its_inputs_alive(name: str, training: bool) -> None:
    module = LAYERS[name]().train(training)
    for _ in range(2):
        x = _x(name).requires_grad_(True)
        alive = weakref.ref(x)
        module(x).sum().backward()
        del x
        gc.collect()
        assert alive() is None


# --- mistakes --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["layernorm", "batchnorm", "groupnorm", "dropout", "droppath"])
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool])
def test_integer_and_bool_inputs_to_norm_and_dropout(name: str, dtype: torch.dtype) -> None:
    module = LAYERS[name]().train()
    x = torch.ones(_shape(name), dtype=dtype)
    with pytest.raises(OperationError, match="needs a floating-point input, got"):
        module(x)


@pytest.mark.parametrize("dtype", ["int64", torch.int32, "bool", "floaty", 3])
def test_a_dtype_argument_that_is_no_float(dtype: object) -> None:
    with pytest.raises(SpecError, match=r"dtype must be a floating torch\.dtype"):
        einn.Linear("b [c1->c2]", c2=4, dtype=dtype)  # type: ignore[arg-type]


def test_mistakes_are_einx_errors_that_name_the_layer() -> None:
    norm = einn.Norm("b [s...] (g [c])", g=4)
    norm(torch.randn(2, 3, 16))
    with pytest.raises(AxisSizeError, match=r"Norm\('b \[s\.\.\.\] \(g \[c\]\)', g=4\)"):
        norm(torch.randn(2, 3, 8))  # another channel count than the parameters
    with pytest.raises(EinxError, match="rank"):
        norm(torch.randn(2))
    with pytest.raises(SpecError, match="unexpected keyword argument 'approximate'"):
        einn.Activation("gelu", approximate=True)
    with pytest.raises(SpecError, match="for axis 'rate'"):
        einn.Dropout("[...]", rate=0.2, drop_rate=0.2)  # a typo of a field is an axis value

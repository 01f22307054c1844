"""einx_typed.nn.torch: tutorial layers, numerics against native torch, module protocol."""

from __future__ import annotations

import copy
import io
import math
import pickle
from typing import Any

import numpy as np
import pytest
import torch
from _tutorial import tutorial_layers
from torch.nn.parameter import UninitializedBuffer, UninitializedParameter

import einx_typed as einx
import einx_typed.nn.torch as einn
from einx_typed.errors import AxisSizeError, EinxError, OperationError, RankError, SpecError
from einx_typed.layers import LayerSpec, LinearSpec, NormSpec, Resolved, SequentialSpec

X_SHAPE = (4, 16, 16, 32)

# Every layer variant of the tutorial: (constructor, input shape, documented output shape).
TUTORIAL_LAYERS = tutorial_layers(einn, X_SHAPE, mix2_input=(4, 16, 32))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _x(shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(shape, dtype=dtype)


# ----------------------------------------------------------------------------- tutorial


@pytest.mark.parametrize("name", sorted(TUTORIAL_LAYERS))
def test_tutorial_layer_shapes_in_train_and_eval(name: str) -> None:
    make, in_shape, out_shape = TUTORIAL_LAYERS[name]
    layer = make()
    x = _x(in_shape)
    assert tuple(layer.train()(x).shape) == out_shape
    assert tuple(layer.eval()(x).shape) == out_shape
    assert layer.is_materialized


def test_tutorial_custom_torch_linear_with_uninitialized_parameters() -> None:
    # The tutorial's PyTorch Linear, with the import renamed.
    import torch.nn as nn

    class Linear(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.parameter.UninitializedParameter(dtype=torch.float32)
            self.b = nn.parameter.UninitializedParameter(dtype=torch.float32)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = einx.dot("b... [c1->c2]", x, self.w, c2=64)
            x = einx.add("b... [c2]", x, self.b)
            return x

    layer = Linear()
    x = _x((8, 32))
    y = layer(x)
    assert y.shape == (8, 64)
    assert type(layer.w) is nn.Parameter and layer.w.shape == (32, 64)
    assert layer.b.shape == (64,) and torch.all(layer.b == 0)
    # Default dot init: LeCun normal truncated at +-2 sigma, variance 1 / fan_in.
    assert float(layer.w.detach().abs().max()) <= 2 * math.sqrt(1 / 32) / 0.87962566103423978 + 1e-6
    torch.testing.assert_close(y, x @ layer.w + layer.b)
    # Second call: the materialised tensors are ordinary operands now.
    torch.testing.assert_close(layer(x), y)


def test_tutorial_param_forms() -> None:
    class Layer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = UninitializedParameter()
            self.s = UninitializedParameter()
            self.b = UninitializedParameter()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = einx.dot("b [c1->c2]", x, einn.param(self.w, init=torch.nn.init.ones_), c2=3)
            x = einx.multiply("b [c]", x, einn.param(self.s, init=0.5))
            return einx.add("b [c]", x, einn.param(self.b))

    layer = Layer()
    x = _x((5, 4))
    y = layer(x)
    torch.testing.assert_close(y, 0.5 * x.sum(1, keepdim=True).expand(5, 3))
    assert torch.all(layer.s == 0.5) and torch.all(layer.b == 0)
    assert einn.param(layer.w) is layer.w  # already materialised: returned unchanged


def test_tutorial_param_snippets_run_as_written() -> None:
    class Module(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.parameter.UninitializedParameter(dtype=torch.float32)
            self.v = torch.nn.parameter.UninitializedParameter(dtype=torch.float32)

    self = Module()
    x = _x((2, 3, 4))
    y1 = einx.add("... [c]", x, einn.param(self.w))  # calls einn.param(self.w)
    y2 = einx.add("... [c]", x, self.v)  # calls einn.param(self.v)
    assert self.w.shape == (4,) and self.v.shape == (4,)
    torch.testing.assert_close(y1, x)
    torch.testing.assert_close(y2, x)


def test_param_without_default_init_raises() -> None:
    w = UninitializedParameter()
    with pytest.raises(EinxError, match="init"):
        einx.subtract("b [c]", _x((2, 3)), einn.param(w))


def test_uninitialized_buffer_is_a_factory() -> None:
    buf = UninitializedBuffer()
    y = einx.add("b [c]", _x((2, 3)), buf)
    assert type(buf) is torch.Tensor and buf.shape == (3,)
    assert y.shape == (2, 3)


def test_tutorial_net_trains_and_switches_modes() -> None:
    # The tutorial's fully-connected classifier, written with the PyTorch binder.
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            blocks = []
            for c in [64, 32]:
                blocks += [
                    einn.Linear("b [...->c]", c=c),
                    einn.Norm("[b] c", decay_rate=0.99),
                    torch.nn.GELU(),
                    einn.Dropout("[...]", drop_rate=0.2),
                ]
            self.body = torch.nn.Sequential(*blocks, einn.Linear("b [...->c]", c=10))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x)

    net = Net()
    x = _x((16, 8, 8))
    assert net(x).shape == (16, 10)
    before = net.body[1].mean.clone()
    net.train()(x)
    assert not torch.equal(net.body[1].mean, before)  # EMA updated after the init pass
    net.eval()
    torch.testing.assert_close(net(x), net(x))  # deterministic in eval mode


# ----------------------------------------------------------------------------- lazy / eager


def test_linear_is_eager_when_axis_values_fix_the_weight() -> None:
    layer = einn.Linear("b... [c1->c2]", c1=32, c2=64)
    assert layer.is_materialized
    assert layer.weight.shape == (32, 64) and layer.bias.shape == (64,)
    assert layer(_x((3, 32))).shape == (3, 64)


def test_linear_is_lazy_until_first_forward() -> None:
    layer = einn.Linear("b... [c1->c2]", c2=64)
    assert isinstance(layer.weight, UninitializedParameter)
    assert not layer.is_materialized
    layer(_x((3, 32)))
    assert type(layer.weight) is torch.nn.Parameter and layer.weight.shape == (32, 64)


def test_materialize_creates_parameters_and_returns_output_shape() -> None:
    layer = einn.Norm("b [s...] (g [c])", g=8, decay_rate=0.9)
    assert layer.materialize((2, 5, 5, 32)) == (2, 5, 5, 32)
    assert layer.scale.shape == (32,) and layer.mean.shape == (2, 8)
    assert torch.all(layer.scale == 1) and torch.all(layer.bias == 0)


def test_norm_ema_buffers_initialised_as_documented() -> None:
    layer = einn.Norm("[b...] c", decay_rate=0.9)
    layer.materialize((4, 7, 32))
    assert layer.mean.shape == (32,) and torch.all(layer.mean == 0)
    assert layer.var.shape == (32,) and torch.all(layer.var == 1)
    assert {name for name, _ in layer.named_buffers()} == {"mean", "var"}
    assert {name for name, _ in layer.named_parameters()} == {"scale", "bias"}


def test_dot_init_is_truncated_lecun_normal() -> None:
    layer = einn.Linear("b [c1->c2]", c2=2000)
    layer.materialize((1, 50))
    w = layer.weight.detach().double()
    sigma = math.sqrt(1 / 50) / 0.87962566103423978
    assert float(w.abs().max()) <= 2 * sigma + 1e-6
    assert abs(float(w.var()) - 1 / 50) < 0.05 / 50


# ----------------------------------------------------------------------------- numerics


def test_linear_matches_torch_linear_with_copied_weights() -> None:
    ours = einn.Linear("b... [c1->c2]", c2=24)
    x = _x((6, 5, 16), torch.float64)
    ours.to(torch.float64)
    ours(x)
    native = torch.nn.Linear(16, 24).double()
    with torch.no_grad():
        native.weight.copy_(ours.weight.T)
        native.bias.copy_(torch.randn(24))
        ours.bias.copy_(native.bias)
    torch.testing.assert_close(ours(x), native(x))
    ours(x).square().sum().backward()
    native(x).square().sum().backward()
    torch.testing.assert_close(ours.weight.grad, native.weight.grad.T)
    torch.testing.assert_close(ours.bias.grad, native.bias.grad)


def test_layernorm_matches_torch_layernorm() -> None:
    x = _x((4, 9, 32))
    ours = einn.Norm("b... [c]")
    native = torch.nn.LayerNorm(32, eps=1e-5)
    ours(x)
    with torch.no_grad():
        native.weight.normal_()
        native.bias.normal_()
        ours.scale.copy_(native.weight)
        ours.bias.copy_(native.bias)
    torch.testing.assert_close(ours(x), native(x), atol=1e-5, rtol=1e-5)


def test_groupnorm_and_rmsnorm_match_native() -> None:
    x = _x((3, 5, 6, 32))
    group = einn.Norm("b [s...] (g [c])", g=8)
    torch.testing.assert_close(
        group(x), torch.nn.GroupNorm(8, 32)(x.movedim(-1, 1)).movedim(1, -1), atol=1e-5, rtol=1e-4
    )
    rms = einn.Norm("b... [c]", mean=False, bias=False)
    torch.testing.assert_close(rms(x), torch.nn.RMSNorm(32, eps=1e-5)(x), atol=1e-5, rtol=1e-5)


def _norm_reference(x: np.ndarray, axes: tuple[int, ...], eps: float = 1e-5) -> np.ndarray:
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


@pytest.mark.parametrize(
    ("make", "axes"),
    [
        (lambda: einn.Norm("b... [c]"), (3,)),
        (lambda: einn.Norm("b [s...] c"), (1, 2)),
        (lambda: einn.Norm("[b...] c"), (0, 1, 2)),
    ],
)
def test_norm_matches_float64_reference(make, axes: tuple[int, ...]) -> None:  # type: ignore[no-untyped-def]
    x = _x((3, 4, 5, 8), torch.float64)
    layer = make().to(torch.float64)
    y = layer(x)
    np.testing.assert_allclose(y.detach().numpy(), _norm_reference(x.numpy(), axes), rtol=1e-9)


def test_module_matches_spec_apply() -> None:
    spec = NormSpec("b [s...] (g [c])", axes={"g": 4})
    layer = einn.from_spec(spec)
    x = _x((2, 3, 3, 16))
    y = layer(x)
    with torch.no_grad():
        layer.scale.normal_()
    resolved = spec.resolve((2, 3, 3, 16), dtype="float32")
    expected, _ = resolved.apply(dict(layer.named_parameters()), x)
    assert torch.equal(layer(x), expected)
    assert not torch.equal(y, expected)


def test_batchnorm_statistics_track_batchnorm1d() -> None:
    decay = 0.8
    ours = einn.Norm("[b...] c", decay_rate=decay).to(torch.float64)
    native = torch.nn.BatchNorm1d(6, momentum=1 - decay).double()
    n = 10
    ours.train()(_x((n, 6), torch.float64))  # init phase: statistics unchanged
    assert torch.all(ours.mean == 0) and torch.all(ours.var == 1)
    # torch tracks the unbiased batch variance, ours the population one (factor n/(n-1)).
    for _ in range(4):
        x = _x((n, 6), torch.float64) * 3 + 1
        ours_prev, native_prev = ours.var.clone(), native.running_var.clone()
        # Training mode normalises with the (biased) batch statistics, as BatchNorm1d does.
        torch.testing.assert_close(ours(x), native(x), rtol=1e-10, atol=1e-10)
        unbiased_batch_var = (native.running_var - decay * native_prev) / (1 - decay)
        expected = decay * ours_prev + (1 - decay) * unbiased_batch_var * (n - 1) / n
        torch.testing.assert_close(ours.var, expected, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(ours.mean, native.running_mean, rtol=1e-12, atol=1e-12)
    # Eval mode normalises with the tracked statistics, as BatchNorm1d does.
    x = _x((n, 6), torch.float64)
    y = ours.eval()(x)
    torch.testing.assert_close(y, (x - ours.mean) / torch.sqrt(ours.var + 1e-5))


def test_dropout_masks_and_scales() -> None:
    layer = einn.Dropout("[b] ... [c]", drop_rate=0.5)
    x = torch.ones(64, 5, 5, 8)
    y = layer.train()(x)
    values = set(torch.unique(y).tolist())
    assert values <= {0.0, 2.0} and values == {0.0, 2.0}
    # One draw per (b, c), shared over the spatial axes.
    assert torch.all(y == y[:, :1, :1, :])
    assert torch.equal(layer.eval()(x), x)


# ----------------------------------------------------------------------------- module protocol


def test_state_dict_round_trip_is_bit_identical() -> None:
    model = einn.from_spec(
        SequentialSpec(
            [LinearSpec("b [c1->c2]", axes={"c2": 16}), NormSpec("[b] c", decay_rate=0.9)]
        )
    )
    x = _x((8, 12))
    model.train()
    for _ in range(3):
        model(x)
    model.eval()
    expected = model(x)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = einn.from_spec(model.spec)  # never called
    assert not fresh.is_materialized
    fresh.load_state_dict(torch.load(buffer))
    assert fresh.is_materialized
    assert set(fresh.state_dict()) == {"0.weight", "0.bias", "1.scale", "1.bias", "1.mean", "1.var"}
    assert torch.equal(fresh.eval()(x), expected)
    # Loaded EMA statistics are real: the next training step updates them.
    mean = fresh[1].mean.clone()
    fresh.train()(x * 2)
    assert not torch.equal(fresh[1].mean, mean)


def test_state_dict_of_unmaterialised_module_lists_placeholders() -> None:
    layer = einn.Linear("b [c1->c2]", c2=4)
    assert set(layer.state_dict()) == {"weight", "bias"}


def test_loaded_shapes_are_checked_against_the_input() -> None:
    source = einn.Linear("b [c1->c2]", c2=4)
    source(_x((2, 3)))
    target = einn.Linear("b [c1->c2]", c2=4)
    target.load_state_dict(source.state_dict())
    with pytest.raises(AxisSizeError, match="'weight'") as info:
        target(_x((2, 5)))
    assert "(3, 4)" in str(info.value) and "(5, 4)" in str(info.value)


def test_to_dtype_before_and_after_materialisation() -> None:
    lazy = einn.Linear("b [c1->c2]", c2=4).to(torch.float64)
    assert lazy(_x((2, 3), torch.float64)).dtype == torch.float64
    assert lazy.weight.dtype == torch.float64
    lazy.to(torch.float16)
    assert lazy.weight.dtype == torch.float16 and lazy.bias.dtype == torch.float16


@pytest.mark.parametrize("called", [False, True])
def test_deepcopy_and_pickle_before_and_after_first_forward(called: bool) -> None:
    layer = einn.Norm("b... [c]", decay_rate=0.9)
    x = _x((3, 8))
    if called:
        layer(x)
    for clone in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        assert clone.is_materialized == called
        if called:
            assert clone.scale is not layer.scale
            assert torch.equal(clone.eval()(x), layer.eval()(x))
        clone.train()(x)
        assert clone.is_materialized
    assert layer.is_materialized == called


def test_sequential_from_spec_holds_one_submodule_per_item() -> None:
    spec = SequentialSpec(
        [LinearSpec("b [c1->c2]", axes={"c2": 8}), "gelu", NormSpec("b [c]"), "relu"]
    )
    model = einn.from_spec(spec)
    assert isinstance(model, einn.Sequential) and len(model) == 4
    assert model.materialize((5, 3)) == (5, 8)
    assert {n for n, _ in model.named_parameters()} == {"0.weight", "0.bias", "2.scale", "2.bias"}
    x = _x((5, 3))
    resolved = spec.resolve((5, 3), dtype="float32")
    expected, _ = resolved.apply(dict(model.named_parameters()), x)
    torch.testing.assert_close(model(x), expected)


def test_first_forward_in_inference_mode_leaves_trainable_parameters() -> None:
    class Scale(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = UninitializedParameter()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return einx.multiply("b [c]", x, einn.param(self.w, init=2.0))

    model = torch.nn.Sequential(
        einn.Linear("b [c1->c2]", c2=4), einn.Norm("[b] c", decay_rate=0.9), Scale()
    )
    with torch.inference_mode():
        model(_x((8, 3)))
    tensors = [*model.parameters(), *model.buffers()]
    assert len(tensors) == 7 and not any(t.is_inference() for t in tensors)
    model(_x((8, 3))).square().sum().backward()  # an inference tensor here would raise
    assert all(p.grad is not None for p in model.parameters())


# ----------------------------------------------------------------------------- errors


def test_wrong_rank_raises_rank_error() -> None:
    layer = einn.Linear("b [s...->s2] c", s2=4)
    with pytest.raises(EinxError):
        layer(_x((3,)))
    norm = einn.Norm("b h w [c]")
    with pytest.raises(RankError):
        norm(_x((2, 3, 4)))


def test_channel_count_contradicting_materialised_weights() -> None:
    layer = einn.Linear("b... [c1->c2]", c2=8)
    layer(_x((2, 16)))
    with pytest.raises(AxisSizeError) as info:
        layer(_x((2, 12)))
    message = str(info.value)
    assert "Linear('b... [c1->c2]', c2=8)" in message and "'weight'" in message
    assert "(16, 8)" in message and "(12, 8)" in message


def test_config_that_does_not_fit_raises() -> None:
    with pytest.raises(EinxError):
        einn.Norm("b [s...] (g [c])", g=7)(_x((2, 4, 32)))
    with pytest.raises(SpecError):
        einn.Dropout("[...]", drop_rate=1.5)
    with pytest.raises(SpecError, match="dtype"):
        einn.Linear("b [c1->c2]", c2=3, dtype="float99")
    with pytest.raises(EinxError):
        einn.Linear("b [c1->c2]", c2=3, c3=4)  # unknown axis value: a typo must not pass


def test_inputs_that_are_no_tensors_and_bad_materialize_shapes() -> None:
    layer = einn.Linear("b [c1->c2]", c2=3)
    for bad_input in ([[1.0, 2.0]], np.ones((2, 4), np.float32)):
        expected = r"Linear\('b \[c1->c2\]', c2=3\) expects a torch\.Tensor as input, got"
        with pytest.raises(OperationError, match=expected):
            layer(bad_input)
    for bad_shape in ("2,4", (2, 0), (2, 4.0), (True, 4)):
        with pytest.raises(OperationError, match="materialize needs input_shape"):
            layer.materialize(bad_shape)  # type: ignore[arg-type]
    sequential = einn.from_spec(SequentialSpec((LinearSpec("b [c1->c2]", axes={"c2": 3}),)))
    assert isinstance(sequential, einn.Sequential)
    with pytest.raises(OperationError, match=r"Sequential\.materialize"):
        sequential.materialize("abc")  # type: ignore[arg-type]
    assert not layer.is_materialized  # nothing was created by the failed calls
    assert layer.materialize(torch.Size([2, 4])) == (2, 3)


def test_integer_and_double_inputs_follow_numpy_promotion() -> None:
    layer = einn.Linear("b [c1->c2]", c2=3)
    tokens = torch.tensor([[1, 0, 2, 1], [0, 3, 1, 1]])
    out = layer(tokens)
    assert out.dtype == torch.float32
    expected = tokens.double() @ layer.weight.double() + layer.bias.double()
    torch.testing.assert_close(out.double(), expected, rtol=1e-6, atol=1e-6)
    wide = layer(tokens.double())  # float32 weights, float64 input: computed in float64
    assert wide.dtype == torch.float64
    torch.testing.assert_close(wide, expected)


def test_from_spec_rejects_specs_without_a_module() -> None:
    class CustomSpec(LayerSpec):
        def _build(self, input_shape: tuple[int, ...], dtype: str) -> Resolved:
            raise NotImplementedError

    with pytest.raises(SpecError, match="CustomSpec"):
        einn.from_spec(CustomSpec())


def _torch_calls(fn: Any) -> tuple[Any, list[str]]:
    """``fn()`` and the names of the torch functions it called."""
    from torch.overrides import TorchFunctionMode

    calls: list[str] = []

    class Calls(TorchFunctionMode):  # type: ignore[misc]
        def __torch_function__(
            self, func: Any, types: Any, args: Any = (), kwargs: Any = None
        ) -> Any:
            calls.append(getattr(func, "__name__", ""))
            return func(*args, **(kwargs or {}))

    with Calls():
        result = fn()
    return result, calls


@pytest.mark.parametrize("shape", [(6, 5, 16), (7, 16), (16,)])
def test_linear_replay_adds_the_bias_inside_the_matrix_product(shape: tuple[int, ...]) -> None:
    layer = einn.Linear("b... [c1->c2]", c2=24).double()
    x = _x(shape, torch.float64)
    layer(x)  # records the replay
    with torch.no_grad():
        layer.bias.copy_(torch.randn(24, dtype=torch.float64))
    y, calls = _torch_calls(lambda: layer(x))
    assert {"linear", "addmm"} & set(calls), calls
    assert "matmul" not in calls and "add" not in calls, calls
    torch.testing.assert_close(y, x @ layer.weight + layer.bias, rtol=1e-12, atol=1e-12)
    y.square().sum().backward()
    weight_grad, bias_grad = layer.weight.grad, layer.bias.grad
    layer.zero_grad()
    (x @ layer.weight + layer.bias).square().sum().backward()
    torch.testing.assert_close(weight_grad, layer.weight.grad)
    torch.testing.assert_close(bias_grad, layer.bias.grad)


def test_norm_replay_runs_one_kernel_and_updates_ema_in_place() -> None:
    layer = einn.Norm("[b...] c", decay_rate=0.5).double()
    layer.train()(_x((8, 3, 4), torch.float64))  # init phase, records
    mean_buffer, var_buffer = layer.mean, layer.var
    x = _x((8, 3, 4), torch.float64) * 2 + 1
    y, calls = _torch_calls(lambda: layer(x))
    assert calls.count("native_batch_norm") == 1 and "var_mean" not in calls, calls
    assert layer.mean is mean_buffer and layer.var is var_buffer  # copied into, not replaced
    flat = x.reshape(-1, 4)
    torch.testing.assert_close(layer.mean, 0.5 * flat.mean(0), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        layer.var, 0.5 + 0.5 * flat.var(0, unbiased=False), rtol=1e-10, atol=1e-12
    )
    assert not layer.mean.requires_grad and not layer.var.requires_grad
    expected = (x - flat.mean(0)) / torch.sqrt(flat.var(0, unbiased=False) + 1e-5)
    torch.testing.assert_close(y, expected, rtol=1e-10, atol=1e-10)

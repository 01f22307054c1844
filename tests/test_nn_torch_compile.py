"""einx_typed.nn.torch under torch.compile(fullgraph=True): no graph breaks, same numbers."""

from __future__ import annotations

import copy

import pytest
import torch
from test_nn_torch import TUTORIAL_LAYERS

import einx_typed as einx
import einx_typed.nn.torch as einn
from einx_typed.layers import LinearSpec, NormSpec, SequentialSpec

# typeguard's import hook (tests/conftest.py) inserts `globals()` calls into every annotated
# function; torch.compile cannot trace those in LayerModule.forward.  The hook has to skip
# einx_typed.nn.torch (TYPEGUARD_IGNORED_MODULES) for these tests to run.
pytestmark = pytest.mark.skipif(
    "check_argument_types_internal" in einn.LayerModule.forward.__code__.co_names,
    reason="einx_typed.nn.torch is typeguard-instrumented: add it to TYPEGUARD_IGNORED_MODULES "
    "in tests/conftest.py (torch.compile cannot trace the inserted checks)",
)


@pytest.fixture(autouse=True)
def _fresh_dynamo() -> None:
    torch.manual_seed(0)
    torch._dynamo.reset()


@pytest.mark.parametrize("name", sorted(TUTORIAL_LAYERS))
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_tutorial_layers_compile_without_graph_breaks(name: str, training: bool) -> None:
    make, in_shape, out_shape = TUTORIAL_LAYERS[name]
    x = torch.randn(in_shape)
    layer = make().train(training)
    layer(x)  # materialise and leave the init phase
    reference = copy.deepcopy(layer)
    compiled = torch.compile(layer, fullgraph=True, backend="eager")
    for _ in range(2):
        y = compiled(x)
        assert tuple(y.shape) == out_shape
        if not (training and "drop" in name):
            torch.testing.assert_close(y, reference(x))
    for name_, buffer in reference.named_buffers():  # EMA updates happened in the graph too
        torch.testing.assert_close(dict(layer.named_buffers())[name_], buffer)


def test_compiled_backward_matches_eager() -> None:
    model = torch.nn.Sequential(
        einn.Linear("b... [c1->c2]", c2=16),
        einn.Norm("b... [c]"),
        einn.Linear("b [s...->s2] c", s2=3),
    )
    x = torch.randn(4, 5, 6, 8)
    model(x)
    reference = copy.deepcopy(model)
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    compiled(x).square().sum().backward()
    reference(x).square().sum().backward()
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)


def test_inductor_compiles_linear_and_norm() -> None:
    model = torch.nn.Sequential(einn.Linear("b... [c1->c2]", c2=32), einn.Norm("b... [c]"))
    x = torch.randn(16, 32)
    expected = model(x)
    compiled = torch.compile(model, fullgraph=True)
    torch.testing.assert_close(compiled(x), expected, atol=1e-5, rtol=1e-5)


def test_tutorial_custom_linear_compiles_after_first_call() -> None:
    class Linear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.parameter.UninitializedParameter(dtype=torch.float32)
            self.b = torch.nn.parameter.UninitializedParameter(dtype=torch.float32)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = einx.dot("b... [c1->c2]", x, self.w, c2=64)
            return einx.add("b... [c2]", x, self.b)

    layer = Linear()
    x = torch.randn(8, 32)
    expected = layer(x)
    compiled = torch.compile(layer, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x), expected)


def test_compile_before_first_call_materialises() -> None:
    layer = einn.Linear("b... [c1->c2]", c2=8)
    compiled = torch.compile(layer, fullgraph=True, backend="eager")
    x = torch.randn(3, 5)
    y = compiled(x)
    assert y.shape == (3, 8) and layer.weight.shape == (5, 8)
    torch.testing.assert_close(y, x @ layer.weight + layer.bias)


def test_compile_before_first_call_of_a_spec_model_keeps_ema_rules() -> None:
    spec = SequentialSpec(
        [LinearSpec("b [c1->c2]", axes={"c2": 8}), NormSpec("[b] c", decay_rate=0.9), "gelu"]
    )
    model = einn.from_spec(spec).train()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    x = torch.randn(6, 5)
    compiled(x)  # init phase: EMA statistics stay at their initial values
    assert torch.all(model[1].mean == 0) and torch.all(model[1].var == 1)
    reference = copy.deepcopy(model)
    for _ in range(3):
        x = torch.randn(6, 5)
        torch.testing.assert_close(compiled(x), reference(x))
    torch.testing.assert_close(model[1].mean, reference[1].mean)
    assert not torch.all(model[1].mean == 0)


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("nesting", ["layer", "plain Sequential", "einn Sequential"])
def test_new_input_shapes_after_compiling(dynamic: bool, nesting: str) -> None:
    """A compiled layer meeting a new shape resolves it outside the trace: no graph break.

    Nested in a plain ``torch.nn.Sequential`` too, where dynamo itself calls the layer's
    ``_infer_parameters`` (it treats einn layers as lazy modules).
    """

    def make() -> torch.nn.Module:
        if nesting == "layer":
            return einn.Norm("[b] c", decay_rate=0.9)
        if nesting == "plain Sequential":
            return torch.nn.Sequential(
                einn.Linear("b [c1->c2]", c2=6), einn.Norm("b [c]"), torch.nn.GELU()
            )
        spec = SequentialSpec([LinearSpec("b [c1->c2]", axes={"c2": 6}), NormSpec("[b] c")])
        return einn.from_spec(spec)

    model, reference = make().eval(), make().eval()
    model(torch.randn(3, 4))
    reference.load_state_dict(model.state_dict())
    compiled = torch.compile(model, fullgraph=True, dynamic=dynamic, backend="eager")
    for batch in (5, 7, 9, 5):
        x = torch.randn(batch, 4)
        torch.testing.assert_close(compiled(x), reference(x))

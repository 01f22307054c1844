"""Programs: one traced, optimised list of backend primitives per resolved layer and mode."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ArrayBackend

from einx_typed.backends import AbstractArray, get_backend
from einx_typed.backends.base import Backend
from einx_typed.backends.program import OPAQUE, PRIMITIVES, Graph, TraceBackend
from einx_typed.layers import (
    PROGRAM_GROUPS,
    ActivationSpec,
    DropoutSpec,
    LayerSpec,
    LinearSpec,
    NormSpec,
    SequentialSpec,
    sample_init,
)


def _graph(*shapes: tuple[int, ...]) -> tuple[Graph, list[object]]:
    graph = Graph(("x",))
    inputs = [
        graph.input("x", str(i), AbstractArray(shape, "float32")) for i, shape in enumerate(shapes)
    ]
    return graph, inputs


TRACE = TraceBackend()


def test_every_backend_primitive_is_traced() -> None:
    assert {"reshape", "matmul", "normalize", "ema", "dropout", "linear"} <= PRIMITIVES
    for name in PRIMITIVES:
        assert callable(getattr(TRACE, name)), name
        for backend in ("numpy", "abstract"):
            assert callable(getattr(get_backend(backend), name)), (backend, name)


def test_layout_no_ops_fold_and_reshape_chains_collapse() -> None:
    graph, (x,) = _graph((4, 6))
    a = TRACE.reshape(x, (24,))
    b = TRACE.reshape(a, (2, 12))
    c = TRACE.reshape(b, (4, 6))  # back to x
    d = TRACE.transpose(c, (1, 0))
    e = TRACE.transpose(d, (1, 0))  # identity again
    f = TRACE.broadcast_to(e, (4, 6))
    g = TRACE.reshape(TRACE.reshape(f, (6, 4)), (3, 8))
    program = graph.build([f, g])
    assert program.outputs[0] == 0  # f is x itself
    assert program.methods == ("reshape",)  # one reshape of x to (3, 8)
    assert program.instrs[0].args == (program.instrs[0].args[0], (3, 8))


def test_a_matmul_followed_by_a_bias_add_becomes_one_linear() -> None:
    graph, (x, w, b) = _graph((5, 3), (3, 4), (4,))
    y = TRACE.elementwise("add", TRACE.matmul(x, w), b)
    assert graph.build([y]).methods == ("linear",)
    graph, (x, w, b) = _graph((5, 3), (3, 4), (4,))
    y = TRACE.elementwise("add", b, TRACE.matmul(x, w))  # either operand order
    assert graph.build([y]).methods == ("linear",)


@pytest.mark.parametrize(
    "case", ["product_reused", "bias_broadcasts_rows", "subtract", "weight_3d"]
)
def test_no_fusion_where_it_would_change_the_result(case: str) -> None:
    w_shape, b_shape = ((3, 2, 2), (2,)) if case == "weight_3d" else ((3, 4), (4,))
    if case == "bias_broadcasts_rows":
        b_shape = (5, 1)
    graph, (x, w, b) = _graph((5, 3), w_shape, b_shape)
    product = TRACE.matmul(x, w) if case != "weight_3d" else TRACE.einsum("ij,jkl->ikl", x, w)
    op = "subtract" if case == "subtract" else "add"
    y = TRACE.elementwise(op, product, b)
    outputs = [y, product] if case == "product_reused" else [y]
    assert "linear" not in graph.build(outputs).methods


def test_identical_pure_steps_are_computed_once_but_random_draws_are_not() -> None:
    graph = Graph(("x", "rng"))
    x = graph.input("x", None, AbstractArray((4, 6), "float32"))
    rng = graph.input("rng", None, OPAQUE)
    a, b = TRACE.unary("gelu", x), TRACE.unary("gelu", x)
    c, d = TRACE.dropout(x, 0.5, rng), TRACE.dropout(x, 0.5, rng)
    program = graph.build([a, b, c, d])
    assert program.methods.count("unary") == 1
    assert program.methods.count("dropout") == 2
    assert program.outputs[0] == program.outputs[1]


def test_unused_steps_are_dropped() -> None:
    graph, (x,) = _graph((4, 6))
    TRACE.unary("tanh", x)
    y = TRACE.unary("relu", x)
    assert graph.build([y]).methods == ("unary",)


def test_compiled_program_is_generated_source_once_per_backend() -> None:
    resolved = LinearSpec("b... [c1->c2]", axes={"c2": 5}).resolve((2, 3, 4))
    program = resolved.program(training=False)
    numpy = get_backend("numpy")
    assert program.compile(numpy) is program.compile(numpy)
    source = program.compile(numpy).__doc__ or ""
    assert "f_linear(" in source and "params['weight']" in source
    assert program.methods == ("linear",)  # b... [c1->c2] with a bias: one fused kernel


SPECS: dict[str, LayerSpec] = {
    "linear": LinearSpec("b... [c1->c2]", axes={"c2": 6}),
    "spatial": LinearSpec("b [s...->s2] c", axes={"s2": 5}),
    "layernorm": NormSpec("b... [c]"),
    "groupnorm": NormSpec("b [s...] (g [c])", axes={"g": 2}),
    "batchnorm": NormSpec("[b...] c", decay_rate=0.9),
    "rmsnorm": NormSpec("b... [c]", mean=False, bias=False),
    "general_norm": NormSpec("b [s... c]", fastvar=False),
    "dropout": DropoutSpec("[b] ... [c]", 0.3),
    "softmax": ActivationSpec("softmax", "b... [c]"),
    "model": SequentialSpec(
        [
            LinearSpec("b [...->c]", axes={"c": 8}),
            NormSpec("[b] c", decay_rate=0.9),
            "gelu",
            LinearSpec("b... [c1->c2]", axes={"c2": 3}),
        ]
    ),
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_one_program_for_every_backend_and_dtype(name: str, array_backend: ArrayBackend) -> None:
    """The program depends on shapes only; each backend runs it to the numpy float64 result."""
    spec = SPECS[name]
    shape = (3, 4, 5, 4) if name != "model" else (3, 4, 4)
    resolved = spec.resolve(shape, "float64")
    rng = np.random.default_rng(0)
    params = {k: sample_init(p.init, p.shape, "float64", rng) for k, p in resolved.params.items()}
    state = {
        k: sample_init(p.init, p.shape, "float64", rng) + 0.5 for k, p in resolved.state.items()
    }
    x = rng.standard_normal(shape)
    expected, expected_state = resolved.apply(params, x, state=state, training=False)
    as_backend = {k: array_backend.asarray(v) for k, v in params.items()}
    as_state = {k: array_backend.asarray(v) for k, v in state.items()}
    y, new_state = resolved.apply(as_backend, array_backend.asarray(x), state=as_state)
    # JAX computes in float32 unless x64 is enabled
    tolerance = {"rtol": 1e-5, "atol": 1e-6} if array_backend.name == "jax" else {"rtol": 1e-10}
    np.testing.assert_allclose(array_backend.to_numpy(y), expected, **tolerance)
    assert set(new_state) == set(expected_state)
    # float32 inputs run the very same program object (traced once, at the resolve dtype)
    program = resolved.program(training=False)
    y32, _ = resolved.apply(
        {k: array_backend.asarray(v.astype("float32")) for k, v in params.items()},
        array_backend.asarray(x.astype("float32")),
        state={k: array_backend.asarray(v.astype("float32")) for k, v in state.items()},
    )
    assert resolved.program(training=False) is program
    np.testing.assert_allclose(array_backend.to_numpy(y32), expected, rtol=1e-3, atol=1e-4)


def test_programs_by_mode() -> None:
    resolved = SPECS["batchnorm"].resolve((8, 5))
    training = resolved.program(training=True)
    evaluation = resolved.program(training=False)
    init = resolved.program(training=True, initializing=True)
    assert "ema" in training.methods
    assert "ema" not in evaluation.methods and "ema" not in init.methods
    assert resolved.program(training=False, initializing=True) is evaluation  # no state in eval
    assert training.groups == PROGRAM_GROUPS
    no_state = SPECS["layernorm"].resolve((8, 5))
    assert no_state.program(training=True, initializing=True) is no_state.program(training=True)
    dropout = SPECS["dropout"].resolve((4, 3, 5))
    assert "keep_mask" in dropout.program(training=True).methods
    assert dropout.program(training=False).methods == ()  # the identity


def test_norms_of_the_tutorial_are_one_normalize_step() -> None:
    for name in ("layernorm", "groupnorm", "batchnorm", "rmsnorm"):
        program = SPECS[name].resolve((3, 4, 5, 4)).program(training=True)
        assert program.methods.count("normalize") == 1, (name, program.methods)
        assert set(program.methods) <= {"normalize", "ema"}, program.format()


def test_format_names_inputs_steps_and_shapes() -> None:
    text = SPECS["model"].resolve((3, 4, 4)).program(training=True).format()
    assert "%0 = x  # (3, 4, 4) float32" in text
    assert "params['0.weight']" in text and "state['1.mean']" in text
    assert "linear(" in text and "normalize(" in text and "ema(" in text
    assert text.splitlines()[-1].startswith("return ")


def test_the_backend_protocol_and_the_trace_backend_agree() -> None:
    members = {n for n in dir(Backend) if not n.startswith("_") and callable(getattr(Backend, n))}
    assert members - {"is_tensor", "shape", "dtype_name", "is_floating"} == PRIMITIVES


def test_state_updated_in_place_for_binders_that_store_it() -> None:
    torch = pytest.importorskip("torch")
    resolved = SPECS["batchnorm"].resolve((8, 5))
    program = resolved.program(training=True)
    backend = get_backend("torch")
    pure, in_place = program.compile(backend), program.compile(backend, update_in_place="state")
    assert "f_ema_into(" in (in_place.__doc__ or "") and "ema_into" not in (pure.__doc__ or "")
    x = torch.randn(8, 5)
    params = {"scale": torch.rand(5), "bias": torch.rand(5)}
    state = {"mean": torch.rand(5), "var": torch.rand(5) + 0.5}
    expected = pure(x, params, state, None)
    stored = {k: v.clone() for k, v in state.items()}
    got = in_place(x, params, stored, None)
    assert got[1] is stored["mean"] and got[2] is stored["var"]  # written where they live
    for a, b in zip(expected, got):
        assert torch.equal(a, b)
    assert not torch.equal(state["mean"], stored["mean"])  # the pure run left its input alone
    # NumPy has no in-place EMA: the same request gives the pure function's values
    numpy_state = {k: v.numpy().copy() for k, v in state.items()}
    numpy_run = program.compile(get_backend("numpy"), update_in_place="state")
    outputs = numpy_run(x.numpy(), {k: v.numpy() for k, v in params.items()}, numpy_state, None)
    np.testing.assert_allclose(outputs[1], expected[1].numpy(), rtol=1e-6)
    np.testing.assert_array_equal(numpy_state["mean"], state["mean"].numpy())

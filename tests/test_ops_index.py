"""The index family: ``get_at``, ``set_at``, ``add_at``, ``subtract_at``.

Values are checked against references written here with explicit loops over
``np.ndindex`` in float64 (not with the library's own flattening), for random shapes and
coordinates drawn by Hypothesis; the einx 0.3.0 cases of ``tests/data/cases.json`` are
replayed for shapes and errors.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import einx_typed as einx
from einx_typed.notation import parse_op

CASES_PATH: Final = Path(__file__).parent / "data" / "cases.json"

INDEX_OPS: Final = ("get_at", "set_at", "add_at", "subtract_at")
with CASES_PATH.open() as _file:
    INDEX_CASES: Final[list[dict[str, Any]]] = [
        case for case in json.load(_file) if case["op"] in INDEX_OPS
    ]

ZERO_SIZE_NOTE: Final = "zero-size dimension"
"""einx 0.3.0 skipped all work (and validation) for empty coordinates/updates; we raise."""


def case_id(case: dict[str, Any]) -> str:
    return f"{case['op']} {case['expr']} {case['shapes']}"


def build_operands(
    case: dict[str, Any], backend: Any, calls: list[tuple[tuple[int, ...], dict[str, Any]]]
) -> list[Any]:
    values = case.get("input_values") or [None] * len(case["shapes"])
    operands: list[Any] = []
    for kind, shape, dtype, value in zip(
        case["input_kinds"], case["shapes"], case["dtypes"], values, strict=True
    ):
        if kind == "factory":

            def factory(shape: tuple[int, ...], dtype: str = dtype, **kwargs: Any) -> Any:
                calls.append((shape, kwargs))
                return backend.zeros(tuple(shape), dtype)

            operands.append(factory)
        else:
            data = np.zeros(shape, dtype) if value is None else np.asarray(value, dtype)
            operands.append(backend.asarray(data))
    return operands


def replay(case: dict[str, Any], backend: Any) -> None:
    calls: list[tuple[tuple[int, ...], dict[str, Any]]] = []
    operands = build_operands(case, backend, calls)
    op = getattr(einx, case["op"])
    kwargs = dict(case["kwargs"])
    if all(kind == "factory" for kind in case["input_kinds"]):
        kwargs["backend"] = backend.name
    zero_size = ZERO_SIZE_NOTE in case.get("note", "")
    if case["expect_error"] or zero_size:
        with pytest.raises(einx.EinxError) as info:
            op(case["expr"], *operands, **kwargs)
        if zero_size:
            assert isinstance(info.value, einx.SolveError)
        return
    result = op(case["expr"], *operands, **kwargs)
    assert backend.is_result(result)
    assert tuple(backend.to_numpy(result).shape) == tuple(case["expect_shape"])
    if case.get("expect_values") is not None:
        np.testing.assert_array_equal(backend.to_numpy(result), case["expect_values"])
    name = "embedding" if case["op"] == "get_at" else case["op"]
    for shape, kwargs_seen in calls:
        assert all(type(n) is int and n > 0 for n in shape)
        assert kwargs_seen == {"name": name, "init": case["op"]}


@pytest.mark.parametrize("case", INDEX_CASES, ids=case_id)
def test_cases_numpy(case: dict[str, Any]) -> None:
    from conftest import ArrayBackend

    replay(case, ArrayBackend("numpy"))


TENSOR_CASES: Final = [
    case for case in INDEX_CASES if all(kind == "tensor" for kind in case["input_kinds"])
]


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_cases_frameworks(framework: str) -> None:
    from conftest import ArrayBackend

    pytest.importorskip(framework)
    backend = ArrayBackend(framework)
    for case in TENSOR_CASES + INDEX_CASES[-40::7]:
        replay(case, backend)


def test_case_file_has_all_index_ops() -> None:
    assert len(INDEX_CASES) == 211
    assert {case["op"] for case in INDEX_CASES} == set(INDEX_OPS)


# --- float64 references with explicit loops ------------------------------------------

Apply = Callable[[np.ndarray, tuple[int, ...], float], None]


def _set(out: np.ndarray, index: tuple[int, ...], value: float) -> None:
    out[index] = value


def _add(out: np.ndarray, index: tuple[int, ...], value: float) -> None:
    out[index] += value


def _subtract(out: np.ndarray, index: tuple[int, ...], value: float) -> None:
    out[index] -= value


UPDATES: Final[dict[str, tuple[Callable[..., Any], Apply]]] = {
    "set_at": (einx.set_at, _set),
    "add_at": (einx.add_at, _add),
    "subtract_at": (einx.subtract_at, _subtract),
}


def coordinates(
    rng: np.random.Generator, shape: tuple[int, ...], length: int, negative: bool
) -> np.ndarray:
    """Random in-range indices; with ``negative`` some are written as ``i - length``."""
    index = rng.integers(0, length, size=shape)
    if negative:
        index = np.where(rng.random(shape) < 0.5, index - length, index)
    return index.astype(np.int64)


sizes = st.integers(1, 4)
seeds = st.integers(0, 2**32 - 1)


@given(b=sizes, h=sizes, w=sizes, c=sizes, p=sizes, seed=seeds, negative=st.booleans())
def test_get_at_points_per_batch(
    b: int, h: int, w: int, c: int, p: int, seed: int, negative: bool
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(b, h, w, c))
    ij = np.stack(
        [coordinates(rng, (b, p), h, negative), coordinates(rng, (b, p), w, negative)], -1
    )
    expected = np.zeros((b, p, c))
    for bi, pi, ci in np.ndindex(b, p, c):
        expected[bi, pi, ci] = x[bi, ij[bi, pi, 0], ij[bi, pi, 1], ci]
    out = einx.get_at("b [h w] c, b p [2] -> b p c", x, ij)
    np.testing.assert_array_equal(out, expected)
    # The same coordinates as two operands without a coordinate axis, output transposed.
    out2 = einx.get_at("b [h w] c, b p, p b -> c p b", x, ij[..., 0], ij[..., 1].T)
    np.testing.assert_array_equal(out2, expected.transpose(2, 1, 0))


@given(b=sizes, h=sizes, c=sizes, p=sizes, k=sizes, seed=seeds)
def test_get_at_shared_coordinates_composition_and_broadcast(
    b: int, h: int, c: int, p: int, k: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    w = h + 1
    x = rng.normal(size=(b, h * c, w))
    rows = coordinates(rng, (p, b), h, False)
    cols = coordinates(rng, (b, p), w, True)
    expected = np.zeros((b, p, k, c))
    for bi, pi, ki, ci in np.ndindex(b, p, k, c):
        expected[bi, pi, ki, ci] = x[bi, rows[pi, bi] * c + ci, cols[bi, pi]]
    out = einx.get_at("b ([h] c) [w], p b, b p -> b p k c", x, rows, cols, k=k, c=c)
    np.testing.assert_array_equal(out, expected)


@given(v=sizes, c=sizes, b=sizes, t=sizes, seed=seeds)
def test_get_at_embedding_lookup(v: int, c: int, b: int, t: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(v, c)).astype(np.float32)
    tokens = coordinates(rng, (b, t), v, False).astype(np.int32)
    expected = np.zeros((b, t, c))
    for bi, ti, ci in np.ndindex(b, t, c):
        expected[bi, ti, ci] = table[tokens[bi, ti], ci]
    out = einx.get_at("[v] c, b t -> b t c", table, tokens)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)


@given(h=sizes, w=sizes, d=sizes, p=sizes, seed=seeds)
def test_mixed_coordinate_markings_equal_concatenation(
    h: int, w: int, d: int, p: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(h, w, d))
    hw = np.stack([coordinates(rng, (p,), h, True), coordinates(rng, (p,), w, True)], -1)
    dd = coordinates(rng, (p,), d, True)
    expected = np.array([x[hw[i, 0], hw[i, 1], dd[i]] for i in range(p)])
    np.testing.assert_array_equal(einx.get_at("[h w d], p [2], p -> p", x, hw, dd), expected)
    np.testing.assert_array_equal(
        einx.get_at("[h w d], p, p [2] -> p", x, hw[:, 0], np.stack([hw[:, 1], dd], -1)), expected
    )
    both = np.concatenate([hw, dd[:, None]], -1)
    np.testing.assert_array_equal(einx.get_at("[h w d], p [3] -> p", x, both), expected)
    # The coordinate-axis length is solved from the index count: [i] = 2.
    np.testing.assert_array_equal(einx.get_at("[h w d], p [i], p -> p", x, hw, dd), expected)


@pytest.mark.parametrize("op", list(UPDATES))
@given(b=sizes, h=sizes, w=sizes, c=sizes, p=sizes, seed=seeds, negative=st.booleans())
def test_update_points_per_batch(
    op: str, b: int, h: int, w: int, c: int, p: int, seed: int, negative: bool
) -> None:
    function, apply = UPDATES[op]
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(b, h, w, c))
    if op == "set_at":  # distinct positions per batch: the winner of a collision is unspecified
        p = min(p, h * w)
        flat = np.stack([rng.permutation(h * w)[:p] for _ in range(b)])
        ij = np.stack([flat // w, flat % w], -1)
        if negative:
            ij = ij - np.array([h, w])
    else:
        ij = np.stack(
            [coordinates(rng, (b, p), h, negative), coordinates(rng, (b, p), w, negative)], -1
        )
    updates = rng.normal(size=(b, p, c))
    x_before = x.copy()
    expected = x.copy()
    for bi, pi, ci in np.ndindex(b, p, c):
        apply(expected, (bi, ij[bi, pi, 0], ij[bi, pi, 1], ci), updates[bi, pi, ci])
    out = function("b [h w] c, b p [2], b p c", x, ij, updates)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(x, x_before)  # never in place


@pytest.mark.parametrize("op", ["add_at", "subtract_at"])
@given(b=sizes, h=sizes, w=sizes, c=sizes, p=sizes, seed=seeds)
def test_update_broadcast_updates_and_output_order(
    op: str, b: int, h: int, w: int, c: int, p: int, seed: int
) -> None:
    function, apply = UPDATES[op]
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(b, h, w, c))
    rows = coordinates(rng, (p,), h, False)
    cols = coordinates(rng, (p, b), w, False)
    color = rng.normal(size=(c,))
    expected = x.copy()
    for bi, pi, ci in np.ndindex(b, p, c):
        apply(expected, (bi, rows[pi], cols[pi, bi], ci), color[ci])
    out = function("b [h w] c, p, p b, c -> c b w h", x, rows, cols, color)
    np.testing.assert_allclose(out, expected.transpose(3, 0, 2, 1), rtol=1e-12, atol=1e-12)


def test_add_at_accumulates_repeated_indices() -> None:
    counts = np.zeros(5, np.int64)
    labels = np.array([1, 3, 1, 1, 4, -1])
    out = einx.add_at("[n], p, p", counts, labels, np.ones(6, np.int64))
    np.testing.assert_array_equal(out, [0, 3, 0, 1, 2])
    np.testing.assert_array_equal(counts, 0)
    out = einx.subtract_at("[n], p, p", counts, labels, np.full(6, 2, np.int64))
    np.testing.assert_array_equal(out, [0, -6, 0, -2, -4])


def test_set_at_writes_a_copy() -> None:
    x = np.arange(10)
    out = einx.set_at("[h], h2, h2 -> [h]", x, x[::-1].copy(), x)
    np.testing.assert_array_equal(out, x[::-1])
    np.testing.assert_array_equal(x, np.arange(10))
    assert out is not x


def test_factories_get_name_and_init() -> None:
    seen: list[tuple[str, tuple[int, ...], dict[str, Any]]] = []

    def factory(label: str) -> Callable[..., np.ndarray]:
        def create(shape: tuple[int, ...], **kwargs: Any) -> np.ndarray:
            seen.append((label, shape, kwargs))
            return np.ones(shape, np.int64)

        return create

    tokens = np.zeros((2, 3), np.int64)
    out = einx.get_at("[v] c, b t -> b t c", factory("table"), tokens, v=7, c=4)
    assert out.shape == (2, 3, 4)
    assert seen == [("table", (7, 4), {"name": "embedding", "init": "get_at"})]
    seen.clear()

    def only_shape(shape: tuple[int, ...]) -> np.ndarray:
        return np.zeros(shape, np.int64)

    out = einx.add_at("[h] c, p, p c", np.zeros((3, 2)), only_shape, factory("upd"), p=5)
    np.testing.assert_array_equal(out, [[5, 5], [0, 0], [0, 0]])
    assert seen == [("upd", (5, 2), {"name": "add_at", "init": "add_at"})]


def test_plan_is_built_once_per_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    """The index ops use the shared plan cache: one planner call per call signature."""
    from einx_typed.ops import _index_call

    x = np.zeros((3, 4))
    c = np.zeros((5,), np.int64)
    einx.get_at("[h] w, p -> p w", x, c)
    built: list[str] = []
    original = _index_call.plan_index

    def counting(request: Any) -> Any:
        built.append(request.op)
        return original(request)

    monkeypatch.setattr(_index_call, "plan_index", counting)
    np.testing.assert_array_equal(einx.get_at("[h] w, p -> p w", x + 1, c), np.ones((5, 4)))
    assert built == []
    einx.get_at("[h] w, p -> p w", np.zeros((3, 5)), c)
    einx.add_at("[h] w, p, p w", x, c, np.ones((5, 4)))
    einx.add_at("[h] w, p, p w", x, c, np.ones((5, 4)))
    assert built == ["get_at", "add_at"]


# --- errors ----------------------------------------------------------------------------

X = np.zeros((2, 5, 3))
P = np.zeros((2, 4), np.int64)
U = np.zeros((2, 4, 3))

ERRORS: Final = [
    # (op, op string, operands, kwargs, error type, offending text or None, message parts)
    ("get_at", "b [h] c, b p", (X, P), {}, einx.OperationError, None, ["output expression"]),
    ("get_at", "b [h] c, b p -> b p [c]", (X, P), {}, einx.OperationError, "c]", ["Brackets"]),
    ("get_at", "b [h] c, b p -> b p", (X, P), {}, einx.OperationError, "b p", ["'c'"]),
    ("get_at", "b [h] c, b p -> b c", (X, P), {}, einx.OperationError, "b c", ["'p'"]),
    (
        "get_at",
        "b [h] c, b p -> b p c h",
        (X, P),
        {"h": 5},
        einx.OperationError,
        "h",
        ["indexed axis 'h'"],
    ),
    (
        "get_at",
        "b [h] c, b p [i] -> b p c i",
        (X, P[..., None]),
        {},
        einx.OperationError,
        "i",
        ["coordinate axis 'i'"],
    ),
    (
        "get_at",
        "b [h] c, b p -> b p c",
        (X,),
        {},
        einx.OperationError,
        None,
        ["2 input expressions", "1 tensors"],
    ),
    ("get_at", "b h c, b p -> b p c", (X, P), {}, einx.OperationError, None, ["no marked"]),
    (
        "get_at",
        "b [h] c, b p -> b p c",
        (X, P.astype(np.float64)),
        {},
        einx.OperationError,
        "b p",
        ["Coordinate operand 2", "dtype float64", "must be integers"],
    ),
    (
        "add_at",
        "b [h] c, b p, b p c",
        (X, P.astype(bool), U),
        {},
        einx.OperationError,
        "b p,",
        ["Coordinate operand 2", "dtype bool", "must be integers"],
    ),
    (
        "get_at",
        "b [h] c, b p -> b p c",
        (X, P + 5),
        {},
        einx.OperationError,
        None,
        ["outside the indexed axis", "out of bounds", "[-n, n)"],
    ),
    (
        "set_at",
        "b [h] c, b p, b p c",
        (X, P - 6, U),
        {},
        einx.OperationError,
        None,
        ["An index lies outside the indexed axis: index -6 is out of bounds"],
    ),
    (
        "get_at",
        "[h w], p [i j] -> p",
        (np.zeros((3, 4)), np.zeros((5, 2, 1), np.int64)),
        {},
        einx.OperationError,
        "j",
        ["at most one"],
    ),
    (
        "get_at",
        "b [h] c, b p [c] -> b p",
        (np.zeros((2, 5, 1)), np.zeros((2, 4, 1), np.int64)),
        {},
        einx.OperationError,
        "c",
        ["also occurs in the first operand"],
    ),
    (
        "get_at",
        "[h 1], p [2] -> p",
        (np.zeros((3, 1)), np.zeros((4, 2), np.int64)),
        {},
        einx.OperationError,
        "1",
        ["unnamed axis '1'"],
    ),
    (
        "get_at",
        "b [h] c, b p [3] -> b p c",
        (X, np.zeros((2, 4, 3), np.int64)),
        {},
        einx.EinxError,
        None,
        [],
    ),
    ("get_at", "b [h] c, b p -> b p c", (X, P), {"zz": 3}, einx.EinxError, None, ["zz"]),
    (
        "get_at",
        "b [h] (c + d), b p -> b p c",
        (np.zeros((2, 5, 4)), P),
        {"c": 3},
        einx.OperationError,
        None,
        ["Concatenation"],
    ),
    (
        "set_at",
        "b [h] c, b p, b [p] c",
        (X, P, U),
        {},
        einx.OperationError,
        "p] c",
        ["Brackets", "updates"],
    ),
    ("set_at", "b [h] c, b p, b p d", (X, P, U), {}, einx.OperationError, "d", ["'d'"]),
    (
        "set_at",
        "b [h] c, b p, b h",
        (X, P, np.zeros((2, 5))),
        {},
        einx.OperationError,
        "h",
        ["indexed axis 'h'"],
    ),
    ("add_at", "b [h] c, b p, b p c -> b h", (X, P, U), {}, einx.OperationError, "b h", ["'c'"]),
    (
        "add_at",
        "b [h] c, b p, b p c -> b h c k",
        (X, P, U),
        {"k": 2},
        einx.OperationError,
        "k",
        ["'k'"],
    ),
    ("subtract_at", "b [h] c, b", (X, np.zeros(2)), {}, einx.OperationError, None, ["coordinate"]),
    (
        "set_at",
        "b [h] c, b p, b p c",
        (X, np.zeros((2, 0), np.int64), np.zeros((2, 0, 3))),
        {},
        einx.SolveError,
        None,
        [],
    ),
]


@pytest.mark.parametrize(
    ("op", "text", "operands", "kwargs", "error", "offending", "parts"),
    ERRORS,
    ids=[f"{e[0]} {e[1]}" for e in ERRORS],
)
def test_errors(
    op: str,
    text: str,
    operands: tuple[Any, ...],
    kwargs: dict[str, Any],
    error: type[Exception],
    offending: str | None,
    parts: list[str],
) -> None:
    with pytest.raises(error) as info:
        getattr(einx, op)(text, *operands, **kwargs)
    message = str(info.value)
    assert not isinstance(info.value, AssertionError | IndexError | KeyError | TypeError)
    for part in parts:
        assert part in message
    normalised = parse_op(text).text
    if isinstance(info.value, einx.OperationError):
        assert f"    {normalised}\n" in message
        shapes = ", ".join(str(tuple(o.shape)) for o in operands)
        assert f"Input shapes: {shapes}" in message
    if offending is not None:
        lines = message.splitlines()
        caret = next(line for line in lines if line.strip() and set(line.strip()) == {"^"})
        start = caret.index("^") - 4
        assert normalised[start:].startswith(offending), (normalised, caret)


def test_backend_needed_when_only_factories() -> None:
    def zeros(shape: tuple[int, ...]) -> np.ndarray:
        return np.zeros(shape, np.int64)

    with pytest.raises(einx.OperationError, match="backend"):
        einx.get_at("[h], p -> p", zeros, zeros, h=3, p=2)
    out = einx.get_at("[h], p -> p", zeros, zeros, h=3, p=2, backend="numpy")
    np.testing.assert_array_equal(out, [0, 0])


# --- frameworks ------------------------------------------------------------------------


def test_jax_jit_grad_vmap() -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    idx = np.array([0, 2, 2, -1], np.int32)
    w = rng.normal(size=(4, 3)).astype(np.float32)

    def loss(table: Any) -> Any:
        return jnp.sum(jnp.asarray(w) * einx.get_at("[v] c, p -> p c", table, idx))

    grad = jax.jit(jax.grad(loss))(jnp.asarray(x))
    expected = np.zeros((4, 3))
    for pi, ci in np.ndindex(4, 3):
        expected[idx[pi], ci] += w[pi, ci]
    np.testing.assert_allclose(np.asarray(grad), expected, rtol=1e-6)

    def loss_updates(updates: Any) -> Any:
        out = einx.add_at("[v] c, p, p c", jnp.asarray(x), idx, updates)
        return jnp.sum(jnp.asarray(x) * out)

    grad_u = jax.grad(loss_updates)(jnp.asarray(w))
    np.testing.assert_allclose(np.asarray(grad_u), x[idx], rtol=1e-6)
    added = jax.jit(lambda u: einx.add_at("[v] c, p, p c", jnp.asarray(x), idx, u))(w)
    reference = x.astype(np.float64).copy()
    np.add.at(reference, idx, w)
    np.testing.assert_allclose(np.asarray(added), reference, rtol=1e-6)

    xs = rng.normal(size=(5, 4, 3)).astype(np.float32)
    cs = rng.integers(0, 4, size=(5, 6)).astype(np.int32)
    mapped = jax.vmap(lambda t, c: einx.get_at("[v] c, p -> p c", t, c))(xs, cs)
    batched = einx.get_at("b [v] c, b p -> b p c", xs, cs)
    np.testing.assert_array_equal(np.asarray(mapped), batched)


def test_torch_rejects_float_coordinates_and_out_of_range_indices() -> None:
    torch = pytest.importorskip("torch")
    table = torch.arange(5.0)
    # Without the check, torch would truncate 0.5 to index 0 and answer silently.
    with pytest.raises(einx.OperationError, match="dtype float32, but indices must be integers"):
        einx.get_at("[n], p -> p", table, torch.tensor([0.5]))
    with pytest.raises(einx.OperationError, match="outside the indexed axis") as info:
        einx.add_at("[n], p, p", table, torch.tensor([1, 7]), torch.ones(2))
    assert isinstance(info.value.__cause__, IndexError)
    assert "Input shapes: (5,), (2,), (2,)" in str(info.value)
    # Negative indices count from the end, as in NumPy.
    torch.testing.assert_close(einx.get_at("[n], p -> p", table, torch.tensor([-1])), table[-1:])


def test_torch_autograd_dtype_and_no_mutation() -> None:
    torch = pytest.importorskip("torch")
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    idx = torch.tensor([0, 2, 2, -1])
    out = einx.get_at("[v] c, p -> p c", x, idx)
    assert out.dtype == torch.float64 and out.device == x.device
    out.sum().backward()
    expected = torch.zeros(4, 3, dtype=torch.float64)
    for p in idx.tolist():
        expected[p] += 1
    assert x.grad is not None
    torch.testing.assert_close(x.grad, expected)

    base = torch.zeros(4, 3)
    updates = torch.ones(4, 3, requires_grad=True)
    added = einx.add_at("[v] c, p, p c", base, idx, updates)
    torch.testing.assert_close(added[2], torch.full((3,), 2.0))
    torch.testing.assert_close(added[3], torch.full((3,), 1.0))
    assert torch.count_nonzero(base) == 0
    (added * torch.arange(12.0).reshape(4, 3)).sum().backward()
    assert updates.grad is not None
    torch.testing.assert_close(updates.grad, torch.arange(12.0).reshape(4, 3)[idx])


COMPILE_SCRIPT: Final = """
import torch
import einx_typed as einx

def lookup(table, tokens):
    return einx.get_at("b [h w] c, b p [2] -> b p c", table, tokens)

table = torch.randn(2, 4, 5, 3)
tokens = torch.randint(-4, 4, (2, 6, 2))
expected = lookup(table, tokens)  # eager first: compiled code reuses the cached plan
compiled = torch.compile(lookup, fullgraph=True, backend="eager")
torch.testing.assert_close(compiled(table, tokens), expected)
torch.testing.assert_close(compiled(table + 1, tokens), expected + 1)
print("ok")
"""


def test_torch_compile_fullgraph_get_at() -> None:
    """Runs in a fresh interpreter: typeguard's instrumentation is not traceable by dynamo."""
    pytest.importorskip("torch")
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", COMPILE_SCRIPT],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


def test_message_shows_op_string_with_caret() -> None:
    with pytest.raises(einx.OperationError) as info:
        einx.get_at("b [h] c, b p -> b p", X, P)
    text = str(info.value)
    assert re.search(r"^    b \[h\] c,b p->b p$", text, re.MULTILINE)
    assert re.search(r"^ {17}\^{3}$", text, re.MULTILINE)  # under the output "b p"
    assert "Input shapes: (2, 5, 3), (2, 4)" in text

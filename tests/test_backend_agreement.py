"""The same op calls agree on numpy, JAX and PyTorch, eagerly and compiled.

numpy is the reference.  Every call of every op family runs on JAX eagerly and under
``jax.jit``, and on PyTorch eagerly; one pipeline that chains rearrange, dot, add,
softmax, mean and get_at runs under ``torch.compile(fullgraph=True)`` (compiling is slow on
a small CPU, so only once).  Inputs are float32 and small.

Two agreements here are deliberate differences from einx 0.3.0 (DESIGN.md §3): ``var`` and
``std`` are population statistics on every backend (0.3.0's torch used the unbiased one),
and ``add_at`` accumulates repeated indices on every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, final

import attrs
import numpy as np
import pytest

import einx_typed as einx

RNG: Final = np.random.default_rng(0)


def floats(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def ints(high: int, *shape: int) -> np.ndarray:
    return RNG.integers(0, high, shape).astype(np.int32)


@final
@attrs.frozen
class Case:
    """A call ``fn(*inputs)``; inputs are numpy arrays converted per backend."""

    name: str
    fn: Callable[..., Any]
    inputs: tuple[np.ndarray, ...]


CASES: Final[list[Case]] = [
    # rearrange
    Case(
        "rearrange-split",
        lambda x: einx.rearrange("b (h w) c -> b h w c", x, h=2),
        (floats(2, 6, 3),),
    ),
    Case(
        "rearrange-concat",
        lambda x, y: einx.rearrange("b c, b -> b (c + 1)", x, y),
        (floats(2, 3), floats(2)),
    ),
    Case(
        "rearrange-multi-output",
        lambda x: einx.rearrange("b (q + k) -> b q, b k", x, q=2),
        (floats(2, 5),),
    ),
    Case("rearrange-broadcast", lambda x: einx.rearrange("a -> a b", x, b=3), (floats(4),)),
    # dot
    Case(
        "dot-linear", lambda x, w: einx.dot("b... [c1->c2]", x, w), (floats(2, 3, 4), floats(4, 5))
    ),
    Case(
        "dot-attention",
        lambda q, k: einx.dot("b q (h c), b k (h c) -> b q k h", q, k, h=2),
        (floats(2, 3, 4), floats(2, 5, 4)),
    ),
    Case(
        "dot-ellipsis-weight",
        lambda x, w: einx.dot("b [s...->s2] c", x, w),
        (floats(2, 3, 4, 2), floats(3, 4, 5)),
    ),
    # elementwise
    Case("add-bias", lambda x, b: einx.add("b... [c]", x, b), (floats(2, 3, 4), floats(4))),
    Case("multiply-names", lambda x, y: einx.multiply("a b, b", x, y), (floats(3, 4), floats(4))),
    Case("subtract-outer", lambda x, y: einx.subtract("a, b -> b a", x, y), (floats(3), floats(4))),
    Case(
        "where",
        lambda m, x: einx.where("a b, a b, ", m > 0, x, 0.0),
        (floats(3, 4), floats(3, 4)),
    ),
    Case("maximum", lambda x, y: einx.maximum("a b, a", x, y), (floats(3, 4), floats(3))),
    Case(
        "true_divide", lambda x, y: einx.true_divide("a b, b", x, y), (floats(3, 4), floats(4) + 3)
    ),
    Case("less", lambda x, y: einx.less("a b, b", x, y), (floats(3, 4), floats(4))),
    Case("logaddexp", lambda x, y: einx.logaddexp("a, a", x, y), (floats(5), floats(5))),
    # reduce
    Case("sum", lambda x: einx.sum("a [b] c", x), (floats(2, 3, 4),)),
    Case("mean-keepdims", lambda x: einx.mean("a [b c]", x, keepdims=True), (floats(2, 3, 4),)),
    Case("mean-arrow", lambda x: einx.mean("a b c -> c a", x), (floats(2, 3, 4),)),
    Case("var-population", lambda x: einx.var("a [b]", x), (floats(3, 5),)),
    Case("std-population", lambda x: einx.std("[a] b", x), (floats(3, 5),)),
    Case("max", lambda x: einx.max("a [b]", x), (floats(3, 5),)),
    Case("prod", lambda x: einx.prod("a [b]", x), (floats(3, 4),)),
    Case("logsumexp", lambda x: einx.logsumexp("a [b...]", x), (floats(2, 3, 4),)),
    Case("count_nonzero", lambda x: einx.count_nonzero("a [b]", x > 0), (floats(3, 5),)),
    Case("any", lambda x: einx.any("a [b]", x > 1), (floats(3, 5),)),
    # vmap_with_axis
    Case("softmax-joint", lambda x: einx.softmax("a [b c]", x), (floats(2, 3, 4),)),
    Case("log_softmax", lambda x: einx.log_softmax("a [b]", x), (floats(2, 5),)),
    Case("flip", lambda x: einx.flip("a [b] c", x), (floats(2, 3, 4),)),
    Case("roll-tuple", lambda x: einx.roll("a [b c]", x, shift=(1, -2)), (floats(2, 3, 4),)),
    Case("roll-int-broadcast", lambda x: einx.roll("a [b c]", x, shift=1), (floats(2, 3, 4),)),
    # index
    Case(
        "get_at-embedding",
        lambda e, t: einx.get_at("[v] c, b t -> b t c", e, t),
        (floats(7, 3), ints(7, 2, 4)),
    ),
    Case(
        "get_at-2d",
        lambda x, i: einx.get_at("b [h w] c, b p [2] -> b p c", x, i),
        (floats(2, 4, 5, 3), ints(4, 2, 6, 2)),
    ),
    Case(
        "set_at",
        lambda x, i, u: einx.set_at("b [h] c, b p, b p c", x, i, u),
        (floats(2, 5, 3), np.array([[0, 3], [4, 1]], np.int32), floats(2, 2, 3)),
    ),
    Case(
        "add_at-repeated-indices",
        lambda x, i, u: einx.add_at("[h] c, p, p c", x, i, u),
        (floats(4, 3), np.array([1, 1, 2, 1], np.int32), floats(4, 3)),
    ),
    Case(
        "subtract_at",
        lambda x, i, u: einx.subtract_at("[h], p, p", x, i, u),
        (floats(5), np.array([0, 4, 0], np.int32), floats(3)),
    ),
]

CASE_IDS: Final = [case.name for case in CASES]


def to_backend(x: np.ndarray, lib: str) -> Any:
    if lib == "jax":
        import jax.numpy as jnp

        return jnp.asarray(x)
    import torch

    return torch.as_tensor(x)


def to_numpy(x: Any) -> Any:
    if isinstance(x, list | tuple):
        return [to_numpy(v) for v in x]
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def assert_agree(actual: Any, expected: Any) -> None:
    actual, expected = to_numpy(actual), to_numpy(expected)
    if isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            assert_agree(a, e)
        return
    assert actual.shape == expected.shape
    if expected.dtype == np.bool_:
        np.testing.assert_array_equal(actual, expected)
    else:
        np.testing.assert_allclose(actual, expected, rtol=2e-5, atol=2e-5)


@pytest.fixture(scope="module")
def references() -> dict[str, Any]:
    """numpy results of every case; a float64 check guards the numpy reference itself."""
    return {case.name: case.fn(*case.inputs) for case in CASES}


def test_numpy_reference_matches_plain_numpy(references: dict[str, Any]) -> None:
    """Spot-check the reference against hand-written numpy, incl. the deliberate rules."""
    by_name = {case.name: case for case in CASES}
    x = by_name["var-population"].inputs[0]
    np.testing.assert_allclose(references["var-population"], x.var(axis=1), rtol=1e-5)
    x, i, u = by_name["add_at-repeated-indices"].inputs
    expected = x.copy()
    np.add.at(expected, i, u)
    np.testing.assert_allclose(references["add_at-repeated-indices"], expected, rtol=1e-5)
    x = by_name["softmax-joint"].inputs[0]
    e = np.exp(x - x.max(axis=(1, 2), keepdims=True))
    np.testing.assert_allclose(
        references["softmax-joint"], e / e.sum(axis=(1, 2), keepdims=True), rtol=1e-5
    )
    x = by_name["roll-int-broadcast"].inputs[0]
    np.testing.assert_array_equal(references["roll-int-broadcast"], np.roll(x, (1, 1), axis=(1, 2)))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("lib", ["jax", "torch"])
def test_eager_agrees_with_numpy(case: Case, lib: str, references: dict[str, Any]) -> None:
    pytest.importorskip(lib)
    inputs = [to_backend(x, lib) for x in case.inputs]
    assert_agree(case.fn(*inputs), references[case.name])


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_jax_jit_agrees_with_numpy(case: Case, references: dict[str, Any]) -> None:
    jax = pytest.importorskip("jax")
    inputs = [to_backend(x, "jax") for x in case.inputs]
    assert_agree(jax.jit(case.fn)(*inputs), references[case.name])


def pipeline(x: Any, w: Any, b: Any, table: Any, tokens: Any) -> Any:
    """Several op families in one function, so one compilation covers them all."""
    h = einx.rearrange("b (s t) c -> b s t c", x, t=2)
    h = einx.dot("b... [c1->c2]", h, w)
    h = einx.add("b... [c]", h, b)
    h = einx.softmax("b s t [c]", h)
    pooled = einx.mean("b [s t] c", h)
    looked_up = einx.get_at("[v] c, b -> b c", table, tokens)
    return einx.multiply("b c, b c", pooled, looked_up)


PIPELINE_INPUTS: Final = (floats(2, 6, 4), floats(4, 5), floats(5), floats(7, 5), ints(7, 2))


def test_torch_compile_fullgraph_agrees_with_numpy() -> None:
    torch = pytest.importorskip("torch")
    from einx_typed.backends import enable_torch_compile

    enable_torch_compile()  # torch was imported after einx_typed in this process
    expected = pipeline(*PIPELINE_INPUTS)
    compiled = torch.compile(pipeline, fullgraph=True)
    inputs = [to_backend(x, "torch") for x in PIPELINE_INPUTS]
    assert_agree(compiled(*inputs), expected)
    assert_agree(pipeline(*inputs), expected)


def test_jax_jit_pipeline_agrees_with_numpy() -> None:
    jax = pytest.importorskip("jax")
    expected = pipeline(*PIPELINE_INPUTS)
    inputs = [to_backend(x, "jax") for x in PIPELINE_INPUTS]
    assert_agree(jax.jit(pipeline)(*inputs), expected)

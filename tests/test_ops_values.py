"""Op results against NumPy float64 references, on every backend."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import einx_typed as einx

BACKENDS = ["numpy", "jax", "torch"]


def to_backend(name: str, array: np.ndarray) -> Any:
    if name == "numpy":
        return array
    if name == "jax":
        jnp = pytest.importorskip("jax.numpy")
        return jnp.asarray(array)
    torch = pytest.importorskip("torch")
    return torch.as_tensor(array)


def to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    return np.asarray(value)


rng = np.random.default_rng(0)


def rand(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def close(result: object, expected: np.ndarray, tol: float = 1e-4) -> None:
    got = to_numpy(result)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got.astype(np.float64), expected, rtol=tol, atol=tol)


def test_rearrange_reshape_transpose(backend: str) -> None:
    x = rand(2, 12, 5)
    y = einx.rearrange("b (h w) c -> c b w h", to_backend(backend, x), h=3)
    close(y, x.astype(np.float64).reshape(2, 3, 4, 5).transpose(3, 0, 2, 1))


def test_rearrange_concat_and_split(backend: str) -> None:
    x, cls = rand(2, 3, 4, 8), rand(8)
    y = einx.rearrange(
        "b s... c, c -> b (1 + (s...)) c", to_backend(backend, x), to_backend(backend, cls)
    )
    expected = np.concatenate(
        [np.broadcast_to(cls, (2, 1, 8)), x.reshape(2, 12, 8)], axis=1
    ).astype(np.float64)
    close(y, expected)
    a, b = einx.rearrange("b (s + t) -> b s, t b", to_backend(backend, x.reshape(2, 96)), s=90)
    close(a, x.reshape(2, 96)[:, :90].astype(np.float64))
    close(b, x.reshape(2, 96)[:, 90:].T.astype(np.float64))


def test_rearrange_broadcasts_new_axes(backend: str) -> None:
    x = rand(3)
    close(einx.rearrange("a -> a b", to_backend(backend, x), b=4), np.repeat(x[:, None], 4, 1))


def test_dot_weight_shorthand(backend: str) -> None:
    x, w = rand(4, 5, 6), rand(6, 7)
    close(einx.dot("b... [c1->c2]", to_backend(backend, x), to_backend(backend, w)), x @ w)


def test_dot_full_form_with_compositions(backend: str) -> None:
    q, k = rand(2, 5, 12), rand(2, 7, 12)
    y = einx.dot("b q (h c), b k (h c) -> b q k h", *(to_backend(backend, t) for t in (q, k)), h=3)
    expected = np.einsum(
        "bqhc,bkhc->bqkh", q.reshape(2, 5, 3, 4).astype(np.float64), k.reshape(2, 7, 3, 4)
    )
    close(y, expected)


def test_dot_batched_contraction_and_private_axes(backend: str) -> None:
    a, b = rand(3, 4, 5, 2), rand(3, 5, 6)
    y = einx.dot("n i k p, n k j -> j n i", to_backend(backend, a), to_backend(backend, b))
    close(y, np.einsum("nikp,nkj->jni", a.astype(np.float64), b))


def test_dot_three_operands_and_spatial_mix(backend: str) -> None:
    a, b, c = rand(3, 4), rand(4, 5), rand(5, 2)
    y = einx.dot("i j, j k, k l -> i l", *(to_backend(backend, t) for t in (a, b, c)))
    close(y, a.astype(np.float64) @ b @ c)
    x, w = rand(2, 4, 4, 3), rand(2, 2, 3, 5)
    y = einx.dot("b (s [s2->])... [c1->c2]", to_backend(backend, x), to_backend(backend, w))
    expected = np.einsum("bxpyqc,pqcd->bxyd", x.reshape(2, 2, 2, 2, 2, 3).astype(np.float64), w)
    close(y, expected)


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("add", np.add),
        ("subtract", np.subtract),
        ("multiply", np.multiply),
        ("true_divide", np.true_divide),
        ("maximum", np.maximum),
        ("minimum", np.minimum),
        ("logaddexp", np.logaddexp),
    ],
)
def test_elementwise_bracket_shorthand(backend: str, name: str, reference: object) -> None:
    x, b = rand(2, 3, 4), rand(4) + 3.0
    y = getattr(einx, name)("b... [c]", to_backend(backend, x), to_backend(backend, b))
    close(y, reference(x.astype(np.float64), b.astype(np.float64)))  # type: ignore[operator]


def test_elementwise_aligns_by_name_and_infers_output(backend: str) -> None:
    x, y = rand(2, 3), rand(3, 2)
    close(
        einx.subtract("a b, b a -> b a", to_backend(backend, x), to_backend(backend, y)),
        x.T.astype(np.float64) - y,
    )
    close(einx.add("a b, a", to_backend(backend, x), to_backend(backend, x[:, 0])), x + x[:, :1])
    close(einx.multiply("a b, ", to_backend(backend, x), 2.0), 2.0 * x.astype(np.float64))


def test_where_and_comparisons(backend: str) -> None:
    mask, a = rand(3, 3) > 0, rand(2, 3, 3)
    y = einx.where("q k, b q k,", to_backend(backend, mask), to_backend(backend, a), -1.0)
    close(y, np.where(mask, a, -1.0).astype(np.float64))
    less = einx.less("a, a", to_backend(backend, a[0, 0]), to_backend(backend, a[1, 0]))
    np.testing.assert_array_equal(to_numpy(less), a[0, 0] < a[1, 0])


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("sum", np.sum),
        ("mean", np.mean),
        ("var", np.var),
        ("std", np.std),
        ("prod", np.prod),
        ("max", np.max),
        ("min", np.min),
    ],
)
def test_reduce_over_marked_axes(backend: str, name: str, reference: object) -> None:
    x = rand(2, 3, 4, 5)
    y = getattr(einx, name)("a [b] c [d]", to_backend(backend, x))
    close(y, reference(x.astype(np.float64), axis=(1, 3)))  # type: ignore[operator]


def test_reduce_logsumexp_any_count(backend: str) -> None:
    x = rand(3, 4)
    expected = np.log(np.sum(np.exp(x.astype(np.float64)), axis=1))
    close(einx.logsumexp("a [b]", to_backend(backend, x)), expected)
    positive = to_backend(backend, x > 0)
    np.testing.assert_array_equal(to_numpy(einx.any("[a] b", positive)), (x > 0).any(0))
    np.testing.assert_array_equal(to_numpy(einx.all("[a] b", positive)), (x > 0).all(0))
    counted = to_numpy(einx.count_nonzero("a [b]", to_backend(backend, x > 0)))
    np.testing.assert_array_equal(counted, (x > 0).sum(1))


@pytest.mark.parametrize(
    ("text", "shapes"),
    [(",->", [(), ()]), ("a [b], c", [(2, 3), (4,)]), ("[a], [a] ->", [(2,), (2,)])],
)
def test_reduce_takes_exactly_one_tensor(text: str, shapes: list[tuple[int, ...]]) -> None:
    """Found by the thorough fuzz profile: ',->' crashed with an unpacking ValueError."""
    with pytest.raises(einx.OperationError, match="sum reduces one tensor, but the op string"):
        einx.sum(text, *[np.ones(shape) for shape in shapes])


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "flip", "roll"])
def test_vmap_ops_take_exactly_one_tensor(name: str) -> None:
    """Found by the thorough fuzz profile: roll(',') crashed with an unpacking ValueError."""
    kwargs = {"shift": 1} if name == "roll" else {}
    for text in (",", "a [b], a [b] -> a b"):
        with pytest.raises(einx.OperationError, match=f"{name} acts on one tensor"):
            getattr(einx, name)(text, np.ones((2, 3)), np.ones((2, 3)), **kwargs)


def test_reduce_keepdims_and_arrow_forms(backend: str) -> None:
    x = rand(2, 6, 8, 3)
    y = einx.mean("b (s [s2])... c", to_backend(backend, x), s2=2)
    close(y, x.astype(np.float64).reshape(2, 3, 2, 4, 2, 3).mean(axis=(2, 4)))
    y = einx.sum("a [b c] d", to_backend(backend, x), keepdims=True)
    close(y, x.astype(np.float64).sum(axis=(1, 2))[:, None, :])
    y = einx.max("a b c d -> d (a c)", to_backend(backend, x))
    close(y, x.astype(np.float64).max(axis=1).transpose(2, 0, 1).reshape(3, 16))


def test_reduce_merges_unknown_axes_inside_a_marker(backend: str) -> None:
    """``([a b]) c 1`` (einx case 92): ``a b`` is one axis of length 10, as in einx 0.3.0."""
    x = rand(10, 3, 1)
    y = einx.mean("([a b]) c 1", to_backend(backend, x))
    close(y, x.astype(np.float64).mean(axis=0, keepdims=True))
    y = einx.sum("([a b]) c -> c", to_backend(backend, x[..., 0]))
    close(y, x[..., 0].astype(np.float64).sum(axis=0))
    # Other ops keep einx's rule: marked axes never merge, so 'a' and 'b' stay unknown.
    with pytest.raises(einx.AxisSizeError, match="Cannot determine"):
        einx.dot("([a b]) c -> c", to_backend(backend, x[..., 0]))


def test_softmax_is_joint_over_marked_axes(backend: str) -> None:
    x = rand(2, 3, 4)
    y = einx.softmax("a [b c]", to_backend(backend, x))
    flat = x.astype(np.float64).reshape(2, 12)
    e = np.exp(flat - flat.max(1, keepdims=True))
    close(y, (e / e.sum(1, keepdims=True)).reshape(2, 3, 4))
    close(
        einx.log_softmax("a [b c]", to_backend(backend, x)),
        np.log(e / e.sum(1, keepdims=True)).reshape(2, 3, 4),
    )


def test_flip_and_roll(backend: str) -> None:
    x = rand(3, 4, 5)
    close(einx.flip("a [b] c", to_backend(backend, x)), x[:, ::-1].astype(np.float64))
    y = einx.roll("a [b c]", to_backend(backend, x), shift=2)
    close(y, np.roll(x, (2, 2), axis=(1, 2)).astype(np.float64))
    y = einx.roll("a [b c]", to_backend(backend, x), shift=(1, -2))
    close(y, np.roll(x, (1, -2), axis=(1, 2)).astype(np.float64))


def test_arange_grid(backend: str) -> None:
    y = to_numpy(einx.arange("b a -> a b [2]", a=2, b=3, backend=backend))
    expected = np.stack(np.meshgrid(np.arange(3), np.arange(2)), axis=-1)
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("dtype", ["int16", "float32"])  # int64 is int32 in JAX without x64
def test_arange_dtype(backend: str, dtype: str) -> None:
    y = einx.arange("a [1]", a=4, backend=backend, dtype=dtype)
    assert to_numpy(y).dtype == np.dtype(dtype)
    np.testing.assert_array_equal(to_numpy(y)[:, 0], np.arange(4))


@pytest.mark.parametrize(
    ("text", "caret", "axes"), [("2 [1]", "    ^", {}), ("a 2 [2]", "      ^", {"a": 3})]
)
def test_arange_unnamed_input_axis_is_not_the_output_axis(
    text: str, caret: str, axes: dict[str, int]
) -> None:
    """Found by the thorough fuzz profile: this crashed with a KeyError."""
    with pytest.raises(einx.OperationError, match="input axis '2' of arange does not occur") as e:
        einx.arange(text, backend="numpy", **axes)
    assert f"    {text}\n{caret}\n" in str(e.value)
    assert "name it" in str(e.value)


@pytest.mark.parametrize("dtype", ["foo", "bool", "complex64"])
def test_arange_rejects_other_dtypes(dtype: Any) -> None:
    with pytest.raises(einx.OperationError, match="arange needs dtype") as info:
        einx.arange("a [1]", a=4, backend="numpy", dtype=dtype)
    assert "    a [1]" in str(info.value) or "    a[1]" in str(info.value)


# --- regressions: disagreements with einx 0.3.0 found by the differential tests ---------


def test_python_scalars_and_lists_alone_compute_with_numpy() -> None:
    """einx case 407: without a tensor or a factory, numpy computes (as in einx 0.3.0)."""
    y = einx.dot("[->]", 3, 4)
    assert isinstance(y, np.ndarray)
    assert y.shape == () and int(y) == 12
    np.testing.assert_array_equal(einx.sum("a [b]", [[1, 2], [3, 4]]), [3, 7])
    np.testing.assert_array_equal(einx.add("a, ", [1.0, 2.0], 1), [2.0, 3.0])


def test_a_factory_alone_needs_an_explicit_backend() -> None:
    def ones(shape: tuple[int, ...], **kwargs: Any) -> np.ndarray:
        return np.ones(shape)

    with pytest.raises(einx.OperationError, match="Cannot determine the backend") as info:
        einx.add("a, ", ones, 1, a=2)
    assert "backend=" in str(info.value)
    np.testing.assert_array_equal(einx.add("a, ", ones, 1, a=2, backend="numpy"), [2.0, 2.0])
    with pytest.raises(einx.OperationError, match="no arguments"):
        einx.arange("a [1]", a=2)


def test_shorthand_with_a_marked_ellipsis_inside_a_composition(backend: str) -> None:
    """``([s]...)`` whose count nothing fixes is one axis ``s...`` in both operands."""
    x, y = rand(2, 3), rand(1)
    z = einx.add("a ([s]... d)", to_backend(backend, x), to_backend(backend, y), d=3)
    close(z, x.astype(np.float64) + y[0])


def test_shorthand_keeps_a_composition_without_marked_axes(backend: str) -> None:
    """NOTATION 3.3: ``b (h w) [c]`` gives the second operand ``() c``, shape ``(1, c)``."""
    x, bias = rand(2, 12, 4), rand(1, 4)
    y = einx.add("b (h w) [c]", to_backend(backend, x), to_backend(backend, bias), h=3)
    close(y, x.astype(np.float64) + bias[None])
    with pytest.raises(einx.RankError, match=r"'\(\) c' has 2 axes"):
        einx.add("b (h w) [c]", to_backend(backend, x), to_backend(backend, bias[0]), h=3)
    x2, scale = rand(6, 6, 4), rand(1, 1, 4)
    y = einx.multiply("(a b)... [c]", to_backend(backend, x2), to_backend(backend, scale), a=2)
    close(y, x2.astype(np.float64) * scale)


def test_a_marker_that_expands_to_nothing_marks_nothing(backend: str) -> None:
    x = to_backend(backend, rand(2, 3))
    for text in ("a [s]... b", "a [s...] b"):
        with pytest.raises(einx.OperationError, match="no axis is marked"):
            einx.sum(text, x)
    with pytest.raises(einx.OperationError, match="no axis is marked"):
        einx.sum("a ([s]... d)", x, d=3)  # the brackets inside an opaque ellipsis are lost
    v = rand(4)
    y = einx.mean("[h] [...]", to_backend(backend, v), keepdims=True)
    close(y, v.astype(np.float64).mean(keepdims=True))
    y = einx.mean("[h] [...]", to_backend(backend, rand(4, 2)), keepdims=True)
    assert to_numpy(y).shape == (1, 1)


def test_reduce_without_arrow_keeps_unnamed_axes(backend: str) -> None:
    """An unnamed axis such as ``2`` is the same axis in the implicit output."""
    x = rand(3, 2)
    close(einx.sum("[a] 2", to_backend(backend, x)), x.astype(np.float64).sum(0))
    y = einx.sum("(a [b]) (2 c)", to_backend(backend, rand(6, 6)), a=2, c=3, keepdims=True)
    assert to_numpy(y).shape == (2, 6)
    x = rand(3, 2)
    y = einx.max("([a]) (2)", to_backend(backend, x), keepdims=True)
    close(y, x.astype(np.float64).max(0, keepdims=True))


def test_errors_list_the_input_arguments_only() -> None:
    """Outputs are no inputs: "Input shapes" has one entry per argument, a factory as such."""

    def weight(shape: tuple[int, ...], **kwargs: Any) -> np.ndarray:
        return np.ones(shape)

    with pytest.raises(einx.AxisSizeError) as info:
        einx.dot("a b, b c -> a c", np.ones((2, 3)), weight)
    lines = str(info.value).splitlines()
    assert "Input shapes: (2, 3), factory" in lines
    with pytest.raises(einx.AxisSizeError) as info:
        einx.dot("a b, b c -> a c", np.ones((2, 3)), np.ones((4, 4)))
    assert "Input shapes: (2, 3), (4, 4)" in str(info.value).splitlines()
    with pytest.raises(einx.RankError) as info:
        einx.rearrange("a b c -> c b a", np.ones((2, 3)))
    assert "Input shapes: (2, 3)" in str(info.value).splitlines()
    with pytest.raises(einx.SolveError) as info:
        einx.check("a b -> a b c", np.ones((2, 3)), a=3)
    assert "Input shapes: (2, 3)" in str(info.value).splitlines()
    with pytest.raises(einx.SolveError) as info:
        einx.arange("a b [2]", a=2, backend="numpy")
    assert "Input shapes" not in str(info.value)


def test_rank_error_of_an_ellipsis_inside_a_composition() -> None:
    """``(s...)`` is one axis: a full sentence and a hint, no empty list of ellipsis sizes."""
    with pytest.raises(einx.RankError) as info:
        einx.add("a ([s]... d)", np.ones((2, 3)), np.ones((2, 1)), d=3)
    lines = str(info.value).splitlines()
    assert lines[0] == "Input 2 has rank 2, but its expression '(s...)' has 1 axis."
    assert "Input shapes: (2, 3), (2, 1)" in lines
    assert lines[-1].startswith("Hint: An ellipsis inside a composition such as '(s...)'")

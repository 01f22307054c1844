"""Plans: caching, compiled step lists, factories and error messages."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

import einx_typed as einx
import einx_typed.notation as notation
from einx_typed.ops import _engine


def _plan_for(op: str, text: str) -> Any:
    matches = [plan for key, (plan, _) in _engine._plans.items() if key[:2] == (op, text)]
    assert matches, f"no plan cached for {op} {text!r}"
    return matches[-1]


def test_second_call_reuses_plan_without_parsing_or_solving(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x = np.ones((4, 6, 5), np.float32)
    first = einx.rearrange("b (h w) c -> b h w c", x, h=2)

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("parse/solve called on a cached signature")

    monkeypatch.setattr(notation, "parse_op", forbidden)
    monkeypatch.setattr(notation, "solve", forbidden)
    second = einx.rearrange("b (h w) c -> b h w c", x, h=2)
    np.testing.assert_array_equal(first, second)
    with pytest.raises(AssertionError, match="cached signature"):
        einx.rearrange("b (h w) c -> b h w c", np.ones((4, 8, 5)), h=2)


def test_axis_values_of_different_types_do_not_share_plans() -> None:
    x = np.ones((6,))
    assert einx.rearrange("(a b) -> a b", x, a=2).shape == (2, 3)
    with pytest.raises(einx.EinxError):
        einx.rearrange("(a b) -> a b", x, a=2.0)


def test_dot_compiles_to_a_single_matmul() -> None:
    x, w = np.ones((16, 64, 32), np.float32), np.ones((32, 48), np.float32)
    einx.dot("b... [c1->c2]", x, w)
    assert _plan_for("dot", "b... [c1->c2]").program.methods == ("matmul",)
    einx.mean("b... [c]", x)
    assert _plan_for("mean", "b... [c]").program.methods == ("reduce",)
    einx.rearrange("b (h w) c -> b h w c", x, h=8)
    assert _plan_for("rearrange", "b (h w) c -> b h w c").program.methods == ("reshape",)
    einx.rearrange("a b c -> a b c", x)
    assert _plan_for("rearrange", "a b c -> a b c").program.methods == ()


def test_cache_is_thread_safe() -> None:
    _engine.cache_clear()
    errors: list[BaseException] = []
    x = np.arange(24.0).reshape(2, 3, 4)

    def work(seed: int) -> None:
        try:
            for i in range(40):
                n = 1 + (seed + i) % 4
                y = einx.rearrange("a b c -> (a n) c b", x, n=n)
                np.testing.assert_array_equal(
                    y, np.repeat(x.transpose(0, 2, 1)[:, None], n, 1).reshape(2 * n, 4, 3)
                )
                assert einx.sum("a [b] c", x)[1, 2] == x[1, :, 2].sum()
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert _engine.cache_size() <= _engine.CACHE_SIZE


def test_factory_gets_shape_and_filtered_kwargs() -> None:
    calls: list[tuple[tuple[int, ...], dict[str, Any]]] = []

    def everything(shape: tuple[int, ...], **kwargs: Any) -> np.ndarray:
        calls.append((shape, kwargs))
        return np.ones(shape, np.float32)

    def only_name(shape: tuple[int, ...], name: str) -> np.ndarray:
        calls.append((shape, {"name": name}))
        return np.ones(shape, np.float32)

    x = np.ones((2, 12, 15, 4), np.float32)
    y = einx.dot("b [(s s2)->s]... [c1->c2]", x, everything, s2=(3, 5), c2=6)
    assert y.shape == (2, 4, 3, 6)
    shape, kwargs = calls[-1]
    assert shape == (4, 3, 3, 5, 4, 6)
    assert kwargs == {
        "name": "weight",
        "init": "dot",
        "in_axis": (2, 3, 4),
        "out_axis": (5,),
        "batch_axis": (0, 1),
        "dtype": "float32",
    }
    einx.add("b... [c]", x, only_name)
    assert calls[-1] == ((4,), {"name": "bias"})
    shapes: list[tuple[int, ...]] = []
    einx.multiply(
        "b [s... c]", x.astype(np.int32), lambda shape: shapes.append(shape) or np.ones(shape)
    )
    assert shapes == [(12, 15, 4)]


def test_factory_dtype_defaults_to_float32_for_integer_inputs() -> None:
    seen: dict[str, Any] = {}

    def factory(shape: tuple[int, ...], dtype: str) -> np.ndarray:
        seen["dtype"] = dtype
        return np.zeros(shape, dtype)

    einx.add("a [b]", np.ones((2, 3), np.int64), factory)
    assert seen["dtype"] == "float32"
    einx.add("a [b]", np.ones((2, 3), np.float64), factory)
    assert seen["dtype"] == "float64"


def test_factory_shape_mismatch_is_an_operation_error() -> None:
    with pytest.raises(einx.OperationError, match=r"factory returned shape \(3,\)") as info:
        einx.add("a [b]", np.ones((2, 4)), lambda shape: np.ones((3,)))
    assert "(4,)" in str(info.value)


def test_factory_adapter_is_consulted_before_tensor_detection() -> None:
    class Lazy(np.ndarray):
        pass

    made: list[tuple[int, ...]] = []

    def adapter(obj: object) -> Any:
        def factory(shape: tuple[int, ...], init: str) -> np.ndarray:
            made.append(shape)
            return np.full(shape, 2.0)

        return factory

    lazy = np.zeros(1).view(Lazy)
    einx.ops.register_factory_adapter(lambda obj: isinstance(obj, Lazy), adapter)
    y = einx.multiply("a [b]", np.ones((2, 5)), lazy)
    assert made == [(5,)]
    np.testing.assert_array_equal(y, np.full((2, 5), 2.0))


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda x: einx.rearrange("a b", x), einx.OperationError, "needs an output"),
        (lambda x: einx.rearrange("a [b] -> a b", x), einx.OperationError, "brackets"),
        (lambda x: einx.rearrange("a b -> a", x), einx.OperationError, "Input axis 'b'"),
        (lambda x: einx.dot("a b", x, x), einx.OperationError, "needs an output"),
        (lambda x: einx.dot("a b, b c -> a [c]", x, x), einx.OperationError, "brackets"),
        (lambda x: einx.dot("a [b], c b -> c", x, x), einx.OperationError, "not marked"),
        (lambda x: einx.add("a [b], b -> a b", x, x), einx.OperationError, "brackets"),
        (lambda x: einx.add("a b, b a", x, x), einx.OperationError, "Cannot infer"),
        (lambda x: einx.add("a b, a c -> a b", x, x), einx.OperationError, "Input axis 'c'"),
        (lambda x: einx.add("a (b + c)", x, x), einx.OperationError, "concatenation"),
        (lambda x: einx.mean("a b", x), einx.OperationError, "no axis is marked"),
        (lambda x: einx.mean("a [b] -> a", x, keepdims=True), einx.OperationError, "keepdims"),
        (lambda x: einx.mean("a b -> a b", x), einx.OperationError, "reduces no axis"),
        (lambda x: einx.mean("[a] b -> a", x), einx.OperationError, "also occurs"),
        (lambda x: einx.softmax("a b", x), einx.OperationError, "no axis is marked"),
        (lambda x: einx.flip("a [b] -> [b]", x), einx.OperationError, "Input axis 'a'"),
        (lambda x: einx.roll("[a b]", x, shift=(1, 2, 3)), einx.OperationError, "3 shifts"),
        (lambda x: einx.sum("a [b]", x, x), einx.OperationError, "expects 1 input tensor"),
        (lambda x: einx.sum("a [b]", x, c=3), einx.SolveError, "'c' is given a value"),
    ],
)
def test_user_errors(call: Any, error: type[Exception], fragment: str) -> None:
    x = np.ones((2, 3))
    with pytest.raises(error, match=fragment) as info:
        call(x)
    message = str(info.value)
    assert "Input shapes: (2, 3)" in message
    assert "    ^" in message or "    " in message.splitlines()[1]


def test_error_caret_points_at_the_axis() -> None:
    with pytest.raises(einx.OperationError) as info:
        einx.dot("a [b], b c -> c", np.ones((2, 3)), np.ones((3, 4)))
    assert "Input shapes: (2, 3), (3, 4)" in str(info.value)
    lines = str(info.value).splitlines()
    text_line = next(i for i, line in enumerate(lines) if line.strip().startswith("a [b]"))
    caret = lines[text_line + 1]
    column = caret.index("^") - 4
    assert lines[text_line][4:][column] == "a"
    assert "Axis values" not in str(info.value)
    with pytest.raises(einx.OperationError, match="Axis values: b=3"):
        einx.rearrange("a b -> a", np.ones((2, 3)), b=3)

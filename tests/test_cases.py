"""Replay every einx 0.3.0 op case of ``tests/data/cases.json`` on numpy, JAX and PyTorch.

The case file (format: ``reference/NOTATION.md`` section 9.1) holds 427 calls harvested
from einx 0.3.0's own test suite.  Replay rule: a tensor argument is zeros of its shape
and dtype unless ``input_values`` gives values; Python scalars and lists stay Python
objects; a factory returns zeros of the shape it is asked for, in the backend's array
type.  A case expects a shape (or shapes), values, a ``matches``/``solve`` result, or an
error, which must be an :class:`einx_typed.EinxError` (any other exception fails the test).

Where einx_typed deliberately differs from einx 0.3.0 (DESIGN.md section 3), the case is
listed in :data:`DELIBERATE_DIFFERENCES` with the new expectation and the reason, and the
new behaviour is what is tested.  No case is skipped.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, final

import attrs
import numpy as np
import pytest

import einx_typed

CASES_PATH: Final = Path(__file__).parent / "data" / "cases.json"

with CASES_PATH.open() as _file:
    CASES: Final[list[dict[str, Any]]] = json.load(_file)


def case_key(index: int, case: Mapping[str, Any]) -> str:
    """A stable, readable id: position in the file, op and op string."""
    return f"{index:03d} {case['op']} {case['expr']}"


CASE_KEYS: Final[list[str]] = [case_key(i, case) for i, case in enumerate(CASES)]


@final
@attrs.frozen
class NewExpectation:
    """What einx_typed does instead of einx 0.3.0's recorded behaviour.

    ``expect_error``: the call must raise an EinxError.  ``retry_without``: keyword
    arguments that no expression uses; the error message must quote one of them (``'h'``),
    and removing them must restore the recorded (0.3.0) expectation — the call is replayed
    a second time without them.
    """

    expect_error: bool
    retry_without: tuple[str, ...] = ()


_UNUSED_KWARG = (
    "DESIGN.md §3: an axis value given by keyword that no expression uses is an error "
    "(einx 0.3.0 ignored it silently; a typo must not pass).  The case passed the axis "
    "values of a whole test module to every call."
)
_ZERO_SIZE = (
    "NOTATION.md §3.6/§8.1 [0.3.0 quirk]: einx 0.3.0 returned the first tensor unchanged "
    "without parsing or validating anything when a coordinate/update tensor had a zero-size "
    "dimension.  einx_typed always validates, and zero-size axes are unsupported (§2.6), "
    "so the call is a solve error like any other zero-length axis."
)

DELIBERATE_DIFFERENCES: Final[dict[str, tuple[NewExpectation, str]]] = {
    "247 add b p c, ": (
        NewExpectation(True, retry_without=("h", "w")),
        _UNUSED_KWARG,
    ),
    "248 add c (p b), ": (
        NewExpectation(True, retry_without=("h", "w")),
        _UNUSED_KWARG,
    ),
    "321 add (h b) w c, ": (
        NewExpectation(True, retry_without=("p",)),
        _UNUSED_KWARG,
    ),
    "322 add h c w, ": (
        NewExpectation(True, retry_without=("p", "b")),
        _UNUSED_KWARG,
    ),
    "323 add h w, ": (
        NewExpectation(True, retry_without=("p", "b", "c")),
        _UNUSED_KWARG,
    ),
    "242 set_at b [h w] c, b p [2], b p c -> b [h w] c": (NewExpectation(True), _ZERO_SIZE),
    "243 set_at b [h w] c, b p [2], b c -> b [h w] c": (NewExpectation(True), _ZERO_SIZE),
    "244 set_at b [h w] c, b [2], b p c -> b [h w] c": (NewExpectation(True), _ZERO_SIZE),
}


# --- replay ----------------------------------------------------------------------------

_SCALAR_DEFAULTS: Final[dict[str, Any]] = {"int": 0, "float": 0.0, "bool": False}


@final
@attrs.frozen
class FactoryCall:
    """One call that a tensor factory received."""

    shape: Any
    kwargs: dict[str, Any]


def build_arguments(
    case: Mapping[str, Any], backend: Any, factory_calls: list[FactoryCall]
) -> list[Any]:
    """The positional tensor arguments of ``case`` for ``backend`` (conftest.ArrayBackend)."""
    values = case.get("input_values") or [None] * len(case["input_kinds"])
    arguments: list[Any] = []
    for kind, shape, dtype, value in zip(
        case["input_kinds"], case["shapes"], case["dtypes"], values, strict=True
    ):
        if kind == "tensor":
            data = np.zeros(shape, dtype) if value is None else np.asarray(value, dtype)
            arguments.append(backend.asarray(data))
        elif kind == "scalar":
            arguments.append(_SCALAR_DEFAULTS[dtype] if value is None else value)
        elif kind == "list":
            arguments.append(np.zeros(shape, dtype).tolist() if value is None else value)
        elif kind == "ragged_list":
            arguments.append(ast.literal_eval(value))
        elif kind == "factory":
            arguments.append(_factory(backend, dtype, factory_calls))
        else:
            raise AssertionError(f"unknown input kind {kind!r} in the case file")
    return arguments


def _factory(backend: Any, dtype: str, calls: list[FactoryCall]) -> Callable[..., Any]:
    def factory(shape: Any, **kwargs: Any) -> Any:
        calls.append(FactoryCall(shape, kwargs))
        return backend.zeros(tuple(shape), dtype)

    return factory


def call_op(
    case: Mapping[str, Any], backend: Any, arguments: list[Any], kwargs: Mapping[str, Any]
) -> Any:
    """Call the case's op the way the original test did."""
    op = getattr(einx_typed, case["op"])
    extra: dict[str, Any] = dict(kwargs)
    if case.get("explicit_backend") or case["op"] == "arange":
        extra["backend"] = backend.name
    return op(case["expr"], *arguments, **extra)


def result_backend(case: Mapping[str, Any], backend: Any) -> Any:
    """The library a result must come from.

    Without a tensor, a factory or ``backend=`` (only Python scalars and lists), einx 0.3.0
    computes with numpy, whatever backend the other variants of the case use.
    """
    kinds = set(case["input_kinds"])
    if case.get("explicit_backend") or kinds & {"tensor", "factory"}:
        return backend
    return type(backend)("numpy")


def assert_result(case: Mapping[str, Any], backend: Any, result: Any) -> None:
    """Compare ``result`` with the case's expect_* fields."""
    op = case["op"]
    if op == "matches":
        assert result is case["expect_value"]
        return
    if op == "check":
        assert result is None
        return
    if op == "solve":
        assert_solution(result, case["expect_value"])
        return
    if case.get("expect_shapes") is not None:
        assert isinstance(result, list | tuple)
        assert len(result) == len(case["expect_shapes"])
        outputs = list(result)
        shapes = case["expect_shapes"]
    else:
        outputs = [result]
        shapes = [case["expect_shape"]]
    for output, shape in zip(outputs, shapes, strict=True):
        assert backend.is_result(output), f"{type(output)} is not a {backend.name} result"
        assert tuple(backend.to_numpy(output).shape) == tuple(shape)
    if "expect_values" in case:
        expected = case["expect_values"] if len(outputs) > 1 else [case["expect_values"]]
        for output, values in zip(outputs, expected, strict=True):
            np.testing.assert_allclose(
                backend.to_numpy(output).astype(np.float64), np.asarray(values, np.float64)
            )


def assert_solution(actual: Any, expected: Mapping[str, Any] | None) -> None:
    """``solve`` results compare by value: einx_typed gives tuples where 0.3.0 gave arrays."""
    if expected is None:
        assert actual is None
        return
    assert isinstance(actual, Mapping)
    assert set(actual) == set(expected)
    for name, value in expected.items():
        assert np.asarray(actual[name]).tolist() == np.asarray(value).tolist(), name


def snapshot(arguments: list[Any], backend: Any) -> list[np.ndarray | None]:
    """Copies of the tensor arguments, to prove that no op writes into its inputs."""
    return [
        backend.to_numpy(a).copy() if backend.is_result(a) and not callable(a) else None
        for a in arguments
    ]


def replay(case: Mapping[str, Any], backend: Any, kwargs: Mapping[str, Any]) -> Any:
    """Replay ``case`` with ``kwargs``: assert its recorded expectation."""
    factory_calls: list[FactoryCall] = []
    arguments = build_arguments(case, backend, factory_calls)
    before = snapshot(arguments, backend)
    if case["expect_error"]:
        with pytest.raises(einx_typed.EinxError):
            call_op(case, backend, arguments, kwargs)
        return None
    result = call_op(case, backend, arguments, kwargs)
    assert_result(case, result_backend(case, backend), result)
    for argument, copy in zip(arguments, before, strict=True):
        if copy is not None:
            np.testing.assert_array_equal(backend.to_numpy(argument), copy)
    for call in factory_calls:
        assert isinstance(call.shape, tuple)
        assert all(type(n) is int and n > 0 for n in call.shape), call.shape
    return result


@pytest.mark.parametrize("index", range(len(CASES)), ids=CASE_KEYS)
def test_case(index: int, array_backend: Any) -> None:
    case = CASES[index]
    key = CASE_KEYS[index]
    if key not in DELIBERATE_DIFFERENCES:
        replay(case, array_backend, case["kwargs"])
        return
    new, _reason = DELIBERATE_DIFFERENCES[key]
    arguments = build_arguments(case, array_backend, [])
    if new.expect_error:
        with pytest.raises(einx_typed.EinxError) as info:
            call_op(case, array_backend, arguments, case["kwargs"])
        if new.retry_without:
            assert any(f"'{name}'" in str(info.value) for name in new.retry_without)
    if new.retry_without:
        kept = {k: v for k, v in case["kwargs"].items() if k not in new.retry_without}
        replay(case, array_backend, kept)


def test_deliberate_differences_name_real_cases() -> None:
    """Every table entry still points at the case it was written for."""
    assert set(DELIBERATE_DIFFERENCES) <= set(CASE_KEYS)
    for key, (new, reason) in DELIBERATE_DIFFERENCES.items():
        case = CASES[CASE_KEYS.index(key)]
        assert reason
        assert new.expect_error != case["expect_error"] or new.retry_without


def test_case_file_is_complete() -> None:
    """The replay covers the whole reference file (427 cases, none dropped)."""
    assert len(CASES) == 427
    assert len(set(CASE_KEYS)) == len(CASES)


# --- the other deliberate differences of DESIGN.md §3 (no case in the file exercises them) ---


def test_bar_is_not_an_arrow() -> None:
    """0.3.0 read `|` as an undocumented alias of `->` (NOTATION §8.14)."""
    x = np.zeros((2, 3))
    with pytest.raises(einx_typed.NotationSyntaxError):
        einx_typed.rearrange("a b | b a", x)
    assert einx_typed.rearrange("a b -> b a", x).shape == (3, 2)


def test_concatenation_branch_names_are_checked_against_the_expression() -> None:
    """0.3.0 accepted `(a + b) a` (NOTATION §1.5)."""
    with pytest.raises(einx_typed.NotationSyntaxError):
        einx_typed.rearrange("(a + b) a -> a b", np.zeros((5, 2)), b=3)


def test_index_updates_do_not_mutate_and_add_at_accumulates() -> None:
    """0.3.0 wrote into numpy inputs and let repeated indices overwrite (NOTATION §3.6)."""
    x = np.zeros(4)
    before = x.copy()
    y = einx_typed.add_at("[h], p, p", x, np.array([1, 1, 3]), np.array([1.0, 2.0, 4.0]))
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(y, [0.0, 3.0, 0.0, 4.0])
    z = einx_typed.set_at("[h], p, p", x, np.array([2]), np.array([5.0]))
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(z, [0.0, 0.0, 5.0, 0.0])


def test_solve_and_matches_accept_unnamed_axes() -> None:
    """0.3.0 crashed with a MemoryError on satisfiable expressions with unnamed axes."""
    x = np.zeros((2, 3, 4))
    assert einx_typed.matches("2 b c", x) is True
    assert einx_typed.matches("3 b c", x) is False
    assert_solution(einx_typed.solve("a 3 c", x), {"a": 2, "c": 4})
    assert einx_typed.solve("a 2 c", x) is None

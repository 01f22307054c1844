"""Fuzz every public op with arbitrary op strings and axis values on small numpy inputs.

The contract under test: whatever the user passes, the only exceptions that leave
einx_typed are :class:`einx_typed.EinxError` subclasses (which are also ValueErrors).
An IndexError, KeyError, TypeError, AssertionError, RecursionError, a numpy error or a
typeguard TypeCheckError from inside the package fails the test.

Inputs are zeros, so every index that a valid call produces is in range (out-of-range
indices are backend-defined, NOTATION.md §3.6).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from typing import Any, Final

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import einx_typed

ELEMENTWISE: Final = (
    "add",
    "subtract",
    "multiply",
    "divide",
    "true_divide",
    "floor_divide",
    "maximum",
    "minimum",
    "logaddexp",
    "where",
    "less",
    "less_equal",
    "greater",
    "greater_equal",
    "equal",
    "not_equal",
    "logical_and",
    "logical_or",
)
REDUCE: Final = (
    "sum",
    "mean",
    "var",
    "std",
    "prod",
    "max",
    "min",
    "logsumexp",
    "any",
    "all",
    "count_nonzero",
)
VMAP: Final = ("softmax", "log_softmax", "flip", "roll")
INDEX: Final = ("get_at", "set_at", "add_at", "subtract_at")
SOLVER: Final = ("solve", "matches", "check")
OTHER: Final = ("rearrange", "dot", "arange", "elementwise", "reduce", "vmap_with_axis")
ALL_OPS: Final = ELEMENTWISE + REDUCE + VMAP + INDEX + SOLVER + OTHER

AXIS_NAMES: Final = ("a", "b", "c", "s", "h", "_", "x1")

# --- op strings -------------------------------------------------------------------------

NOTATION_ALPHABET: Final = "abcs1 2 0()[]+,->.|_\t"
FRAGMENTS: Final = (
    "a",
    "b",
    "c",
    "s",
    "1",
    "2",
    "0",
    "(a b)",
    "(s...)",
    "[c]",
    "[a b]",
    "s...",
    "...",
    "[...]",
    "->",
    ",",
    "+",
    "(a + b)",
    "[a->b]",
    "[c1->c2]",
    "b...",
    "[s]...",
    "()",
    "[]",
    "(s [r])...",
    "|",
)

op_strings = st.one_of(
    st.text(max_size=16),
    st.text(alphabet=NOTATION_ALPHABET, max_size=24),
    st.lists(st.sampled_from(FRAGMENTS), max_size=7).map(" ".join),
    st.lists(st.sampled_from(FRAGMENTS), max_size=7).map("".join),
)

# --- axis values and tensors --------------------------------------------------------------

small_ints = st.integers(-2, 5)
nested_ints = st.recursive(
    small_ints, lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner), max_leaves=6
)
axis_value = st.one_of(
    small_ints,
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=3),
    st.none(),
    nested_ints,
    st.lists(st.floats(-3, 3), max_size=3),
    st.lists(st.text(max_size=2), max_size=2),
    hnp.arrays(np.int64, hnp.array_shapes(min_dims=0, max_dims=2, max_side=3), elements=small_ints),
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=1, max_side=3)),
    st.just(np.int64(3)),
    st.just(np.float32(2.0)),
)
axis_values = st.dictionaries(st.sampled_from(AXIS_NAMES), axis_value, max_size=3)


def _factory(shape_ok: bool) -> Callable[..., Any]:
    def factory(shape: Any, **kwargs: Any) -> Any:
        return np.zeros(shape) if shape_ok else np.zeros((7, 1))

    return factory


tensor = st.one_of(
    hnp.arrays(
        dtype=st.sampled_from([np.float64, np.int64, np.float32, np.bool_]),
        shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
        elements=st.just(0),
    ),
    st.sampled_from([0, 1.5, True]),
    st.lists(st.integers(0, 1), max_size=3),
    st.just([[0], [0, 0]]),  # ragged
    st.booleans().map(_factory),
    st.just("not a tensor"),
    st.none(),
)
tensors = st.lists(tensor, max_size=4)

extra_params = st.fixed_dictionaries(
    {},
    optional={
        "keepdims": st.sampled_from([None, True, False]),
        "cse": st.booleans(),
        "backend": st.sampled_from(["numpy", "torch", "jax", "keras", "nonsense"]),
    },
)


def _op_specific(name: str, data: st.DataObject) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if name == "roll":
        params["shift"] = data.draw(st.one_of(small_ints, st.lists(small_ints, max_size=3)))
    elif name == "elementwise":
        params["op"] = data.draw(st.sampled_from([*ELEMENTWISE, "nonsense", np.add]))
    elif name == "reduce":
        params["op"] = data.draw(st.sampled_from([*REDUCE, "nonsense", np.sum]))
    elif name == "vmap_with_axis":
        params["op"] = data.draw(st.sampled_from(["softmax", "flip", "nonsense", np.flip]))
    return params


def _call(name: str, expr: str, args: list[Any], params: dict[str, Any]) -> None:
    op = getattr(einx_typed, name)
    if name not in REDUCE and name != "reduce":
        params.pop("keepdims", None)
    if name in SOLVER:
        params.pop("backend", None)
    if name == "arange":
        params.setdefault("backend", "numpy")
        args = []
    if name in INDEX and not args:
        args = [np.zeros(3)]  # the signature requires the indexed tensor (a Python TypeError)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numeric warnings (0 / 0) are not errors
        with contextlib.suppress(einx_typed.EinxError):
            op(expr, *args, **params)


@pytest.mark.parametrize("name", ALL_OPS)
@given(expr=op_strings, args=tensors, values=axis_values, params=extra_params, data=st.data())
def test_only_einx_errors_escape(
    name: str,
    expr: str,
    args: list[Any],
    values: dict[str, Any],
    params: dict[str, Any],
    data: st.DataObject,
) -> None:
    params = {**params, **_op_specific(name, data), **values}
    _call(name, expr, args, params)


@pytest.mark.parametrize("name", ALL_OPS)
@given(values=axis_values, data=st.data())
def test_only_einx_errors_escape_for_valid_looking_calls(
    name: str, values: dict[str, Any], data: st.DataObject
) -> None:
    """Well-formed op strings on fitting shapes, so that the fuzzed values reach the solver."""
    expr, shapes = data.draw(st.sampled_from(VALID_LOOKING[_family(name)]))
    dtype = int if name in INDEX else float  # integer coordinates for the index ops
    args: list[Any] = [np.zeros(shape, dtype) for shape in shapes]
    params = {**_op_specific(name, data), **values}
    _call(name, expr, args, params)


def _family(name: str) -> str:
    for family, members in (
        ("elementwise", (*ELEMENTWISE, "elementwise")),
        ("reduce", (*REDUCE, "reduce")),
        ("vmap", (*VMAP, "vmap_with_axis")),
        ("index", INDEX),
    ):
        if name in members:
            return family
    return name if name in ("dot", "arange") else "rearrange"


VALID_LOOKING: Final[dict[str, list[tuple[str, list[tuple[int, ...]]]]]] = {
    "rearrange": [
        ("a (b c) -> a b c", [(2, 6)]),
        ("s... c -> c (s...)", [(2, 3, 4)]),
        ("(a b) s... -> a b s...", [(6, 2)]),
        ("a, b -> (a + b)", [(2,), (3,)]),
    ],
    "dot": [
        ("a [b->c]", [(2, 3), (3, 4)]),
        ("s... [c1->c2]", [(2, 3, 4), (4, 5)]),
        ("a b, b c -> a c", [(2, 3), (3, 4)]),
    ],
    "elementwise": [
        ("a b, b", [(2, 3), (3,)]),
        ("s... [c]", [(2, 3), (3,)]),
        ("a, b -> a b c", [(2,), (3,)]),
        ("a b, a b, a b", [(2, 3), (2, 3), (2, 3)]),
    ],
    "reduce": [
        ("a [b]", [(2, 3)]),
        ("s... [c]", [(2, 3, 4)]),
        ("a (b [c])", [(2, 6)]),
        ("a b -> b", [(2, 3)]),
    ],
    "vmap": [
        ("a [b]", [(2, 3)]),
        ("s... [c]", [(2, 3, 4)]),
        ("a [b c] -> a [b c] d", [(2, 3, 4)]),
    ],
    "index": [
        ("[h] c, p -> p c", [(4, 3), (5,)]),
        ("b [h w] c, b p [2], b p c", [(2, 4, 4, 3), (2, 5, 2), (2, 5, 3)]),
        ("b [s...] c, b p [i], b p c", [(2, 4, 4, 3), (2, 5, 2), (2, 5, 3)]),
        ("[h], p", [(4,), (5,)]),
    ],
    "arange": [("c... [l]", []), ("a b [2]", [])],
}

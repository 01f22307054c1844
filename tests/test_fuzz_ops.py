"""Fuzz every public op with arbitrary op strings and axis values on small numpy inputs.

The contract under test: whatever the user passes, the only exceptions that leave
einx_typed are :class:`einx_typed.EinxError` subclasses (which are also ValueErrors).
An IndexError, KeyError, TypeError, AssertionError, RecursionError, a numpy error or a
typeguard TypeCheckError from inside the package fails the test.

Inputs are zeros, so every index that a valid call produces is in range (out-of-range
indices are backend-defined, NOTATION.md §3.6).  Axis values stay small: a huge value for
a new (broadcast) axis or for ``arange`` is a legitimate request for a huge array.
"""

from __future__ import annotations

import re
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
plausible_value = st.one_of(
    st.integers(1, 4),
    st.lists(st.integers(1, 4), max_size=3),
    st.tuples(st.integers(1, 4), st.integers(1, 4)),
    hnp.arrays(np.int64, st.integers(0, 2), elements=st.integers(1, 4)),
)


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
        try:
            op(expr, *args, **params)
        except einx_typed.EinxError as error:
            check_message(error)


def check_message(error: einx_typed.EinxError) -> None:
    """An error message starts with a sentence that has no gap where a value is missing."""
    first_line = str(error).splitlines()[0]
    garbled = re.search(r"[a-z]  +[a-z]", first_line)
    assert first_line.strip() and not garbled, f"garbled message: {first_line!r}"


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
@given(data=st.data())
def test_only_einx_errors_escape_for_valid_looking_calls(name: str, data: st.DataObject) -> None:
    """Well-formed op strings on fitting shapes, with fuzzed values for the axes they name,
    so that the values reach the solver and the op instead of failing the first check."""
    expr, shapes = data.draw(st.sampled_from(VALID_LOOKING[_family(name)]))
    names = sorted(set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expr)))
    value = st.one_of(plausible_value, axis_value)
    values = data.draw(st.dictionaries(st.sampled_from(names), value, max_size=2))
    dtype = int if name in INDEX else float  # integer coordinates for the index ops
    args: list[Any] = [np.zeros(shape, dtype) for shape in shapes]
    params = {**_op_specific(name, data), **values}
    _call(name, expr, args, params)


def _family(name: str) -> str:
    for family, members in (
        ("elementwise", (*ELEMENTWISE, "elementwise")),
        ("reduce", (*REDUCE, "reduce")),
        ("vmap", (*VMAP, "vmap_with_axis")),
        ("get", ("get_at",)),
        ("set", INDEX),
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
    "get": [
        ("[h] c, p -> p c", [(4, 3), (5,)]),
        ("b [h w] c, b p [2] -> b p c", [(2, 4, 4, 3), (2, 5, 2)]),
        ("b [s...] c, b p [i] -> c p b", [(2, 4, 4, 3), (2, 5, 2)]),
        ("[h], p -> p", [(4,), (5,)]),
    ],
    "set": [
        ("b [h w] c, b p [2], b p c", [(2, 4, 4, 3), (2, 5, 2), (2, 5, 3)]),
        ("b [s...] c, b p [i], c", [(2, 4, 4, 3), (2, 5, 2), (3,)]),
        ("[h], p, p -> [h]", [(4,), (5,), (5,)]),
    ],
    "arange": [("c... [l]", []), ("a b [2]", [])],
}


@pytest.mark.parametrize(
    ("name", "expr", "shapes", "values"),
    [
        # Found by the properties above: a value missing from the rank error's sentence.
        ("add", "a ([s]... d)", [(2, 3), (2, 1)], {"d": 3}),
        # Found by the properties above: the output expression listed as a "factory" input.
        ("rearrange", "b h w c -> b (h w) c", [(2, 3, 4)], {}),
    ],
)
def test_error_messages_found_by_fuzzing(
    name: str, expr: str, shapes: list[tuple[int, ...]], values: dict[str, Any]
) -> None:
    args: list[Any] = [np.zeros(shape) for shape in shapes]
    with pytest.raises(einx_typed.EinxError) as info:
        getattr(einx_typed, name)(expr, *args, **values)
    check_message(info.value)
    # The context lists the call's input operands only (here no factory among them).
    assert info.value.shapes is not None and len(info.value.shapes) == len(args)
    assert "factory" not in str(info.value)

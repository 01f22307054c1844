import pickle

import pytest

import einx_typed as einx
from einx_typed.errors import caret_line


def test_hierarchy_subclasses_value_error() -> None:
    for cls in (
        einx.NotationSyntaxError,
        einx.SolveError,
        einx.RankError,
        einx.AxisSizeError,
        einx.OperationError,
        einx.SpecError,
        einx.ConfigError,
    ):
        assert issubclass(cls, einx.EinxError)
    assert issubclass(einx.EinxError, ValueError)
    assert issubclass(einx.RankError, einx.SolveError)
    assert issubclass(einx.AxisSizeError, einx.SolveError)


def test_message_has_caret_shapes_values_and_hint() -> None:
    err = einx.AxisSizeError(
        "Contradictory values for axis 'a'.",
        expr="a b -> b a",
        span=(0, 1),
        shapes=[(2, 3), None],
        axis_values={"a": 3},
        hint="Drop a=3.",
    )
    text = str(err)
    assert text.splitlines() == [
        "Contradictory values for axis 'a'.",
        "    a b -> b a",
        "    ^",
        "Input shapes: (2, 3), factory",
        "Axis values: a=3",
        "Hint: Drop a=3.",
    ]


def test_errors_pickle_round_trip() -> None:
    err = einx.NotationSyntaxError("Bad name.", expr="a 1b", span=(2, 4))
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is einx.NotationSyntaxError
    assert str(again) == str(err)
    with pytest.raises(ValueError):
        raise again


def test_caret_line_clamps_span() -> None:
    assert caret_line("ab", (5, 9)).splitlines()[1] == "      ^"

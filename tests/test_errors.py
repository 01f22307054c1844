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


def test_spec_error_keeps_its_field_through_pickling() -> None:
    err = einx.SpecError("DropoutSpec field 'drop_rate' is 2.", field="drop_rate", hint="Use 0.1.")
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is einx.SpecError
    assert (again.field, again.hint, str(again)) == ("drop_rate", "Use 0.1.", str(err))


def test_config_error_renders_and_pickles_path_and_key() -> None:
    err = einx.ConfigError("must lie in [0, 1).", path="m.toml", key="layers[3].drop_rate")
    assert str(err) == "m.toml: key layers[3].drop_rate: must lie in [0, 1)."
    assert err.message == "must lie in [0, 1)."
    again = pickle.loads(pickle.dumps(err))
    assert (again.path, again.key, str(again)) == ("m.toml", "layers[3].drop_rate", str(err))
    assert str(einx.ConfigError("bad.", key="")) == "the top level: bad."
    assert str(einx.ConfigError("bad.", path="m.json")) == "m.json: bad."
    assert str(einx.ConfigError("bad.")) == "bad."


def test_with_message_keeps_class_and_fields() -> None:
    err = einx.ConfigError("bad.", path="m.toml", key="expr", expr="a [b", span=(2, 3))
    again = err.with_message("Item 2: bad.")
    assert type(again) is einx.ConfigError
    assert (again.path, again.key, again.expr, again.span) == ("m.toml", "expr", "a [b", (2, 3))
    assert str(again).splitlines()[0] == "m.toml: key expr: Item 2: bad."
    assert err.message == "bad."

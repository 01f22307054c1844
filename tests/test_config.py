"""einx_typed.config: dict, JSON and TOML round trips, the bundled specs, error reports."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from einx_typed import config
from einx_typed.errors import ConfigError
from einx_typed.layers import (
    ActivationSpec,
    DropoutSpec,
    LayerSpec,
    LinearSpec,
    NormSpec,
    SequentialSpec,
)
from einx_typed.testing import layer_specs, sequential_specs

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"

MODEL = SequentialSpec(
    [
        LinearSpec("b [...->c]", axes={"c": 16}),
        NormSpec("[b] c", decay_rate=0.9, epsilon=1e-3),
        "gelu",
        DropoutSpec("[b] ... [c]", 0.1),
        SequentialSpec(
            [LinearSpec("b [s2->s...] c", bias=False, axes={"s": (2, 3)}), NormSpec("b [s...] c")]
        ),
        ActivationSpec("softmax", "b [c]"),
    ]
)


def test_to_dict_leaves_out_defaults() -> None:
    assert config.to_dict(NormSpec("b... [c]")) == {"type": "norm", "stats": "b... [c]"}
    assert config.to_dict(LinearSpec("b [s2->s...] c", axes={"s": (2, 3)})) == {
        "type": "linear",
        "expr": "b [s2->s...] c",
        "axes": {"s": [2, 3]},
    }
    assert config.to_dict(ActivationSpec("gelu")) == {"type": "activation", "name": "gelu"}


def test_dict_round_trip() -> None:
    data = config.to_dict(MODEL)
    assert json.loads(json.dumps(data)) == data
    assert config.from_dict(data) == MODEL


@pytest.mark.parametrize("fmt", ["json", "toml"])
def test_file_round_trip(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"model.{fmt}"
    config.dump(MODEL, path)
    assert config.load(path) == MODEL


def test_toml_output_is_what_a_reference_writer_means() -> None:
    ours = tomllib.loads(config.dumps(MODEL, "toml"))
    reference = tomllib.loads(tomli_w.dumps(config.to_dict(MODEL)))
    assert ours == reference


def test_activation_names_may_be_plain_strings() -> None:
    data = {"type": "sequential", "layers": ["relu", {"type": "activation", "name": "tanh"}]}
    assert config.from_dict(data) == SequentialSpec(["relu", "tanh"])


@pytest.mark.parametrize("path", sorted(SPECS_DIR.glob("*.toml")), ids=lambda p: p.name)
def test_bundled_specs_load_resolve_and_round_trip(path: Path, tmp_path: Path) -> None:
    spec = config.load(path)
    assert isinstance(spec, SequentialSpec)
    shape = (2, 16, 16, 3) if "catalogue" in path.name else (2, 8, 8)
    resolved = spec.resolve(shape)
    assert resolved.param_count > 0
    copy = tmp_path / "copy.json"
    config.dump(spec, copy)
    assert config.load(copy) == spec


def test_digits_specs_end_in_ten_classes() -> None:
    for name in ("digits_mlp.toml", "digits_mixer.toml"):
        assert config.load(SPECS_DIR / name).resolve((64, 8, 8)).output_shape == (64, 10)


def test_catalogue_holds_every_tutorial_layer() -> None:
    spec = config.load(SPECS_DIR / "tutorial_catalogue.toml")
    assert isinstance(spec, SequentialSpec)
    layers = set(spec.layers)
    tutorial = {
        NormSpec("b... [c]"),
        NormSpec("b [s...] c"),
        NormSpec("b [s...] (g [c])", axes={"g": 8}),
        NormSpec("[b...] c", decay_rate=0.9),
        NormSpec("b... [c]", mean=False, bias=False),
        LinearSpec("b... [c1->c2]", axes={"c2": 64}),
        LinearSpec("b [s...->s2] c", axes={"s2": 64}),
        LinearSpec("b [s2->s...] c", axes={"s": (64, 64)}),
        LinearSpec("b (s [s2->])... [c1->c2]", axes={"s2": 4, "c2": 64}),
        DropoutSpec("[...]", drop_rate=0.2),
        DropoutSpec("[b] ... [c]", drop_rate=0.2),
        DropoutSpec("[b] ...", drop_rate=0.2),
    }
    assert tutorial <= layers


BAD_DICTS: list[tuple[Any, str, str]] = [
    ([1, 2], "the top level", "expected a table"),
    ({"expr": "a [b->c]"}, "the top level", "lacks the required key 'type'"),
    ({"type": None, "expr": "a [b->c]"}, "key type", "unknown layer type None"),
    ({"type": "conv"}, "key type", "unknown layer type 'conv'"),
    ({"type": "linear"}, "the top level", "required key 'expr'"),
    ({"type": "linear", "expr": "a [b->c]", "axis": {"c": 2}}, "key axis", "unknown key"),
    ({"type": "linear", "expr": "a [b->c", "axes": {"c": 2}}, "key expr", "never closed"),
    ({"type": "linear", "expr": 5}, "key expr", "must be an op string"),
    ({"type": "linear", "expr": "a [b->c]", "axes": {"d": 2}}, "key axes", "'d'"),
    ({"type": "linear", "expr": "a [b->c]", "axes": {"c": "2"}}, "key axes.c", "positive int"),
    ({"type": "norm", "stats": "b [c]", "mean": "yes"}, "key mean", "True or False"),
    (
        {"type": "sequential", "layers": ["gelu", {"type": "dropout", "expr": "[...]"}]},
        "key layers[1]",
        "required key 'drop_rate'",
    ),
    (
        {
            "type": "sequential",
            "layers": [
                "gelu",
                "relu",
                {
                    "type": "sequential",
                    "layers": [{"type": "dropout", "expr": "[...]", "drop_rate": 1.5}],
                },
            ],
        },
        "key layers[2].layers[0].drop_rate",
        "[0, 1)",
    ),
    ({"type": "sequential", "layers": "gelu"}, "key layers", "expected a list"),
    ({"type": "sequential", "layers": ["swish"]}, "key layers[0].name", "one of"),
    ({"type": "sequential", "layers": [3]}, "key layers[0]", "expected a table"),
]


@pytest.mark.parametrize(("data", "where", "reason"), BAD_DICTS)
def test_bad_dicts_raise_config_error_with_the_key_path(data: Any, where: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.from_dict(data, source="model.toml")
    first_line = str(info.value).splitlines()[0]
    assert first_line.startswith(f"model.toml: {where}:")
    assert reason in str(info.value)


@pytest.mark.parametrize(("data", "where", "reason"), BAD_DICTS)
def test_bad_dicts_carry_source_and_key_as_attributes(data: Any, where: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.from_dict(data, source="model.toml")
    assert info.value.path == "model.toml"
    assert info.value.key == ("" if where == "the top level" else where.removeprefix("key "))


def test_bad_file_reports_name_and_key_path(tmp_path: Path) -> None:
    path = tmp_path / "model.toml"
    path.write_text(
        'type = "sequential"\n\n[[layers]]\ntype = "linear"\nexpr = "b [...->c]"\n'
        'axes = { c = 4 }\n\n[[layers]]\ntype = "dropout"\nexpr = "[...]"\ndrop_rate = 2.0\n'
        '\n[[layers]]\ntype = "activation"\nname = "gelu"\n\n[[layers]]\ntype = "dropout"\n'
    )
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value).startswith(f"{path}: key layers[1].drop_rate: DropoutSpec field")
    assert (info.value.path, info.value.key) == (str(path), "layers[1].drop_rate")


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("bad.json", '{"type": "linear",', "invalid JSON at line 1"),
        ("bad.toml", "type = ", "invalid TOML"),
        ("model.yaml", "type: linear", "cannot tell the config format"),
    ],
)
def test_unreadable_files(name: str, text: str, reason: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=reason) as info:
        config.load(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        config.load(tmp_path / "absent.toml")


def test_unwritable_file(tmp_path: Path) -> None:
    target = tmp_path / "absent" / "model.toml"
    with pytest.raises(ConfigError, match="cannot write the file") as info:
        config.dump(LinearSpec("b [c1->c2]", axes={"c2": 3}), target)
    assert info.value.path == str(target)


def test_format_can_be_given_explicitly(tmp_path: Path) -> None:
    path = tmp_path / "model.cfg"
    config.dump(MODEL, path, format="toml")
    assert config.load(path, format="toml") == MODEL


# --- round trips over the Hypothesis strategies ---------------------------------------------

ROUND_TRIP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_specs = st.one_of(layer_specs(), sequential_specs().map(lambda case: case[0]))


@ROUND_TRIP
@given(_specs)
def test_generated_specs_round_trip_through_dicts(spec: LayerSpec) -> None:
    data = config.to_dict(spec)
    assert config.from_dict(data) == spec
    assert config.from_dict(json.loads(json.dumps(data))) == spec


@ROUND_TRIP
@given(_specs, st.sampled_from(["json", "toml"]))
def test_generated_specs_round_trip_through_text(spec: LayerSpec, fmt: str) -> None:
    text = config.dumps(spec, fmt)
    assert config.loads(text, fmt) == spec
    parsed = json.loads(text) if fmt == "json" else tomllib.loads(text)
    assert parsed == config.to_dict(spec)


@ROUND_TRIP
@given(st.lists(_specs, min_size=1, max_size=3), st.lists(_specs, max_size=2))
def test_nested_sequentials_round_trip_through_tomllib(
    inner: list[LayerSpec], outer: list[LayerSpec]
) -> None:
    spec = SequentialSpec([*outer, SequentialSpec([SequentialSpec(inner), *outer]), "gelu"])
    assert config.from_dict(tomllib.loads(config.dumps(spec, "toml"))) == spec


@pytest.mark.parametrize(
    "spec",
    [
        LinearSpec("b [s2->s...] c", axes={"s": (2, 3, 4)}),
        LinearSpec("b [s2->s...] c", axes={"s": (5,)}),
        LinearSpec("b [c1->inf] nan", axes={"inf": 2, "nan": 3}),
        LinearSpec("b [c1->true] false", axes={"true": 2, "false": 3}),
        NormSpec("b [s...] (g [c])", axes={"g": 2}, epsilon=0.0, decay_rate=0.5),
        DropoutSpec("[b] ... [_C_1]", 0.0, axes={"_C_1": 4}),
        SequentialSpec([]),
        SequentialSpec([SequentialSpec([SequentialSpec([])])]),
        MODEL,
    ],
    ids=repr,
)
@pytest.mark.parametrize("fmt", ["json", "toml"])
def test_edge_specs_round_trip(spec: LayerSpec, fmt: str) -> None:
    text = config.dumps(spec, fmt)
    assert config.loads(text, fmt) == spec
    if fmt == "toml":
        assert config.from_dict(tomllib.loads(text)) == spec


def test_values_the_specs_accept_keep_working() -> None:
    assert config.from_dict({"type": "norm", "stats": "b... [c]", "epsilon": 0}) == NormSpec(
        "b... [c]", epsilon=0.0
    )
    assert config.from_dict({"type": "dropout", "expr": "[...]", "drop_rate": 0}) == DropoutSpec(
        "[...]", 0.0
    )
    expected = LinearSpec("b [s2->s...] c", axes={"s": (2, 3)})
    for value in ([2, 3], (2, 3)):
        data = {"type": "linear", "expr": "b [s2->s...] c", "axes": {"s": value}}
        assert config.from_dict(data) == expected
    assert config.loads("type = 'norm'\nstats = 'b... [c]'\nepsilon = 1\n", "toml") == NormSpec(
        "b... [c]", epsilon=1.0
    )
    big = 2**63 - 1
    spec = LinearSpec("b [c1->c2]", axes={"c2": big})
    assert config.loads(config.dumps(spec, "toml"), "toml") == spec


def test_the_deepest_config_loading_accepts_round_trips() -> None:
    spec: LayerSpec = LinearSpec("b [s2->s...] c", axes={"s": (2, 3)})
    depth = 0
    while True:
        deeper = SequentialSpec([spec])
        try:
            data = config.to_dict(deeper)
        except ConfigError as err:
            assert "nests deeper than" in err.message
            break
        spec, depth = deeper, depth + 1
    assert depth >= 25
    for fmt in ("json", "toml"):
        assert config.loads(config.dumps(spec, fmt), fmt) == spec
    assert config.from_dict(config.to_dict(spec)) == spec
    del data


# --- crashes found by a user, now ConfigErrors ----------------------------------------------


def _error(data: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config.from_dict(data, source="model.json")
    assert info.value.path == "model.json"
    assert info.value.__cause__ is None
    return info.value


def _text_error(text: str, fmt: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config.loads(text, fmt, source=f"model.{fmt}")
    assert info.value.path == f"model.{fmt}"
    assert info.value.__cause__ is None
    return info.value


def _chain(depth: int) -> dict[str, Any]:
    """A sequential whose only layer is a sequential, ``depth`` times (built without recursion)."""
    top: dict[str, Any] = {"type": "sequential", "layers": []}
    node = top
    for _ in range(depth):
        child: dict[str, Any] = {"type": "sequential", "layers": []}
        node["layers"].append(child)
        node = child
    return top


@pytest.mark.parametrize(
    "epsilon", [10**400, -(10**400), 10**5000], ids=["1e400", "-1e400", "1e5000"]
)
def test_huge_int_for_a_float_field(epsilon: int) -> None:
    err = _error({"type": "norm", "stats": "b... [c]", "epsilon": epsilon})
    assert err.key == "epsilon"
    assert "too large for a float" in err.message
    assert len(str(err)) < 300


def test_huge_int_for_a_float_field_in_text() -> None:
    err = _text_error(f'{{"type": "dropout", "expr": "[...]", "drop_rate": {10**400}}}', "json")
    assert err.key == "drop_rate"
    err = _text_error(f"type = 'norm'\nstats = 'b... [c]'\nepsilon = {10**400}\n", "toml")
    assert err.key == "epsilon"


@pytest.mark.parametrize("fmt", ["json", "toml"])
def test_ints_longer_than_python_reads(fmt: str) -> None:
    digits = "1" + "0" * 5000
    text = (
        f'{{"type": "linear", "expr": "b [c1->c2]", "axes": {{"c2": {digits}}}}}'
        if fmt == "json"
        else f"type = 'linear'\nexpr = 'b [c1->c2]'\naxes = {{ c2 = {digits} }}\n"
    )
    err = _text_error(text, fmt)
    assert "an integer has more than" in err.message


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("[" * 100000 + "]" * 100000, "json"),
        ('{"a": ' * 100000 + "1" + "}" * 100000, "json"),
        ('{"type": "sequential", "layers": [' * 100000 + "]}" * 100000, "json"),
        ("a = " + "[" * 100000 + "]" * 100000, "toml"),
        ("a = " + "{ b = " * 100000 + "1" + " }" * 100000, "toml"),
    ],
    ids=["json-arrays", "json-objects", "json-layers", "toml-arrays", "toml-inline-tables"],
)
def test_text_nested_100000_deep(text: str, fmt: str) -> None:
    err = _text_error(text, fmt)
    assert "nests" in err.message and "too deeply" in err.message


def test_toml_tables_nested_10000_deep() -> None:
    # tomllib reads a dotted table header in time quadratic in its length (100000 parts
    # take ~20 s there), so this one is 10000 deep: still far past MAX_DEPTH.
    err = _text_error("[" + ".".join(["layers"] * 10000) + "]\n", "toml")
    assert f"deeper than {config.MAX_DEPTH} levels" in err.message
    assert err.key == ".".join(["layers"] * config.MAX_DEPTH)


def test_dict_nested_100000_deep_as_a_layers_chain() -> None:
    err = _error(_chain(100000))
    assert f"deeper than {config.MAX_DEPTH} levels" in err.message
    assert err.key == ".".join(["layers[0]"] * (config.MAX_DEPTH // 2))


def test_just_too_deep_and_cyclic_dicts() -> None:
    err = _error(_chain(config.MAX_DEPTH // 2))
    assert err.key == ".".join(["layers[0]"] * (config.MAX_DEPTH // 2))
    cyclic: dict[str, Any] = {"type": "sequential"}
    cyclic["layers"] = [cyclic]
    assert "deeper than" in _error(cyclic).message
    assert config.from_dict(_chain(config.MAX_DEPTH // 2 - 1)) is not None


def test_spec_too_deep_to_write() -> None:
    spec = SequentialSpec([])
    for _ in range(3000):
        spec = SequentialSpec([spec])
    with pytest.raises(ConfigError, match="nests deeper than"):
        config.dumps(spec, "json")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (2.0, "2.0"),
        (2.5, "2.5"),
        (True, "True"),
        (False, "False"),
        (0, "0"),
        (-3, "-3"),
        (2**63, str(2**63)),
        (10**400, "an int of about 401 digits"),
        ("4", "'4'"),
        (None, "None"),
        ({"n": 2}, "{'n': 2}"),
        ([2, 0], "[2, 0]"),
        ([2, 2.0], "[2, 2.0]"),
        ([2, True], "[2, True]"),
        ([[2]], "[[2]]"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
    ],
    ids=lambda v: v[:24] if isinstance(v, str) else type(v).__name__,
)
def test_bad_axis_values_name_the_axis(value: object, shown: str) -> None:
    data = {
        "type": "sequential",
        "layers": [
            "gelu",
            "relu",
            {"type": "linear", "expr": "b [s2->s...] c", "axes": {"s": value}},
        ],
    }
    err = _error(data)
    assert err.key == "layers[2].axes.s"
    assert "positive int below 2**63" in err.message
    assert shown in err.message
    assert str(err).startswith("model.json: key layers[2].axes.s: an axis value must be")


@pytest.mark.parametrize(
    ("text", "fmt", "key"),
    [
        ('{"type": "norm", "stats": "b... [c]", "epsilon": NaN}', "json", "epsilon"),
        ('{"type": "norm", "stats": "b... [c]", "epsilon": Infinity}', "json", "epsilon"),
        ('{"type": "dropout", "expr": "[...]", "drop_rate": -Infinity}', "json", "drop_rate"),
        ('{"type": "norm", "stats": "[b] c", "decay_rate": NaN}', "json", "decay_rate"),
        ('{"type": "linear", "expr": "b [c1->c2]", "axes": {"c2": NaN}}', "json", "axes.c2"),
        ('{"type": "sequential", "layers": [NaN]}', "json", "layers[0]"),
        ('{"type": NaN}', "json", "type"),
        ("type = 'norm'\nstats = 'b... [c]'\nepsilon = nan\n", "toml", "epsilon"),
        ("type = 'dropout'\nexpr = '[...]'\ndrop_rate = inf\n", "toml", "drop_rate"),
        ("type = 'norm'\nstats = 'b... [c]'\nepsilon = 1e400\n", "toml", "epsilon"),
        ("type = 'linear'\nexpr = 'b [c1->c2]'\naxes = { c2 = -inf }\n", "toml", "axes.c2"),
    ],
)
def test_non_finite_numbers_in_text(text: str, fmt: str, key: str) -> None:
    err = _text_error(text, fmt)
    assert err.key == key
    reasons = ("finite", "positive int", "expected a table", "unknown layer type nan")
    assert any(reason in err.message for reason in reasons)


def test_nan_literal_at_the_top_level() -> None:
    err = _text_error("NaN", "json")
    assert (err.key, err.message) == ("", "expected a table describing a layer, got nan.")


def test_non_string_keys() -> None:
    err = _error({"type": "linear", "expr": "b [c1->c2]", 3: 4})
    assert err.key == ""
    assert "the key 3 of a linear layer is not a string" in err.message
    err = _error({"type": "linear", "expr": "b [c1->c2]", "axes": {"c2": 3, (1, 2): 4}})
    assert err.key == "axes"
    assert "the axis name (1, 2) is not a string" in err.message
    err = _error({"type": "sequential", "layers": [{"type": "activation", "name": "gelu", 1: 2}]})
    assert err.key == "layers[0]"
    err = _error({1: "linear"})
    assert (err.key, err.message) == ("", "the layer lacks the required key 'type'.")
    err = _error({"type": "linear", "expr": "b [c1->c2]", 10**5000: 1})
    assert "an int of about 5001 digits" in err.message
    err = _error({"type": "linear", "expr": "b [c1->c2]", "axes": {10**5000: 1}})
    assert (err.key, err.message) == (
        "axes",
        "the axis name an int of about 5001 digits is not a string.",
    )


def test_axis_names_that_are_no_names() -> None:
    err = _error({"type": "linear", "expr": "b [c1->c2]", "axes": {"c 2": 3}})
    assert err.key == 'axes."c 2"'
    assert "'c 2' is no axis name" in err.message
    err = _error({"type": "linear", "expr": "b [c1->c2]", "axes": {"d": 3}})
    assert err.key == "axes"
    assert "'d'" in err.message


@pytest.mark.parametrize(
    ("data", "key", "reason"),
    [
        ({"type": "linear", "expr": "b [c1->c2]", "exprs": "x"}, "exprs", "unknown key"),
        ({"type": "linear", "exp": "b [c1->c2]"}, "exp", "unknown key for a linear layer: 'exp'"),
        ({"type": "norm", "stats": "b [c]", "b": 1, "a": 2}, "a", "'a' (and 'b')"),
        (
            {
                "type": "sequential",
                "layers": ["gelu", {"type": "activation", "name": "relu", "x": 1}],
            },
            "layers[1].x",
            "unknown key for an activation layer: 'x'",
        ),
        ({"type": "activation", "name": "gelu", "Type": "x"}, "Type", "unknown key"),
        ({"type": "dropout", "expr": "[...]", "drop_rate": 0.1, "a b": 1}, '"a b"', "'a b'"),
    ],
)
def test_unknown_keys(data: dict[Any, Any], key: str, reason: str) -> None:
    err = _error(data)
    assert err.key == key
    assert reason in err.message
    assert err.hint is not None and "takes" in err.hint


# Every field of every spec with values of the wrong type (a valid table otherwise).
_BASE: dict[str, dict[str, Any]] = {
    "linear": {"type": "linear", "expr": "b [c1->c2]", "axes": {"c2": 2}},
    "norm": {"type": "norm", "stats": "b... [c]"},
    "dropout": {"type": "dropout", "expr": "[...]", "drop_rate": 0.1},
    "activation": {"type": "activation", "name": "softmax", "expr": "b [c]"},
    "sequential": {"type": "sequential", "layers": ["gelu"]},
}
_WRONG_STR = [5, 2.5, True, None, ["b [c]"], {"a": "b"}]
_WRONG_BOOL = ["yes", 1, 0, None, [True], {"a": True}]
_WRONG_FLOAT = ["0.5", True, None, [0.5], {"a": 0.5}]
_WRONG_TYPES: list[tuple[str, str, Any]] = [
    *[("linear", "expr", v) for v in _WRONG_STR],
    *[("linear", "bias", v) for v in _WRONG_BOOL],
    *[("linear", "axes", v) for v in ["c2=2", 2, True, [["c2", 2]], None]],
    *[("norm", "stats", v) for v in _WRONG_STR],
    *[("norm", "params", v) for v in _WRONG_STR],
    *[("norm", f, v) for f in ("mean", "var", "scale", "bias", "fastvar") for v in _WRONG_BOOL],
    *[("norm", "epsilon", v) for v in _WRONG_FLOAT],
    *[("norm", "decay_rate", v) for v in _WRONG_FLOAT if v is not None],
    *[("norm", "axes", v) for v in ["g", [1]]],
    *[("dropout", "expr", v) for v in _WRONG_STR],
    *[("dropout", "drop_rate", v) for v in _WRONG_FLOAT],
    *[("dropout", "axes", v) for v in ["x", [1]]],
    *[("activation", "name", v) for v in _WRONG_STR],
    *[("activation", "expr", v) for v in _WRONG_STR if v is not None],
    *[("sequential", "layers", v) for v in ["gelu", b"gelu", 5, None, {"type": "linear"}]],
]


@pytest.mark.parametrize(("kind", "field", "value"), _WRONG_TYPES)
@pytest.mark.parametrize("nested", [False, True], ids=["top", "in-layers"])
def test_wrong_types_for_every_field(kind: str, field: str, value: Any, nested: bool) -> None:
    table = {**_BASE[kind], field: value}
    data = {"type": "sequential", "layers": ["gelu", table]} if nested else table
    err = _error(data)
    assert err.key == (f"layers[1].{field}" if nested else field)
    assert str(err).startswith(f"model.json: key {err.key}: ")


@pytest.mark.parametrize("item", [3, 2.5, True, None, [], [["gelu"]], b"gelu"])
def test_layers_item_neither_table_nor_string(item: Any) -> None:
    err = _error({"type": "sequential", "layers": [{"type": "activation", "name": "gelu"}, item]})
    assert err.key == "layers[1]"
    assert err.message.startswith("expected a table describing a layer, got ")


def test_layers_item_neither_table_nor_string_in_toml() -> None:
    err = _text_error("type = 'sequential'\nlayers = ['gelu', 3]\n", "toml")
    assert (err.key, err.message) == ("layers[1]", "expected a table describing a layer, got 3.")


def test_key_paths_of_nested_layers() -> None:
    data = {
        "type": "sequential",
        "layers": [
            {"type": "linear", "expr": "b [c1->c2"},
            "gelu",
            {"type": "linear", "expr": "b [c1->c]", "axes": {"c": 4}},
            {"type": "dropout", "expr": "[...]", "drop_rate": 0.5},
        ],
    }
    assert _error(data).key == "layers[0].expr"
    data["layers"][0] = "relu"
    data["layers"][3]["drop_rate"] = -0.5
    assert _error(data).key == "layers[3].drop_rate"
    data["layers"][3]["drop_rate"] = 0.5
    data["layers"][2]["axes"] = {"c": 0}
    err = _error(data)
    assert err.key == "layers[2].axes.c"
    assert str(err).startswith("model.json: key layers[2].axes.c: ")


def test_dumps_refuses_non_finite_floats() -> None:
    spec = NormSpec("b... [c]")
    object.__setattr__(spec, "epsilon", float("nan"))
    with pytest.raises(ConfigError, match="non-finite") as info:
        config.dumps(SequentialSpec(["gelu", spec]), "toml")
    assert info.value.key == "layers[1].epsilon"
    with pytest.raises(ConfigError, match="JSON"):
        config.dumps(spec, "json")


_junk_keys = st.text(max_size=3) | st.integers(-2, 2)
_junk_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63, 10**400, -(10**400)])
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(list(config.SPEC_TYPES)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_junk_keys, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(list(_BASE.values())),
    st.dictionaries(
        st.sampled_from(["expr", "stats", "params", "bias", "mean", "epsilon", "drop_rate"])
        | st.sampled_from(["decay_rate", "axes", "name", "layers", "type"])
        | _junk_keys,
        _junk_values,
        max_size=3,
    ),
)
def test_junk_raises_only_config_errors(base: dict[str, Any], changes: dict[Any, Any]) -> None:
    data = {**base, **changes}
    try:
        spec = config.from_dict(data)
    except ConfigError as err:
        assert err.__cause__ is None
        assert err.key is not None
        return
    for fmt in ("json", "toml"):
        assert config.loads(config.dumps(spec, fmt), fmt) == spec

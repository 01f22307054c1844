"""einx_typed.config: dict, JSON and TOML round trips, the bundled specs, error reports."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from einx_typed import config
from einx_typed.errors import ConfigError
from einx_typed.layers import (
    ActivationSpec,
    DropoutSpec,
    LinearSpec,
    NormSpec,
    SequentialSpec,
)

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

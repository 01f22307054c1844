"""Layer specs to and from plain dicts, JSON files and TOML files.

A spec becomes a dict with a ``"type"`` key (``linear``, ``norm``, ``dropout``,
``activation``, ``sequential``) and its fields; defaults are left out.  A sequential model in
TOML::

    type = "sequential"

    [[layers]]
    type = "linear"
    expr = "b [...->c]"
    axes = { c = 256 }

    [[layers]]
    type = "activation"
    name = "gelu"

Items of ``layers`` may also be plain activation names (``"gelu"``) in JSON or dicts.
Every problem raises :class:`~einx_typed.errors.ConfigError` naming the file, the key path
(``layers[3].drop_rate``) and the reason.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from einx_typed.errors import ConfigError, SpecError
from einx_typed.layers import SPEC_TYPES, LayerSpec, SequentialSpec, spec_type_name

__all__ = ["SPEC_TYPES", "dump", "dumps", "from_dict", "load", "loads", "to_dict"]

_FORMATS: Final = ("json", "toml")


def _fields(cls: type[LayerSpec]) -> tuple[Any, ...]:
    """The attrs fields of a spec class (attrs.Attribute is generic for mypy only)."""
    return tuple(attrs.fields(cls))  # type: ignore[arg-type]


def _plain(value: Any) -> Any:
    """Tuples and read-only mappings as lists and dicts."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def to_dict(spec: LayerSpec) -> dict[str, Any]:
    """``spec`` as a dict of plain values (str, bool, int, float, list, dict)."""
    cls = type(spec)
    kind = spec_type_name(cls)
    if kind is None:
        raise ConfigError(f"Cannot convert {spec!r} to a config: it is no layer spec.")
    out: dict[str, Any] = {"type": kind}
    for field in _fields(cls):
        value = getattr(spec, field.name)
        if field.name == "layers":
            out["layers"] = [to_dict(layer) for layer in value]
            continue
        default: Any = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        if default is attrs.NOTHING or value != default:
            out[field.name] = _plain(value)
    return out


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def from_dict(data: object, *, source: str | os.PathLike[str] | None = None) -> LayerSpec:
    """Build a spec from a dict made by :func:`to_dict` (or written by hand).

    ``source`` (a file name) only goes into error messages.
    """
    return _from_dict(data, "", None if source is None else str(source))


def _from_dict(data: object, path: str, source: str | None) -> LayerSpec:
    if isinstance(data, str) and path:
        data = {"type": "activation", "name": data}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"expected a table describing a layer, got {data!r}.", path=source, key=path
        )
    kind = data.get("type")
    if "type" not in data:
        raise ConfigError(
            "the layer lacks the required key 'type'.",
            path=source,
            key=path,
            hint=f"Add type = one of {', '.join(SPEC_TYPES)}.",
        )
    if not isinstance(kind, str) or kind not in SPEC_TYPES:
        raise ConfigError(
            f"unknown layer type {kind!r}.",
            path=source,
            key=_join(path, "type"),
            hint=f"Use one of {', '.join(SPEC_TYPES)}.",
        )
    cls = SPEC_TYPES[kind]
    fields = {f.name: f for f in _fields(cls)}
    unknown = [k for k in data if k != "type" and k not in fields]
    if unknown:
        raise ConfigError(
            f"unknown key for a {kind} layer.",
            path=source,
            key=_join(path, str(unknown[0])),
            hint=f"A {kind} layer takes {', '.join(fields)}.",
        )
    missing = [
        name for name, f in fields.items() if f.default is attrs.NOTHING and name not in data
    ]
    if missing:
        raise ConfigError(
            f"the {kind} layer lacks the required key {missing[0]!r}.", path=source, key=path
        )
    kwargs = {k: v for k, v in data.items() if k != "type"}
    if cls is SequentialSpec:
        layers = kwargs["layers"]
        if not isinstance(layers, list | tuple):
            raise ConfigError(
                f"expected a list of layers, got {layers!r}.",
                path=source,
                key=_join(path, "layers"),
            )
        kwargs["layers"] = [
            _from_dict(item, _join(_join(path, "layers"), i), source)
            for i, item in enumerate(layers)
        ]
    try:
        return cls(**kwargs)
    except SpecError as err:
        raise ConfigError(
            err.message,
            path=source,
            key=path if err.field is None else _join(path, err.field),
            expr=err.expr,
            span=err.span,
            axis_values=err.axis_values,
            hint=err.hint,
        ) from None


def _format_of(path: Path, fmt: str | None) -> str:
    fmt = fmt or path.suffix.lstrip(".").lower()
    if fmt not in _FORMATS:
        raise ConfigError(
            "cannot tell the config format from the file name.",
            path=str(path),
            hint="Use a .json or .toml file, or pass format='json' or 'toml'.",
        )
    return fmt


def loads(text: str, fmt: str, *, source: str | None = None) -> LayerSpec:
    """Parse a spec from JSON or TOML text (``fmt`` is ``"json"`` or ``"toml"``)."""
    name = source or f"<{fmt} text>"
    try:
        if fmt == "json":
            data = json.loads(text)
        elif fmt == "toml":
            data = tomllib.loads(text)
        else:
            raise ConfigError(f"unknown config format {fmt!r}; use 'json' or 'toml'.", path=name)
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}.", path=name
        ) from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"invalid TOML: {err}.", path=name) from None
    return _from_dict(data, "", name)


def load(path: str | os.PathLike[str], *, format: str | None = None) -> LayerSpec:
    """Read a spec from a ``.json`` or ``.toml`` file."""
    file = Path(path)
    fmt = _format_of(file, format)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read the file ({err.strerror}).", path=str(file)) from None
    except UnicodeDecodeError:
        raise ConfigError("the file is not UTF-8 text.", path=str(file)) from None
    return loads(text, fmt, source=str(file))


def dumps(spec: LayerSpec, fmt: str) -> str:
    """``spec`` as JSON or TOML text."""
    data = to_dict(spec)
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    if fmt == "toml":
        return _toml_table(data, "")
    raise ConfigError(f"Unknown config format {fmt!r}; use 'json' or 'toml'.")


def dump(spec: LayerSpec, path: str | os.PathLike[str], *, format: str | None = None) -> None:
    """Write ``spec`` to a ``.json`` or ``.toml`` file."""
    file = Path(path)
    text = dumps(spec, _format_of(file, format))
    try:
        file.write_text(text, encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot write the file ({err.strerror}).", path=str(file)) from None


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"Cannot write the non-finite number {value} to TOML.")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return (
            "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
        )
    raise ConfigError(f"Cannot write {value!r} to TOML.")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _toml_table(data: Mapping[str, Any], prefix: str) -> str:
    lines = [
        f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data.items() if not _is_table_array(v)
    ]
    for key, value in data.items():
        if _is_table_array(value):
            header = f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key)
            for item in value:
                lines.append("")
                lines.append(f"[[{header}]]")
                lines.append(_toml_table(item, header).rstrip("\n"))
    return "\n".join(lines) + "\n"

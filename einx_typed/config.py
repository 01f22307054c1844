"""Layer specs to and from plain dicts, JSON files and TOML files.

A spec becomes a dict with a ``"type"`` key (``linear``, ``norm``, ``dropout``,
``activation``, ``sequential``, from :data:`SPEC_TYPES`) and its fields; defaults are left
out.  A sequential model in TOML::

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

The conversion is a ``cattrs`` converter: its hooks add and read the ``"type"`` tag, turn
``axes`` tables into :class:`FrozenMap` and activation names into specs, and pass every
scalar through unchanged, so that the specs' own validators judge the values.  cattrs'
detailed validation collects the problems as exception groups with the key of each level
in their notes; :func:`from_dict` turns the first of them into a ``ConfigError``.  TOML is
read by ``tomllib`` and written by ``tomli_w``.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final, TypeAlias, get_origin

import attrs
import cattrs
import tomli_w
from cattrs.errors import (
    BaseValidationError,
    CattrsError,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn

from einx_typed.errors import ConfigError, EinxError, SpecError
from einx_typed.layers import SPEC_TYPES, AxisValue, FrozenMap, LayerSpec, spec_type_name
from einx_typed.layers._validate import AXIS_VALUE_RULE, axis_value_or_none, show_value

__all__ = ["SPEC_TYPES", "dump", "dumps", "from_dict", "load", "loads", "to_dict"]

_FORMATS: Final = ("json", "toml")

MAX_DEPTH: Final = 64
"""The deepest nesting of tables and lists a config may have (about 30 nested sequentials).

Deeper data is refused before conversion, which recurses once per level."""

_KeyPath: TypeAlias = tuple[str | int, ...]
"""A key path as parts: keys of tables (str) and indices of lists (int)."""

_LAYERS: Final = tuple[LayerSpec, ...]
"""The type of ``SequentialSpec.layers``."""

_BARE_KEY: Final = re.compile(r"[A-Za-z0-9_-]+")


def _render(path: _KeyPath) -> str:
    """``layers[2].axes.c``; keys that TOML would quote are quoted (``axes."x y"``)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if _BARE_KEY.fullmatch(part) else json.dumps(part)
            out = f"{out}.{key}" if out else key
    return out


def _join(path: str, field: str) -> str:
    """A spec's field path (``drop_rate``, ``layers[2].name``) below ``path``."""
    if not path:
        return field
    return path + field if field.startswith("[") else f"{path}.{field}"


class _Problem(Exception):
    """A problem that a hook found in its value; ``key`` is a key below that value."""

    def __init__(self, message: str, *, key: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.key = key
        self.hint = hint


def _walk(data: object) -> Iterator[tuple[_KeyPath, object]]:
    """Every value of ``data`` with its key path, depth first, at most ``MAX_DEPTH`` deep.

    Iterative, so that data of any depth (even a cyclic one) is walked without recursion;
    containers at depth ``MAX_DEPTH`` are yielded but not entered.
    """
    stack: list[tuple[_KeyPath, object]] = [((), data)]
    while stack:
        path, value = stack.pop()
        yield path, value
        if len(path) >= MAX_DEPTH:
            continue
        if isinstance(value, Mapping):
            children = [
                ((*path, key if isinstance(key, str) else show_value(key)), item)
                for key, item in value.items()
            ]
        elif isinstance(value, list | tuple):
            children = [((*path, index), item) for index, item in enumerate(value)]
        else:
            continue
        stack.extend(reversed(children))


def _too_deep(data: object) -> _KeyPath | None:
    """The key path of the first table or list nested deeper than ``MAX_DEPTH``, if any."""
    for path, value in _walk(data):
        if len(path) >= MAX_DEPTH and isinstance(value, Mapping | list | tuple):
            return path
    return None


# --- the converter ------------------------------------------------------------------------

_converter: Final = cattrs.Converter(
    detailed_validation=True, forbid_extra_keys=True, prefer_attrib_converters=False
)


def _as_is(value: object, _: object) -> object:
    """Scalars pass through unchanged: the spec's validators check them, not a cast."""
    return value


for _scalar in (str, bool, int, float):
    _converter.register_structure_hook(_scalar, _as_is)


def _is_frozen_map(cls: Any) -> bool:
    return cls is FrozenMap or get_origin(cls) is FrozenMap


def _structure_axes(value: object, _: object) -> FrozenMap[str, AxisValue]:
    """An ``axes`` table: every value checked under its own key (``axes.c``)."""
    if not isinstance(value, Mapping):
        raise _Problem(
            f"expected a table of axis values, got {show_value(value)}.",
            hint="For example axes = { c = 64 }.",
        )
    for name in value:
        if not isinstance(name, str):
            raise _Problem(f"the axis name {show_value(name)} is not a string.")
    errors: list[Exception] = []
    out: dict[str, AxisValue] = {}
    for name, item in value.items():
        try:
            if not name.isidentifier():
                raise _Problem(
                    f"{show_value(name)} is no axis name.",
                    hint="An axis name starts with a letter or '_' and has only letters, "
                    "digits and '_'.",
                )
            length = axis_value_or_none(item)
            if length is None:
                raise _Problem(
                    f"{AXIS_VALUE_RULE}; got {show_value(item)}.",
                    hint=f"For example {name} = 64 or, for an ellipsis, {name} = [8, 8].",
                )
            out[name] = length
        except _Problem as err:
            err.add_note(
                IterableValidationNote(f"Structuring axes @ key {name!r}", name, AxisValue)
            )
            errors.append(err)
    if errors:
        raise IterableValidationError("While structuring axes", errors, FrozenMap)
    return FrozenMap(out)


def _unstructure_axes(axes: Mapping[str, AxisValue]) -> dict[str, int | list[int]]:
    return {name: list(v) if isinstance(v, tuple) else v for name, v in axes.items()}


def _structure_layer(value: object, _: object = None) -> LayerSpec:
    """One layer: a table with a ``type`` key, or (as an item of ``layers``) an activation."""
    if isinstance(value, str):
        value = {"type": "activation", "name": value}
    if not isinstance(value, Mapping):
        raise _Problem(
            f"expected a table describing a layer, got {show_value(value)}.",
            hint="Write a table with a 'type' key, or in 'layers' an activation name.",
        )
    if "type" not in value:
        raise _Problem(
            "the layer lacks the required key 'type'.",
            hint=f"Add type = one of {', '.join(SPEC_TYPES)}.",
        )
    kind = value["type"]
    if not isinstance(kind, str) or kind not in SPEC_TYPES:
        raise _Problem(
            f"unknown layer type {show_value(kind)}.",
            key="type",
            hint=f"Use one of {', '.join(SPEC_TYPES)}.",
        )
    fields = {k: v for k, v in value.items() if k != "type"}
    return _STRUCTURE[kind](fields, SPEC_TYPES[kind])


def _unstructure_layer(spec: LayerSpec) -> dict[str, Any]:
    kind = spec_type_name(spec)
    if kind is None:
        raise ConfigError(f"Cannot convert {spec!r} to a config: it is no layer spec.")
    return {"type": kind, **_UNSTRUCTURE[kind](spec)}


_converter.register_structure_hook_func(_is_frozen_map, _structure_axes)
_converter.register_unstructure_hook_func(_is_frozen_map, _unstructure_axes)
_converter.register_structure_hook(LayerSpec, _structure_layer)
_structure_items: Final[Callable[[Any, Any], tuple[LayerSpec, ...]]] = (
    _converter.get_structure_hook(_LAYERS)
)


def _structure_layers(value: object, cls: Any) -> tuple[LayerSpec, ...]:
    """``layers``: a list (not a str or table, which cattrs would iterate) of layers."""
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise _Problem(f"expected a list of layers, got {show_value(value)}.")
    return _structure_items(value, cls)


def _unstructure_layers(layers: tuple[LayerSpec, ...]) -> list[dict[str, Any]]:
    return [_unstructure_layer(layer) for layer in layers]


_converter.register_structure_hook_func(lambda cls: cls == _LAYERS, _structure_layers)
_converter.register_unstructure_hook_func(lambda cls: cls == _LAYERS, _unstructure_layers)

_STRUCTURE: Final[dict[str, Callable[[Mapping[str, Any], Any], LayerSpec]]] = {
    kind: make_dict_structure_fn(cls, _converter) for kind, cls in SPEC_TYPES.items()
}
_UNSTRUCTURE: Final[dict[str, Callable[[Any], dict[str, Any]]]] = {
    kind: make_dict_unstructure_fn(cls, _converter, _cattrs_omit_if_default=True)
    for kind, cls in SPEC_TYPES.items()
}


# --- cattrs' exception groups to ConfigError ------------------------------------------------


def _first_problem(
    error: BaseValidationError,
) -> tuple[BaseException, _KeyPath, type | None]:
    """The first problem in cattrs' exception group, its key path and its spec class.

    Walks down the group along the notes cattrs attaches (attribute names, list indices,
    table keys).  In one table, unknown keys come first (a misspelt key is also a missing
    one), then missing keys, then the fields in order.
    """
    path: list[str | int] = []
    cls: type | None = None
    exc: BaseException = error
    while isinstance(exc, BaseValidationError):
        if isinstance(exc, ClassValidationError):
            cls = exc.cl
            fields, others = exc.group_exceptions()
            extra = [e for e in others if isinstance(e, ForbiddenExtraKeysError)]
            missing = [(e, note) for e, note in fields if isinstance(e, KeyError)]
            if extra:
                return extra[0], tuple(path), cls
            if missing:
                return KeyError(missing[0][1].name), tuple(path), cls
            if fields:
                exc, note = fields[0]
                path.append(note.name)
                continue
            exc = others[0]
        elif isinstance(exc, IterableValidationError):
            items, others = exc.group_exceptions()
            if items:
                exc, item = items[0]
                path.append(item.index)
                continue
            exc = others[0]
        else:
            exc = exc.exceptions[0]
    return exc, tuple(path), cls


def _to_config_error(
    exc: BaseException, path: _KeyPath, cls: type | None, source: str | None
) -> ConfigError:
    """``exc``, found at ``path`` while building a ``cls``, as a ConfigError."""
    where = _render(path)
    kind = spec_type_name(cls) if isinstance(cls, type) and issubclass(cls, LayerSpec) else None
    layer = f"{_article(kind)} {kind} layer" if kind else "this table"
    if isinstance(exc, ForbiddenExtraKeysError):
        keys = sorted(exc.extra_fields, key=show_value)
        takes = (
            f"{_article(kind).title()} {kind} layer takes {', '.join(_field_names(kind))}."
            if kind is not None
            else None
        )
        named = [k for k in keys if isinstance(k, str)]
        if len(named) < len(keys):
            bad = next(k for k in keys if not isinstance(k, str))
            return ConfigError(
                f"the key {show_value(bad)} of {layer} is not a string.",
                path=source,
                key=where,
                hint=takes,
            )
        others = f" (and {', '.join(show_value(k) for k in named[1:])})" if len(named) > 1 else ""
        return ConfigError(
            f"unknown key for {layer}: {show_value(named[0])}{others}.",
            path=source,
            key=_render((*path, named[0])),
            hint=takes,
        )
    if isinstance(exc, KeyError):
        name = exc.args[0] if exc.args else "?"
        return ConfigError(
            f"the {kind + ' ' if kind else ''}layer lacks the required key {name!r}.",
            path=source,
            key=where,
        )
    if isinstance(exc, _Problem):
        key = where if exc.key is None else _join(where, exc.key)
        return ConfigError(exc.message, path=source, key=key, hint=exc.hint)
    if isinstance(exc, SpecError):
        return ConfigError(
            exc.message,
            path=source,
            key=where if exc.field is None else _join(where, exc.field),
            expr=exc.expr,
            span=exc.span,
            axis_values=exc.axis_values,
            hint=exc.hint,
        )
    if isinstance(exc, EinxError):
        return ConfigError(exc.message, path=source, key=where, hint=exc.hint)
    if isinstance(exc, RecursionError):
        return ConfigError("the value nests too deeply.", path=source, key=where)
    return ConfigError(
        f"invalid value ({type(exc).__name__}: {show_value(str(exc))}).", path=source, key=where
    )


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _field_names(kind: str) -> list[str]:
    """The fields of a spec type (attrs.Attribute is generic for mypy only)."""
    return [field.name for field in attrs.fields(SPEC_TYPES[kind])]  # type: ignore[arg-type]


# --- the public functions -----------------------------------------------------------------


def to_dict(spec: LayerSpec) -> dict[str, Any]:
    """``spec`` as a dict of plain values (str, bool, int, float, list, dict)."""
    try:
        data = _unstructure_layer(spec)
    except RecursionError:
        raise ConfigError(
            f"Cannot convert the spec to a config: it nests deeper than {MAX_DEPTH} levels."
        ) from None
    deep = _too_deep(data)
    if deep is not None:
        raise ConfigError(
            f"Cannot convert the spec to a config: it nests deeper than {MAX_DEPTH} levels "
            "of tables and lists, which loading refuses.",
            key=_render(deep),
        )
    return data


def from_dict(data: object, *, source: str | os.PathLike[str] | None = None) -> LayerSpec:
    """Build a spec from a dict made by :func:`to_dict` (or written by hand).

    ``source`` (a file name) only goes into error messages.
    """
    return _from_dict(data, None if source is None else str(source))


def _from_dict(data: object, source: str | None) -> LayerSpec:
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"expected a table describing a layer, got {show_value(data)}.", path=source, key=""
        )
    deep = _too_deep(data)
    if deep is not None:
        raise ConfigError(
            f"the config nests tables and lists deeper than {MAX_DEPTH} levels.",
            path=source,
            key=_render(deep),
            hint="Flatten nested sequential layers.",
        )
    try:
        return _structure_layer(data)
    except _Problem as err:
        raise _to_config_error(err, (), None, source) from None
    except BaseValidationError as err:
        raise _to_config_error(*_first_problem(err), source) from None
    except CattrsError as err:  # no hook for a type: a bug here, still no cattrs error out
        raise ConfigError(f"cannot convert the config ({err}).", path=source) from None
    except RecursionError:
        raise ConfigError("the config nests too deeply.", path=source) from None


def _format_of(path: Path, fmt: str | None) -> str:
    fmt = fmt or path.suffix.lstrip(".").lower()
    if fmt not in _FORMATS:
        raise ConfigError(
            "cannot tell the config format from the file name.",
            path=str(path),
            hint="Use a .json or .toml file, or pass format='json' or 'toml'.",
        )
    return fmt


def _parse(text: str, fmt: str, name: str) -> object:
    """The data in JSON or TOML ``text``; every parser failure as a ConfigError."""
    label = fmt.upper()
    try:
        return json.loads(text) if fmt == "json" else tomllib.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}.", path=name
        ) from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"invalid TOML: {err}.", path=name) from None
    except RecursionError:
        raise ConfigError(
            f"the {label} text nests arrays or tables too deeply to read.",
            path=name,
            hint=f"A config nests at most {MAX_DEPTH} levels.",
        ) from None
    except ValueError as err:  # ints longer than sys.get_int_max_str_digits()
        if "integer string conversion" in str(err):
            limit = sys.get_int_max_str_digits()
            raise ConfigError(
                f"invalid {label}: an integer has more than {limit} digits.", path=name
            ) from None
        raise ConfigError(f"invalid {label}: {err}.", path=name) from None


def loads(text: str, fmt: str, *, source: str | None = None) -> LayerSpec:
    """Parse a spec from JSON or TOML text (``fmt`` is ``"json"`` or ``"toml"``)."""
    name = source or f"<{fmt} text>"
    if fmt not in _FORMATS:
        raise ConfigError(f"unknown config format {fmt!r}; use 'json' or 'toml'.", path=name)
    return _from_dict(_parse(text, fmt, name), name)


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


def _check_finite(data: Mapping[str, Any]) -> None:
    """TOML can write nan and inf, but a spec never holds them: refuse rather than write."""
    for path, value in _walk(data):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(
                f"Cannot write the non-finite number {value} to TOML.", key=_render(path)
            )


def dumps(spec: LayerSpec, fmt: str) -> str:
    """``spec`` as JSON or TOML text."""
    if fmt not in _FORMATS:
        raise ConfigError(f"Unknown config format {fmt!r}; use 'json' or 'toml'.")
    data = to_dict(spec)
    try:
        if fmt == "json":
            return json.dumps(data, indent=2, allow_nan=False) + "\n"
        _check_finite(data)
        return tomli_w.dumps(data)
    except (TypeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"Cannot write the spec as {fmt.upper()}: {err}.") from None


def dump(spec: LayerSpec, path: str | os.PathLike[str], *, format: str | None = None) -> None:
    """Write ``spec`` to a ``.json`` or ``.toml`` file."""
    file = Path(path)
    text = dumps(spec, _format_of(file, format))
    try:
        file.write_text(text, encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot write the file ({err.strerror}).", path=str(file)) from None

"""Typed dataclass configs, YAML files and ``--set a.b=c`` overrides.

Only the CLI sees raw YAML or argv; everything below it receives dataclass instances.

    cfg = build_config(ExperimentConfig, defaults, yaml_path="my.yaml", overrides=["train.epochs=5"])

Unknown keys and values of the wrong type fail with one :class:`ConfigError` line that names the key
and, where possible, suggests the nearest valid key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from trustlab.errors import ConfigError, did_you_mean

C = TypeVar("C")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check/convert ``value`` to the annotated type ``tp``; raise ConfigError naming ``key``."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        return _coerce_union(value, tp, key)
    if origin is typing.Literal:
        if value not in get_args(tp):
            options = list(get_args(tp))
            hint = did_you_mean(value, [o for o in options if isinstance(o, str)]) if isinstance(value, str) else ""
            raise ConfigError(f"config key '{key}': {value!r} is not one of {options}{hint}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}': expected a list, got {value!r}")
        args = get_args(tp)
        inner = args[0] if args else Any
        out = [_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
        return out if origin is list else tuple(out)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}': expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}': expected a mapping, got {value!r}")
        return from_dict(tp, value, prefix=f"{key}.")
    if tp in _SCALARS:
        return _SCALARS[tp](value, key)
    return value


def _coerce_union(value: Any, tp: Any, key: str) -> Any:
    """The first member of a union (``X | None``, ``int | Literal["all"]``) that ``value`` fits."""
    args = get_args(tp)
    if value is None and type(None) in args:
        return None
    errors = []
    for arg in args:
        if arg is type(None):
            continue
        try:
            return _coerce(value, arg, key)
        except ConfigError as exc:
            errors.append(str(exc))
    if len(errors) > 1:  # e.g. int | Literal["all"]: say every form the key accepts
        raise ConfigError(f"config key '{key}': {value!r} fits none of its forms: "
                          + "; ".join(e.split(": ", 1)[-1] for e in errors))
    raise ConfigError(errors[0] if errors else f"config key '{key}': bad value {value!r}")


def _to_bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ConfigError(f"config key '{key}': expected true/false, got {value!r}")


def _to_int(value: Any, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ConfigError(f"config key '{key}': expected an integer, got {value!r}")


def _to_float(value: Any, key: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):  # YAML 1.1 reads "1e-3" (no dot) as a string
        with contextlib.suppress(ValueError):  # not a number: the error below names the key
            return float(value)
    raise ConfigError(f"config key '{key}': expected a number, got {value!r}")


def _to_str(value: Any, key: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"config key '{key}': expected a string, got {value!r}")


_SCALARS = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str}


def from_dict(cls: type[C], data: dict[str, Any], prefix: str = "") -> C:
    """Build dataclass ``cls`` from a (possibly partial) dict; unknown keys are an error."""
    if not isinstance(data, dict):
        raise ConfigError(f"config section '{prefix.rstrip('.') or '<root>'}' must be a mapping")
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            full = prefix + str(key)
            raise ConfigError(
                f"unknown config key '{full}'{did_you_mean(str(key), names)}; valid keys here: {', '.join(names)}"
            )
        kwargs[key] = _coerce(value, hints[key], prefix + key)
    # nested dataclasses keep their defaults for keys not given
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in kwargs and dataclasses.is_dataclass(hints[f.name]):
            if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                kwargs[f.name] = f.default_factory()  # type: ignore[misc]
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"config section '{prefix.rstrip('.') or '<root>'}': {exc}") from None


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain-dict (YAML-safe) view of a dataclass config."""
    return dataclasses.asdict(cfg)


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("NoneType", "None")


def describe(cfg: Any, indent: int = 0) -> str:
    """YAML of a dataclass config with every key, its value and its type as a comment::

        train:
          epochs: 8  # int
          optimizer: sgd  # Literal['sgd', 'adam', 'adamw']

    The YAML part loads back as a config file (``--config``); the comments say what each key accepts.
    """
    hints = get_type_hints(type(cfg))
    lines = []
    pad = "  " * indent
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            lines.append(f"{pad}{f.name}:")
            lines.append(describe(value, indent + 1))
            continue
        text = yaml.safe_dump(dataclasses.asdict(cfg)[f.name] if dataclasses.is_dataclass(value) else value,
                              default_flow_style=True, width=10_000).strip()
        text = text.removesuffix("...").strip()
        lines.append(f"{pad}{f.name}: {text}  # {_type_name(hints[f.name])}")
    return "\n".join(lines)


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``update`` into a copy of ``base``."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_override(text: str) -> dict[str, Any]:
    """``"a.b=3"`` -> ``{"a": {"b": 3}}``; the value is parsed as YAML (numbers, lists, null)."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like key=value, e.g. train.epochs=5")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override '{text}': empty key; use dotted keys like train.epochs=5")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    out: dict[str, Any] = {}
    cur = out
    parts = key.split(".")
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = value
    return out


Overrides = list[str] | dict[str, Any]
"""Overrides in Python: a dict of dotted keys (``{"train.epochs": 5}``) or nested sections; the CLI's
``--set`` strings (``["train.epochs=5"]``) are accepted too."""


def override_strings(overrides: Overrides | None) -> list[str]:
    """``overrides`` as ``key=value`` strings (the CLI form), in a stable order for dicts."""
    if overrides is None:
        return []
    if isinstance(overrides, dict):
        out = []
        for key, value in sorted(flatten(overrides).items()):
            text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
            if text.endswith("\n..."):
                text = text[: -len("\n...")]
            out.append(f"{key}={text.removesuffix('...').strip()}")
        return out
    if isinstance(overrides, str):
        raise ConfigError(f"overrides must be a list of key=value strings or a dict, not the string '{overrides}'")
    return [str(o) for o in overrides]


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (empty mappings stay as values)."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, full + "."))
        else:
            out[full] = value
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or malformed YAML is one ConfigError line."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file '{p}' does not exist")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"config file '{p}' is not valid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{p}' must hold a mapping of keys, got {type(data).__name__}")
    return data


def build_config(
    cls: type[C],
    defaults: dict[str, Any] | None = None,
    yaml_path: str | Path | None = None,
    overrides: Overrides | None = None,
) -> C:
    """Defaults, then a YAML file, then overrides (``--set`` strings or a dict), checked into ``cls``."""
    data: dict[str, Any] = dict(defaults or {})
    if yaml_path is not None:
        loaded = load_yaml(yaml_path)
        loaded.pop("recipe", None)  # a run record's config.yaml names its recipe (checked by run_recipe)
        data = merge(data, loaded)
    if isinstance(overrides, dict):
        for key, value in flatten(overrides).items():
            nested: dict[str, Any] = {}
            cur = nested
            parts = key.split(".")
            for part in parts[:-1]:
                cur = cur.setdefault(part, {})
            cur[parts[-1]] = value
            data = merge(data, nested)
    else:
        for text in override_strings(overrides):
            data = merge(data, parse_override(text))
    return from_dict(cls, data)

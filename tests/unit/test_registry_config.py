from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from trustlab.config import build_config, load_yaml, parse_override
from trustlab.errors import ConfigError, NotFoundError, TrustlabError
from trustlab.registry import Registry


def test_registry_register_get_list_and_duplicates() -> None:
    reg: Registry[object] = Registry("widget")

    @reg.register("alpha")
    class Alpha:
        """An alpha widget."""

    assert reg.get("alpha") is Alpha
    assert reg.names() == ["alpha"]
    assert reg.help("alpha") == "An alpha widget."
    reg.add("alpha", Alpha)  # same object again is fine
    with pytest.raises(TrustlabError, match="registered twice"):
        reg.add("alpha", object())


def test_registry_did_you_mean() -> None:
    reg: Registry[int] = Registry("recipe")
    reg.add("erm/digits-dg", 1)
    with pytest.raises(NotFoundError, match="did you mean 'erm/digits-dg'"):
        reg.get("erm/digit-dg")
    with pytest.raises(NotFoundError) as info:
        reg.get("zzzzzz")
    assert "did you mean" not in str(info.value)


@dataclass
class Inner:
    epochs: int = 3
    lr: float = 0.1
    mode: Literal["a", "b"] = "a"
    clip: float | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class Outer:
    train: Inner = field(default_factory=Inner)
    name: str = "x"


def test_build_config_defaults_yaml_overrides(tmp_path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  epochs: 7\n  lr: 1\n")
    cfg = build_config(Outer, {"name": "y"}, f, ["train.clip=0.5", "train.tags=[a, b]", "train.mode=b"])
    assert cfg.name == "y" and cfg.train.epochs == 7 and cfg.train.lr == 1.0
    assert cfg.train.clip == 0.5 and cfg.train.tags == ["a", "b"] and cfg.train.mode == "b"
    assert isinstance(cfg.train.lr, float)


@pytest.mark.parametrize(
    "override, words",
    [
        ("train.epoch=5", "unknown config key 'train.epoch' (did you mean 'epochs'?)"),
        ("train.epochs=five", "config key 'train.epochs': expected an integer"),
        ("train.mode=c", "is not one of"),
        ("train.lr=[1]", "expected a number"),
        ("nokey", "must look like key=value"),
        ("train=3", "expected a mapping"),
    ],
)
def test_bad_overrides_are_one_clear_line(override: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_config(Outer, {}, None, [override])
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_malformed_and_missing_yaml(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_yaml(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml(tmp_path / "nope.yaml")
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_yaml(lst)


def test_parse_override_types() -> None:
    assert parse_override("a.b=3") == {"a": {"b": 3}}
    assert parse_override("a=null") == {"a": None}
    assert parse_override("a=hello world") == {"a": "hello world"}


def test_float_keys_take_exponent_strings() -> None:
    """YAML 1.1 reads `1e-3` (no dot) as a string; a float key still takes it, junk is still refused."""
    from dataclasses import dataclass

    from trustlab.config import build_config
    from trustlab.errors import ConfigError

    @dataclass
    class Cfg:
        lr: float = 0.1

    assert build_config(Cfg, {}, None, ["lr=1e-3"]).lr == 0.001
    with pytest.raises(ConfigError, match="expected a number"):
        build_config(Cfg, {}, None, ["lr=fast"])

"""Which config fields does a run read? (issue 24 item 1: every config key acts, or it is not there.)

``record_reads(cfg)`` swaps every dataclass section of a built config (``cfg.train``, ``cfg.method.attack``,
...) for a copy whose class is a generated subclass: its ``__getattribute__`` records ``"section.field"``
whenever code reads a field. ``keys(cfg)`` lists every leaf field of the config; ``keys - reads`` is what no
code path read.

Reads that do not count (the code walks every field without acting on any):
- generic infrastructure: ``trustlab/config.py`` (``describe``), ``trustlab/recipes.py``, ``trustlab/runs/``
  (config.yaml, env.json, run-cache keys) and ``trustlab/bench/``;
- ``copy``/``deepcopy``, ``dataclasses.replace`` (the copy is of the recording class: what is read from it
  later counts), the generated ``__repr__``/``__eq__``/``__hash__``, and a config's own validation
  (``__post_init__``, ``check()``);
- ``dataclasses.asdict`` / ``trustlab.config.to_dict`` of the whole config (serialising the run), or called
  from the infrastructure above. The same walk of one section from a method counts as reading every field
  walked: the values are handed on (model kwargs, a sub-run's overrides, the key of a cache whose run uses
  them) and cannot be followed further.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_SRC = Path(__file__).resolve().parents[2] / "src" / "trustlab"
# walking every field here is serialization, printing or hashing, never acting on a value
_INFRA = tuple(str(p) for p in (_SRC / "recipes.py", _SRC / "runs", _SRC / "bench"))
_CONFIG = str(_SRC / "config.py")
_DATACLASSES = dataclasses.__file__
_COPY = copy.__file__
_GENERATED = "<string>"  # dataclass-generated __repr__ / __eq__ / __hash__ (python 3.11)
_VALIDATORS = ("__post_init__", "check")  # a config's own validation: reading a field to check it is not acting


class Reads:
    """The fields read while recording is on (``on`` is switched by :func:`recording`)."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.on = False


def _counts(frame: Any) -> bool:
    """Whether the read made by ``frame`` (the caller of ``__getattribute__``) acts on the value."""
    walked = None  # the object a dataclasses.asdict / to_dict walk started from
    while frame is not None:
        code = frame.f_code
        name, file = code.co_name, code.co_filename
        if file == _GENERATED or file == _COPY:
            return False
        if name in _VALIDATORS and dataclasses.is_dataclass(frame.f_locals.get("self")):
            return False
        if file == _DATACLASSES:
            if name in ("replace", "_replace"):
                return False
            if name in ("asdict", "astuple"):
                walked = frame.f_locals.get("obj")
            frame = frame.f_back  # asdict / astuple / fields: look at who asked
            continue
        if file == _CONFIG:
            if name == "to_dict":
                walked = frame.f_locals.get("cfg")
                frame = frame.f_back
                continue
            return False
        if walked is not None and getattr(type(walked), "_config_path", None) == "":
            return False  # the whole config serialised (a record, a cache key), not one section handed on
        return not file.startswith(_INFRA)
    return False


def _recording_class(cls: type, path: str, reads: Reads) -> type:
    names = frozenset(f.name for f in dataclasses.fields(cls))
    base_get = cls.__getattribute__

    def __getattribute__(self: Any, attr: str) -> Any:
        if attr in names and reads.on and _counts(sys._getframe(1)):
            reads.keys.add(f"{path}.{attr}" if path else attr)
        elif attr == "__dict__" and reads.on and _counts(sys._getframe(1)):  # cfg.__dict__: every field handed on
            reads.keys.update(f"{path}.{n}" if path else n for n in names)
        return base_get(self, attr)

    sub = type(cls.__name__, (cls,), {"__getattribute__": __getattribute__, "__slots__": (), "_config_path": path,
                                      "__module__": cls.__module__, "__qualname__": cls.__qualname__})
    return sub


def instrument(cfg: Any, reads: Reads, path: str = "") -> Any:
    """A copy of the dataclass ``cfg`` (and, recursively, of its dataclass fields) that records reads."""
    out = copy.copy(cfg)
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            object.__setattr__(out, f.name, instrument(value, reads, f"{path}.{f.name}" if path else f.name))
    object.__setattr__(out, "__class__", _recording_class(type(cfg), path, reads))
    return out


def keys(cfg: Any, path: str = "") -> set[str]:
    """Every leaf field of a dataclass config, as dotted keys."""
    out: set[str] = set()
    for f in dataclasses.fields(cfg):
        key = f"{path}.{f.name}" if path else f.name
        value = object.__getattribute__(cfg, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out |= keys(value, key)
        else:
            out.add(key)
    return out


@contextmanager
def recording(reads: Reads) -> Iterator[Reads]:
    reads.on = True
    try:
        yield reads
    finally:
        reads.on = False


@contextmanager
def recipe_reads(recipe: Any) -> Iterator[tuple[Reads, dict[str, Any]]]:
    """Patch ``recipe.run`` (for the duration) so that the run gets a recording config: yields the reads
    and ``{"cfg": the config as built, "keys": its leaf keys}`` (filled in when the run starts)."""
    reads = Reads()
    seen: dict[str, Any] = {"cfg": None, "keys": set()}
    run = recipe.run

    def recorded_run(cfg: Any, ctx: Any) -> Any:
        seen["cfg"], seen["keys"] = cfg, keys(cfg)
        with recording(reads):
            return run(instrument(cfg, reads), ctx)

    recipe.run = recorded_run
    try:
        yield reads, seen
    finally:
        recipe.run = run

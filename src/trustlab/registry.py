"""One registry class for every pluggable thing: datasets, models, methods, recipes, claims, ...

Usage::

    from trustlab.registry import MODELS

    @MODELS.register("small_cnn")
    def build_small_cnn(num_classes: int, **kw): ...

    MODELS.get("small_cnn")          # -> the function
    MODELS.names()                   # -> ["small_cnn", ...]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from trustlab.errors import NotFoundError, TrustlabError, did_you_mean

T = TypeVar("T")

# Every registry `trustlab list KEY` shows, by KEY (filled as registries are created).
ALL: dict[str, Registry[Any]] = {}


class Registry(Generic[T]):
    """A named map from string keys to objects, filled with the ``register`` decorator.

    ``key`` is the name ``trustlab list KEY`` shows it under (default: ``kind`` + "s"); pass
    ``listed=False`` for internal registries. ``contract(name, obj)`` runs one item on tiny data (the
    generated contract tests call it for every item); a listed registry without one needs a test module
    that parametrizes over it.
    """

    def __init__(self, kind: str, key: str | None = None, listed: bool = True,
                 contract: Callable[[str, T], None] | None = None) -> None:
        self.kind = kind
        # contract(name, obj) exercises one registered item on tiny data and raises if it misbehaves; the
        # generated test (tests/contract/test_registries.py) calls it for every item of every listed registry.
        self.contract = contract
        self.key = key or (kind.replace(" ", "-") + "s")
        self._items: dict[str, T] = {}
        self._help: dict[str, str] = {}
        self.listed = listed
        if listed:
            ALL.setdefault(self.key, self)

    def register(self, name: str, help: str | None = None) -> Callable[[T], T]:
        """Decorator: register ``obj`` under ``name``; a second object under one name is an error."""

        def deco(obj: T) -> T:
            self.add(name, obj, help)
            return obj

        return deco

    def add(self, name: str, obj: T, help: str | None = None) -> None:
        if name in self._items and self._items[name] is not obj:
            raise TrustlabError(f"{self.kind} '{name}' is registered twice; pick another name")
        self._items[name] = obj
        doc = help if help is not None else (getattr(obj, "__doc__", None) or "")
        self._help[name] = doc.strip().splitlines()[0] if doc.strip() else ""

    def remove(self, name: str) -> None:
        """Unregister ``name`` (tests that register a temporary item); a missing name is a no-op."""
        self._items.pop(name, None)
        self._help.pop(name, None)

    def get(self, name: str) -> T:
        if name not in self._items:
            known = (f"`trustlab list {self.key}` shows the {len(self._items)} registered" if self.listed
                     else f"known: {', '.join(self.names())}")
            raise NotFoundError(f"unknown {self.kind} '{name}'{did_you_mean(name, self._items)}; {known}")
        return self._items[name]

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._items[n]) for n in self.names()]

    def help(self, name: str) -> str:
        return self._help.get(name, "")

    def __len__(self) -> int:
        return len(self._items)


DATASETS: Registry[Any] = Registry("dataset")
MODELS: Registry[Any] = Registry("model")
# The Trainables that engine.fit trains (`trustlab list methods`; the generated contract test checks each meets the
# protocol). Nothing dispatches on it: a recipe builds its method itself. Methods without a Trainable register
# elsewhere (OOD detectors in SCORERS, PeerPL's SB3 algorithms, the attacks in ATTACKS); the coop, psg, AdvSim
# detector and peer-BC loops join when they run through fit (issue 24, item 2).
METHODS: Registry[Any] = Registry("method")
RECIPES: Registry[Any] = Registry("recipe")
CLAIMS: Registry[Any] = Registry("claim")
SCORERS: Registry[Any] = Registry("scorer")
ATTACKS: Registry[Any] = Registry("attack")

# CLI extension points: a method package adds `trustlab <command>` or `trustlab data <action>` by
# registering a function ``add(subparsers) -> None`` that adds its parser and sets ``func``.
COMMANDS: Registry[Any] = Registry("command", listed=False)
DATA_COMMANDS: Registry[Any] = Registry("data command", listed=False)

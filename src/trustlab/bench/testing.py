"""Check a claim on fabricated run summaries whose verdict is known (no training).

A claim's check asks its :class:`~trustlab.bench.runner.BenchContext` for runs and reads their summaries.
:class:`FakeContext` answers every ``run`` / ``run_many`` with a :class:`FakeRecord` whose summary a
function ``make(recipe, overrides) -> dict`` builds; ``overrides`` is always a flat dict of dotted keys with
typed values (``{"train.seed": 1, "data.target": "usps"}``), however the claim spelled them. The claim
fixture tests (``tests/claims``) give every registered claim one PASS, one FAIL and one INVALID fixture this
way, so the claim code itself (which seeds it pairs, which keys it reads, which gates it checks) is tested.

A fixture may also write files into the fake run folder (``files={"checkpoints/model.pt": b""}``) for claims
that hand a run's checkpoint to the next run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from trustlab.config import Overrides, flatten, override_strings, parse_override

Summary = dict[str, Any]
Maker = Callable[[str, dict[str, Any]], Summary]


def overrides_dict(overrides: Overrides | None) -> dict[str, Any]:
    """``overrides`` (a dict or ``key=value`` strings, possibly nested) as one flat dict of typed values."""
    out: dict[str, Any] = {}
    for text in override_strings(overrides):
        out.update(flatten(parse_override(text)))
    return out


class FakeRecord:
    """Stands in for a :class:`~trustlab.runs.store.RunRecord`: ``path``, ``recipe``, ``summary()`` (what
    claims read); ``overrides`` is what it was asked with."""

    def __init__(self, recipe: str, overrides: dict[str, Any], summary: Summary, path: Path) -> None:
        self.recipe, self.overrides, self._summary, self.path = recipe, overrides, summary, path

    def summary(self) -> Summary:
        return self._summary


class FakeContext:
    """Answers a claim's run requests with fabricated summaries; ``asked`` lists what it was asked for."""

    def __init__(self, make: Maker, out_dir: Path, suite: str = "quick",
                 files: Callable[[str, dict[str, Any]], dict[str, bytes]] | None = None) -> None:
        self.make, self.out_dir, self.suite, self.files = make, Path(out_dir), suite, files
        self.runs_root = self.out_dir / "runs"
        self.asked: list[tuple[str, dict[str, Any]]] = []

    def run(self, recipe: str, overrides: Overrides | None = None) -> FakeRecord:
        return self.run_many([(recipe, overrides)])[0]

    def run_many(self, items: list[tuple[str, Overrides | None]]) -> list[FakeRecord]:
        out = []
        for recipe, overrides in items:
            ov = overrides_dict(overrides)
            self.asked.append((recipe, ov))
            path = self.runs_root / f"{len(self.asked):04d}-{recipe.replace('/', '_')}"
            path.mkdir(parents=True, exist_ok=True)
            for name, data in (self.files(recipe, ov) if self.files else {}).items():
                (path / name).parent.mkdir(parents=True, exist_ok=True)
                (path / name).write_bytes(data)
            out.append(FakeRecord(recipe, ov, self.make(recipe, ov), path))
        return out

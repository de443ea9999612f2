"""CoOp claim code: duplicate tasks are refused; the class counts the gates use match the scenes."""

from __future__ import annotations

import pytest

from trustlab.errors import ConfigError
from trustlab.methods.coop import claims, scenes
from trustlab.methods.coop.tasks import TASK_ATTR


def test_class_counts_match_the_scenes() -> None:
    assert claims.N_CLASSES == {t: len(scenes.VALUES[a]) for t, a in TASK_ATTR.items()}


def test_every_suite_lists_each_task_once() -> None:
    for sc in claims.SCALE.values():
        assert len(set(sc["tasks"])) == len(sc["tasks"])


def test_duplicate_task_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="background listed twice"):
        claims.unique_tasks([*claims.TASKS, "background"], "test")
    monkeypatch.setitem(claims.SCALE, "full", {**claims.SCALE["full"], "tasks": [*claims.TASKS, "background"]})
    with pytest.raises(ConfigError, match="background"):
        claims.fewshot_runs("full", object())


def test_floor_and_ceiling_are_a_tenth_of_the_span() -> None:
    assert claims.floor_ceiling(0.2) == pytest.approx((0.28, 0.92))

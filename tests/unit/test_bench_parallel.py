"""BenchContext.run_many: runs are made once each, and ``jobs=2`` gives the same runs as ``jobs=1``."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

import trustlab.methods  # noqa: F401  (registers the recipes)
from trustlab.bench.runner import BenchContext
from trustlab.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["data.max_per_domain=32", "data.batch_size=16", "train.epochs=1", "train.max_steps_per_epoch=2",
        "model.width=0.125"]
TEACHER = ["teacher.model.name=small_cnn", "teacher.model.width=0.125", "teacher.epochs=1"]


def _items(recipe: str, extra: list[str]) -> list[tuple[str, list[str]]]:
    return [(recipe, [f"train.seed={seed}", *TINY, *extra]) for seed in (0, 1)]


def test_run_many_serial_makes_each_run_once(tmp_path: Path) -> None:
    ctx = BenchContext("t", tmp_path)
    items = _items("student-erm/digits-dg", [])
    recs = ctx.run_many([*items, items[0]])
    assert len(recs) == 3 and recs[0].path == recs[2].path and recs[0].path != recs[1].path
    assert len(list((tmp_path / "runs" / "student-erm" / "digits-dg").iterdir())) == 2
    assert ctx.run(*items[1]).path == recs[1].path  # cached, not trained again
    with pytest.raises(ConfigError, match="--jobs must be at least 1"):
        BenchContext("t", tmp_path, jobs=0)


def test_two_workers_give_the_serial_results_and_share_one_teacher(tmp_path: Path) -> None:
    items = _items("kd/digits-dg", TEACHER)
    serial = BenchContext("t", tmp_path / "serial").run_many(items)
    ctx = BenchContext("t", tmp_path / "parallel", jobs=2, threads=1)
    try:
        parallel = ctx.run_many(items)
    finally:
        ctx.close()
    for seed, a, b in zip((0, 1), serial, parallel):
        sa, sb = a.summary(), b.summary()
        assert a.done and b.done and a.path != b.path
        assert a.config()["train"]["seed"] == b.config()["train"]["seed"] == seed  # results in item order
        assert sb["heldout_acc"] == sa["heldout_acc"] and sb["indomain_acc"] == sa["indomain_acc"]
    # both students asked for the same teacher at once: the lock lets one train it, the other reuses it
    teachers = [p for p in (tmp_path / "parallel" / "runs" / "kd" / "teacher").iterdir() if p.is_dir()]
    assert len(teachers) == 1 and (teachers[0] / "done").is_file()
    epochs = [r for r in map(json.loads, (teachers[0] / "metrics.jsonl").read_text().splitlines()) if "val/acc" in r]
    assert len(epochs) == 1  # trained once: without the lock both workers would have written an epoch
    assert {r.summary()["teacher"]["run"] for r in parallel} == {str(teachers[0])}


def _try_lock(lock: str, queue: multiprocessing.Queue) -> None:
    import fcntl

    with open(lock, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            queue.put("got it")
        except BlockingIOError:
            queue.put("blocked")


def test_teacher_lock_excludes_another_process(tmp_path: Path) -> None:
    from trustlab.runs.cache import exclusive as _exclusive

    lock = tmp_path / ".cache-x.lock"
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    with _exclusive(lock):
        p = ctx.Process(target=_try_lock, args=(str(lock), queue))
        p.start()
        p.join(60)
        assert queue.get(timeout=5) == "blocked"
    p = ctx.Process(target=_try_lock, args=(str(lock), queue))
    p.start()
    p.join(60)
    assert queue.get(timeout=5) == "got it"


def test_okd_study_runs_a_claim_with_extra_overrides(tmp_path: Path) -> None:
    from trustlab.methods.okd import study

    out = tmp_path / "s"
    assert study.main(["--out", str(out), "--scale", "smoke", "--seeds", "0", "--targets", "mnistm",
                       "--teacher", "teacher.max_per_domain=all", "--claims", "kd-beats-erm"]) == 0
    report = json.loads((out / "study.json").read_text())
    assert report["scale"]["teacher"]["teacher.max_per_domain"] == "all"
    assert set(report["claims"]) == {"kd-beats-erm"} and report["claims"]["kd-beats-erm"]["values"]["kd"]
    roles = {"kd/digits-dg student", "kd/digits-dg teacher", "student-erm/digits-dg student"}
    assert roles <= set(report["source_val"])
    teacher = next(p for p in (out / "runs" / "kd" / "teacher").iterdir() if p.is_dir())
    assert "max_per_domain: null" in (teacher / "config.yaml").read_text()  # every source image


def test_generated_run_ids_never_share_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trustlab.runs import store

    ids = iter(["same", "same", "other"])
    monkeypatch.setattr(store, "new_run_id", lambda seed=None: next(ids))
    first = store.RunRecord.create("erm/digits-dg", {"train": {"seed": 0}}, root=tmp_path)
    second = store.RunRecord.create("erm/digits-dg", {"train": {"seed": 0}}, root=tmp_path)
    assert (first.path.name, second.path.name) == ("same", "other")  # a clash draws a new id

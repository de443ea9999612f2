"""The KD/OKD teacher: cached once and reused, and every bad teacher is a one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import trustlab.methods  # noqa: F401  (registers the recipes)
from trustlab.errors import ConfigError, NotFoundError
from trustlab.experiment import DataConfig, ModelConfig, TrainConfig
from trustlab.methods.okd.teacher import TeacherConfig, build_frozen, load_teacher, preserved_rng
from trustlab.models import build_model
from trustlab.runs.store import RunRecord

TINY_DATA = DataConfig(name="digits-dg", target="usps", max_per_domain=32, batch_size=32)
TINY_TRAIN = TrainConfig(epochs=1, max_steps_per_epoch=1, device="cpu")
TINY_TEACHER = TeacherConfig(model=ModelConfig(name="small_cnn", width=0.125), epochs=1)
CPU = torch.device("cpu")


def _student_record(root: Path) -> RunRecord:
    return RunRecord.create("kd/digits-dg", {"train": {"seed": 0}}, root=root)


def test_teacher_is_trained_once_then_reused(tmp_path: Path) -> None:
    rec = _student_record(tmp_path)
    first = load_teacher(TINY_TEACHER, TINY_DATA, TINY_TRAIN, 10, CPU, rec)
    run = Path(first.info["run"])
    assert run.parent == tmp_path / "kd" / "teacher" and run.name.startswith("cache-")
    assert (run / "done").is_file() and not any(p.requires_grad for p in first.model.parameters())
    assert rec.env()["teacher_run"] == str(run)
    stamp = (run / "done").stat().st_mtime_ns
    second = load_teacher(TINY_TEACHER, TINY_DATA, TINY_TRAIN, 10, CPU, _student_record(tmp_path))
    assert second.info["run"] == str(run) and (run / "done").stat().st_mtime_ns == stamp
    assert [p.name for p in (tmp_path / "kd" / "teacher").iterdir() if not p.name.startswith(".")] == [run.name]
    # another held-out domain is another teacher (it must not have seen the student's test domain)
    other = DataConfig(name="digits-dg", target="mnist", max_per_domain=32, batch_size=32)
    by_run = TeacherConfig(run=str(run))
    with pytest.raises(ConfigError, match="used data.target='usps' but the student uses 'mnist'"):
        load_teacher(by_run, other, TINY_TRAIN, 10, CPU)
    assert torch.equal(next(iter(load_teacher(by_run, TINY_DATA, TINY_TRAIN, 10, CPU).model.state_dict().values())),
                       next(iter(first.model.state_dict().values())))


def test_missing_and_mismatched_checkpoints(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="teacher checkpoint '.*nope.pt' does not exist"):
        load_teacher(TeacherConfig(checkpoint=str(tmp_path / "nope.pt")), TINY_DATA, TINY_TRAIN, 10, CPU)
    ckpt = tmp_path / "other.pt"
    torch.save({"model": build_model("small_cnn", 10, 32, width=0.25).state_dict()}, ckpt)
    spec = ModelConfig(name="small_cnn", width=0.5)
    with pytest.raises(ConfigError, match="teacher does not match its checkpoint"):
        build_frozen(spec, ckpt, 10, 32, CPU)
    five = tmp_path / "five.pt"
    torch.save(build_model("small_cnn", 5, 32, width=0.25).state_dict(), five)
    with pytest.raises(ConfigError, match="has 5 classes but the student's data has 10"):
        load_teacher(TeacherConfig(checkpoint=str(five), model=ModelConfig("small_cnn", 0.25)), TINY_DATA,
                     TINY_TRAIN, 10, CPU)
    ok = build_frozen(ModelConfig("small_cnn", 0.25), ckpt, 10, 32, CPU)
    assert not ok.training
    empty = RunRecord.create("kd/teacher", {"model": {"name": "small_cnn", "width": 0.25}}, root=tmp_path)
    with pytest.raises(NotFoundError, match="has no checkpoints/best.pt"):
        load_teacher(TeacherConfig(run=str(empty.path)), TINY_DATA, TINY_TRAIN, 10, CPU)
    with pytest.raises(NotFoundError, match="not a run record"):
        load_teacher(TeacherConfig(run=str(tmp_path / "none")), TINY_DATA, TINY_TRAIN, 10, CPU)
    with pytest.raises(ConfigError, match="not both"):
        load_teacher(TeacherConfig(run="a", checkpoint="b"), TINY_DATA, TINY_TRAIN, 10, CPU)


def test_teacher_overrides_are_typed_and_use_the_one_run_cache(tmp_path: Path) -> None:
    """The teacher asks trustlab.runs.cache for its run with a dict (no string round trip), so a bench
    asking for the same teacher config finds the same cached run."""
    from trustlab.methods.okd import teacher as teacher_mod
    from trustlab.runs import cache

    over = teacher_mod.teacher_overrides(TINY_TEACHER, TINY_DATA, TINY_TRAIN)
    assert isinstance(over, dict) and over["model"] == {"name": "small_cnn", "width": 0.125, "weights": None}
    assert over["train"]["seed"] == 0 and over["data"]["target"] == "usps"
    assert teacher_mod.cached_run is cache.cached_run and not hasattr(teacher_mod, "section_overrides")
    got = load_teacher(TINY_TEACHER, TINY_DATA, TINY_TRAIN, 10, CPU, _student_record(tmp_path))
    assert Path(got.info["run"]) == cache.cache_path("kd/teacher", over, tmp_path)


def test_preserved_rng_restores_the_random_stream() -> None:
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    with preserved_rng():
        torch.manual_seed(123)
        torch.rand(10)
    torch.testing.assert_close(torch.rand(3), expected)


def test_teacher_may_train_on_more_source_images_than_the_student(tmp_path: Path) -> None:
    from dataclasses import replace

    from trustlab.methods.okd.teacher import teacher_overrides

    assert teacher_overrides(TINY_TEACHER, TINY_DATA, TINY_TRAIN)["data"]["max_per_domain"] == 32
    more = replace(TINY_TEACHER, max_per_domain=64)
    assert teacher_overrides(more, TINY_DATA, TINY_TRAIN)["data"]["max_per_domain"] == 64
    every = teacher_overrides(replace(TINY_TEACHER, max_per_domain="all"), TINY_DATA, TINY_TRAIN)
    assert every["data"]["max_per_domain"] is None  # None: every source training image
    with pytest.raises(ConfigError, match="teacher.max_per_domain must be positive, 'all' or null"):
        teacher_overrides(replace(TINY_TEACHER, max_per_domain=0), TINY_DATA, TINY_TRAIN)
    small = load_teacher(TINY_TEACHER, TINY_DATA, TINY_TRAIN, 10, CPU, _student_record(tmp_path))
    big = load_teacher(more, TINY_DATA, TINY_TRAIN, 10, CPU, _student_record(tmp_path))
    assert small.info["run"] != big.info["run"]  # another config, another cached teacher
    assert RunRecord.open(Path(big.info["run"])).config()["data"]["max_per_domain"] == 64
    assert RunRecord.open(Path(big.info["run"])).config()["data"]["target"] == "usps"  # never the held-out domain
    # a teacher run on another split (for DOSCO: other unseen contexts) is refused
    other_split = DataConfig(name="digits-dg", target="usps", max_per_domain=32, batch_size=32, split_seed=1)
    with pytest.raises(ConfigError, match="used data.split_seed=0 but the student uses 1"):
        load_teacher(TeacherConfig(run=big.info["run"]), other_split, TINY_TRAIN, 10, CPU)


def test_teacher_max_per_domain_typos_and_misuse_are_one_line_errors(tmp_path: Path) -> None:
    from trustlab.registry import RECIPES

    with pytest.raises(ConfigError, match=r"'al' fits none of its forms: expected an integer.*not one of \['all'\]"):
        RECIPES.get("kd/digits-dg").config(None, ["teacher.max_per_domain=al"])
    with pytest.raises(ConfigError, match="teacher.max_per_domain is for a teacher trained here"):
        load_teacher(TeacherConfig(checkpoint=str(tmp_path / "t.pt"), max_per_domain="all"), TINY_DATA, TINY_TRAIN,
                     10, CPU)

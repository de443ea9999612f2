"""The frozen KD/OKD teacher: load it from a run or a checkpoint, or train it once with ERM and cache it.

Zhou et al., "On-Device Domain Generalization" (arXiv 2209.07521): the teacher is a large network
(reference: ResNet-50) trained with plain ERM on the *source* domains, then frozen. Here:

* ``teacher.run=RUN_DIR``: reuse a finished run (its ``checkpoints/best.pt`` and ``config.yaml``);
* ``teacher.checkpoint=FILE``: a state_dict for ``teacher.model`` (e.g. an external network);
* neither (default): train ``teacher.model`` with ERM (recipe ``kd/teacher``) on the student's ``data``
  section (same dataset, held-out domains and subsampling) with the teacher's own optimisation
  (``teacher.epochs`` / ``lr`` / ``batch_size`` / ``eval_every`` / ``seed``; device, determinism and
  ``max_steps_per_epoch`` follow the student), under the same runs root, through the run cache
  (``trustlab.runs.cache.cached_run``: the run id is the sha1 of the resolved config). The next KD or
  OKD run that names the same teacher finds that finished run and reuses it (students of every seed
  share it: ``teacher.seed`` is fixed); an interrupted teacher run is resumed.

Every student records the teacher's run folder and accuracies in ``summary.json["teacher"]`` and in
``env.json["teacher_run"]`` (the link teacher -> student).

Checks (one-line errors): the teacher's class count must equal the student's (ConfigError); the
checkpoint must exist (NotFoundError) and match ``teacher.model`` (ConfigError); a teacher run must
have held out the same domains as the student (ConfigError: otherwise it saw the test domain).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from trustlab.config import to_dict
from trustlab.errors import ConfigError, NotFoundError, TrustlabError
from trustlab.experiment import DataConfig, ModelConfig, TrainConfig
from trustlab.runs.cache import cached_run
from trustlab.runs.store import RunRecord

TEACHER_RECIPE = "kd/teacher"


@dataclass
class TeacherConfig:
    """Where the teacher comes from (see the module docstring). Defaults: ResNet-18, full width."""

    run: str | None = None  # a finished teacher run folder to reuse
    checkpoint: str | None = None  # or a state_dict file for ``model``
    model: ModelConfig = field(default_factory=lambda: ModelConfig(name="resnet18", width=1.0))
    epochs: int = 8  # training the teacher (when neither run nor checkpoint is given)
    lr: float = 0.02
    batch_size: int = 64
    eval_every: int = 1
    seed: int = 0  # fixed by default: one teacher serves students of every seed
    # training images per source domain for the teacher: None, the student's data.max_per_domain; "all",
    # every source training image; or a number. A teacher may know more than its student (the paper's is
    # ImageNet-pretrained); it never sees a held-out domain or the student's validation and test images.
    max_per_domain: int | Literal["all"] | None = None


@dataclass
class LoadedTeacher:
    model: nn.Module
    info: dict[str, Any]


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Restore python/numpy/torch RNG states afterwards, so training a teacher on the fly leaves the
    student's random stream exactly as when the teacher was found in the cache."""
    py, npy, th = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(npy)
        torch.set_rng_state(th)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


def runs_root_of(record: RunRecord) -> Path:
    """The runs root a record lives under (``<root>/<recipe parts>/<run id>``)."""
    return record.path.parents[len(PurePosixPath(record.recipe).parts)]


def teacher_overrides(tcfg: TeacherConfig, data: DataConfig, train: TrainConfig) -> dict[str, Any]:
    """Overrides of recipe ``kd/teacher``: the student's data, the teacher's model and optimisation."""
    t = to_dict(TrainConfig(epochs=tcfg.epochs, lr=tcfg.lr, seed=tcfg.seed, eval_every=tcfg.eval_every))
    t.update({k: getattr(train, k) for k in ("device", "deterministic", "amp", "max_steps_per_epoch")})
    d = {**to_dict(data), "batch_size": tcfg.batch_size}
    if tcfg.max_per_domain == "all":
        d["max_per_domain"] = None
    elif tcfg.max_per_domain is not None:
        if tcfg.max_per_domain <= 0:
            raise ConfigError(f"teacher.max_per_domain must be positive, 'all' or null (the student's), "
                              f"got {tcfg.max_per_domain}")
        d["max_per_domain"] = tcfg.max_per_domain
    return {"data": d, "model": to_dict(tcfg.model), "train": t}


def _classifier_key(model: nn.Module) -> str | None:
    head = model.classifier().weight  # type: ignore[operator]
    return next((k for k, p in model.named_parameters() if p is head), None)


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(f"teacher checkpoint '{path}' cannot be read ({type(exc).__name__})") from None
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    return obj if isinstance(obj, dict) else {}


def build_frozen(
    spec: ModelConfig, checkpoint: Path, num_classes: int, image_size: int, device: torch.device
) -> nn.Module:
    """Build ``spec`` with ``num_classes`` outputs, load ``checkpoint`` strictly, freeze it (eval mode)."""
    from trustlab.models import build_model, load_weights

    if not checkpoint.is_file():
        raise NotFoundError(f"teacher checkpoint '{checkpoint}' does not exist; check teacher.checkpoint/teacher.run")
    model = build_model(spec.name, num_classes, input_size=image_size, width=spec.width)
    key = _classifier_key(model)
    state = _state_dict(checkpoint)
    if key is not None and key in state and state[key].shape[0] != num_classes:
        raise ConfigError(
            f"teacher '{checkpoint}' has {state[key].shape[0]} classes but the student's data has {num_classes}; "
            "use a teacher trained on the same classes"
        )
    try:
        load_weights(model, checkpoint, spec.name)
    except TrustlabError as exc:
        raise ConfigError(f"teacher does not match its checkpoint: {exc}") from None
    model.requires_grad_(False)
    return model.to(device).eval()


def _run_model_spec(record: RunRecord) -> tuple[ModelConfig, dict[str, Any]]:
    cfg = record.config()
    m = cfg.get("model") or {}
    if "name" not in m:
        raise ConfigError(f"teacher run '{record.path}' has no model section in config.yaml")
    return ModelConfig(name=m["name"], width=float(m.get("width", 1.0))), cfg.get("data") or {}


def load_teacher(
    tcfg: TeacherConfig,
    data: DataConfig,
    train: TrainConfig,
    num_classes: int,
    device: torch.device,
    record: RunRecord | None = None,
    quiet: bool = True,
) -> LoadedTeacher:
    """Resolve ``tcfg`` to a frozen teacher (training and caching it when needed); see the module doc."""
    if tcfg.run and tcfg.checkpoint:
        raise ConfigError("give teacher.run or teacher.checkpoint, not both")
    if tcfg.max_per_domain is not None and (tcfg.run or tcfg.checkpoint):
        raise ConfigError("teacher.max_per_domain is for a teacher trained here; drop it with teacher.run/checkpoint")
    if tcfg.checkpoint:
        path = Path(tcfg.checkpoint).expanduser()
        model = build_frozen(tcfg.model, path, num_classes, data.image_size, device)
        info: dict[str, Any] = {"checkpoint": str(path), "model": tcfg.model.name, "width": tcfg.model.width}
        return LoadedTeacher(model, _with_size(info, model))
    if tcfg.run:
        teacher_rec = RunRecord.open(Path(tcfg.run).expanduser())
    else:
        if record is None:
            raise ConfigError("training a teacher on the fly needs a run record; set teacher.run or teacher.checkpoint")
        with preserved_rng():
            teacher_rec = cached_run(TEACHER_RECIPE, teacher_overrides(tcfg, data, train), runs_root_of(record), quiet)
    spec, tdata = _run_model_spec(teacher_rec)
    for key in ("name", "root", "target", "image_size", "split_seed"):  # split_seed: which contexts are unseen
        if key in tdata and tdata[key] != getattr(data, key):
            raise ConfigError(
                f"teacher run '{teacher_rec.path}' used data.{key}={tdata[key]!r} but the student uses "
                f"{getattr(data, key)!r}; train the teacher on the student's source domains and split"
            )
    ckpt = teacher_rec.checkpoint_path("best.pt")
    if not ckpt.is_file():
        raise NotFoundError(f"teacher run '{teacher_rec.path}' has no checkpoints/best.pt; finish or rerun it")
    model = build_frozen(spec, ckpt, num_classes, data.image_size, device)
    summary = teacher_rec.summary()
    info = {"run": str(teacher_rec.path), "model": spec.name, "width": spec.width}
    for key in ("heldout_acc", "indomain_acc", "val_acc"):
        if key in summary:
            info[key] = summary[key]
    if record is not None:
        record.update_env(teacher_run=str(teacher_rec.path))
    return LoadedTeacher(model, _with_size(info, model))


def _with_size(info: dict[str, Any], model: nn.Module) -> dict[str, Any]:
    from trustlab.models import count_parameters

    return {**info, "params": count_parameters(model)}

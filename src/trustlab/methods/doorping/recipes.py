"""Recipes ``distill/{dc,dsa,dm,dd,full-data}`` and ``backdoor/{naive,doorping}-{dc,dsa,dm,dd}``.

All share :func:`run_doorping` and :class:`~trustlab.methods.doorping.method.DoorpingRecipeConfig`; a
recipe only fixes ``distill.method`` and ``attack.kind`` (both can still be overridden). One run:

1. load ``data.name`` (mnist5k | fashion-mnist) as float tensors; validate ipc / trigger / portion / target;
2. poison the training set (NaiveAttack, DOORPING), distil it (DOORPING re-optimises its trigger on every
   network the distiller updates), save ``artifacts/distilled.pt`` + ``distilled.png`` (+ ``trigger.png``);
3. train ``eval.num_models`` fresh models on the distilled set: CTA, ASR, ASR without the target class
   (clean runs are measured with NaiveAttack's white patch, the baseline ASR), mean and std;
4. run ``defense.names`` on the first model and the distilled set (``summary["defenses"]``).

Defaults are sized for a laptop CPU (minutes): MNIST-5k, small_cnn at width 0.25, ipc 10, 200 iterations,
5 evaluation models of 150 epochs; ``--set`` paper values for the real thing (README, "full").
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict
from typing import Any

import torch

from trustlab.engine.runtime import resolve_device, seed_everything
from trustlab.errors import ConfigError
from trustlab.methods.doorping.attack import BACKDOORS
from trustlab.methods.doorping.augment import SiameseAugment
from trustlab.methods.doorping.data import grid_png, load_source, save_distilled
from trustlab.methods.doorping.defenses import run_defenses
from trustlab.methods.doorping.distill import RealData, build_distiller, check_ipc, run_distillation
from trustlab.methods.doorping.evaluate import backdoor_metrics, train_fresh
from trustlab.methods.doorping.method import NETS, DoorpingRecipeConfig, resolved
from trustlab.methods.doorping.triggers import PatchTrigger, check_portion, check_target
from trustlab.models import build_model
from trustlab.recipes import Recipe, RunContext, register_recipe


def _mean_std(values: list[float]) -> tuple[float, float]:
    vals = [v for v in values if v == v]
    if not vals:
        return float("nan"), float("nan")
    return float(statistics.fmean(vals)), float(statistics.stdev(vals)) if len(vals) > 1 else 0.0


def clean_subset(x: torch.Tensor, y: torch.Tensor, ipc: int, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``ipc`` images of every class of the (unpoisoned) training set, class by class."""
    idx = torch.cat([torch.nonzero(y == c).flatten()[:ipc] for c in range(num_classes)])
    return x[idx], y[idx]


def check_config(cfg: DoorpingRecipeConfig, num_classes: int, shape: tuple[int, int, int]) -> None:
    """The bad inputs of issue 6 as one-line ConfigErrors (ipc is checked against the data later)."""
    a, d = cfg.attack, cfg.distill
    check_target(a.target, num_classes)
    PatchTrigger.solid(shape, a.size, a.target, a.position, a.color)  # size/position/colour
    if a.kind != "none":
        check_portion(a.portion)
    if a.kind == "doorping" and d.method == "none":
        raise ConfigError("attack.kind=doorping optimises its trigger during distillation; set distill.method "
                          "to dc, dsa, dm or dd")
    if a.kind == "doorping" and d.method in ("dc", "dsa") and (d.outer_loop or 2) < 2:
        raise ConfigError("DOORPING with dc/dsa updates the trigger between outer-loop rounds; "
                          "set distill.outer_loop >= 2")
    if cfg.eval.num_models < 1:
        raise ConfigError(f"eval.num_models must be >= 1, got {cfg.eval.num_models}")


def run_doorping(cfg: DoorpingRecipeConfig, ctx: RunContext) -> dict[str, Any]:
    """One distill/backdoor run (see the module docstring); ``threads`` applies to this run only."""
    if cfg.threads < 0:
        raise ConfigError(f"threads must be >= 0 (0: torch's default), got {cfg.threads}")
    before = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _run(cfg, ctx)
    finally:
        torch.set_num_threads(before)


def _run(cfg: DoorpingRecipeConfig, ctx: RunContext) -> dict[str, Any]:
    dcfg = resolved(cfg.distill)
    seed = cfg.train.seed
    seed_everything(seed, cfg.train.deterministic)
    device = resolve_device(cfg.train.device)
    src = load_source(cfg.data)
    k, shape = src.num_classes, src.shape
    check_config(cfg, k, shape)
    gen = torch.Generator().manual_seed(seed)

    def make_net() -> torch.nn.Module:
        opts = asdict(cfg.net) if cfg.model.name == "small_cnn" else {}
        return build_model(cfg.model.name, k, input_size=shape[1:], width=cfg.model.width, in_chans=shape[0],
                           weights=cfg.model.weights, **opts)

    attack = BACKDOORS.get(cfg.attack.kind)(cfg.attack, shape, k, gen) if cfg.attack.kind != "none" else None
    x, y = (attack.poison(src.x_train, src.y_train) if attack else (src.x_train, src.y_train))
    if dcfg.method != "none":
        check_ipc(dcfg.ipc, y, k)
    art = ctx.record.path / "artifacts"
    t0 = time.perf_counter()
    distill_info: dict[str, Any] = {}
    if dcfg.method == "none":
        images, labels = x, y
    else:
        real = RealData(x.to(device), y.to(device), k, gen)
        if attack:
            attack.bind(real)
        distiller = build_distiller(dcfg, make_net, k, device)
        ckpt = ctx.record.checkpoint_path("distill.pt")
        resume = ctx.resume and ckpt.is_file()
        resume_state = torch.load(ckpt, map_location="cpu", weights_only=True) if resume else None
        result = run_distillation(
            distiller, real, on_network=attack.on_network if attack else None, log=ctx.record.log,
            checkpoint=lambda s: ctx.record.save_checkpoint(s, "distill.pt"), resume_state=resume_state,
            extra_state=attack.state_dict if attack else None, load_extra=attack.load_state_dict if attack else None,
        )
        images, labels = result.images.cpu(), result.labels.cpu()
        distill_info = {"distill_seconds": result.seconds, "seconds_per_iteration": result.seconds_per_iteration,
                        "iterations": result.iterations, "final_match": result.history[-1] if result.history else {}}
        if ctx.record.writer:
            save_distilled(art, images, labels, classes=src.classes, source=src.name, method=dcfg.method,
                           ipc=dcfg.ipc, trigger=attack.trigger.state_dict() if attack else None, extra=result.extra)
    trigger = attack.trigger.to("cpu") if attack else PatchTrigger.solid(
        shape, cfg.attack.size, cfg.attack.target, cfg.attack.position, cfg.attack.color)
    if attack and ctx.record.writer:
        grid_png(torch.stack([trigger.pattern, trigger.stamp(src.x_test[0])]), 2, art / "trigger.png", scale=6)

    augment_on = cfg.eval.augment if cfg.eval.augment is not None else dcfg.method in ("dsa", "dm")
    augment = SiameseAugment(dcfg.dsa_strategy, siamese=False) if augment_on else None
    limit = cfg.eval.test_limit or len(src.y_test)
    x_test, y_test = src.x_test[:limit], src.y_test[:limit]
    t1 = time.perf_counter()
    per_model: dict[str, dict[str, float]] = {}
    models = []
    for i in range(cfg.eval.num_models):
        model = train_fresh(images, labels, make_net, cfg.train, batch_size=cfg.data.batch_size,
                            seed=seed * 1000 + i, augment=augment)
        per_model[f"model{i}"] = backdoor_metrics(model, x_test, y_test, trigger)
        models.append(model)
    control: list[dict[str, float]] = []
    if attack and dcfg.method != "none":
        # control: the same trigger against models trained on clean real data of the synthetic set's size
        # (ipc unpoisoned images per class). A high ASR here means the trigger alone fools any such model,
        # so the distilled data carries no backdoor (papers/04's ASR is "relative to clean" data).
        clean_x, clean_y = clean_subset(src.x_train, src.y_train, dcfg.ipc, k)
        for i in range(cfg.eval.num_models):
            model = train_fresh(clean_x, clean_y, make_net, cfg.train, batch_size=cfg.data.batch_size,
                                seed=seed * 1000 + i, augment=augment)
            control.append(backdoor_metrics(model, x_test, y_test, trigger))
    eval_seconds = time.perf_counter() - t1
    summary: dict[str, Any] = {"method": dcfg.method, "attack": cfg.attack.kind, "dataset": src.name,
                               "ipc": dcfg.ipc if dcfg.method != "none" else None,
                               "train_size": len(y), "synthetic_size": len(labels)}
    for key in ("cta", "asr", "asr_nontarget", "asr_clipped"):
        summary[key], summary[f"{key}_std"] = _mean_std([m[key] for m in per_model.values()])
    if control:
        summary["asr_control"], summary["asr_control_std"] = _mean_std([m["asr"] for m in control])
        summary["asr_over_control"] = summary["asr"] - summary["asr_control"]
    summary["per_model"] = per_model
    summary.update(distill_info)
    summary["eval_seconds"] = eval_seconds
    summary["total_seconds"] = time.perf_counter() - t0
    if attack:
        summary["attack_info"] = attack.info()
        pixels = trigger.pattern[trigger.mask > 0]
        summary["trigger_range"] = [float(pixels.min()), float(pixels.max())]
        summary["synthetic_range"] = [float(images.min()), float(images.max())]
    if cfg.defense.names:
        summary["defenses"] = run_defenses(
            cfg.defense, model=models[0], syn_x=images, syn_y=labels, x_test=x_test, y_test=y_test,
            trigger=trigger, make_net=make_net, train_cfg=cfg.train, batch_size=cfg.data.batch_size,
            augment=augment, seed=seed, before=per_model["model0"],
        )
    return summary


# ------------------------------------------------------------------------------------- registration

CPU_DEFAULTS: dict[str, Any] = {
    "data": {"name": "mnist5k", "image_size": 32, "batch_size": 256},
    "model": {"name": "small_cnn", "width": 0.25},
    "train": {"epochs": 150, "lr": 0.01, "schedule": "step", "step_size": 75, "gamma": 0.1},
    "distill": {"ipc": 10, "iterations": 200, "batch_real": 64, "outer_loop": 5, "inner_loop": 5},
    "eval": {"num_models": 5},
}

# The backdoor reference's own setting (baadd, papers/04): its ConvNet has no normalisation and a
# 192-unit hidden layer (DOORPING's "penultimate layer"), and neither the trigger nor the synthetic images
# are bounded. Under instance norm the trigger objective is scale-invariant and no backdoor forms (README).
# Fresh models of this net learn slowly with SGD 0.01 at small widths, so they are trained with Adam.
REFERENCE_ATTACK_SETTING: dict[str, Any] = {
    "net": asdict(NETS["reference"]),
    "train": {"epochs": 100, "optimizer": "adam", "lr": 0.001, "weight_decay": 0.0, "schedule": "step",
              "step_size": 50, "gamma": 0.1},
}

_DESCRIPTIONS = {
    "dc": "DC gradient matching", "dsa": "DSA (DC + siamese augmentation)", "dm": "DM distribution matching",
    "dd": "DD unrolled meta-gradient",
}


def _defaults(method: str, kind: str) -> dict[str, Any]:
    d = {key: dict(value) for key, value in CPU_DEFAULTS.items()}
    d["distill"]["method"] = method
    d["attack"] = {"kind": kind}
    if method == "dm":
        d["distill"]["batch_real"] = 128
    if kind != "none":  # the reference's attack setting: its net, nothing bounded, no eval augmentation
        d.update(REFERENCE_ATTACK_SETTING)
        d["attack"]["trigger_clamp"] = False
        d["distill"]["clamp"] = False
        d["eval"]["augment"] = False
    if method == "none":
        d["train"] = {"epochs": 5, "lr": 0.01, "schedule": "cosine"}
        d["data"]["batch_size"] = 64
        d["eval"] = {"num_models": 1}
    return d


for _m, _text in _DESCRIPTIONS.items():
    register_recipe(Recipe(f"distill/{_m}", f"{_text}: distil the training set to ipc images per class, "
                           "evaluate fresh models (CTA)", DoorpingRecipeConfig, run_doorping, _defaults(_m, "none")))
    for _kind, _label in (("naive", "NaiveAttack"), ("doorping", "DOORPING")):
        register_recipe(Recipe(f"backdoor/{_kind}-{_m}", f"{_label} backdoor against {_text}: CTA and ASR",
                               DoorpingRecipeConfig, run_doorping, _defaults(_m, _kind)))
register_recipe(Recipe("distill/full-data", "no distillation: train on the whole (optionally poisoned) training "
                       "set, the upper bound of distillation", DoorpingRecipeConfig, run_doorping,
                       _defaults("none", "none")))

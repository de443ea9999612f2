"""The one run function of every doorping recipe (:func:`run_doorping`; ``recipes.py`` registers the recipes).
What a run does, step by step, is in ``recipes.py``'s docstring."""


from __future__ import annotations

import statistics
import time
from dataclasses import asdict, replace
from typing import Any

import torch

from trustlab.engine.runtime import resolve_device, seed_everything
from trustlab.errors import ConfigError
from trustlab.methods.doorping.attack import BACKDOORS
from trustlab.methods.doorping.augment import SiameseAugment
from trustlab.methods.doorping.config import CONTROLS, DoorpingRecipeConfig, resolved
from trustlab.methods.doorping.data import (
    REFERENCE_STD,
    SOURCES,
    grid_png,
    load_source,
    load_trigger,
    save_distilled,
    stratified_subset,
)
from trustlab.methods.doorping.defenses import run_defenses
from trustlab.methods.doorping.distill import RealData, build_distiller, check_ipc, run_distillation
from trustlab.methods.doorping.evaluate import METRICS, backdoor_metrics, train_fresh
from trustlab.methods.doorping.triggers import PatchTrigger, check_portion, check_target
from trustlab.models import build_model
from trustlab.recipes import RunContext


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
    if a.trigger_from and a.kind == "doorping":
        raise ConfigError("attack.trigger_from fixes the trigger; DOORPING learns its own. Use attack.kind=naive "
                          "(poison with it) or none (only measure it)")
    if a.trigger_patience < 0:
        raise ConfigError(f"attack.trigger_patience must be >= 0 (0: run every step), got {a.trigger_patience}")
    if a.trigger_unit is not None and a.trigger_unit <= 0:
        raise ConfigError(f"attack.trigger_unit must be > 0 (pixels per optimised unit), got {a.trigger_unit}")
    if a.kind == "doorping" and d.method == "none":
        raise ConfigError("attack.kind=doorping optimises its trigger during distillation; set distill.method "
                          "to dc, dsa, dm or dd")
    if a.kind == "doorping" and d.method in ("dc", "dsa") and (d.outer_loop or 2) < 2:
        raise ConfigError("DOORPING with dc/dsa updates the trigger between outer-loop rounds; "
                          "set distill.outer_loop >= 2")
    unknown = [c for c in cfg.eval.controls if c not in CONTROLS]
    if unknown:
        raise ConfigError(f"eval.controls has unknown {unknown}; use any of {', '.join(CONTROLS)}")
    if cfg.eval.full_data_epochs < 1:
        raise ConfigError(f"eval.full_data_epochs must be >= 1, got {cfg.eval.full_data_epochs}")
    if cfg.eval.num_models < 1:
        raise ConfigError(f"eval.num_models must be >= 1, got {cfg.eval.num_models}")
    if cfg.eval.val_size < 0:
        raise ConfigError(f"eval.val_size must be >= 0 (0: no validation split), got {cfg.eval.val_size}")


def hold_out(src: Any, n: int, seed: int) -> tuple[Any, torch.Tensor | None, torch.Tensor | None]:
    """``src`` without ``n`` class-stratified training images (seeded by ``seed``), and those images."""
    if n <= 0:
        return src, None, None
    total = len(src.y_train)
    if n > total - 10 * src.num_classes:
        raise ConfigError(f"eval.val_size {n} leaves fewer than 10 training images per class of {total}")
    held = torch.from_numpy(stratified_subset(src.y_train.numpy(), n, seed))
    keep = torch.ones(total, dtype=torch.bool)
    keep[held] = False
    return (replace(src, x_train=src.x_train[keep], y_train=src.y_train[keep]),
            src.x_train[held], src.y_train[held])


def _evaluate(images: torch.Tensor, labels: torch.Tensor, cfg: DoorpingRecipeConfig, make_net: Any, augment: Any,
              x_test: torch.Tensor, y_test: torch.Tensor, trigger: PatchTrigger,
              train_cfg: Any = None) -> list[dict[str, float]]:
    """``backdoor_metrics`` of ``eval.num_models`` fresh models trained on (images, labels)."""
    out = []
    for i in range(cfg.eval.num_models):
        model = train_fresh(images, labels, make_net, train_cfg or cfg.train, batch_size=cfg.data.batch_size,
                            seed=cfg.train.seed * 1000 + i, augment=augment)
        out.append(backdoor_metrics(model, x_test, y_test, trigger))
    return out


def _measure(model: Any, x_test: torch.Tensor, y_test: torch.Tensor, trigger: PatchTrigger,
             val: tuple[Any, Any]) -> dict[str, float]:
    """``backdoor_metrics`` on the test images, plus ``cta_val``/``asr_val`` on the validation split if any."""
    out = backdoor_metrics(model, x_test, y_test, trigger)
    if val[0] is not None:  # the poison budget is chosen on these (eval.val_size), never on the test set
        v = backdoor_metrics(model, val[0], val[1], trigger)
        out.update(cta_val=v["cta"], asr_val=v["asr"])
    return out


def _controls(cfg: DoorpingRecipeConfig, dcfg: Any, src: Any, attack: Any, trigger: PatchTrigger, make_net: Any,
              augment: Any, x_test: torch.Tensor, y_test: torch.Tensor, device: torch.device,
              val: tuple[Any, Any] = (None, None)) -> dict[str, float]:
    """The ``eval.controls`` of a backdoor run, all measured with its final ``trigger`` (see EvalConfig)."""
    out: dict[str, float] = {}
    k = src.num_classes
    if "clean-real" in cfg.eval.controls and dcfg.method != "none":
        cx, cy = clean_subset(src.x_train, src.y_train, dcfg.ipc, k)
        rows = _evaluate(cx, cy, cfg, make_net, augment, x_test, y_test, trigger)
        out["asr_clean_real"], out["asr_clean_real_std"] = _mean_std([m["asr"] for m in rows])
    if "clean-distilled" in cfg.eval.controls and dcfg.method != "none":
        t0 = time.perf_counter()
        seed_everything(cfg.train.seed, cfg.train.deterministic)
        real = RealData(src.x_train.to(device), src.y_train.to(device), k,
                        torch.Generator().manual_seed(cfg.train.seed))
        result = run_distillation(build_distiller(dcfg, make_net, k, device), real)
        rows = _evaluate(result.images.cpu(), result.labels.cpu(), cfg, make_net, augment, x_test, y_test, trigger)
        out["clean_cta"], out["clean_cta_std"] = _mean_std([m["cta"] for m in rows])
        out["asr_clean_distilled"], out["asr_clean_distilled_std"] = _mean_std([m["asr"] for m in rows])
        out["clean_distilled_seconds"] = time.perf_counter() - t0
    if "full-data" in cfg.eval.controls and dcfg.method != "none":
        t0 = time.perf_counter()
        x, y = src.x_train.clone(), src.y_train.clone()
        idx = attack.indices.cpu()
        x[idx], y[idx] = trigger.stamp(x[idx]), trigger.target
        full = replace(cfg.train, epochs=cfg.eval.full_data_epochs, schedule=(
            "constant" if cfg.eval.full_data_schedule == "constant" else cfg.train.schedule),
            step_size=max(1, cfg.eval.full_data_epochs // 2))
        # one model, batch 64 (the distill/full-data default): 4000 images at batch 256 barely train
        model = train_fresh(x, y, make_net, full, batch_size=min(64, cfg.data.batch_size),
                            seed=cfg.train.seed * 1000, augment=None)
        rows = [_measure(model, x_test, y_test, trigger, val)]
        out["cta_full_data"], _ = _mean_std([m["cta"] for m in rows])
        out["asr_full_data"] = rows[0]["asr"]
        out.update({f"{k}_full_data_val": rows[0][f"{k}_val"] for k in ("cta", "asr") if f"{k}_val" in rows[0]})
        out["full_data_seconds"] = time.perf_counter() - t0
    return out


def run_doorping(cfg: DoorpingRecipeConfig, ctx: RunContext) -> dict[str, Any]:
    """One distill/backdoor run (see the module docstring); ``threads`` applies to this run only."""
    if cfg.threads < 0:
        raise ConfigError(f"threads must be >= 0 (0: torch's default), got {cfg.threads}")
    before = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        cpu0 = time.process_time()
        summary = _run(cfg, ctx)
        summary["cpu_seconds"] = time.process_time() - cpu0  # stable on a shared machine, unlike wall time
        return summary
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
    src, x_val, y_val = hold_out(src, cfg.eval.val_size, cfg.data.split_seed)
    gen = torch.Generator().manual_seed(seed)
    acfg = cfg.attack
    if acfg.trigger_unit is None:  # the reference's normalised units for this source (else its pixels' std)
        acfg = replace(acfg, trigger_unit=REFERENCE_STD.get(src.name) or float(src.x_train.std()))
    fixed = load_trigger(acfg.trigger_from, shape) if acfg.trigger_from else None
    if fixed is not None:
        fixed = PatchTrigger(fixed.mask, fixed.pattern, acfg.target)

    def make_net() -> torch.nn.Module:
        opts = asdict(cfg.net) if cfg.model.name == "small_cnn" else {}
        return build_model(cfg.model.name, k, input_size=shape[1:], width=cfg.model.width, in_chans=shape[0],
                           weights=cfg.model.weights, **opts)

    attack = BACKDOORS.get(acfg.kind)(acfg, shape, k, gen) if acfg.kind != "none" else None
    if attack is not None and fixed is not None:
        attack.trigger = fixed  # NaiveAttack with a saved trigger (e.g. DOORPING's): the BadNets-style control
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
                           ipc=dcfg.ipc, trigger=attack.trigger.state_dict() if attack else None, extra=result.extra,
                           source_root=None if src.name in SOURCES else cfg.data.root)
    # the trigger the ASR is measured with: the attack's; for clean runs trigger_from's, else the white patch
    trigger = attack.trigger.to("cpu") if attack else fixed if fixed is not None else PatchTrigger.solid(
        shape, acfg.size, acfg.target, acfg.position, acfg.color)
    if attack and ctx.record.writer:
        grid_png(torch.stack([trigger.pattern.clamp(0, 1), trigger.stamp_stored(src.x_test[0])]), 2,
                 art / "trigger.png", scale=6)

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
        per_model[f"model{i}"] = _measure(model, x_test, y_test, trigger, (x_val, y_val))
        models.append(model)
    controls = _controls(cfg, dcfg, src, attack, trigger, make_net, augment, x_test, y_test, device,
                         (x_val, y_val)) if attack else {}
    eval_seconds = time.perf_counter() - t1
    summary: dict[str, Any] = {"method": dcfg.method, "attack": acfg.kind, "dataset": src.name,
                               "ipc": dcfg.ipc if dcfg.method != "none" else None,
                               "train_size": len(y), "synthetic_size": len(labels),
                               "trigger_from": acfg.trigger_from}
    for key in [k for k in (*METRICS, "cta_val", "asr_val") if k in per_model["model0"]]:
        summary[key], summary[f"{key}_std"] = _mean_std([m[key] for m in per_model.values()])
    summary["val_size"] = cfg.eval.val_size
    summary.update(controls)
    summary["per_model"] = per_model
    summary.update(distill_info)
    summary["eval_seconds"] = eval_seconds
    summary["total_seconds"] = time.perf_counter() - t0
    pixels = trigger.pattern[trigger.mask > 0]
    summary["trigger_range"] = [float(pixels.min()), float(pixels.max())]
    if attack:
        summary["attack_info"] = attack.info()
        summary["trigger_unit"] = acfg.trigger_unit
        summary["synthetic_range"] = [float(images.min()), float(images.max())]
    if cfg.defense.names:
        summary["defenses"] = run_defenses(
            cfg.defense, model=models[0], syn_x=images, syn_y=labels, x_test=x_test, y_test=y_test,
            trigger=trigger, make_net=make_net, train_cfg=cfg.train, batch_size=cfg.data.batch_size,
            augment=augment, seed=seed, before=per_model["model0"],
        )
    return summary

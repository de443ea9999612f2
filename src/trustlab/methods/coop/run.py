"""The two CoOp experiments behind the recipes: few-shot (``coop/fewshot``) and domain shift (``coop/dg``).

Both freeze CLIP, encode every image once (the image encoder is frozen, so its features are fixed;
see the README's deviations: no training-time augmentation), then train only the prompt context.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F

from trustlab.engine.runtime import seed_everything
from trustlab.errors import ConfigError
from trustlab.methods.coop.clip_model import TINY, Clip, build_clip, freeze
from trustlab.methods.coop.config import EMBEDDED, CoOpDGRecipeConfig, CoOpRecipeConfig
from trustlab.methods.coop.method import (
    CoOp,
    coop_accuracy,
    ensemble_text_features,
    fit_coop,
    linear_probe_accuracy,
    prompt_text_features,
    resolve_lr,
    zero_shot_accuracy,
)
from trustlab.methods.coop.prompts import PromptLearner, nearest_words
from trustlab.methods.coop.tasks import TaskData, embedded_task, folder_task, sample_shots

VAL_SHOTS = {1: 1, 2: 2}  # lpclip: validation shots per class = min(shots, 4)


def load_clip(cfg: CoOpRecipeConfig | CoOpDGRecipeConfig) -> Clip:
    if cfg.clip.arch == TINY and not cfg.clip.weights and cfg.clip.pretrained:
        from trustlab.methods.coop.pretrain import load_pretrained_tiny

        return load_pretrained_tiny(shipped=cfg.clip.shipped)
    clip = build_clip(cfg.clip.arch, cfg.clip.weights)
    freeze(clip.model)
    clip.source = f"local checkpoint {cfg.clip.weights}" if cfg.clip.weights else "random init"
    return clip


def load_tasks(cfg: CoOpRecipeConfig | CoOpDGRecipeConfig, clip: Clip,
               names: list[str] | None = None) -> list[TaskData]:
    """The tasks: ``names`` of the embedded scenes (``coop/fewshot``: ``fewshot.tasks``), or the folder as one."""
    if cfg.data.name == EMBEDDED:
        names = names if names is not None else list(cfg.fewshot.tasks)  # type: ignore[union-attr]
        if not names:
            raise ConfigError("fewshot.tasks is empty; pick from digit, colour, background, style, position")
        return [embedded_task(n) for n in names]
    if cfg.data.name == "folder":
        return [folder_task(cfg.data, list(cfg.fewshot.classnames), list(cfg.fewshot.templates), clip.image_size)]
    raise ConfigError(f"data.name '{cfg.data.name}' is not supported by CoOp; use '{EMBEDDED}' (embedded) or "
                      "'folder' with data.root")


class FeatureCache:
    """Image features, computed once per image tensor (tasks share the same scene images): L2-normalised (CLIP's
    logits, CoOp, zero-shot) or raw (``raw=True``: the linear probe, as the reference's ``lpclip`` fits on
    ``visual(x)``)."""

    def __init__(self, clip: Clip) -> None:
        self.clip, self._memo = clip, {}

    def __call__(self, x: torch.Tensor, raw: bool = False) -> torch.Tensor:
        key = (x.data_ptr(), tuple(x.shape))
        if key not in self._memo:
            r = self.clip.encode_images(x, normalize=False)
            self._memo[key] = (r, F.normalize(r, dim=-1))
        return self._memo[key][0 if raw else 1]


def check_inputs(cfg: CoOpRecipeConfig | CoOpDGRecipeConfig, clip: Clip, tasks: list[TaskData],
                 shots: list[int]) -> None:
    """Fail before any training: class names that do not fit the context, shots a class cannot supply."""
    for t in tasks:
        PromptLearner(clip, t.classes, cfg.coop.n_ctx, cfg.coop.csc, cfg.coop.position, cfg.coop.init or None)
        for s in shots:
            sample_shots(t.pools["train"].y, len(t.classes), s, 0, t.classes)


def zero_shot_table(clip: Clip, task: TaskData, feats: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    return {tpl: zero_shot_accuracy(clip, prompt_text_features(clip, tpl, task.classes), feats, y)
            for tpl in task.templates}


def run_fewshot(cfg: CoOpRecipeConfig, ctx: Any) -> dict[str, Any]:
    start = time.time()
    seed_everything(cfg.train.seed)
    clip = load_clip(cfg)
    tasks = load_tasks(cfg, clip)
    shots_list = sorted(set(int(s) for s in cfg.fewshot.shots))
    if not shots_list:
        raise ConfigError("fewshot.shots is empty; e.g. --set fewshot.shots=[1,2,4,8,16]")
    check_inputs(cfg, clip, tasks, shots_list)
    feats = FeatureCache(clip)
    zs, acc, words, scalars = {}, {}, {}, {}
    for task in tasks:
        tr, va, te = task.pools["train"], task.pools["val"], task.pools["test"]
        ftr, fva, fte = feats(tr.x), feats(va.x), feats(te.x)
        table = zero_shot_table(clip, task, fte, te.y)
        val_table = zero_shot_table(clip, task, fva, va.y)
        ens = zero_shot_accuracy(clip, ensemble_text_features(clip, task.templates, task.classes), fte, te.y)
        zs[task.name] = {**table, "ensemble": ens}
        row = {"zero-shot (first prompt)": table[task.templates[0]],
               "zero-shot (best prompt on val)": table[max(val_table, key=val_table.get)],
               "zero-shot (best prompt on test)": max(table.values()), "prompt ensemble": ens}
        for s in shots_list:
            seed = cfg.train.seed * 1000 + s
            idx = sample_shots(tr.y, len(task.classes), s, seed, task.classes)
            seed_everything(seed)
            model = CoOp(clip, task.classes, cfg.coop)
            fit_coop(model, ftr[idx], tr.y[idx], cfg.coop, s, seed, train=cfg.train)
            row[f"coop@{s}"] = coop_accuracy(model, fte, te.y)
            if s == shots_list[-1]:
                words[task.name] = [" / ".join(w) for w in nearest_words(clip, model.prompt_learner.ctx,
                                                                         cfg.fewshot.nearest_k)]
            if cfg.fewshot.linear_probe:
                vidx = sample_shots(va.y, len(task.classes), min(VAL_SHOTS.get(s, 4), s), seed + 1, task.classes) \
                    if _enough(va.y, len(task.classes), min(VAL_SHOTS.get(s, 4), s)) else torch.arange(len(va.y))
                row[f"linear-probe@{s}"], _ = linear_probe_accuracy(
                    (feats(tr.x, raw=True)[idx], tr.y[idx]), (feats(va.x, raw=True)[vidx], va.y[vidx]),
                    (feats(te.x, raw=True), te.y))
        acc[task.name] = row
        for k, v in row.items():
            scalars[f"{task.name}/{k}"] = v
        ctx.record.log({"task": task.name, **row})
    _plot(ctx, acc, shots_list)
    return {"accuracy": acc, "zero_shot_prompts": zs, "nearest_words": words, "metrics": scalars,
            "classes": {t.name: t.classes for t in tasks}, "shots": shots_list, "lr": resolve_lr(cfg.coop, clip),
            "clip_weights": clip.source, "seconds": time.time() - start}


def _enough(y: torch.Tensor, n_cls: int, k: int) -> bool:
    return all(int((y == c).sum()) >= k for c in range(n_cls))


def run_dg(cfg: CoOpDGRecipeConfig, ctx: Any) -> dict[str, Any]:
    """Learn the context on the source domain(s), test zero-shot and CoOp on every domain."""
    start = time.time()
    seed_everything(cfg.train.seed)
    clip = load_clip(cfg)
    task = load_tasks(cfg, clip, names=[cfg.fewshot.dg_task])[0]
    if cfg.data.name == EMBEDDED:
        sources = [cfg.fewshot.source]
        bad = [s for s in sources if s not in task.domains]
        if bad:
            raise ConfigError(f"fewshot.source '{bad[0]}' is not a style; styles: {', '.join(task.domains)}")
    else:
        targets = [t.strip() for t in cfg.data.target.split(",") if t.strip()]
        if not targets or any(t not in task.domains for t in targets):
            raise ConfigError(f"data.target must name held-out domains among: {', '.join(task.domains)}")
        sources = [d for d in task.domains if d not in targets]
        if not sources:
            raise ConfigError("data.target holds out every domain; leave at least one to learn the context on")
    src_ids = torch.tensor([task.domains.index(s) for s in sources])
    shots = max(int(s) for s in cfg.fewshot.shots) if cfg.fewshot.shots else 16
    tr, te = task.pools["train"], task.pools["test"]
    keep = torch.isin(tr.domain, src_ids)
    tr_y = tr.y[keep]
    check_inputs(cfg, clip, [TaskData(task.name, task.classes, task.templates, {"train": type(tr)(tr.x[keep], tr_y,
                 tr.domain[keep])})], [shots])
    feats = FeatureCache(clip)
    ftr, fte = feats(tr.x)[keep], feats(te.x)
    seed = cfg.train.seed * 1000 + shots
    idx = sample_shots(tr_y, len(task.classes), shots, seed, task.classes)
    seed_everything(seed)
    model = CoOp(clip, task.classes, cfg.coop)
    fit_coop(model, ftr[idx], tr_y[idx], cfg.coop, shots, seed, train=cfg.train)
    first = prompt_text_features(clip, task.templates[0], task.classes)
    ens = ensemble_text_features(clip, task.templates, task.classes)
    per: dict[str, dict[str, float]] = {}
    for d, name in enumerate(task.domains):
        m = te.domain == d
        if not bool(m.any()):
            continue
        per[name] = {"zero-shot": zero_shot_accuracy(clip, first, fte[m], te.y[m]),
                     "prompt ensemble": zero_shot_accuracy(clip, ens, fte[m], te.y[m]),
                     "coop": coop_accuracy(model, fte[m], te.y[m])}
    targets = [n for n in per if n not in sources]
    out: dict[str, float] = {}
    for meth in ("zero-shot", "prompt ensemble", "coop"):
        src = sum(per[s][meth] for s in sources) / len(sources)
        tgt = sum(per[t][meth] for t in targets) / max(1, len(targets))
        out[f"{meth}/source"], out[f"{meth}/target"] = src, tgt
        out[f"{meth}/retention"] = tgt / src if src > 0 else float("nan")
    ctx.record.log(out)
    return {"metrics": out, "per_domain": per, "sources": sources, "targets": targets, "shots": shots,
            "task": task.name, "lr": resolve_lr(cfg.coop, clip), "clip_weights": clip.source,
            "nearest_words": [" / ".join(w) for w in nearest_words(clip, model.prompt_learner.ctx,
                                                                   cfg.fewshot.nearest_k)],
            "seconds": time.time() - start}


def _plot(ctx: Any, acc: dict[str, dict[str, float]], shots: list[int]) -> None:
    """Accuracy vs shots per task (one run): CoOp and the linear probe, zero-shot lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(acc), figsize=(3.2 * len(acc), 2.8), squeeze=False)
    for ax, (task, row) in zip(axes[0], acc.items()):
        ax.plot(shots, [row[f"coop@{s}"] for s in shots], "o-", label="CoOp")
        if f"linear-probe@{shots[0]}" in row:
            ax.plot(shots, [row[f"linear-probe@{s}"] for s in shots], "s--", label="linear probe")
        ax.axhline(row["zero-shot (first prompt)"], color="grey", ls=":", label="zero-shot")
        ax.axhline(row["prompt ensemble"], color="k", ls="-.", lw=0.8, label="ensemble")
        ax.set_xscale("log", base=2)
        ax.set_title(task)
        ax.set_xlabel("shots per class")
    axes[0][0].set_ylabel("test accuracy")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    path = ctx.record.artifact("accuracy_vs_shots.png")
    fig.savefig(path, dpi=90)
    plt.close(fig)

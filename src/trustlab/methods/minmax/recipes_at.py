"""Recipe ``attack/minmax-at``: adversarial training over l_inf / l_2 / l_1 with min-max type weights
(or ``at.mode=average|max|standard``), then robust accuracy per type and under their union.

Evaluation: for each type, an untargeted PGD-style attack (cross-entropy, uniform random start,
``eval.steps`` iterations, step 2.5 * eps / steps, our l_1 step for l_1) on ``eval.samples`` test
inputs; union = correct under every type (worst case per sample). Defaults are a CPU-sized MNIST-5k
run with the paper's eps halved (l_inf 0.15, l_2 1.0, l_1 5; the paper: 0.3, 2.0, 10); see README.

    trustlab run attack/minmax-at --set at.mode=average --set train.epochs=5
    trustlab run attack/minmax-at --set model.weights=runs/.../checkpoints/model.pt   # fine-tune a checkpoint
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from trustlab.engine.fit import fit
from trustlab.engine.runtime import seed_everything
from trustlab.errors import ConfigError
from trustlab.experiment import DataConfig, ModelConfig, TrainConfig
from trustlab.methods.minmax.attacks import EnsembleAttack
from trustlab.methods.minmax.method import AttackConfig, MinMaxAT, MinMaxATConfig, parse_types, type_names
from trustlab.methods.minmax.recipes import DATA, model_spec
from trustlab.methods.minmax.zoo import build_victim, load_data, pick
from trustlab.metrics import robustness as rb
from trustlab.models.registry import load_weights
from trustlab.recipes import Recipe, RunContext, register_recipe
from trustlab.tasks.classification import predict_labels


@dataclass
class ATEvalConfig:
    samples: int = 500  # test inputs attacked per type
    steps: int = 20  # attack iterations per type
    batch_size: int = 250
    grid: int = 8


@dataclass
class ATRecipeConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    at: MinMaxATConfig = field(default_factory=MinMaxATConfig)
    eval: ATEvalConfig = field(default_factory=ATEvalConfig)


def robust_accuracy(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, types: list[tuple[str, float]], steps: int, batch: int,
    seed: int,
) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Clean accuracy, accuracy under each type's attack, and under their union; plus adversarial inputs."""
    names = type_names(types)
    correct = {"clean": predict_labels(model, x) == y.cpu()}
    advs: dict[str, torch.Tensor] = {}
    for name, (norm, eps) in zip(names, types):
        atk = EnsembleAttack(model, AttackConfig(norm=norm, eps=eps, steps=steps, loss="ce", init="uniform",
                                                 weighting="average", seed=seed))
        adv = torch.cat([atk(x[i : i + batch], y[i : i + batch]) for i in range(0, len(x), batch)])
        advs[name] = adv.cpu()
        correct[name] = predict_labels(model, adv) == y.cpu()
    acc = {k: float(v.float().mean()) for k, v in correct.items()}
    acc["union"] = rb.union_accuracy(torch.stack([correct[n] for n in names], 1))
    return acc, advs


def run_at(cfg: ATRecipeConfig, ctx: RunContext) -> dict[str, Any]:
    at_cfg = cfg.at.check()
    types = parse_types(at_cfg.types)
    if cfg.eval.samples < 1 or cfg.eval.steps < 1:
        raise ConfigError("eval.samples and eval.steps must be >= 1")
    t0 = time.perf_counter()
    seed = cfg.train.seed
    seed_everything(seed, cfg.train.deterministic)
    data = load_data(cfg.data)
    model = build_victim(model_spec(cfg.model), data)
    if cfg.model.weights:  # fine-tune a (standard-trained) checkpoint instead of training from scratch
        load_weights(model, cfg.model.weights, cfg.model.name)
    method = MinMaxAT(model, at_cfg)
    result = fit(method, data.train, cfg.train, batch_size=cfg.data.batch_size, record=ctx.record,
                 resume=ctx.resume, quiet=ctx.quiet)
    ctx.record.save_checkpoint({"model": model.state_dict()}, "model.pt")
    model.eval()
    dev = next(model.parameters()).device
    idx = pick(torch.ones(len(data.y_test), dtype=torch.bool), cfg.eval.samples, seed)
    x, y = data.x_test[idx].to(dev), data.y_test[idx].to(dev)
    acc, advs = robust_accuracy(model, x, y, types, cfg.eval.steps, cfg.eval.batch_size, seed)
    names = type_names(types)
    last = result.history[-1] if result.history else {}
    summary: dict[str, Any] = {
        "mode": at_cfg.mode, "dataset": data.name, "types": list(at_cfg.types), "n_eval": len(idx),
        "union_acc": acc["union"], "clean_acc": acc["clean"],
        "robust_acc": acc,
        "train_seconds": result.seconds,
    }
    if at_cfg.mode != "standard":
        summary["type_weights_last_epoch"] = {n: last.get(f"train/w/{n}", float("nan")) for n in names}
    n = min(cfg.eval.grid, len(x))
    rows = {"clean": x[:n].cpu(), **{k: v[:n] for k, v in advs.items()}}
    from trustlab.methods.minmax import figures  # lazy: matplotlib costs a second to import

    figures.example_grid(rows, ctx.record.artifact("examples.png"), f"{at_cfg.mode} AT: PGD per type")
    summary["seconds"] = time.perf_counter() - t0
    return summary


register_recipe(Recipe(
    "attack/minmax-at", "Adversarial training over l_inf/l_2/l_1 with min-max (or average/max) type weights",
    ATRecipeConfig, run_at,
    {"data": DATA, "model": {"name": "small_cnn:depth=2:norm=none", "width": 0.125},
     "train": {"epochs": 3, "lr": 0.05, "schedule": "cosine"},
     "at": {"types": ["linf:0.15", "l2:1.0", "l1:5.0"], "steps": 5}},
    tiny={"data": {"max_per_domain": 64}, "train": {"epochs": 1}, "model": {"width": 0.0625},
          "at": {"steps": 1}, "eval": {"samples": 8, "steps": 1, "grid": 4}},
))

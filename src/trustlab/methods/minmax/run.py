"""Run functions of the minmax recipes (registered in recipes.py).

``attack/ensemble``, ``attack/universal`` and ``attack/eot``: train victims, attack them with min-max (APGDA),
average and max weighting at the same eps and iterations, and report.

Each run writes ``summary.json`` (ASR_all, ASR_avg, per-domain success and adversarial accuracy, the
learned weights, perturbation norms), ``artifacts/weights.png`` (w over iterations) and
``artifacts/examples.png`` (clean / adversarial / perturbation grid). Defaults: MNIST-5k, l_inf,
the reference's MNIST settings (eps 0.2 ensemble/EOT, 0.3 universal with K=5 inputs; Wang et al., arXiv:1906.03563).

    trustlab run attack/ensemble --set attack.eps=0.15 --set "ensemble.models=[small_cnn, resnet18:width=0.25]"

``attack/minmax-at``: adversarial training over l_inf / l_2 / l_1 with min-max type weights
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
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn

from trustlab.engine.fit import fit
from trustlab.engine.runtime import seed_everything
from trustlab.errors import ConfigError
from trustlab.experiment import ModelConfig
from trustlab.methods.minmax.attacks import DomainAttack, EnsembleAttack, EOTAttack, UniversalAttack
from trustlab.methods.minmax.config import (
    ATRecipeConfig,
    AttackConfig,
    EnsembleRecipeConfig,
    EOTRecipeConfig,
    EvalConfig,
    UniversalRecipeConfig,
    parse_types,
)
from trustlab.methods.minmax.method import MinMaxAT, type_names
from trustlab.methods.minmax.transforms import parse_transforms
from trustlab.methods.minmax.zoo import ImageData, build_victim, load_data, pick, train_victim
from trustlab.metrics import robustness as rb
from trustlab.models.registry import load_weights
from trustlab.recipes import RunContext
from trustlab.tasks.classification import predict_labels


def victim(
    spec: str, weights: str | None, data: ImageData, cfg: Any, ctx: RunContext, tag: str, seed: int
) -> nn.Module:
    """A trained victim: loaded from local ``weights`` or trained here with ``cfg.train``."""
    from trustlab.methods.minmax.zoo import build_victim
    from trustlab.models.registry import load_weights

    if weights:
        model = build_victim(spec, data)
        load_weights(model, weights, spec)
        return model.eval()
    return train_victim(spec, data, cfg.train, cfg.data.batch_size, seed, ctx.record, tag)


def model_spec(m: ModelConfig) -> str:
    """ModelConfig -> spec; ``name`` may carry options (``small_cnn:depth=2``); ``width`` applies unless set there."""
    return m.name if "width=" in m.name else f"{m.name}:width={m.width}"


def _check_eval(ev: EvalConfig, cfg: AttackConfig) -> None:
    cfg.check()
    if ev.samples < 1 or ev.batch_size < 1:
        raise ConfigError("eval.samples and eval.batch_size must be >= 1")
    for w in ev.compare:
        replace(cfg, weighting=w).check()
    if not ev.compare:
        raise ConfigError("eval.compare is empty; list weightings such as [minmax, average]")


def run_weightings(
    make: Callable[[str], DomainAttack], x: Tensor, y: Tensor | None, ev: EvalConfig, unit: int = 1
) -> dict[str, dict]:
    """Attack x with each weighting of ``ev.compare`` in batches; return per weighting the outcome."""
    out: dict[str, dict] = {}
    step = max(unit, ev.batch_size // unit * unit)
    for weighting in ev.compare:
        attack: DomainAttack = make(weighting)
        t0 = time.perf_counter()
        parts: dict[str, list[Tensor]] = {}
        for i in range(0, len(x), step):
            res = attack.run(x[i : i + step], None if y is None else y[i : i + step])
            rows = res.w.shape[0]
            got = {"x_adv": res.x_adv, "delta": res.delta, "w": res.w, "labels": res.labels,
                   "pred": attack.predict_domains(res.x_adv), "w_history": res.w_history[None] * rows,
                   "loss_history": res.loss_history[None] * rows, "rows": torch.tensor([rows])}
            for key, value in got.items():  # histories are summed weighted by rows, then divided
                parts.setdefault(key, []).append(value.detach().cpu())
        o = {k: torch.cat(v) for k, v in parts.items()}
        total = o.pop("rows").sum()
        o["w_history"] = o["w_history"].sum(0) / total
        o["loss_history"] = o["loss_history"].sum(0) / total
        o["success"] = torch.as_tensor(rb.success_matrix(o["pred"], o["labels"], attack.cfg.targeted))
        o["seconds"] = time.perf_counter() - t0
        o["domains"] = list(attack.domains)
        out[weighting] = o
    return out


def common_summary(outs: dict[str, dict], domains: list[str], with_norms: bool = True) -> dict[str, Any]:
    """ASR_all, ASR_avg, per-domain success, learned weights, norms, timings, per weighting."""
    s: dict[str, Any] = {
        "asr_all": {w: rb.asr_all(o["success"]) for w, o in outs.items()},
        "asr_avg": {w: rb.asr_avg(o["success"]) for w, o in outs.items()},
        "per_domain_asr": {w: dict(zip(domains, rb.per_domain_rate(o["success"]))) for w, o in outs.items()},
    }
    if "minmax" in outs:
        s["weights"] = {d: float(v) for d, v in zip(domains, outs["minmax"]["w"].mean(0))}
        s["largest_weight_domain"] = max(s["weights"], key=s["weights"].get)
    if "average" in outs:
        rates = s["per_domain_asr"]["average"]
        s["hardest_domain_average"] = min(rates, key=rates.get)
    if with_norms:
        s["norms"] = {w: rb.perturbation_norms(o["delta"]) for w, o in outs.items()}
    s["attack_seconds"] = {w: o["seconds"] for w, o in outs.items()}
    return s


def write_figures(ctx: RunContext, outs: dict[str, dict], x: Tensor, ev: EvalConfig, title: str) -> None:
    from trustlab.methods.minmax import figures  # lazy: matplotlib costs a second to import

    first = next(iter(outs.values()))
    hist = outs.get("minmax", first)
    figures.weights_over_iterations(hist["w_history"].numpy(), hist["domains"], ctx.record.artifact("weights.png"),
                                    f"{title}: mean w over iterations", hist["loss_history"].numpy())
    n = min(ev.grid, len(x))
    rows: dict[str, Tensor] = {"clean": x[:n].cpu()}
    captions: dict[str, list[str]] = {}
    for w, o in outs.items():
        rows[w] = o["x_adv"][:n]
        success = o["success"]
        if len(success) != len(o["x_adv"]):  # universal: rows are groups; caption each image on its own
            captions[w] = ["fooled" if s else "not fooled" for s in success.reshape(-1)[:n].tolist()]
        else:
            captions[w] = [f"fooled {int(s.sum())}/{len(s)}" for s in success[:n]]
    rows["delta (" + ("minmax" if "minmax" in outs else next(iter(outs))) + ")"] = (hist["x_adv"][:n] - x[:n].cpu())
    figures.example_grid(rows, ctx.record.artifact("examples.png"), f"{title}: adversarial examples", captions)
    for t, row in enumerate(hist["w_history"].tolist()):
        ctx.record.log({"step": t, **{f"w/{d}": v for d, v in zip(hist["domains"], row)}})


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


# --- attack/ensemble -------------------------------------------------------------------------


def run_ensemble(cfg: EnsembleRecipeConfig, ctx: RunContext) -> dict[str, Any]:
    _check_eval(cfg.eval, cfg.attack)
    if not cfg.ensemble.models:
        raise ConfigError("ensemble.models is empty (K=0); list model specs such as [small_cnn, resnet18]")
    if cfg.ensemble.weights and len(cfg.ensemble.weights) != len(cfg.ensemble.models):
        raise ConfigError("ensemble.weights needs one checkpoint per entry of ensemble.models (or none)")
    t0 = time.perf_counter()
    seed = cfg.train.seed
    seed_everything(seed, cfg.train.deterministic)
    data = load_data(cfg.data)
    weights = cfg.ensemble.weights or [None] * len(cfg.ensemble.models)
    models = [victim(s, w, data, cfg, ctx, f"model{i}", seed * 100 + i)
              for i, (s, w) in enumerate(zip(cfg.ensemble.models, weights))]
    names = [f"m{i}:{s.split(':')[0]}" for i, s in enumerate(cfg.ensemble.models)]
    dev = _device(models[0])
    clean = torch.stack([predict_labels(m, data.x_test.to(dev)) for m in models], 1)
    idx = pick((clean == data.y_test[:, None]).all(1), cfg.eval.samples, seed,
               "test inputs that every ensemble model classifies correctly")
    x, y = data.x_test[idx].to(dev), data.y_test[idx].to(dev)
    atk = replace(cfg.attack, seed=seed if cfg.attack.seed is None else cfg.attack.seed)
    outs = run_weightings(lambda w: EnsembleAttack(models, replace(atk, weighting=w), names=names), x, y, cfg.eval)
    summary = {"setting": "ensemble", "dataset": data.name, "domains": names, "n_samples": len(idx),
               "norm": atk.norm, "eps": atk.eps, "steps": atk.steps,
               "clean_acc": dict(zip(names, rb.per_domain_accuracy(clean, data.y_test)))}
    summary.update(common_summary(outs, names))
    summary["adv_acc"] = {w: dict(zip(names, rb.per_domain_accuracy(o["pred"], o["labels"]))) for w, o in outs.items()}
    summary["control_random_asr_all"] = _random_control(models, x, y, atk)
    write_figures(ctx, outs, x, cfg.eval, "ensemble")
    summary["seconds"] = time.perf_counter() - t0
    return summary


@torch.no_grad()
def _random_control(models: list[nn.Module], x: Tensor, y: Tensor, cfg: AttackConfig) -> float:
    """ASR_all of random noise of the same budget (l_inf: a random +-eps sign pattern; l_2 / l_1: a random
    direction scaled to eps), clipped to [0, 1]: what the attack's numbers would be without optimisation."""
    g = torch.Generator(device=x.device).manual_seed(int(cfg.seed or 0) + 7)
    noise = torch.empty_like(x).uniform_(-1, 1, generator=g)
    if cfg.norm == "linf":
        delta = cfg.eps * noise.sign()
    else:
        p = 2 if cfg.norm == "l2" else 1
        delta = noise * cfg.eps / noise.flatten(1).norm(p=p, dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
    xr = torch.clamp(x + delta, 0, 1)
    pred = torch.stack([predict_labels(m, xr) for m in models], 1)
    return rb.asr_all(torch.as_tensor(rb.success_matrix(pred, y.cpu()[:, None].expand_as(pred), False)))


# --- attack/universal ------------------------------------------------------------------------


def run_universal(cfg: UniversalRecipeConfig, ctx: RunContext) -> dict[str, Any]:
    _check_eval(cfg.eval, cfg.attack)
    k = cfg.universal.k
    if k < 1:
        raise ConfigError(f"universal.k must be >= 1 (K=0 shares a perturbation over nothing), got {k}")
    t0 = time.perf_counter()
    seed = cfg.train.seed
    seed_everything(seed, cfg.train.deterministic)
    data = load_data(cfg.data)
    model = victim(model_spec(cfg.model), cfg.model.weights, data, cfg, ctx, "model", seed)
    dev = _device(model)
    correct = predict_labels(model, data.x_test.to(dev)) == data.y_test
    groups = max(1, cfg.eval.samples // k)
    idx = pick(correct, groups * k + cfg.eval.heldout, seed)
    att, held = idx[: groups * k], idx[groups * k :]
    if len(att) < groups * k:
        raise ConfigError(f"only {len(att)} correctly classified test inputs; lower eval.samples")
    x, y = data.x_test[att].to(dev), data.y_test[att].to(dev)
    atk = replace(cfg.attack, seed=seed if cfg.attack.seed is None else cfg.attack.seed)
    make = lambda w: UniversalAttack(model, k, replace(atk, weighting=w))  # noqa: E731
    outs = run_weightings(make, x, y, cfg.eval, unit=k)
    summary: dict[str, Any] = {"setting": "universal", "dataset": data.name, "k": k, "n_groups": groups,
                               "n_heldout": len(held), "norm": atk.norm, "eps": atk.eps, "steps": atk.steps}
    summary.update(common_summary(outs, [f"input{i}" for i in range(k)]))
    summary.pop("weights", None)  # input positions are arbitrary; see w_on_unfooled instead
    summary.pop("largest_weight_domain", None)
    summary.pop("hardest_domain_average", None)
    xh, yh = data.x_test[held].to(dev), data.y_test[held]
    summary["fooling_rate_heldout"] = {w: _heldout_rate(model, o["delta"].to(dev), xh, yh) for w, o in outs.items()}
    if "minmax" in outs and "average" in outs:
        summary.update(_weights_vs_average(outs["minmax"]["w"], outs["average"]["success"]))
    write_figures(ctx, outs, x, cfg.eval, f"universal (K={k})")
    summary["seconds"] = time.perf_counter() - t0
    return summary


@torch.no_grad()
def _heldout_rate(model: nn.Module, deltas: Tensor, xh: Tensor, yh: Tensor) -> float:
    """Mean over groups of the share of held-out inputs whose prediction the group's delta changes."""
    if not len(xh):
        return float("nan")
    clean = predict_labels(model, xh)
    rates = [rb.fooling_rate(clean, predict_labels(model, torch.clamp(xh + d, 0, 1))) for d in deltas]
    return float(sum(rates) / len(rates))


def _weights_vs_average(w: Tensor, avg_success: Tensor) -> dict[str, float]:
    """Where average leaves inputs of a group unfooled: share of those groups whose largest learned
    weight sits on one of them (1/K-ish by chance when the weights are uninformative)."""
    mixed = (~avg_success).any(1) & avg_success.any(1)
    if not mixed.any():
        return {"w_on_unfooled": float("nan"), "w_max_mean": float(w.max(1).values.mean())}
    top = w.argmax(1)
    hit = (~avg_success).gather(1, top[:, None]).squeeze(1)
    return {"w_on_unfooled": float(hit[mixed].float().mean()), "w_max_mean": float(w.max(1).values.mean())}


# --- attack/eot ------------------------------------------------------------------------------


def run_eot(cfg: EOTRecipeConfig, ctx: RunContext) -> dict[str, Any]:
    _check_eval(cfg.eval, cfg.attack)
    transforms = parse_transforms(cfg.eot.transforms)
    t0 = time.perf_counter()
    seed = cfg.train.seed
    seed_everything(seed, cfg.train.deterministic)
    data = load_data(cfg.data)
    model = victim(model_spec(cfg.model), cfg.model.weights, data, cfg, ctx, "model", seed)
    dev = _device(model)
    names = [t.name for t in transforms]
    probe = EOTAttack(model, transforms, distortion=cfg.eot.distortion)
    xt = data.x_test.to(dev)
    clean_t = torch.cat([probe.predict_domains(xt[i : i + 500]).cpu() for i in range(0, len(xt), 500)])
    idx = pick(clean_t[:, 0] == data.y_test, cfg.eval.samples, seed)
    x = data.x_test[idx].to(dev)
    atk = replace(cfg.attack, seed=seed if cfg.attack.seed is None else cfg.attack.seed)
    make = lambda w: EOTAttack(model, transforms, replace(atk, weighting=w), distortion=cfg.eot.distortion)  # noqa: E731
    outs = run_weightings(make, x, None, cfg.eval)  # labels: clean prediction under each transformation
    summary: dict[str, Any] = {"setting": "eot", "dataset": data.name, "domains": names, "n_samples": len(idx),
                               "norm": atk.norm, "eps": atk.eps, "steps": atk.steps}
    summary["clean_acc_per_transform"] = dict(zip(names, rb.per_domain_accuracy(clean_t, data.y_test)))
    summary.update(common_summary(outs, names))
    summary["eot"] = {w: rb.eot_success(o["success"]) for w, o in outs.items()}
    write_figures(ctx, outs, x, cfg.eval, "EOT")
    from trustlab.methods.minmax import figures  # lazy, as in write_figures

    hist = outs.get("minmax", next(iter(outs.values())))
    views = {t.name: t(hist["x_adv"][:1]).cpu() for t in transforms}
    figures.example_grid({"x_adv under each T": torch.cat(list(views.values()))}, ctx.record.artifact("eot_views.png"),
                         "one min-max adversarial input under every transformation", {"x_adv under each T": names})
    summary["seconds"] = time.perf_counter() - t0
    return summary


# --- attack/minmax-at ------------------------------------------------------------------------

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

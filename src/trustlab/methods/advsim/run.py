"""AdvSim's recipe runs (registered in ``recipes.py``, configs in ``config.py``): attack a scenario set
(``run_attack``) and adversarial training (``run_adv_train``, the algorithm in ``method.py``)."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from trustlab.errors import ConfigError
from trustlab.methods.advsim.adversary import Perturbation, check_config, search
from trustlab.methods.advsim.config import AdvDataConfig, AdvTrainConfig, AttackConfig, TrainDataConfig, TuneConfig
from trustlab.methods.advsim.method import (
    TUNED,
    adversarial_set,
    equal_progress_planners,
    evaluate,
    normal_traffic,
    rate,
    reattack,
    tune_planner,
)
from trustlab.methods.advsim.stack import PlannerConfig, Stack, StackConfig


def load_scenarios(d: AdvDataConfig | TrainDataConfig, split: str | None = None, n: int | None = None,
                   seed: int | None = None) -> list:
    """The scenarios of ``d``; ``split``, ``n`` and ``seed`` replace ``d.split``, ``d.max_scenarios`` and
    ``d.subset_seed`` (adv-train passes all three: its data section has none of them)."""
    from trustlab.methods.advsim.scenarios import KINDS, load_set

    for k in d.kinds:
        if k not in KINDS and d.root is None:
            from trustlab.errors import did_you_mean

            raise ConfigError(f"data.kinds: unknown kind '{k}'{did_you_mean(k, KINDS)}; kinds: {', '.join(KINDS)}")
    scs = load_set(d.root, split or d.split, list(d.kinds) or None)
    n = d.max_scenarios if n is None else n
    if n is not None:
        if n < 1:
            raise ConfigError(f"data.max_scenarios must be >= 1, got {n}")
        rng = np.random.default_rng(d.subset_seed if seed is None else seed)
        idx = np.sort(rng.permutation(len(scs))[: min(n, len(scs))])
        scs = [scs[i] for i in idx]
    return scs


def build_stack(perception: str, cfg: Any) -> Stack:
    if perception not in ("lidar", "gt"):
        raise ConfigError(f"stack.perception '{perception}' is not one of lidar, gt")
    if cfg.stack.substeps < 0:
        raise ConfigError(f"stack.substeps must be >= 0 (0: collisions checked at the steps only), got "
                          f"{cfg.stack.substeps}")
    return Stack(StackConfig(perception=perception, near_miss=cfg.stack.near_miss, substeps=cfg.stack.substeps,
                             detector=cfg.detector, planner=cfg.planner))


def run_attack(cfg: AttackConfig, ctx: Any) -> dict[str, Any]:
    """Attack every scenario of the set at ``adversary.budget`` queries; counts, rates and figures."""
    from trustlab.methods.advsim.adversary import perturbed_states

    check_config(cfg.adversary)
    scs = load_scenarios(cfg.data)
    for sc in scs:  # bad bounds fail before any search runs (nothing half-written)
        Perturbation(sc, cfg.adversary).check_feasible()
    stack = build_stack(cfg.stack.perception, cfg)
    other = None
    if cfg.stack.replay:
        other = build_stack("gt" if cfg.stack.perception == "lidar" else "lidar", cfg)
    rows, t0 = [], time.perf_counter()
    for i, sc in enumerate(scs):
        res = search(sc, stack, cfg.adversary, seed=cfg.adversary.seed * 1000 + i)
        row = {"scenario": sc.name, "kind": sc.kind, "found": res.found, "collision": res.found_collision,
               "base_failure": res.base_failure, "first_failure": res.first_failure, "best": res.best_value,
               "best_delta": res.best_delta, "failure_delta": res.best_failure_delta, "values": res.values,
               "gaps": res.gaps, "worst_gap": res.worst_gap}
        if other is not None and res.best_failure_delta is not None:
            st = perturbed_states(sc, sc.adversary, np.asarray(res.best_failure_delta), cfg.adversary.knots)
            acts = sc.actor_logs().copy()
            acts[sc.adversary] = st
            row["replay_fails"] = other.rollout(sc, acts).failure
        rows.append(row)
        if not ctx.quiet:
            print(f"[{i + 1}/{len(scs)}] {sc.name}: found={res.found} collision={res.found_collision} "
                  f"best={res.best_value:.2f} first={res.first_failure}", flush=True)
    seconds = time.perf_counter() - t0
    found = [r["found"] for r in rows]
    only = [r["found"] and not r.get("replay_fails", True) for r in rows]
    per_kind: dict[str, dict[str, float]] = {}
    for k in sorted({r["kind"] for r in rows}):
        rs = [r for r in rows if r["kind"] == k]
        per_kind[k] = {"n": len(rs), "found_rate": rate([r["found"] for r in rs]),
                       "collision_rate": rate([r["collision"] for r in rs]),
                       "base_failure_rate": rate([r["base_failure"] for r in rs])}
    (ctx.record.artifact("results.json")).write_text(json.dumps(rows, indent=1))
    summary: dict[str, Any] = {
        "perception": cfg.stack.perception, "optimizer": cfg.adversary.optimizer, "budget": cfg.adversary.budget,
        "n_scenarios": len(rows), "found": int(sum(found)), "found_rate": rate(found),
        "collision_rate": rate([r["collision"] for r in rows]),
        "base_failure_rate": rate([r["base_failure"] for r in rows]),
        "perception_only": int(sum(only)), "perception_only_rate": rate(only) if other is not None else None,
        "mean_first_failure": float(np.mean([r["first_failure"] for r in rows if r["found"]])) if any(found) else None,
        # queries to the first failure, budget + 1 where none was found (a censored count that does not saturate)
        "mean_queries_to_failure": float(np.mean([r["first_failure"] or cfg.adversary.budget + 1 for r in rows])),
        # the smallest SDV gap the search reached, per scenario clipped to [-1, 5] m (adversary.worst_gap), mean
        "mean_worst_gap": float(np.mean([r["worst_gap"] for r in rows])),
        "per_kind": per_kind, "search_seconds": seconds, "detector": stack.det_meta or None,
        "detector_weights": stack.det_source or (other.det_source if other is not None else None),
        "scenarios": [r["scenario"] for r in rows],
    }
    _attack_figures(cfg, ctx, scs, rows, stack)
    return summary


def _attack_figures(cfg: AttackConfig, ctx: Any, scs: list, rows: list[dict], stack: Stack) -> None:
    from trustlab.methods.advsim.adversary import perturbed_states
    from trustlab.methods.advsim.figures import attack_figure, frame_strip

    picks = [i for i, r in enumerate(rows) if r["failure_delta"] is not None and not r["base_failure"]]
    picks = sorted(picks, key=lambda i: bool(rows[i].get("replay_fails", True)))[: cfg.figures]  # perception-only first
    for n, i in enumerate(picks):
        sc = scs[i]
        acts = sc.actor_logs().copy()
        acts[sc.adversary] = perturbed_states(sc, sc.adversary, np.asarray(rows[i]["failure_delta"]),
                                              cfg.adversary.knots)
        base, adv = stack.rollout(sc), stack.rollout(sc, acts)
        attack_figure(sc, stack, base, adv, ctx.record.artifact(f"bev_attack_{n}_{sc.name}.png"))
        if n == 0:
            frame_strip(sc, stack, adv, ctx.record.artifact(f"rollout_strip_{sc.name}.png"))


def _check_tune(t: TuneConfig) -> None:
    for k in TUNED:
        b = getattr(t, k)
        if len(b) != 2 or not b[0] <= b[1]:
            raise ConfigError(f"tune.{k} must be [low, high] with low <= high, got {b}")
    for k in ("n_random", "random_draws", "n_normal"):
        if getattr(t, k) < 0:
            raise ConfigError(f"tune.{k} must be >= 0, got {getattr(t, k)}")


def run_adv_train(cfg: AdvTrainConfig, ctx: Any) -> dict[str, Any]:
    """Attack training scenarios, fine-tune the planner on them (and the originals), then compare the original,
    the adversarially trained planner, a control tuned on the originals only (same random starts) and random
    planners of equal progress: each is **re-attacked** on the held-out scenarios in closed loop (same budget,
    optimiser and seeds), and driven on the held-out originals and on "normal traffic" (fixed random plausible
    perturbations of them)."""
    check_config(cfg.adversary)
    t = cfg.tune
    _check_tune(t)
    train = load_scenarios(cfg.data, "train", t.n_train, seed=t.seed)
    test = load_scenarios(cfg.data, "test", t.n_test, seed=t.seed)
    for sc in train + test:
        Perturbation(sc, cfg.adversary).check_feasible()
    stack = build_stack(cfg.stack.perception, cfg)
    t0 = time.perf_counter()
    adv_train = adversarial_set(train, stack, cfg.adversary, seed=cfg.adversary.seed)
    orig_train = [(sc, None) for sc in train]
    orig_test = [(sc, None) for sc in test]
    normal = normal_traffic(test, cfg.adversary, t.n_normal, seed=t.seed + 31_337)
    tuned, hist = tune_planner(stack, adv_train, orig_train, cfg.planner, t, seed=t.seed)
    control, hist_c = tune_planner(stack, [], orig_train, cfg.planner, t, seed=t.seed)
    ref = evaluate(stack, orig_test, cfg.planner)["progress"]
    rand = equal_progress_planners(stack, orig_test, cfg.planner, ref, t)
    attack_seed = cfg.adversary.seed + 7919  # the held-out attacks: the same seeds for every planner

    def score(p: PlannerConfig) -> dict[str, float]:
        o, n = evaluate(stack, orig_test, p), evaluate(stack, normal, p)
        return {**reattack(test, stack, p, cfg.adversary, attack_seed), "orig_collision": o["collision_rate"],
                "orig_failure": o["failure_rate"], "orig_progress": o["progress"],
                "normal_collision": n["collision_rate"], "normal_failure": n["failure_rate"],
                "normal_progress": n["progress"]}

    table = {name: score(p) for name, p in [("original", cfg.planner), ("adv-trained", tuned),
                                            ("control (orig-only tuning)", control)]}
    rows = [{**{k: getattr(p, k) for k in TUNED}, **score(p)} for p in rand]
    keys = list(table["original"])
    untrained = {"n_settings": len(rows), **{k: float(np.mean([r[k] for r in rows])) if rows else float("nan")
                                            for k in keys}}
    (ctx.record.artifact("tuning.json")).write_text(json.dumps({"adv": hist, "control": hist_c, "untrained": rows},
                                                               indent=1))
    return {"held_out": table, "tuned_planner": {k: getattr(tuned, k) for k in TUNED}, "untrained_control": untrained,
            "control_planner": {k: getattr(control, k) for k in TUNED},
            "control_differs": any(getattr(control, k) != getattr(cfg.planner, k) for k in TUNED),
            "train_adv_failure_rate_before": evaluate(stack, adv_train, cfg.planner)["failure_rate"],
            "n_train": len(train), "n_test": len(test), "n_normal_cases": len(normal),
            "seconds": time.perf_counter() - t0, "perception": cfg.stack.perception}

"""AdvSim recipes' configs and runs: attack a scenario set (``run_attack``) and adversarial training
(``run_adv_train``). The pieces live in ``world`` (scenarios, bicycle model), ``lidar`` (ray-casting),
``stack`` (detector, prediction, planner, closed loop) and ``adversary`` (perturbation, objective, search)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from trustlab.errors import ConfigError
from trustlab.methods.advsim.adversary import AdversaryConfig, Perturbation, check_config, search
from trustlab.methods.advsim.detector import DetectorConfig
from trustlab.methods.advsim.stack import PlannerConfig, Stack, StackConfig


@dataclass
class AdvDataConfig:
    root: str | None = None  # folder of scenario .json files; None = the embedded advsim-scenarios
    split: Literal["all", "train", "test"] = "all"  # index % 4 == 3 is test
    kinds: list[str] = field(default_factory=list)  # keep only these kinds ([] = all)
    max_scenarios: int | None = None  # a random subset of this many (drawn with subset_seed)
    subset_seed: int = 0


@dataclass
class StackSection:
    perception: Literal["lidar", "gt"] = "lidar"  # lidar: BEV detector on simulated sweeps; gt: true actor states
    near_miss: float = 0.5  # m: SAT gap below which the SDV had a near-miss
    # collisions and near-misses in continuous time: pieces per 0.5 s step of the swept-box check (0: only at
    # the steps, the check before issue 28)
    substeps: int = 4
    replay: bool = True  # replay each found failure on the other perception (lidar <-> gt)


@dataclass
class AttackConfig:
    data: AdvDataConfig = field(default_factory=AdvDataConfig)
    stack: StackSection = field(default_factory=StackSection)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    adversary: AdversaryConfig = field(default_factory=AdversaryConfig)
    figures: int = 2  # before/after BEV figures of this many found failures (+ one rollout strip)


@dataclass
class TuneConfig:
    """Adversarial training = fine-tuning the planner's cost parameters on found scenarios (optuna TPE)."""

    n_train: int = 6  # training scenarios attacked to make adversarial ones
    n_test: int = 6  # held-out scenarios attacked (against the original stack) for evaluation
    trials: int = 10  # planner settings tried
    margin: list[float] = field(default_factory=lambda: [0.5, 3.0])
    w_buffer: list[float] = field(default_factory=lambda: [5.0, 100.0])
    w_progress: list[float] = field(default_factory=lambda: [0.3, 1.5])
    target_speed: list[float] = field(default_factory=lambda: [7.0, 12.0])
    progress_tolerance: float = 0.1  # progress may drop this share below the original stack's for free
    seed: int = 0
    # untrained control: planner settings drawn uniformly from the same ranges (no tuning), scored on the same
    # held-out cases; the held-out adversarial cases are fixed actor trajectories found against the original
    # planner, so a planner that merely drives differently may escape them (the claims' gate reads this)
    n_random: int = 4


@dataclass
class AdvTrainConfig:
    data: AdvDataConfig = field(default_factory=AdvDataConfig)
    stack: StackSection = field(default_factory=StackSection)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    adversary: AdversaryConfig = field(default_factory=AdversaryConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)


def load_scenarios(d: AdvDataConfig, split: str | None = None, n: int | None = None, seed: int | None = None) -> list:
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


def _rate(xs: list[bool]) -> float:
    return float(np.mean(xs)) if xs else float("nan")


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
               "best_delta": res.best_delta, "failure_delta": res.best_failure_delta, "values": res.values}
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
        per_kind[k] = {"n": len(rs), "found_rate": _rate([r["found"] for r in rs]),
                       "collision_rate": _rate([r["collision"] for r in rs]),
                       "base_failure_rate": _rate([r["base_failure"] for r in rs])}
    (ctx.record.artifact("results.json")).write_text(json.dumps(rows, indent=1))
    summary: dict[str, Any] = {
        "perception": cfg.stack.perception, "optimizer": cfg.adversary.optimizer, "budget": cfg.adversary.budget,
        "n_scenarios": len(rows), "found": int(sum(found)), "found_rate": _rate(found),
        "collision_rate": _rate([r["collision"] for r in rows]),
        "base_failure_rate": _rate([r["base_failure"] for r in rows]),
        "perception_only": int(sum(only)), "perception_only_rate": _rate(only) if other is not None else None,
        "mean_first_failure": float(np.mean([r["first_failure"] for r in rows if r["found"]])) if any(found) else None,
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


# --- adversarial training ------------------------------------------------------------------------------


def _adversarial_set(scs: list, stack: Stack, acfg: AdversaryConfig, seed: int) -> list[tuple[Any, np.ndarray]]:
    """(scenario, perturbed actor trajectories) of the best perturbation found for each scenario."""
    from trustlab.methods.advsim.adversary import perturbed_states

    out = []
    for i, sc in enumerate(scs):
        res = search(sc, stack, acfg, seed=seed * 1000 + i)
        d = res.best_failure_delta if res.best_failure_delta is not None else res.best_delta
        acts = sc.actor_logs().copy()
        acts[sc.adversary] = perturbed_states(sc, sc.adversary, np.asarray(d), acfg.knots)
        out.append((sc, acts))
    return out


def evaluate(stack: Stack, cases: list[tuple[Any, np.ndarray | None]], planner: PlannerConfig) -> dict[str, float]:
    rs = [stack.rollout(sc, acts, planner=planner) for sc, acts in cases]
    return {"collision_rate": _rate([r.collision for r in rs]), "failure_rate": _rate([r.failure for r in rs]),
            "progress": float(np.mean([r.progress for r in rs])), "n": len(rs)}


def tune_planner(stack: Stack, adv_cases: list, orig_cases: list, base: PlannerConfig, t: TuneConfig,
                 seed: int) -> tuple[PlannerConfig, list[dict]]:
    """Fine-tune the planner's cost parameters with optuna TPE: minimise the collision + near-miss rate on
    ``adv_cases + orig_cases``, with a penalty when progress drops more than ``progress_tolerance``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cases = adv_cases + orig_cases
    ref = evaluate(stack, orig_cases, base)["progress"]
    history = []

    def loss(p: PlannerConfig) -> float:
        ev = evaluate(stack, cases, p)
        drop = max(0.0, 1 - ev["progress"] / max(ref, 1e-6) - t.progress_tolerance)
        val = ev["collision_rate"] + 0.5 * ev["failure_rate"] + 5.0 * drop
        history.append({**{k: getattr(p, k) for k in ("margin", "w_buffer", "w_progress", "target_speed")},
                        **ev, "loss": val})
        return val

    best_p, best_v = base, loss(base)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(2, t.trials // 2)))
    for _ in range(t.trials):
        tr = study.ask()
        p = PlannerConfig(**{**asdict(base), **{k: tr.suggest_float(k, *getattr(t, k))
                                                 for k in ("margin", "w_buffer", "w_progress", "target_speed")}})
        v = loss(p)
        study.tell(tr, v)
        if v < best_v:
            best_p, best_v = p, v
    return best_p, history


TUNED = ("margin", "w_buffer", "w_progress", "target_speed")  # planner cost parameters tuned


def run_adv_train(cfg: AdvTrainConfig, ctx: Any) -> dict[str, Any]:
    """Attack training scenarios, fine-tune the planner on them (and the originals), and compare the original,
    the adversarially trained and a control tuned on original scenarios only, on held-out adversarial
    scenarios (found against the original stack) and the held-out originals."""
    check_config(cfg.adversary)
    t = cfg.tune
    for k in ("margin", "w_buffer", "w_progress", "target_speed"):
        b = getattr(t, k)
        if len(b) != 2 or not b[0] <= b[1]:
            raise ConfigError(f"tune.{k} must be [low, high] with low <= high, got {b}")
    if t.n_random < 0:
        raise ConfigError(f"tune.n_random must be >= 0 (untrained planner settings scored as a control), "
                          f"got {t.n_random}")
    train = load_scenarios(cfg.data, "train", t.n_train, seed=t.seed)
    test = load_scenarios(cfg.data, "test", t.n_test, seed=t.seed)
    for sc in train + test:
        Perturbation(sc, cfg.adversary).check_feasible()
    stack = build_stack(cfg.stack.perception, cfg)
    t0 = time.perf_counter()
    adv_train = _adversarial_set(train, stack, cfg.adversary, seed=t.seed)
    adv_test = _adversarial_set(test, stack, cfg.adversary, seed=t.seed + 7919)
    orig_train = [(sc, None) for sc in train]
    orig_test = [(sc, None) for sc in test]
    tuned, hist = tune_planner(stack, adv_train, orig_train, cfg.planner, t, seed=t.seed)
    control, hist_c = tune_planner(stack, [], orig_train, cfg.planner, t, seed=t.seed)
    table = {}
    for name, p in [("original", cfg.planner), ("adv-trained", tuned), ("control (orig-only tuning)", control)]:
        a, o = evaluate(stack, adv_test, p), evaluate(stack, orig_test, p)
        table[name] = {"adv_collision": a["collision_rate"], "adv_failure": a["failure_rate"],
                       "orig_collision": o["collision_rate"], "orig_failure": o["failure_rate"],
                       "orig_progress": o["progress"], "adv_progress": a["progress"]}
    rng, rand = np.random.default_rng(t.seed + 104_729), []
    for _ in range(t.n_random):
        p = PlannerConfig(**{**asdict(cfg.planner), **{k: float(rng.uniform(*getattr(t, k))) for k in TUNED}})
        a, o = evaluate(stack, adv_test, p), evaluate(stack, orig_test, p)
        rand.append({**{k: getattr(p, k) for k in TUNED}, "adv_collision": a["collision_rate"],
                     "adv_failure": a["failure_rate"], "orig_collision": o["collision_rate"],
                     "orig_progress": o["progress"]})
    untrained = {"n_settings": len(rand), **{k: float(np.mean([r[k] for r in rand])) if rand else float("nan")
                                            for k in ("adv_collision", "adv_failure", "orig_collision",
                                                      "orig_progress")}}
    (ctx.record.artifact("tuning.json")).write_text(json.dumps({"adv": hist, "control": hist_c, "untrained": rand},
                                                               indent=1))
    pick = {k: getattr(tuned, k) for k in TUNED}
    return {"held_out": table, "tuned_planner": pick, "untrained_control": untrained,
            "control_planner": {k: getattr(control, k) for k in pick},
            "train_adv_failure_rate_before": evaluate(stack, adv_train, cfg.planner)["failure_rate"],
            "n_train": len(train), "n_test": len(test), "seconds": time.perf_counter() - t0,
            "perception": cfg.stack.perception}

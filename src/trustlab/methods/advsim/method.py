"""AdvSim's adversarial-training algorithm (the recipes' runs are in ``run.py``, their configs in ``config.py``):
the adversarial training set (``adversarial_set``), the closed-loop re-attack of a planner (``reattack``), normal
traffic (``normal_traffic``), a planner's rates on fixed cases (``evaluate``), the planner's cost tuning
(``tune_planner``) and the equal-progress random control (``equal_progress_planners``). The pieces below live in
``world`` (scenarios, bicycle model), ``lidar`` (ray-casting), ``stack`` (detector, prediction, planner, closed
loop) and ``adversary`` (perturbation, objective, search)."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import numpy as np

from trustlab.methods.advsim.adversary import AdversaryConfig, Perturbation, search
from trustlab.methods.advsim.config import TuneConfig
from trustlab.methods.advsim.stack import PlannerConfig, Stack


def rate(xs: list[bool]) -> float:
    """The share of true values (nan when empty)."""
    return float(np.mean(xs)) if xs else float("nan")


def adversarial_set(scs: list, stack: Stack, acfg: AdversaryConfig, seed: int) -> list[tuple[Any, np.ndarray]]:
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


def reattack(scs: list, stack: Stack, planner: PlannerConfig, acfg: AdversaryConfig, seed: int) -> dict[str, float]:
    """Attack every scenario afresh against ``planner`` in closed loop (the same budget, optimiser and seeds for
    every planner compared): share of scenarios with a collision / failure found, mean worst-case gap."""
    s = Stack(replace(stack.cfg, planner=planner), net=stack.net)
    res = [search(sc, s, acfg, seed=seed * 1000 + i) for i, sc in enumerate(scs)]
    return {"adv_collision": rate([r.found_collision for r in res]), "adv_failure": rate([r.found for r in res]),
            "adv_worst_gap": float(np.mean([r.worst_gap for r in res]))}


def normal_traffic(scs: list, acfg: AdversaryConfig, n: int, seed: int) -> list[tuple[Any, np.ndarray]]:
    """``n`` random plausible perturbations per scenario (z ~ U[0, 1]^D projected onto the plausible set): traffic
    that varies like the logs' actors might, not searched against any planner; the same cases for every planner."""
    rng = np.random.default_rng(seed)
    out = []
    for sc in scs:
        pert = Perturbation(sc, acfg)
        for _ in range(n):
            _, st, _ = pert.project(rng.random(pert.dim))
            out.append((sc, pert.actors(st)))
    return out


def evaluate(stack: Stack, cases: list[tuple[Any, np.ndarray | None]], planner: PlannerConfig) -> dict[str, float]:
    rs = [stack.rollout(sc, acts, planner=planner) for sc, acts in cases]
    return {"collision_rate": rate([r.collision for r in rs]), "failure_rate": rate([r.failure for r in rs]),
            "progress": float(np.mean([r.progress for r in rs])) if rs else float("nan"), "n": len(rs)}


TUNED = ("margin", "w_buffer", "w_progress", "target_speed")  # planner cost parameters tuned


def _draw(base: PlannerConfig, values: dict[str, float]) -> PlannerConfig:
    return PlannerConfig(**{**asdict(base), **values})


def tune_planner(stack: Stack, adv_cases: list, orig_cases: list, base: PlannerConfig, t: TuneConfig,
                 seed: int) -> tuple[PlannerConfig, list[dict]]:
    """Fine-tune the planner's cost parameters with optuna TPE: minimise the collision + near-miss rate on
    ``adv_cases + orig_cases``, with a penalty when progress drops more than ``progress_tolerance`` below the
    base planner's on the originals. The pick is the best *trial* (ties: the one that drives furthest), not the
    base: two tunings with the same ``seed`` start from the same random settings, and a tuning on failure-free
    cases can (and does) differ from the base."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cases = adv_cases + orig_cases
    ref = evaluate(stack, orig_cases, base)["progress"]
    history: list[dict] = []
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(2, t.trials // 2)))
    best_p, best_key = base, None
    for _ in range(t.trials):
        tr = study.ask()
        p = _draw(base, {k: tr.suggest_float(k, *getattr(t, k)) for k in TUNED})
        ev = evaluate(stack, cases, p)
        drop = max(0.0, 1 - ev["progress"] / max(ref, 1e-6) - t.progress_tolerance)
        val = ev["collision_rate"] + 0.5 * ev["failure_rate"] + 5.0 * drop
        history.append({**{k: getattr(p, k) for k in TUNED}, **ev, "loss": val})
        study.tell(tr, val)
        key = (val, -ev["progress"])
        if best_key is None or key < best_key:
            best_p, best_key = p, key
    return best_p, history


def equal_progress_planners(stack: Stack, orig: list, base: PlannerConfig, ref: float, t: TuneConfig
                             ) -> list[PlannerConfig]:
    """Up to ``n_random`` planner settings drawn at random from the tuning ranges whose progress on ``orig`` is
    within ``progress_tolerance`` of ``ref`` (at most ``random_draws`` draws)."""
    rng, out = np.random.default_rng(t.seed + 104_729), []
    for _ in range(t.random_draws):
        if len(out) >= t.n_random:
            break
        p = _draw(base, {k: float(rng.uniform(*getattr(t, k))) for k in TUNED})
        if abs(evaluate(stack, orig, p)["progress"] / max(ref, 1e-6) - 1) <= t.progress_tolerance:
            out.append(p)
    return out

"""Fabricated AdvSim runs: advsim/attack summaries (mean worst-case gap, found / collision / unperturbed /
perception-only rates of one optimiser and perception on a scenario subset) and advsim/adv-train summaries (per
planner: collision rate of a fresh attack on the held-out scenarios, collision rate and progress in normal traffic
and on the unperturbed logs; the original, adversarially trained, orig-only-tuned and random equal-progress
planners)."""

from __future__ import annotations

from typing import Any

N = 10  # scenarios per seed, as the quick scale
GOOD_DET = {"val_precision": 0.876, "val_recall": 0.92, "final_loss": 0.4}


def _q(x: float) -> float:
    """A rate over N scenarios (a count / N), clipped to [0, 1]."""
    return min(1.0, max(0.0, round(x * N) / N))


def _attack(found: dict[str, float], only: dict[str, float] | None = None, base: float = 0.0,
            det: dict[str, float] | None = None, gap: dict[str, float] | None = None):
    """``found``: mean found rate per arm (bo, cma, random, gt); ``only``: perception-only rate (lidar, gt);
    ``gap``: mean worst-case gap per arm (m; default: falls as the found rate rises)."""
    only = only or {"lidar": 0.2, "gt": 0.1}

    def make(recipe: str, ov: dict[str, Any]) -> dict[str, Any]:
        assert recipe == "advsim/attack"
        seed, opt = ov["adversary.seed"], ov.get("adversary.optimizer", "bo")
        assert ov["data.subset_seed"] == seed
        gt = ov.get("stack.perception", "lidar") == "gt"
        arm = "gt" if gt else opt
        j = 0.1 * ((seed * 5 + len(arm)) % 3 - 1)  # one scenario either way, varying per seed and arm
        f = _q(found[arm] + j)
        po = _q(min(f, (only["gt"] if gt else only["lidar"]) + (j if seed % 2 else 0.0)))
        return {"perception": "gt" if gt else "lidar", "optimizer": opt, "budget": 16, "n_scenarios": N,
                "found": int(round(f * N)), "found_rate": f, "collision_rate": _q(f / 2),
                "base_failure_rate": base, "perception_only": int(round(po * N)), "perception_only_rate": po,
                "mean_first_failure": 5.0, "mean_queries_to_failure": 17 - 12 * f,
                "mean_worst_gap": (gap or {}).get(arm, 2.0 - 3.0 * found[arm]) + j / 2,
                "per_kind": {}, "search_seconds": 18.0,
                "detector": None if gt else (det or GOOD_DET), "scenarios": [f"s{i}" for i in range(N)]}
    return make


def _train(orig_adv: float, adv_adv: float, rand_adv: float, orig_normal: float = 0.1, adv_normal: float = 0.1,
           progress_ratio: float = 0.95):
    """Per planner: ``*_adv`` the share of held-out scenarios a fresh attack breaks with a collision, ``*_normal``
    the collision rate in normal traffic (random plausible perturbations of the held-out logs)."""
    def make(recipe: str, ov: dict[str, Any]) -> dict[str, Any]:
        assert recipe == "advsim/adv-train"
        seed = ov["tune.seed"]
        assert ov["adversary.seed"] == seed
        j = (seed % 3 - 1) / 12  # half a held-out scenario either way

        def row(a: float, n: float, p: float) -> dict[str, float]:
            return {"adv_collision": a, "adv_failure": min(1.0, a + 1 / 6), "adv_worst_gap": 1.0 - 2 * a,
                    "orig_collision": 0.0, "orig_failure": 0.0, "orig_progress": p, "normal_collision": n,
                    "normal_failure": min(1.0, n + 0.05), "normal_progress": p - 1}

        jn = (seed % 2) / 24 if orig_normal > 0 else 0.0  # vary the normal-traffic rate per seed unless at 0
        orig = row(orig_adv + j, orig_normal + jn, 41.0 + seed)
        return {"held_out": {"original": orig,
                             "adv-trained": row(adv_adv + j / 2, adv_normal, (41.0 + seed) * progress_ratio),
                             "control (orig-only tuning)": row(orig_adv, orig_normal, 42.0)},
                "untrained_control": {"n_settings": 2, **row(rand_adv, orig_normal, 40.0)},
                "tuned_planner": {"margin": 1.5, "w_buffer": 40.0, "w_progress": 0.8, "target_speed": 10.0},
                "control_planner": {"margin": 1.2, "w_buffer": 30.0, "w_progress": 1.1, "target_speed": 11.5},
                "control_differs": True, "train_adv_failure_rate_before": 0.6, "n_train": 6, "n_test": 6,
                "n_normal_cases": 24, "seconds": 40.0, "perception": "lidar"}
    return make


GOOD = {"bo": 0.75, "cma": 0.75, "random": 0.45, "gt": 0.7}
BAD = {"bo": 0.3, "cma": 0.3, "random": 0.6, "gt": 0.7}
ALL = {"bo": 1.0, "cma": 1.0, "random": 1.0, "gt": 1.0}

FIXTURES = {
    "advsim/adversary-beats-random": {
        "PASS": _attack(GOOD), "FAIL": _attack(BAD),
        # every search collides in every scenario: worst gap at the -1 m floor, no room for the effect
        "INVALID": _attack(ALL, gap={"bo": -1.0, "cma": -1.0, "random": -1.0, "gt": -1.0})},
    "advsim/cma-beats-random": {
        "PASS": _attack(GOOD), "FAIL": _attack(BAD),
        "INVALID": _attack(GOOD, base=0.4)},  # the unperturbed scenarios already fail
    "advsim/lidar-finds-perception-failures": {
        "PASS": _attack(GOOD, {"lidar": 0.35, "gt": 0.05}), "FAIL": _attack(GOOD, {"lidar": 0.05, "gt": 0.35}),
        # a detector that misses a third of the actors: perception-only failures of a broken stack
        "INVALID": _attack(GOOD, {"lidar": 0.4, "gt": 0.05}, det={"val_precision": 0.82, "val_recall": 0.67})},
    "advsim/adv-train-helps": {
        "PASS": _train(0.5, 0.1, 0.45), "FAIL": _train(0.2, 0.5, 0.2),
        # the attack rarely breaks the original planner: a drop cannot reach the effect
        "INVALID": _train(0.1, 0.0, 0.1)},
    "advsim/adv-train-keeps-normal": {
        "PASS": _train(0.5, 0.1, 0.45, orig_normal=0.1, adv_normal=0.1),
        "FAIL": _train(0.5, 0.1, 0.45, orig_normal=0.05, adv_normal=0.4),
        # the original planner never collides in normal traffic: "no worse within 0.1" true by construction
        "INVALID": _train(0.5, 0.1, 0.45, orig_normal=0.0, adv_normal=0.0)},
}

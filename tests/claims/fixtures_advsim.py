"""Fabricated AdvSim runs: advsim/attack summaries (found / collision / unperturbed / perception-only rates of
one optimiser and perception on a scenario subset) and advsim/adv-train summaries (held-out collision rates of
the original, adversarially trained and control planners, and the untrained random-settings control)."""

from __future__ import annotations

from typing import Any

N = 10  # scenarios per seed, as the quick scale
GOOD_DET = {"val_precision": 0.876, "val_recall": 0.92, "final_loss": 0.4}


def _q(x: float) -> float:
    """A rate over N scenarios (a count / N), clipped to [0, 1]."""
    return min(1.0, max(0.0, round(x * N) / N))


def _attack(found: dict[str, float], only: dict[str, float] | None = None, base: float = 0.0,
            det: dict[str, float] | None = None):
    """``found``: mean found rate per arm (bo, cma, random, gt); ``only``: perception-only rate (lidar, gt)."""
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
                "mean_first_failure": 5.0, "per_kind": {}, "search_seconds": 18.0,
                "detector": None if gt else (det or GOOD_DET), "scenarios": [f"s{i}" for i in range(N)]}
    return make


def _train(orig_adv: float, adv_adv: float, rand_adv: float, orig_orig: float = 1 / 6, adv_orig: float = 1 / 6,
           progress_ratio: float = 0.95):
    def make(recipe: str, ov: dict[str, Any]) -> dict[str, Any]:
        assert recipe == "advsim/adv-train"
        seed = ov["tune.seed"]
        assert ov["adversary.seed"] == seed
        j = (seed % 3 - 1) / 12  # half a held-out case either way
        row = lambda a, o, p: {"adv_collision": a, "adv_failure": min(1.0, a + 1 / 6),  # noqa: E731
                               "orig_collision": o, "orig_failure": o, "orig_progress": p, "adv_progress": p - 2}
        jo = (seed % 2) / 12 if orig_orig > 0 else 0.0  # vary the originals' rate per seed unless at the floor
        orig = row(orig_adv + j, orig_orig + jo, 41.0 + seed)
        return {"held_out": {"original": orig,
                             "adv-trained": row(adv_adv + j / 2, adv_orig, (41.0 + seed) * progress_ratio),
                             "control (orig-only tuning)": orig},
                "untrained_control": {"n_settings": 4, "adv_collision": rand_adv, "adv_failure": rand_adv,
                                      "orig_collision": 0.0, "orig_progress": 38.0},
                "tuned_planner": {"margin": 1.5, "w_buffer": 40.0, "w_progress": 0.8, "target_speed": 10.0},
                "control_planner": {"margin": 1.0, "w_buffer": 20.0, "w_progress": 1.0, "target_speed": 11.0},
                "train_adv_failure_rate_before": 0.6, "n_train": 6, "n_test": 6, "seconds": 40.0,
                "perception": "lidar"}
    return make


GOOD = {"bo": 0.75, "cma": 0.75, "random": 0.45, "gt": 0.7}
BAD = {"bo": 0.3, "cma": 0.3, "random": 0.6, "gt": 0.7}
ALL = {"bo": 1.0, "cma": 1.0, "random": 1.0, "gt": 1.0}

FIXTURES = {
    "advsim/adversary-beats-random": {
        "PASS": _attack(GOOD), "FAIL": _attack(BAD),
        "INVALID": _attack(ALL)},  # every search breaks every scenario: no room for the effect
    "advsim/cma-beats-random": {
        "PASS": _attack(GOOD), "FAIL": _attack(BAD),
        "INVALID": _attack(GOOD, base=0.4)},  # the unperturbed scenarios already fail
    "advsim/lidar-finds-perception-failures": {
        "PASS": _attack(GOOD, {"lidar": 0.35, "gt": 0.05}), "FAIL": _attack(GOOD, {"lidar": 0.05, "gt": 0.35}),
        # a detector that misses a third of the actors: perception-only failures of a broken stack
        "INVALID": _attack(GOOD, {"lidar": 0.4, "gt": 0.05}, det={"val_precision": 0.82, "val_recall": 0.67})},
    "advsim/adv-train-helps": {
        "PASS": _train(0.5, 0.1, 0.45), "FAIL": _train(0.2, 0.5, 0.2),
        # random untrained planner settings escape the fixed adversarial cases as well as the trained one
        "INVALID": _train(0.5, 0.1, 0.0)},
    "advsim/adv-train-keeps-normal": {
        "PASS": _train(0.5, 0.1, 0.45, orig_orig=1 / 6, adv_orig=1 / 6),
        "FAIL": _train(0.5, 0.1, 0.45, orig_orig=0.0, adv_orig=0.5),
        # both planners collision-free on the originals: "no worse within 0.1" true by construction
        "INVALID": _train(0.5, 0.1, 0.45, orig_orig=0.0, adv_orig=0.0)},
}

"""AdvSim claims on the embedded scenario set; seed s = a scenario subset drawn with s and optimiser seed s.

* ``advsim/adversary-beats-random`` (demo, quick): Bayesian optimisation (optuna TPE) finds a failure
  (collision or near-miss) in more scenarios than random perturbations of the same query budget; the
  unperturbed failure rate is reported beside it.
* ``advsim/cma-beats-random`` (quick): the same for CMA-ES (``cma``).
* ``advsim/lidar-finds-perception-failures`` (quick): the search through re-simulated LiDAR finds failures that
  do not happen when the same perturbation is given to the stack with true actor states (perception-only
  failures) in more scenarios than the reverse (failures found on true states that the LiDAR stack avoids).
* ``advsim/adv-train-helps`` (quick): after fine-tuning the planner on found scenarios, the collision rate on
  held-out adversarial scenarios drops (the original-only tuning control is reported beside it).
* ``advsim/adv-train-keeps-normal`` (quick): on the held-out original scenarios the fine-tuned stack's
  collision rate is no worse than the original's plus ``TOLERANCE`` (less than one scenario in ten).
"""

from __future__ import annotations

from typing import Any

from trustlab.bench.claims import ClaimResult, mean, paired_result, register_claim, std

ATTACK, TRAIN = "advsim/attack", "advsim/adv-train"
TOLERANCE = 0.1
_TINY_DET = {"detector.samples": 48, "detector.steps": 4, "detector.batch": 8}
SCALE: dict[str, dict[str, Any]] = {
    "smoke": {"seeds": [0], "attack": {**_TINY_DET, "data.max_scenarios": 1, "adversary.budget": 2, "figures": 0},
              "train": {**_TINY_DET, "tune.n_train": 1, "tune.n_test": 1, "tune.trials": 1, "adversary.budget": 2}},
    "demo": {"seeds": [0, 1, 2], "attack": {"data.max_scenarios": 4, "adversary.budget": 8, "figures": 1},
             "train": {"tune.n_train": 3, "tune.n_test": 3, "tune.trials": 4, "adversary.budget": 8}},
    "quick": {"seeds": [0, 1, 2], "attack": {"data.max_scenarios": 10, "adversary.budget": 16},
              "train": {"tune.n_train": 6, "tune.n_test": 6, "tune.trials": 10, "adversary.budget": 16}},
    "full": {"seeds": [0, 1, 2, 3, 4], "attack": {"adversary.budget": 50},
             "train": {"tune.n_train": 24, "tune.n_test": 12, "tune.trials": 30, "adversary.budget": 50}},
}


def _attack_over(suite: str, seed: int, **extra: Any) -> dict[str, Any]:
    return {**SCALE[suite]["attack"], "data.subset_seed": seed, "adversary.seed": seed, **extra}


def _attacks(suite: str, ctx: Any, variants: dict[str, dict[str, Any]]) -> tuple[dict[str, list[dict]], list[str]]:
    seeds = SCALE[suite]["seeds"]
    keys = [(v, s) for v in variants for s in seeds]
    recs = ctx.run_many([(ATTACK, _attack_over(suite, s, **variants[v])) for v, s in keys])
    out: dict[str, list[dict]] = {v: [] for v in variants}
    for (v, _), r in zip(keys, recs):
        out[v].append(r.summary())
    return out, [str(r.path) for r in recs]


OPTS = {"bo": {"adversary.optimizer": "bo"}, "cma": {"adversary.optimizer": "cma"},
        "random": {"adversary.optimizer": "random"}}


def _table(runs: dict[str, list[dict]]) -> list[dict[str, Any]]:
    rows = []
    for v, sums in runs.items():
        rows.append({"search": v, "scenarios/seed": sums[0]["n_scenarios"], "budget": sums[0]["budget"],
                     "found (per seed)": "/".join(str(s["found"]) for s in sums),
                     "found rate": mean([s["found_rate"] for s in sums]),
                     "std": std([s["found_rate"] for s in sums]),
                     "collision rate": mean([s["collision_rate"] for s in sums]),
                     "unperturbed failure rate": mean([s["base_failure_rate"] for s in sums])})
    return rows


def _beats_random(claim_id: str, opt: str):
    def check(suite: str, ctx: Any) -> ClaimResult:
        names = [opt, "random"] if suite == "demo" else ["bo", "cma", "random"]
        runs, paths = _attacks(suite, ctx, {n: OPTS[n] for n in names})
        diffs = [a["found_rate"] - b["found_rate"] for a, b in zip(runs[opt], runs["random"])]
        values = {f"{v}/found_rate": [s["found_rate"] for s in runs[v]] for v in runs}
        values.update({f"{v}/collision_rate": [s["collision_rate"] for s in runs[v]] for v in runs})
        values["unperturbed/failure_rate"] = [s["base_failure_rate"] for s in runs["random"]]
        return paired_result(
            claim_id, suite, diffs, unit=f"share of scenarios with a failure found, {opt} minus random (same budget)",
            values=values, seeds=SCALE[suite]["seeds"], table=_table(runs), runs=paths,
            notes=(f"control: unperturbed scenarios fail in {mean(values['unperturbed/failure_rate']):.2f} of them; "
                   f"collision-only rates {opt} {mean(values[f'{opt}/collision_rate']):.2f} vs random "
                   f"{mean(values['random/collision_rate']):.2f}"))

    return check


def check_perception(suite: str, ctx: Any) -> ClaimResult:
    # the LiDAR search is the BO run of the beats-random claims (same overrides: read from the bench's cache)
    runs, paths = _attacks(suite, ctx, {"lidar": OPTS["bo"], "gt": {**OPTS["bo"], "stack.perception": "gt"}})
    lid = [s["perception_only_rate"] for s in runs["lidar"]]
    gt = [s["perception_only_rate"] for s in runs["gt"]]
    table = [{"search on": "re-simulated LiDAR (full stack)",
              "found rate": mean([s["found_rate"] for s in runs["lidar"]]),
              "failures not reproduced by the other stack": mean(lid),
              "count (per seed)": "/".join(str(s["perception_only"]) for s in runs["lidar"]),
              "unperturbed failure rate": mean([s["base_failure_rate"] for s in runs["lidar"]])},
             {"search on": "ground-truth actor states (planner only)", "found rate": mean([s["found_rate"] for s in
                                                                                         runs["gt"]]),
              "failures not reproduced by the other stack": mean(gt),
              "count (per seed)": "/".join(str(s["perception_only"]) for s in runs["gt"]),
              "unperturbed failure rate": mean([s["base_failure_rate"] for s in runs["gt"]])}]
    return paired_result(
        "advsim/lidar-finds-perception-failures", suite, [a - b for a, b in zip(lid, gt)],
        unit="share of scenarios: LiDAR-search failures the gt stack avoids, minus gt-search failures the LiDAR "
             "stack avoids", values={"lidar_only": lid, "gt_only": gt,
                                     "lidar/found_rate": [s["found_rate"] for s in runs["lidar"]],
                                     "gt/found_rate": [s["found_rate"] for s in runs["gt"]]},
        seeds=SCALE[suite]["seeds"], table=table, runs=paths,
        notes="a failure is 'not reproduced' when replaying the found perturbation on the other stack is safe; "
              "see the attack runs' bev_attack_*.png for the point clouds")


def _train_runs(suite: str, ctx: Any) -> tuple[list[dict], list[str]]:
    seeds = SCALE[suite]["seeds"]
    recs = ctx.run_many([(TRAIN, {**SCALE[suite]["train"], "tune.seed": s, "adversary.seed": s}) for s in seeds])
    return [r.summary() for r in recs], [str(r.path) for r in recs]


def _train_table(sums: list[dict]) -> list[dict[str, Any]]:
    rows = []
    for name in sums[0]["held_out"]:
        h = [s["held_out"][name] for s in sums]
        rows.append({"stack": name, **{k: mean([x[k] for x in h]) for k in h[0]}})
    return rows


def check_adv_train(suite: str, ctx: Any) -> ClaimResult:
    sums, paths = _train_runs(suite, ctx)
    before = [s["held_out"]["original"]["adv_collision"] for s in sums]
    after = [s["held_out"]["adv-trained"]["adv_collision"] for s in sums]
    ctrl = [s["held_out"]["control (orig-only tuning)"]["adv_collision"] for s in sums]
    return paired_result(
        "advsim/adv-train-helps", suite, [b - a for b, a in zip(before, after)],
        unit="held-out adversarial collision rate, original minus adversarially trained planner",
        values={"original": before, "adv_trained": after, "control_orig_only": ctrl}, seeds=SCALE[suite]["seeds"],
        table=_train_table(sums), runs=paths,
        notes=f"control tuned on original scenarios only: {mean(ctrl):.2f} (original {mean(before):.2f}, "
              f"adv-trained {mean(after):.2f})")


def check_keeps_normal(suite: str, ctx: Any) -> ClaimResult:
    sums, paths = _train_runs(suite, ctx)
    before = [s["held_out"]["original"]["orig_collision"] for s in sums]
    after = [s["held_out"]["adv-trained"]["orig_collision"] for s in sums]
    prog_b = [s["held_out"]["original"]["orig_progress"] for s in sums]
    prog_a = [s["held_out"]["adv-trained"]["orig_progress"] for s in sums]
    return paired_result(
        "advsim/adv-train-keeps-normal", suite, [b + TOLERANCE - a for b, a in zip(before, after)],
        unit=f"held-out original collision rate, original + {TOLERANCE} minus adversarially trained",
        values={"original": before, "adv_trained": after, "progress_original_m": prog_b,
                "progress_adv_trained_m": prog_a}, seeds=SCALE[suite]["seeds"], table=_train_table(sums), runs=paths,
        notes=f"progress on original scenarios {mean(prog_b):.1f} m -> {mean(prog_a):.1f} m (a stack that stops "
              "would be safe and useless)")


register_claim("advsim/adversary-beats-random",
               "AdvSim: black-box Bayesian optimisation finds safety-critical failures (collision or near-miss) of the "
               "LiDAR stack in more scenarios than random plausible perturbations at the same query budget",
               _beats_random("advsim/adversary-beats-random", "bo"))
register_claim("advsim/cma-beats-random",
               "AdvSim: CMA-ES finds safety-critical failures in more scenarios than random perturbations at the same "
               "query budget", _beats_random("advsim/cma-beats-random", "cma"), suites=("smoke", "quick", "full"))
register_claim("advsim/lidar-finds-perception-failures",
               "AdvSim: attacking through re-simulated LiDAR finds failures that the same perturbation does not cause "
               "on ground-truth actor states, more often than the reverse", check_perception,
               suites=("smoke", "quick", "full"))
register_claim("advsim/adv-train-helps",
               "AdvSim: fine-tuning the planner on found scenarios lowers the collision rate on held-out adversarial "
               "scenarios", check_adv_train, suites=("smoke", "quick", "full"))
register_claim("advsim/adv-train-keeps-normal",
               f"AdvSim: after adversarial fine-tuning the collision rate on held-out original scenarios is no worse "
               f"(within {TOLERANCE})", check_keeps_normal, suites=("smoke", "quick", "full"))

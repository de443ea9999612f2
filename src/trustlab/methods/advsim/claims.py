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

Validity gates (``PRECONDITIONS``; a failed one makes the verdict INVALID): the unperturbed scenarios do not
already fail; random search leaves room for the effect and the searches are not both at the floor; the detector
of the LiDAR stack works; the held-out adversarial cases break the original planner and are not escaped by an
untrained change of the planner's settings; the originals are not collision-free for both planners (else "no
worse" holds by construction) and the adversarially trained planner still drives.
"""

from __future__ import annotations

from typing import Any

from trustlab.bench.claims import (
    ClaimResult,
    Gate,
    gate_above,
    gate_below,
    mean,
    paired_result,
    register_claim,
    std,
)

ATTACK, TRAIN = "advsim/attack", "advsim/adv-train"
TOLERANCE = 0.1
# effects of interest (claim units; see register_claim below for their sources)
EFFECT_SEARCH = 0.2  # share of scenarios with a failure found, optimiser minus random
EFFECT_LIDAR = 0.1  # share of scenarios, perception-only failures LiDAR search minus gt search
EFFECT_TRAIN = 0.15  # held-out adversarial collision rate, original minus adversarially trained
EFFECT_NORMAL = TOLERANCE  # keeps-normal: the tolerance itself
BASE_FAIL_MAX = 0.1  # unperturbed failure rate at most one scenario in ten
DETECTOR_MIN = 0.8  # held-out precision and recall of the BEV detector
PROGRESS_MIN = 0.9  # adv-trained progress >= this x original's (the tuner's own progress_tolerance 0.1)
_TINY_DET = {"detector.samples": 48, "detector.steps": 4, "detector.batch": 8}
SCALE: dict[str, dict[str, Any]] = {
    "smoke": {"seeds": [0], "attack": {**_TINY_DET, "data.max_scenarios": 1, "adversary.budget": 2, "figures": 0},
              "train": {**_TINY_DET, "tune.n_train": 1, "tune.n_test": 1, "tune.trials": 1, "adversary.budget": 2}},
    "demo": {"seeds": [0, 1, 2], "attack": {"data.max_scenarios": 4, "adversary.budget": 8, "figures": 1},
             "train": {"tune.n_train": 3, "tune.n_test": 3, "tune.trials": 4, "adversary.budget": 8}},
    # quick: seeds from the power analysis (README "Seeds"): 12 attack seeds (adversary-beats-random needs 12 at
    # sd 0.25 for effect 0.2; an attack run is ~20 CPU-s), 5 adv-train seeds (adv-train-helps: 5 at sd 0.096)
    "quick": {"seeds": list(range(12)), "train_seeds": list(range(5)),
              "attack": {"data.max_scenarios": 10, "adversary.budget": 16},
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


def _seeds(suite: str, key: str = "seeds") -> list[int]:
    return SCALE[suite].get(key, SCALE[suite]["seeds"])


def _gate_unperturbed(label: str, rates: list[float]) -> Gate:
    # a scenario that already fails unperturbed counts as "found" for every search (and every stack) alike
    return gate_below("unperturbed-safe", f"unperturbed failure rate ({label})", rates, BASE_FAIL_MAX,
                      "the control rollout must not already fail")


def _gate_room(opt: str, found: list[float], rand: list[float]) -> Gate:
    """Random search leaves room for the effect (mean found rate <= 1 - effect) and the two searches are not both
    at 0 (a stack that neither search can break gives a margin of 0 by construction)."""
    f, r = mean(found), mean(rand)
    ok = r <= 1 - EFFECT_SEARCH and f + r > 0
    why = ("" if ok else " (random search at the ceiling: no room for the effect)" if r > 1 - EFFECT_SEARCH
           else " (both searches at the floor)")
    return Gate("room", ok, f"found rate random {r:.3f} (<= {1 - EFFECT_SEARCH:.2f} needed), {opt} {f:.3f}{why}")


def _beats_random(claim_id: str, opt: str):
    def check(suite: str, ctx: Any) -> ClaimResult:
        names = [opt, "random"] if suite == "demo" else ["bo", "cma", "random"]
        runs, paths = _attacks(suite, ctx, {n: OPTS[n] for n in names})
        diffs = [a["found_rate"] - b["found_rate"] for a, b in zip(runs[opt], runs["random"])]
        values = {f"{v}/found_rate": [s["found_rate"] for s in runs[v]] for v in runs}
        values.update({f"{v}/collision_rate": [s["collision_rate"] for s in runs[v]] for v in runs})
        values["unperturbed/failure_rate"] = [s["base_failure_rate"] for s in runs["random"]]
        gates = [_gate_unperturbed("LiDAR stack", values["unperturbed/failure_rate"]),
                 _gate_room(opt, values[f"{opt}/found_rate"], values["random/found_rate"])]
        return paired_result(
            claim_id, suite, diffs, unit=f"share of scenarios with a failure found, {opt} minus random (same budget)",
            values=values, seeds=_seeds(suite), table=_table(runs), runs=paths, gates=gates,
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
    dets = [s.get("detector") or {} for s in runs["lidar"]]
    prec = [float(d.get("val_precision", float("nan"))) for d in dets]
    rec = [float(d.get("val_recall", float("nan"))) for d in dets]
    det_ok = all(x == x for x in prec + rec) and min(mean(prec), mean(rec)) >= DETECTOR_MIN
    gates = [_gate_unperturbed("LiDAR and gt stacks", [s["base_failure_rate"] for s in runs["lidar"] + runs["gt"]]),
             Gate("detector-works", det_ok, f"detector held-out precision {mean(prec):.3f}, recall {mean(rec):.3f} "
                  f"({'>=' if det_ok else 'not both >='} {DETECTOR_MIN})"),
             gate_above("finds-failures", "LiDAR-search found rate", [s["found_rate"] for s in runs["lidar"]],
                        EFFECT_LIDAR, "perception-only failures are a subset of the failures found")]
    return paired_result(
        "advsim/lidar-finds-perception-failures", suite, [a - b for a, b in zip(lid, gt)],
        unit="share of scenarios: LiDAR-search failures the gt stack avoids, minus gt-search failures the LiDAR "
             "stack avoids", values={"lidar_only": lid, "gt_only": gt,
                                     "lidar/found_rate": [s["found_rate"] for s in runs["lidar"]],
                                     "gt/found_rate": [s["found_rate"] for s in runs["gt"]]},
        seeds=_seeds(suite), table=table, runs=paths, gates=gates,
        notes="a failure is 'not reproduced' when replaying the found perturbation on the other stack is safe; "
              "see the attack runs' bev_attack_*.png for the point clouds")


def _train_runs(suite: str, ctx: Any) -> tuple[list[dict], list[str]]:
    seeds = _seeds(suite, "train_seeds")
    recs = ctx.run_many([(TRAIN, {**SCALE[suite]["train"], "tune.seed": s, "adversary.seed": s}) for s in seeds])
    return [r.summary() for r in recs], [str(r.path) for r in recs]


def _train_table(sums: list[dict]) -> list[dict[str, Any]]:
    rows = []
    for name in sums[0]["held_out"]:
        h = [s["held_out"][name] for s in sums]
        rows.append({"stack": name, **{k: mean([x[k] for x in h]) for k in h[0]}})
    return rows


def _untrained(sums: list[dict], key: str) -> list[float]:
    return [float((s.get("untrained_control") or {}).get(key, float("nan"))) for s in sums]


def check_adv_train(suite: str, ctx: Any) -> ClaimResult:
    sums, paths = _train_runs(suite, ctx)
    before = [s["held_out"]["original"]["adv_collision"] for s in sums]
    after = [s["held_out"]["adv-trained"]["adv_collision"] for s in sums]
    ctrl = [s["held_out"]["control (orig-only tuning)"]["adv_collision"] for s in sums]
    rand = _untrained(sums, "adv_collision")
    gates = [gate_above("adv-cases-break-original", "original planner's held-out adversarial collision rate",
                        before, EFFECT_TRAIN, "the drop cannot reach the effect of interest from a lower rate"),
             gate_above("untrained-control", "untrained random-settings planner's held-out adversarial collision rate",
                        rand, mean(before) - EFFECT_TRAIN,
                        f"original {mean(before):.3f} minus the effect {EFFECT_TRAIN}: a planner that only drives "
                        "differently must not escape the fixed cases as well")
             if all(x == x for x in rand) else
             Gate("untrained-control", False, "no untrained control in the adv-train runs (tune.n_random = 0 or a run "
                  "from before it existed)")]
    return paired_result(
        "advsim/adv-train-helps", suite, [b - a for b, a in zip(before, after)],
        unit="held-out adversarial collision rate, original minus adversarially trained planner",
        values={"original": before, "adv_trained": after, "control_orig_only": ctrl, "untrained_random": rand},
        seeds=_seeds(suite, "train_seeds"), table=_train_table(sums), runs=paths, gates=gates,
        notes=f"control tuned on original scenarios only: {mean(ctrl):.2f}; untrained random planner settings: "
              f"{mean(rand):.2f} (original {mean(before):.2f}, adv-trained {mean(after):.2f})")


def check_keeps_normal(suite: str, ctx: Any) -> ClaimResult:
    sums, paths = _train_runs(suite, ctx)
    before = [s["held_out"]["original"]["orig_collision"] for s in sums]
    after = [s["held_out"]["adv-trained"]["orig_collision"] for s in sums]
    prog_b = [s["held_out"]["original"]["orig_progress"] for s in sums]
    prog_a = [s["held_out"]["adv-trained"]["orig_progress"] for s in sums]
    pooled = mean(before + after)
    floor = "> 0" if pooled > 0 else "= 0: both planners collision-free, the bound holds by construction"
    gates = [Gate("not-at-floor", pooled > 0, f"held-out original collision rate, original and adv-trained pooled "
                  f"{pooled:.3f} {floor}"),
             gate_above("still-drives", "adv-trained progress on the originals / original's",
                        mean(prog_a) / max(mean(prog_b), 1e-9), PROGRESS_MIN,
                        "a planner that stops is safe and useless")]
    return paired_result(
        "advsim/adv-train-keeps-normal", suite, [b + TOLERANCE - a for b, a in zip(before, after)],
        unit=f"held-out original collision rate, original + {TOLERANCE} minus adversarially trained",
        values={"original": before, "adv_trained": after, "progress_original_m": prog_b,
                "progress_adv_trained_m": prog_a}, seeds=_seeds(suite, "train_seeds"), table=_train_table(sums),
        runs=paths, gates=gates,
        notes=f"progress on original scenarios {mean(prog_b):.1f} m -> {mean(prog_a):.1f} m (a stack that stops "
              "would be safe and useless)")


_UNPERTURBED = (f"the unperturbed control rollouts fail in at most {BASE_FAIL_MAX} of the scenarios (a scenario "
                "that fails unperturbed is 'found' by every search and every stack alike; its failure is not the "
                "perturbation's)")
_ROOM = (f"random search's found rate <= 1 - {EFFECT_SEARCH} (room above it for the effect of interest) and the two "
         "searches not both at 0 (a stack neither can break gives a margin of 0 by construction)")
_SEARCH_SRC = ("the paper's attack raises stacks' collision rates by 5-28 points over the original scenarios (notes: "
               "IL 20.4->25.2 ... NMP 14.5->42.2) and calls its gain over random search 'many more scenarios'; 0.2 = "
               "two scenarios in ten per seed at the quick scale")
register_claim("advsim/adversary-beats-random",
               "AdvSim: black-box Bayesian optimisation finds safety-critical failures (collision or near-miss) of the "
               "LiDAR stack in more scenarios than random plausible perturbations at the same query budget",
               _beats_random("advsim/adversary-beats-random", "bo"),
               preconditions={"unperturbed-safe": _UNPERTURBED, "room": _ROOM},
               effect=EFFECT_SEARCH, effect_source=_SEARCH_SRC)
register_claim("advsim/cma-beats-random",
               "AdvSim: CMA-ES finds safety-critical failures in more scenarios than random perturbations at the same "
               "query budget", _beats_random("advsim/cma-beats-random", "cma"), suites=("smoke", "quick", "full"),
               preconditions={"unperturbed-safe": _UNPERTURBED, "room": _ROOM},
               effect=EFFECT_SEARCH, effect_source=_SEARCH_SRC)
register_claim("advsim/lidar-finds-perception-failures",
               "AdvSim: attacking through re-simulated LiDAR finds failures that the same perturbation does not cause "
               "on ground-truth actor states, more often than the reverse", check_perception,
               suites=("smoke", "quick", "full"),
               preconditions={
                   "unperturbed-safe": _UNPERTURBED + " (both stacks)",
                   "detector-works": f"the BEV detector's held-out precision and recall are both >= {DETECTOR_MIN} "
                                     "(a detector that misses one visible actor in five makes perception-only "
                                     "failures a property of a broken stack, not of the search through LiDAR)",
                   "finds-failures": f"the LiDAR search finds a failure in >= {EFFECT_LIDAR} of the scenarios "
                                     "(perception-only failures are a subset of those; below it the margin cannot "
                                     "reach the effect)"},
               effect=EFFECT_LIDAR,
               effect_source="the paper shows perception failures (occlusion) as examples, no rate; 0.1 = one "
                             "scenario in ten per seed more perception-only failures than the reverse")
register_claim("advsim/adv-train-helps",
               "AdvSim: fine-tuning the planner on found scenarios lowers the collision rate on held-out adversarial "
               "scenarios", check_adv_train, suites=("smoke", "quick", "full"),
               preconditions={
                   "adv-cases-break-original": f"the original planner collides on >= {EFFECT_TRAIN} of the held-out "
                                               "adversarial cases (a drop from a lower rate cannot reach the effect)",
                   "untrained-control": "untrained planner settings drawn at random from the tuning ranges "
                                        "(tune.n_random) still collide on the held-out adversarial cases at >= the "
                                        f"original's rate minus {EFFECT_TRAIN}: the cases are fixed actor "
                                        "trajectories found against the original planner, so if a planner that only "
                                        "drives differently escapes them too, a drop is no evidence of training"},
               effect=EFFECT_TRAIN,
               effect_source="the paper's adversarial training: PLT 31.6->15.3, P3 32.0->17.7 collision rate on "
                             "adversarial scenarios (14-16 points); 0.15 = about one held-out case in six")
register_claim("advsim/adv-train-keeps-normal",
               f"AdvSim: after adversarial fine-tuning the collision rate on held-out original scenarios is no worse "
               f"(within {TOLERANCE})", check_keeps_normal, suites=("smoke", "quick", "full"),
               preconditions={
                   "not-at-floor": "the held-out original collision rate is not 0 for both planners (at 0 for both, "
                                   "'no worse within the tolerance' holds by construction: the test cannot see a "
                                   "degradation)",
                   "still-drives": f"the adversarially trained planner's progress on the originals is >= "
                                   f"{PROGRESS_MIN} x the original's (the tuner's own tolerance; a planner that stops "
                                   "is trivially collision-free)"},
               effect=EFFECT_NORMAL,
               effect_source="the tolerance itself (one scenario in ten); the paper: PLT 12.1->10.3, P3 8.5->7.0 on "
                             "original scenarios (no worse)")

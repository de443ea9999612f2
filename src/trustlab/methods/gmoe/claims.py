"""GMoE claims in miniature (Li et al., ICLR 2023), leave-one-domain-out on the embedded Digits-DG.

1. ``gmoe/beats-dense``: GMoE's mean held-out-domain accuracy is above the dense ViT's (same recipe, same
   per-token MACs: each expert's hidden width is trimmed so router + expert <= the dense MLP; both counted).
2. ``gmoe/experts-specialise``: training makes the expert a patch token goes to depend more on its visual
   attributes (brightness, ink, colour bins): mutual information of the trained model minus that of the same
   model at its initial weights (the very weights the run started from; a random router already splits
   tokens by content, so MI above a permutation control alone is true of an untrained model). The
   permutation control is reported beside it.
3. ``gmoe/load-balanced``: the coefficient of variation of expert load stays below ``CV_BOUND`` in every
   training epoch; ``gmoe/few-dropped``: the dropped share of assignments stays below ``DROP_BOUND``.
4. ``gmoe/fusion-helps``: our layer-fusion block raises mean held-out accuracy over plain GMoE (ablation).
5. ``gmoe/beats-cnn``: GMoE beats the foundation's ERM CNN (``erm/digits-dg``, small_cnn) at the same data
   budget (full suite only: the quick budget holds two ViTs per split, not a third model).

Every claim is decided by the bench's paired rule on per-seed margins (means over held-out domains), after
its validity gates (README, "Validity gates"): every compared model trained (in-domain accuracy >= chance +
0.2) and above chance on the held-out domains (>= chance + 0.05), equal compute where the claim says so, a
trained-vs-untrained comparison on the same initial weights, a router that can be unbalanced and a capacity
that can drop. Seeds per claim come from the power analysis (``CLAIM_SEEDS``). Scales were fixed before
looking at held-out accuracy (README, "Results").
"""

from __future__ import annotations

from typing import Any

from trustlab.bench.claims import ClaimResult, Gate, gate_above_chance, mean, paired_result, register_claim, std

DOMAINS = ("mnist", "usps", "syn", "mnistm")
CV_BOUND = 0.5  # expert-load coefficient of variation (std / mean over experts), per epoch
DROP_BOUND = 0.05  # share of (token, expert) assignments dropped by capacity, per epoch
VISUAL = ("brightness", "ink", "colour")
CHANCE = 0.1  # Digits-DG: 10 classes
# Gates (the same bars as the foundation's ERM claims): a compared model has *trained* when its in-domain
# accuracy (source test splits) is above chance by erm/beats-chance's wide margin (20 points), and is *above
# chance* on the held-out domains by erm/heldout-below-indomain's 5 points (several binomial standard errors
# of the held-out test split); below either, a held-out difference compares noise or fitting speed, not DG.
TRAINED_MARGIN = 0.2
HELDOUT_MARGIN = 0.05

SPECIALISE_SEEDS = 11  # power analysis, README "Power": sd 0.012 nats (two held-out domains), effect 0.01
_RUN = ["train.eval_every=1000"]  # one evaluation, after the last epoch (cost); selection = last epoch
SCALE: dict[str, dict[str, Any]] = {
    "smoke": {"seeds": [0], "targets": ["mnistm"], "fusion_targets": ["mnistm"],
              "overrides": ["data.max_per_domain=32", "train.epochs=1", "train.max_steps_per_epoch=2", *_RUN]},
    "demo": {"seeds": [0, 1, 2], "targets": ["mnistm"], "fusion_targets": ["mnistm"],
             "overrides": ["data.max_per_domain=128", "train.epochs=8", *_RUN]},
    # quick: two of the four LODO splits (the colour/texture-shifted held-out domains), chosen for compute
    # before any held-out result was seen; the full suite holds out all four. 500 images per source domain (the
    # recipe's default): from the shipped ViT the dense arm's source validation accuracy was 0.544 at 500 x 12
    # epochs vs 0.400 at 200 x 12, 0.499 at 200 x 30 and 0.322 at lr 3e-4 (held-out mnistm, seed 0; README)
    "quick": {"seeds": [0, 1, 2], "targets": ["syn", "mnistm"], "fusion_targets": ["mnistm"],
              "overrides": ["data.max_per_domain=500", "train.epochs=12", *_RUN]},
    "full": {"seeds": [0, 1, 2, 3, 4], "targets": list(DOMAINS), "fusion_targets": list(DOMAINS),
             "overrides": ["data.max_per_domain=1000", "train.epochs=40", "train.eval_every=5"]},
}
# Seeds per claim where the power analysis asks for more than the suite's default (README, "Power"): the
# quick runs cost 10-40 CPU-s each, under a minute, so the quick suite runs what the effect of interest needs.
CLAIM_SEEDS: dict[str, dict[str, list[int]]] = {
    # fusion-helps: sd 0.0188 per seed over seeds 0-3 from the shipped ViT (README "Power") -> 8 seeds for 0.02
    "quick": {"gmoe/fusion-helps": list(range(8)), "gmoe/experts-specialise": list(range(SPECIALISE_SEEDS))},
}


def seeds_of(suite: str, claim_id: str) -> list[int]:
    return CLAIM_SEEDS.get(suite, {}).get(claim_id, SCALE[suite]["seeds"])


def _all_gate(name: str, gates: list[Gate]) -> Gate:
    """One gate named ``name`` that holds when every one of ``gates`` (one per arm) holds."""
    return Gate(name, all(g.ok for g in gates), "; ".join(g.detail for g in gates))


def _arm_gates(runs: dict, arms: list[str], targets: list[str], seeds: list[int]) -> list[Gate]:
    """``trained`` and ``above-chance`` over every compared arm (means over held-out domains and seeds)."""
    def acc(r: str, key: str) -> list[float]:
        return [runs[(r, t, x)][key] for t in targets for x in seeds]

    return [_all_gate("trained", [gate_above_chance("trained", f"{r} in-domain acc", acc(r, "indomain_acc"),
                                                    CHANCE, TRAINED_MARGIN) for r in arms]),
            _all_gate("above-chance", [gate_above_chance("above-chance", f"{r} held-out acc", acc(r, "heldout_acc"),
                                                         CHANCE, HELDOUT_MARGIN) for r in arms])]


def lodo(suite: str, ctx: Any, recipes: list[str], targets: list[str] | None = None,
         extra: list[str] | None = None, seeds: list[int] | None = None,
         ) -> tuple[dict[tuple[str, str, int], dict[str, Any]], list[str]]:
    """``{(recipe, target, seed): summary}`` over the suite's held-out domains and seeds, trained together."""
    s = SCALE[suite]
    keys = [(r, t, seed) for seed in (seeds or s["seeds"]) for t in (targets or s["targets"]) for r in recipes]
    recs = ctx.run_many([(r, [f"data.target={t}", f"train.seed={seed}", *s["overrides"], *(extra or [])])
                         for r, t, seed in keys])
    return {k: rec.summary() for k, rec in zip(keys, recs)}, [str(rec.path) for rec in recs]


def _per_seed(runs: dict, recipe: str, targets: list[str], seeds: list[int], key: str = "heldout_acc") -> list[float]:
    return [mean([runs[(recipe, t, s)][key] for t in targets]) for s in seeds]


def _accuracy_claim(claim_id: str, suite: str, ctx: Any, ours: str, base: str, targets_key: str = "targets",
                    base_extra: list[str] | None = None, equal_compute: bool = False) -> ClaimResult:
    s = SCALE[suite]
    seeds, targets = seeds_of(suite, claim_id), s[targets_key]
    runs, paths = lodo(suite, ctx, [ours], targets, seeds=seeds)
    base_runs, base_paths = lodo(suite, ctx, [base], targets, base_extra, seeds=seeds)
    runs.update(base_runs)
    a, b = _per_seed(runs, ours, targets, seeds), _per_seed(runs, base, targets, seeds)
    table = []
    for t in targets:
        va = [runs[(ours, t, x)]["heldout_acc"] for x in seeds]
        vb = [runs[(base, t, x)]["heldout_acc"] for x in seeds]
        table.append({"held-out": t, ours: mean(va), base: mean(vb), "diff": mean(va) - mean(vb),
                      "diff std": std([p - q for p, q in zip(va, vb)])})
    first = (targets[0], seeds[0])
    ra, rb = runs[(ours, *first)], runs[(base, *first)]
    # two ViTs compare MACs per token; a CNN has no tokens, so a ViT-vs-CNN claim compares MACs per image
    unit = "MACs/token" if "macs_per_token" in ra and "macs_per_token" in rb else "MACs/image"
    flops = {r: x["macs_per_token"] if unit == "MACs/token" else x["macs"] for r, x in ((ours, ra), (base, rb))}
    table.append({"held-out": unit, ours: flops[ours], base: flops[base], "diff": flops[ours] - flops[base],
                  "diff std": 0.0})
    indom = [mean([runs[(r, t, x)]["indomain_acc"] for t in targets for x in seeds]) for r in (ours, base)]
    notes = (f"{unit} {ours} {flops[ours]:.0f} vs {base} {flops[base]:.0f}; "
             f"params {ra['params']} vs {rb['params']}; in-domain acc {indom[0]:.3f} vs {indom[1]:.3f}")
    gates = _arm_gates(runs, [ours, base], targets, seeds)
    if equal_compute:  # the claim is "at equal or lower MACs per token": a costlier GMoE is not the claim
        def macs(r: str) -> list[float]:
            return [runs[(r, t, x)]["macs_per_token"] for t in targets for x in seeds]

        mo, mb = max(macs(ours)), min(macs(base))
        gates.append(Gate("equal-compute", mo <= mb, f"{ours} MACs/token {mo:.0f} {'<=' if mo <= mb else '>'} "
                          f"{base} {mb:.0f}"))
    return paired_result(claim_id, suite, [p - q for p, q in zip(a, b)], unit="mean held-out accuracy",
                         values={ours: a, base: b}, seeds=seeds, table=table, runs=paths + base_paths, notes=notes,
                         gates=gates)


def check_beats_dense(suite: str, ctx: Any) -> ClaimResult:
    return _accuracy_claim("gmoe/beats-dense", suite, ctx, "gmoe/digits-dg", "gmoe/dense-digits-dg",
                           equal_compute=True)


def check_fusion(suite: str, ctx: Any) -> ClaimResult:
    return _accuracy_claim("gmoe/fusion-helps", suite, ctx, "gmoe/fusion-digits-dg", "gmoe/digits-dg",
                           targets_key="fusion_targets")


def check_beats_cnn(suite: str, ctx: Any) -> ClaimResult:
    # the ERM CNN at the same data budget and epochs, its own optimiser defaults (SGD 0.02, cosine)
    return _accuracy_claim("gmoe/beats-cnn", suite, ctx, "gmoe/digits-dg", "erm/digits-dg")


def check_specialise(suite: str, ctx: Any) -> ClaimResult:
    s = SCALE[suite]
    seeds, targets = seeds_of(suite, "gmoe/experts-specialise"), s["targets"]
    runs, paths = lodo(suite, ctx, ["gmoe/digits-dg"], targets, seeds=seeds)

    def stat(key: str, attr: str, field: str, seed: int) -> float:
        return mean([runs[("gmoe/digits-dg", t, seed)][key][attr][field] for t in targets])

    def visual(key: str, field: str, seed: int) -> float:
        return mean([stat(key, a, field, seed) for a in VISUAL])

    # per seed: mean over visual attributes (and held-out splits) of MI trained minus MI at the initial weights
    trained = [visual("specialisation", "mi", x) for x in seeds]
    init = [visual("specialisation_init", "mi", x) for x in seeds]
    perm = [visual("specialisation", "perm_max", x) for x in seeds]
    table = []
    for a in ("brightness", "ink", "colour", "position", "class", "domain"):
        table.append({"attribute": a,
                      "MI trained": mean([stat("specialisation", a, "mi", x) for x in seeds]),
                      "MI at init": mean([stat("specialisation_init", a, "mi", x) for x in seeds]),
                      "trained - init": mean([stat("specialisation", a, "mi", x)
                                              - stat("specialisation_init", a, "mi", x) for x in seeds]),
                      "permutation mean": mean([stat("specialisation", a, "perm_mean", x) for x in seeds]),
                      "permutation max": mean([stat("specialisation", a, "perm_max", x) for x in seeds]),
                      "ratio to permutation": mean([stat("specialisation", a, "ratio", x) for x in seeds])})
    values = {"visual/mi": trained, "visual/mi_init": init, "visual/perm_max": perm}
    values.update({f"{a}/mi": [stat("specialisation", a, "mi", x) for x in seeds] for a in ("ink", "class", "domain")})
    values.update({f"{a}/mi_init": [stat("specialisation_init", a, "mi", x) for x in seeds] for a in ("ink", "class")})
    origin = [runs[("gmoe/digits-dg", t, x)].get("specialisation_init_weights", "not recorded")
              for t in targets for x in seeds]
    bad = sorted({o for o in origin if o != "run-initial"})
    gates = [
        Gate("same-init", not bad, "MI at init measured on each run's own initial weights" if not bad else
             f"MI at init not from the run's own initial weights ({', '.join(bad)}): rerun (older runs re-seeded "
             "and rebuilt the model, which draws other weights)"),
        _arm_gates(runs, ["gmoe/digits-dg"], targets, seeds)[0],
    ]
    notes = (f"MI above the permutation max (visual mean): trained {mean(trained) - mean(perm):+.4f}, "
             f"init {mean(init) - mean([visual('specialisation_init', 'perm_max', x) for x in seeds]):+.4f} nats; "
             "figure per expert: artifacts/routing.png of each gmoe/digits-dg run")
    return paired_result("gmoe/experts-specialise", suite, [p - q for p, q in zip(trained, init)],
                         unit="MI(expert; visual attribute), trained minus same weights at init, nats",
                         values=values, seeds=seeds, table=table, runs=paths, notes=notes, gates=gates)


def _moe_setting(ctx: Any, suite: str, summary: dict[str, Any], key: str) -> float:
    """``top_k`` / ``capacity_factor`` / ``experts`` of a run: its summary, else the config the claim asked for."""
    if key in summary:
        return float(summary[key])
    from trustlab.recipes import RECIPES

    cfg = RECIPES.get("gmoe/digits-dg").config(overrides=list(SCALE[suite]["overrides"]))
    return float({"top_k": cfg.moe.top_k, "capacity_factor": cfg.moe.capacity_factor,
                  "experts": cfg.moe.num_experts}[key])


def _balance_claim(claim_id: str, suite: str, ctx: Any, key: str, bound: float, unit: str) -> ClaimResult:
    s = SCALE[suite]
    seeds, targets = seeds_of(suite, claim_id), s["targets"]
    runs, paths = lodo(suite, ctx, ["gmoe/digits-dg"], targets, seeds=seeds)
    worst = [max(runs[("gmoe/digits-dg", t, x)]["balance"][f"{key}_max"] for t in targets) for x in seeds]

    def bal(t: str, what: str) -> float:
        return mean([runs[("gmoe/digits-dg", t, x)]["balance"][f"{key}_{what}"] for x in seeds])

    table = [{"held-out": t, f"{key} max over epochs": bal(t, "max"), f"{key} last epoch": bal(t, "last"),
              "bound": bound} for t in targets]
    one = runs[("gmoe/digits-dg", targets[0], seeds[0])]
    k, e, cf = (_moe_setting(ctx, suite, one, n) for n in ("top_k", "experts", "capacity_factor"))
    gates = [_arm_gates(runs, ["gmoe/digits-dg"], targets, seeds)[0]]
    if key == "cv":  # every token to every expert (k = E) is a uniform load by construction
        gates.append(Gate("sparse", k < e, f"top-k {k:g} {'<' if k < e else '>='} experts {e:g}"))
    else:  # capacity k * cf * T / E per expert: with k * cf >= E an expert can take every token, nothing drops
        gates.append(Gate("capacity-binds", k * cf < e, f"top-k x capacity factor {k * cf:g} "
                          f"{'<' if k * cf < e else '>='} experts {e:g}"))
    return paired_result(claim_id, suite, [bound - w for w in worst], unit=unit, values={f"{key}_max": worst},
                         seeds=seeds, table=table, runs=paths, gates=gates,
                         notes="per-epoch curves: summary balance_curve and metrics.jsonl train/moe_cv, train/moe_drop")


def check_load_balanced(suite: str, ctx: Any) -> ClaimResult:
    return _balance_claim("gmoe/load-balanced", suite, ctx, "cv", CV_BOUND,
                          f"{CV_BOUND} - worst per-epoch CV of expert load")


def check_few_dropped(suite: str, ctx: Any) -> ClaimResult:
    return _balance_claim("gmoe/few-dropped", suite, ctx, "drop", DROP_BOUND,
                          f"{DROP_BOUND} - worst per-epoch dropped share")


_TRAINED = (f"every compared model trained: mean in-domain accuracy >= chance {CHANCE} + {TRAINED_MARGIN} (the wide "
            "margin of erm/beats-chance); below it a held-out difference measures how fast each fits the sources")
_ABOVE = (f"every compared model above chance on the held-out domains: mean held-out accuracy >= chance {CHANCE} + "
          f"{HELDOUT_MARGIN} (erm/heldout-below-indomain's bar); two models at chance differ by noise only")
_ROUTER_TRAINED = (f"the router was trained with a model that learned: mean in-domain accuracy >= chance {CHANCE} + "
                   f"{TRAINED_MARGIN}; an untrained router's statistics are those of a random projection")
_PAPER_VS_DENSE = ("GMoE-S/16 minus ViT-S/16 in the paper: +1.9 PACS, +0.5 VLCS, +2.0 OfficeHome, +6.5 TerraInc, +1.4 "
                   "DomainNet (mean 2.5 points); taken as 0.025 accuracy, unscaled (the miniature's accuracies are "
                   "lower, so the same points are a larger relative gain: a conservative bar)")
register_claim("gmoe/beats-dense", "GMoE beats the dense ViT on mean held-out-domain accuracy at equal or lower "
               "MACs per token (leave-one-domain-out, Digits-DG)", check_beats_dense,
               preconditions={"trained": _TRAINED, "above-chance": _ABOVE,
                              "equal-compute": "GMoE's active MACs per token <= the dense ViT's (the claim's "
                                               "condition; a costlier GMoE is another comparison)"},
               effect=0.025, effect_source=_PAPER_VS_DENSE,
               # not in the demo (issue 23's 9-min budget): from scratch both ViTs sat at chance there (INVALID);
               # from the shipped ViT it is decided at quick scale (FAIL, README), the demo scale is unmeasured
               suites=("smoke", "quick", "full"))
register_claim("gmoe/experts-specialise", "GMoE experts specialise through training: MI between a token's expert "
               "and its visual attributes rises above the same model's at its initial weights", check_specialise,
               suites=("smoke", "quick", "full"),
               preconditions={"same-init": "the untrained control is the run's own initial weights (a "
                                           "trained-vs-untrained comparison must start from the same weights)",
                              "trained": _ROUTER_TRAINED},
               effect=0.01, effect_source="the paper shows specialisation qualitatively (which attributes route to "
                                          "which expert), no number; 0.01 nats, about a third of the untrained "
                                          "model's MI with the visual attributes (0.029-0.057 nats at the runs' own "
                                          "initial weights, quick scale, mnistm, seeds 0-2)")
register_claim("gmoe/load-balanced", f"GMoE expert load stays balanced: per-epoch CV of expert load < {CV_BOUND}",
               check_load_balanced, suites=("smoke", "quick", "full"),
               preconditions={"trained": _ROUTER_TRAINED,
                              "sparse": "top-k < number of experts (with every token on every expert the load is "
                                        "uniform by construction)"},
               effect=0.1, effect_source=f"no number in the paper (its aux loss targets a balanced load); a fifth of "
                                         f"the {CV_BOUND} bound: worst CV 0.4")
register_claim("gmoe/few-dropped", f"GMoE capacity drops few tokens: per-epoch dropped share < {DROP_BOUND}",
               check_few_dropped, suites=("smoke", "quick", "full"),
               preconditions={"trained": _ROUTER_TRAINED,
                              "capacity-binds": "top-k x capacity factor < number of experts (otherwise one expert "
                                                "can take every token and nothing is dropped by construction)"},
               effect=0.01, effect_source=f"no number in the paper (Tutel's capacity 1.5 is meant to drop few); a "
                                          f"fifth of the {DROP_BOUND} bound: worst share 0.04")
register_claim("gmoe/fusion-helps", "The layer-fusion block raises GMoE's mean held-out accuracy (ablation)",
               check_fusion, suites=("smoke", "quick", "full"),
               preconditions={"trained": _TRAINED, "above-chance": _ABOVE},
               effect=0.02, effect_source="our block (the paper has no fusion module): worth keeping if it adds what "
                                          "the paper's architecture change adds, about 2 points (GMoE over ViT-S, "
                                          "median +1.9)")
register_claim("gmoe/beats-cnn", "GMoE beats the ERM CNN (small_cnn) on mean held-out accuracy, same data budget",
               check_beats_cnn, suites=("smoke", "full"),
               preconditions={"trained": _TRAINED, "above-chance": _ABOVE},
               effect=0.04, effect_source="GMoE-S/16 minus ERM ResNet-50 in the paper: +2.4, +2.8, +6.7, +1.3, +7.5 "
                                          "points (mean 4.1); 0.04 accuracy, unscaled")

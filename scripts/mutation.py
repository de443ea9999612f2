"""Mutation testing of the metric, claim and LiDAR modules (issue 23, "tests that can fail"); not run by CI.

Each module is mutated by mutmut (pinned in the ``dev`` extra) in its own scratch copy of the checkout, with
only the unit tests that exercise it (one torch thread, ``-x``), so a mutant costs about a second. mutmut
runs, per mutant, only the selected tests that reach the mutated function. Prints one row per module:
mutants, killed, survived (incl. mutants no selected test reaches), timeout, excluded (equivalent mutants,
each with its reason in ``EQUIVALENT`` below), survivor % = survived / (mutants - excluded), seconds.

    .venv/bin/python scripts/mutation.py                       # every module (about 20 min on 2 cores)
    .venv/bin/python scripts/mutation.py rl robustness --jobs 2
    .venv/bin/python scripts/mutation.py lidar --show          # also print each survivor's diff

Scratch copies live under ``--workdir`` (default ``/tmp/trustlab-mutation``); the checkout is not touched.
The report with the last numbers is ``docs/notes/mutation.md``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTMUT = Path(sys.executable).with_name("mutmut")


@dataclass
class Target:
    source: str  # file mutated, relative to the checkout
    tests: list[str]  # the fast unit tests that exercise it
    limit: float = 0.10  # the survivor share the module must stay under
    deselect: list[str] = field(default_factory=list)  # slow tests of those files left out (pytest --deselect)


TARGETS: dict[str, Target] = {
    "iqa": Target("src/trustlab/metrics/iqa.py", ["tests/parity/test_iqa_parity.py",
                                                  "tests/unit/test_iqa_mutation.py"]),
    "ood": Target("src/trustlab/metrics/ood.py", ["tests/unit/test_ood_metrics.py",
                                                  "tests/unit/test_ood_metrics_mutation.py"]),
    # the torchmetrics PQ parity test imports torchmetrics in every mutant's process (~8 s): left out, the hand
    # counted PQ cases in test_psg_mutation.py pin the same code
    "psg": Target("src/trustlab/metrics/psg.py", ["tests/unit/test_psg_metrics.py",
                                                  "tests/unit/test_psg_mutation.py"],
                  deselect=["tests/unit/test_psg_metrics.py::test_pq_parity_with_torchmetrics"]),
    "rl": Target("src/trustlab/metrics/rl.py", ["tests/unit/test_peerpl_metrics.py",
                                                "tests/unit/test_rl_mutation.py"]),
    "robustness": Target("src/trustlab/metrics/robustness.py", ["tests/unit/test_minmax_metrics.py",
                                                                "tests/unit/test_robustness_mutation.py"]),
    # the closed-loop test (a stack rollout per mutant, ~10 s) is left out: the lidar unit tests cover the module
    "lidar": Target("src/trustlab/methods/advsim/lidar.py", ["tests/unit/test_advsim_lidar.py",
                                                             "tests/unit/test_advsim_lidar_mutation.py"],
                    deselect=["tests/unit/test_advsim_lidar.py::test_closed_loop_with_remove_and_recast_is_identical"]),
    "claims": Target("src/trustlab/bench/claims.py", ["tests/unit/test_bench_gates_power.py",
                                                      "tests/unit/test_bench_claims_mutation.py"]),
}

# Equivalent mutants: {module: {mutant name: (text of the mutated line, why no test can tell it apart)}}.
# The text is checked against the mutant's diff, so an entry goes stale (and stops excluding) when the
# source changes and mutmut renumbers its mutants.
_NAN = "float() parses 'NAN' case-insensitively: the same nan"
_NEG = "numpy's reshape treats any negative size as 'infer', so -2 is -1"
_TIES = "tied values all get the same mean rank, so the order within ties (all a sort kind can change) cannot show"
_KCLIP = ("tau-b: |S| <= min(n0 - ties_x, n0 - ties_y) <= the denominator sqrt((n0 - ties_x)(n0 - ties_y)), "
          "all integers (exact in float64 below 2**53), so the clip to [-1, 1] never acts")
_EXP_LO = "exp(z) <= exp(-50) ~ 2e-22, so 1 + exp(z) == 1.0 in float64 whether z is clipped at -50, -51 or not"
IQA = "trustlab.metrics.iqa.x_"
OOD = "trustlab.metrics.ood.x_"
LID = "trustlab.methods.advsim.lidar.x"
CLM = "trustlab.bench.claims.x_"
PSG = "trustlab.metrics.psg.x_"
_STABLE = "numpy reads the sort kind case-insensitively: the same stable sort"
_PROBS = "the scores are multiplied by float weights (ones without object scores): float64 either way"
_MASKS = "masks are only used as conditions (where, any): 0/1 integers select what booleans do; the result is boolean"
_WHERE = "np.where with -inf makes the weighted map float64 whatever the scores' dtype"
_COCO = "pycocotools takes the boolean masks and returns float64 IoUs itself"
_IDX = "relations and triplets are indices (integers) already"
_KEEP = "any value other than 'resolve' keeps the masks as they are"
_XROW = "an extra all-zero row/column of the intersection table is never read (void is index np_ / ng)"
_VOIDIDX = "np.where(None, ...) keeps -1 for void, and index -1 is the void row/column (the table's last)"
_UNION = "a pair read here intersects (inter > 0), so its union is at least 1: the condition always holds"
_PASSED = ("ClaimResult.__post_init__ sets passed from the verdict, and paired_result always passes a verdict: the "
           "argument is overwritten")
_TURN = ("shifts every corner's angle offset by a whole turn (2 pi): the columns, taken modulo the azimuth count, "
         "and the span that decides 'inside' are the same")
_EDGE = ("differs only when a float quantity equals the threshold exactly (a ray grazing a face or an edge, a "
         "box exactly at the culling distance), which no sampled geometry can hit on purpose")
_EMPTY = "an empty array of another dtype: the caller only checks len(cols) == 0"
_F32 = ("only the precision of an intermediate changes (float64 instead of float32); a hit's range differs in "
        "the last float32 bits at most, which no test can pin without restating the arithmetic")
_F64 = "the array is float64 already (the height is a float)"
_INTBOX = "the rows are read with float() and box_corners (float64) either way"
_BINS = ("digitize(z, bins) - 1 is in [-1, channels - 1], and -1 only for a non-ground point below the first bin: "
         "the changed conditions select the same points")
_STEPS = ("the curve is read only at the last index of each run of tied scores (cumulative counts), so the "
          "order within ties (all a sort kind can change) cannot show")
_CUMSUM = "0/1 entries as float instead of bool: the same cumulative counts"
EQUIVALENT: dict[str, dict[str, tuple[str, str]]] = {
    "iqa": {
        IQA + "_pearson__mutmut_5": ('float("NAN")', _NAN),
        IQA + "_pearson__mutmut_21": ('float("NAN")', _NAN),
        IQA + "krcc__mutmut_18": ('float("NAN")', _NAN),
        IQA + "krcc__mutmut_82": ('float("NAN")', _NAN),
        IQA + "plcc_logistic__mutmut_24": ('float("NAN")', _NAN),
        IQA + "_pair__mutmut_8": ("reshape(-2)", _NEG),
        IQA + "_pair__mutmut_16": ("reshape(-2)", _NEG),
        IQA + "average_ranks__mutmut_8": ("reshape(-2)", _NEG),
        IQA + "fit_logistic__mutmut_9": ("reshape(-2)", _NEG),
        IQA + "fit_logistic__mutmut_17": ("reshape(-2)", _NEG),
        IQA + "average_ranks__mutmut_11": ("kind=None", _TIES),
        IQA + "average_ranks__mutmut_13": ("np.argsort(x, )", _TIES),
        IQA + "average_ranks__mutmut_15": ('kind="MERGESORT"', _TIES),
        IQA + "krcc__mutmut_3": ("chunk: int = 2049", "the chunk size only splits the pair loop; S and the tie "
                                 "counts are sums of integers, exact in any split"),
        IQA + "krcc__mutmut_66": ("n0 = n * (n - 1) / 2", "n (n - 1) is even: / and // give the same number"),
        IQA + "krcc__mutmut_85": ("np.clip(s / den, None, 1.0)", _KCLIP),
        IQA + "krcc__mutmut_86": ("np.clip(s / den, -1.0, None)", _KCLIP),
        IQA + "krcc__mutmut_92": ("np.clip(s / den, -2.0, 1.0)", _KCLIP),
        IQA + "krcc__mutmut_93": ("np.clip(s / den, -1.0, 2.0)", _KCLIP),
        IQA + "logistic4__mutmut_3": ("None, 50)", _EXP_LO),
        IQA + "logistic4__mutmut_15": ("-51, 50)", _EXP_LO),
        IQA + "logistic5__mutmut_3": ("None, 50)", _EXP_LO),
        IQA + "logistic5__mutmut_11": ("-51, 50)", _EXP_LO),
        IQA + "logistic5__mutmut_12": ("-50, 51)", "1 / (1 + exp(z)) <= 2e-22 for z >= 50, and b1 (0.5 - 2e-22) "
                                       "== b1 0.5 in float64: clipping at 51 instead of 50 cannot show"),
        IQA + "fit_logistic__mutmut_13": ("y = np.asarray(mos, dtype=None)", "curve_fit converts the labels to "
                                          "float64 itself, and they are only read (max, min, mean) otherwise"),
        IQA + "fit_logistic__mutmut_15": ("y = np.asarray(mos, )", "curve_fit converts the labels to float64 "
                                          "itself, and they are only read (max, min, mean) otherwise"),
        IQA + "plcc_logistic__mutmut_13": ("x.std() == 0 and y.std() == 0", "constant labels with varying "
                                           "predictions then reach the fit, but PLCC against constant labels is "
                                           "nan either way (the fit's warnings are silenced inside)"),
        IQA + "fit_logistic__mutmut_64": ("stacklevel=3", "mutmut calls through a trampoline frame, so under "
                                          "mutation testing stacklevel 3 is the caller's line; the plain test run "
                                          "checks stacklevel 2 (test_iqa_mutation.py)"),
        IQA + "fit_logistic__mutmut_56": ("raise RuntimeError(None)", "raised and caught inside fit_logistic: "
                                          "its message is never seen"),
        IQA + "fit_logistic__mutmut_57": ('RuntimeError("XXnon-finite fitXX")', "raised and caught inside "
                                          "fit_logistic: its message is never seen"),
        IQA + "fit_logistic__mutmut_58": ('RuntimeError("NON-FINITE FIT")', "raised and caught inside "
                                          "fit_logistic: its message is never seen"),
    },
    "rl": {
        "trustlab.metrics.rl.x_learning_curve__mutmut_31": (
            'kind="STABLE"', "numpy reads the sort kind case-insensitively: the same stable sort"),
    },
    "ood": {
        OOD + "check_scores__mutmut_19": ("a.reshape(-2)", _NEG),
        OOD + "closed_set_accuracy__mutmut_23": ("reshape(-2)", _NEG),
        OOD + "closed_set_accuracy__mutmut_32": ("p.reshape(-2)", _NEG),
        OOD + "oscr__mutmut_13": ("reshape(-2)", _NEG),
        OOD + "closed_set_accuracy__mutmut_30": ("p = p.reshape(None)", "pred is class ids (1-D) or logits "
                                                 "(2-D, argmax makes them 1-D): reshape(-1) leaves both as they are"),
        OOD + "binary_curve__mutmut_3": ("kind=None", _STEPS),
        OOD + "binary_curve__mutmut_5": ("np.argsort(-scores, )", _STEPS),
        OOD + "binary_curve__mutmut_8": ('kind="MERGESORT"', _STEPS),
        OOD + "oscr__mutmut_33": ("kind=None", _STEPS),
        OOD + "oscr__mutmut_35": ("np.argsort(-scores, )", _STEPS),
        OOD + "oscr__mutmut_38": ('kind="MERGESORT"', _STEPS),
        OOD + "binary_curve__mutmut_10": ("astype(None)", "astype(None) is astype(float64): the same array"),
        OOD + "oscr__mutmut_19": ("np.zeros(s_ood.size, None)", _CUMSUM),
        OOD + "oscr__mutmut_21": ("np.zeros(s_ood.size, )", _CUMSUM),
        OOD + "oscr__mutmut_24": ("np.zeros(s_id.size, None)", _CUMSUM),
        OOD + "oscr__mutmut_26": ("np.zeros(s_id.size, )", _CUMSUM),
        OOD + "oscr__mutmut_28": ("np.ones(s_ood.size, None)", _CUMSUM),
        OOD + "oscr__mutmut_30": ("np.ones(s_ood.size, )", _CUMSUM),
        OOD + "ood_metrics__mutmut_41": ('"fpr95": fpr_at_95(s_id, s_ood, )', "fpr_at_95's default convention is "
                                         "openood: the same call"),
    },
    "lidar": {
        LID + "ǁLidarǁsector__mutmut_25": ("% (2 * np.pi) + np.pi", _TURN),
        LID + "ǁLidarǁsector__mutmut_27": ("(ang - mid - np.pi) % (2 * np.pi)", _TURN),
        LID + "ǁLidarǁsector__mutmut_39": ("if near >= self.cfg.max_range", _EDGE),
        LID + "ǁLidarǁsector__mutmut_56": (">= np.pi * 0.999", _EDGE),
        LID + "ǁLidarǁsector__mutmut_57": ("> np.pi / 0.999", "moves the 'sensor inside' threshold from 0.999 pi "
                                          "to 1.001 pi of footprint span: only a footprint spanning exactly "
                                          "about pi from the sensor (which is then on its edge) can tell"),
        LID + "ǁLidarǁsector__mutmut_69": ("<= 0.5", _EDGE),
        LID + "ǁLidarǁsector__mutmut_48": ("np.zeros(0, dtype=None)", _EMPTY),
        LID + "ǁLidarǁsector__mutmut_50": ("np.zeros(0, )", _EMPTY),
        LID + "ǁLidarǁ_hit_box__mutmut_18": ("oz], dtype=None)", _F32),
        LID + "ǁLidarǁ_hit_box__mutmut_20": ("oz], )", _F32),
        LID + "ǁLidarǁ_hit_box__mutmut_55": ("np.abs(dl) <= 1e-9", _EDGE),
        LID + "ǁLidarǁ_hit_box__mutmut_60": ("h / 2], dtype=None)", _F32),
        LID + "ǁLidarǁ_hit_box__mutmut_62": ("h / 2], )", _F32),
        LID + "ǁLidarǁ_hit_box__mutmut_97": ("hit = (tmax > np.maximum(tmin, 0.0))", _EDGE),
        LID + "ǁLidarǁ_hit_box__mutmut_103": ("(tmin < self.cfg.max_range)", _EDGE),
        LID + "ǁLidarǁ_hit_box__mutmut_111": ("np.where(tmin >= 0, tmin, tmax)", _EDGE),
        LID + "ǁLidarǁ_hit_box__mutmut_113": ("np.where(hit, t, np.inf).astype(None)", _F32),
        LID + "ǁLidarǁ_hit_box__mutmut_116": ("np.where(hit, t, None)", "a miss becomes nan instead of inf; both "
                                             "compare False with '<', so no ray takes it and the sweep is the same"),
        LID + "ǁLidarǁcast__mutmut_3": ("self.cfg.height], dtype=None)", _F64),
        LID + "ǁLidarǁcast__mutmut_5": ("self.cfg.height], )", _F64),
        LID + "ǁLidarǁcast__mutmut_25": ("np.asarray(boxes3, dtype=None)", _INTBOX),
        LID + "ǁLidarǁcast__mutmut_27": ("np.asarray(boxes3, )", _INTBOX),
        LID + "ǁLidarǁcast__mutmut_34": ("if len(cols) == 1:", "a footprint of positive width spans at least two "
                                         "columns (floor of its low angle < ceil of its high one), so a one-column "
                                         "sector never occurs"),
        LID + "ǁLidarǁupdate_actor__mutmut_15": ("NONE).astype(None)", "the float copy is written back into the "
                                                 "int16 hit array: the same values"),
        LID + "_bev__mutmut_7": ("to_ego(points[:, :3], pose)", "to_ego reads only x and y of what it is given"),
        LID + "_bev__mutmut_51": ("(chan < cfg.channels) | (ground", _BINS),
        LID + "_bev__mutmut_52": ("(chan >= 0) | (chan < cfg.channels)", _BINS),
        LID + "_bev__mutmut_55": ("chan <= cfg.channels", _BINS),
    },
    "claims": {
        CLM + "interval__mutmut_10": ('return float("NAN"), float("nan")', _NAN),
        CLM + "interval__mutmut_13": ('return float("nan"), float("NAN")', _NAN),
        CLM + "mean__mutmut_7": ('float("NAN")', _NAN),
        CLM + "paired_result__mutmut_34": ("passed=None", _PASSED),
        CLM + "paired_result__mutmut_63": ('passed=verdict != "PASS"', _PASSED),
        CLM + "paired_result__mutmut_64": ('passed=verdict == "XXPASSXX"', _PASSED),
        CLM + "paired_result__mutmut_65": ('passed=verdict == "pass"', _PASSED),
    },
    "psg": {
        PSG + "triplet_recall__mutmut_90": ('float("NAN")', _NAN),
        PSG + "triplet_recall__mutmut_98": ('float("NAN")', _NAN),
        PSG + "triplet_recall__mutmut_118": ('float("NAN")', _NAN),
        PSG + "pq_compute__mutmut_61": ('"PQ": float("NAN")', _NAN),
        PSG + "pq_compute__mutmut_66": ('"SQ": float("NAN")', _NAN),
        PSG + "pq_compute__mutmut_71": ('"RQ": float("NAN")', _NAN),
        PSG + "triplets_from_pairs__mutmut_13": ("reshape(-2, 2)", _NEG),
        PSG + "triplets_from_pairs__mutmut_35": ("reshape(len(pairs), -2)", _NEG),
        PSG + "match_triplets__mutmut_16": ("reshape(-2, 3)", _NEG),
        PSG + "match_triplets__mutmut_29": ("reshape(-2, 3)", _NEG),
        PSG + "_ranked__mutmut_27": ("reshape(-2, 3)", _NEG),
        PSG + "triplets_from_pairs__mutmut_70": ('kind="STABLE"', _STABLE),
        PSG + "_ranked__mutmut_12": ('kind="STABLE"', _STABLE),
        PSG + "triplets_from_pairs__mutmut_31": ("np.asarray(probs, dtype=None)", _PROBS),
        PSG + "triplets_from_pairs__mutmut_33": ("np.asarray(probs, )", _PROBS),
        PSG + "resolve_overlaps__mutmut_3": ("np.asarray(masks, dtype=None)", _MASKS),
        PSG + "resolve_overlaps__mutmut_5": ("np.asarray(masks, )", _MASKS),
        PSG + "resolve_overlaps__mutmut_16": ("np.asarray(scores, dtype=None)", _WHERE),
        PSG + "resolve_overlaps__mutmut_18": ("np.asarray(scores, )", _WHERE),
        PSG + "mask_iou__mutmut_1": ("if len(a) == 0 and len(b) == 0:", "pycocotools returns an empty result for "
                                     "an empty side, reshaped to the same (len(a), len(b)) zeros"),
        PSG + "mask_iou__mutmut_16": ("np.asarray(m, dtype=None)", _COCO),
        PSG + "mask_iou__mutmut_18": ("np.asarray(m, )", _COCO),
        PSG + "mask_iou__mutmut_27": ("[0] * len(b)), dtype=None)", _COCO),
        PSG + "mask_iou__mutmut_29": ("[0] * len(b)), )", _COCO),
        PSG + "match_triplets__mutmut_12": ("np.asarray(gt.relations, dtype=None)", _IDX),
        PSG + "match_triplets__mutmut_14": ("np.asarray(gt.relations, )", _IDX),
        PSG + "match_triplets__mutmut_25": ("np.asarray(pred.triplets, dtype=None)", _IDX),
        PSG + "match_triplets__mutmut_27": ("np.asarray(pred.triplets, )", _IDX),
        PSG + "match_triplets__mutmut_31": ("if len(rels) == 0 and len(trip) == 0:", "with relations but no "
                                            "triplet the general path builds the same (0, G) boolean matrix"),
        PSG + "triplet_recall__mutmut_4": ('overlaps: str = "XXkeepXX"', _KEEP),
        PSG + "triplet_recall__mutmut_5": ('overlaps: str = "KEEP"', _KEEP),
        PSG + "triplet_recall__mutmut_48": ("pred.triplets, None)", "the resolved prediction is only matched, "
                                            "never ranked again: its scores are not read"),
        PSG + "_segments__mutmut_22": ("np.full(cat.shape, -1, dtype=None)", "np.full infers int64 from -1"),
        PSG + "_segments__mutmut_25": ("np.full(cat.shape, -1, )", "np.full infers int64 from -1"),
        PSG + "_segments__mutmut_41": ("np.bincount(inv, )", "inv takes every value 0..len(uniq)-1, so the "
                                       "bincount has len(uniq) entries anyway"),
        PSG + "pq_update__mutmut_29": ("dtype=None)", "float instead of integer pixel counts: the same ratios"),
        PSG + "pq_update__mutmut_31": ("ng + 1), )", "float instead of integer pixel counts: the same ratios"),
        PSG + "pq_update__mutmut_33": ("np_ + 2, ng + 1", _XROW),
        PSG + "pq_update__mutmut_35": ("np_ + 1, ng + 2", _XROW),
        PSG + "pq_update__mutmut_42": ("np.where(None, np_, p_idx)", _VOIDIDX),
        PSG + "pq_update__mutmut_50": ("np.where(None, ng, g_idx)", _VOIDIDX),
        PSG + "pq_update__mutmut_80": ("if (union > 0) or True", _UNION),
        PSG + "pq_update__mutmut_82": ("if union >= 0", _UNION),
        PSG + "pq_update__mutmut_84": ("if union > 0 else 1.0", _UNION),
        PSG + "pq_compute__mutmut_24": ("np.where(tp >= 0,", "where tp is 0 the IoU sum is 0 too: 0 / 1 = 0"),
        PSG + "pq_compute__mutmut_40": ("rq = np.where(den >= 0,", "where den is 0, tp is 0: 0 / 1 = 0"),
        PSG + "pq_compute__mutmut_50": ("np.where(den > 1, den, 1)", "tp >= 1 makes den >= 1, and where tp is 0 "
                                        "the quotient is 0 whatever it is divided by"),
        PSG + "pq_compute__mutmut_51": ("np.where(den > 0, den, 2)", "where den is 0, tp is 0: 0 / 2 = 0"),
        PSG + "pq_compute__mutmut_52": ("den, 1), 1.0)", "categories with den = 0 are left out of every mean"),
        PSG + "masks_to_panoptic__mutmut_13": ("np.full(hw, -1, dtype=None)", "np.full infers int64 from -1"),
        PSG + "masks_to_panoptic__mutmut_16": ("np.full(hw, -1, )", "np.full infers int64 from -1"),
    },
    "robustness": {
        "trustlab.metrics.robustness.x_asr_all__mutmut_10": ('float("NAN")', _NAN),
        "trustlab.metrics.robustness.x_asr_avg__mutmut_8": ('float("NAN")', _NAN),
        "trustlab.metrics.robustness.x_per_domain_rate__mutmut_11": ('float("NAN")', _NAN),
        "trustlab.metrics.robustness.x_fooling_rate__mutmut_12": ('float("NAN")', _NAN),
        "trustlab.metrics.robustness.x_perturbation_norms__mutmut_7": ('float("NAN")', _NAN),
        "trustlab.metrics.robustness.x_union_accuracy__mutmut_10": ('float("NAN")', _NAN),
        "trustlab.metrics.robustness.x_perturbation_norms__mutmut_2": (
            "astype(None)", "ndarray.astype(None) converts to numpy's default dtype, float64: the same array"),
        "trustlab.metrics.robustness.x_success_matrix__mutmut_16": ("y.reshape(len(y), -2)", _NEG),
        "trustlab.metrics.robustness.x_success_matrix__mutmut_15": (
            "y.reshape(len(y), +1)", "the reshape runs only when the labels' shape differs from pred's (N, K), i.e. "
            "for (N,) or (N, 1) labels, where reshape(N, 1) == reshape(N, -1)"),
        "trustlab.metrics.robustness.x_perturbation_norms__mutmut_18": (
            "if (d.ndim > 1) or True", "for a 1-D delta reshape(N, -1) and d[:, None] are both (N, 1)"),
        "trustlab.metrics.robustness.x_perturbation_norms__mutmut_24": ("d.reshape(len(d), -2)", _NEG),
        "trustlab.metrics.robustness.x_perturbation_norms__mutmut_25": (
            "if d.ndim >= 1", "for a 1-D delta reshape(N, -1) and d[:, None] are both (N, 1)"),
    },
}


@dataclass
class Row:
    name: str
    mutants: int = 0
    killed: int = 0
    survived: int = 0
    timeout: int = 0
    excluded: int = 0
    seconds: float = 0.0
    survivors: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    @property
    def share(self) -> float:
        n = self.mutants - self.excluded
        return self.survived / n if n else 0.0


def _pyproject(t: Target) -> str:
    q = lambda xs: "[" + ", ".join(json.dumps(x) for x in xs) + "]"
    return f"""[tool.mutmut]
source_paths = ["src/"]
only_mutate = {q([t.source])}
pytest_add_cli_args_test_selection = {q(t.tests + [a for d in t.deselect for a in ("--deselect", d)])}
pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "no:xdist", "-q", "-x"]
process_isolation = "forkserver"
use_git_change_detection = false
track_dependencies = false

[tool.pytest.ini_options]
addopts = "-q -m 'not slow and not gpu'"
markers = ["slow: slow", "parity: parity", "gpu: gpu"]
filterwarnings = ["ignore::DeprecationWarning"]
"""


def _prepare(work: Path, t: Target) -> None:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "src", work / "src", ignore=ignore)
    shutil.copytree(ROOT / "tests", work / "tests", ignore=ignore)
    (work / "pyproject.toml").write_text(_pyproject(t))


def _mutmut(work: Path, *args: str, env: dict[str, str], log: Path | None = None) -> str:
    out = subprocess.run(["nice", "-n", "15", str(MUTMUT), *args], cwd=work, env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if log is not None:
        log.write_text(out.stdout)
    if out.returncode != 0:
        raise SystemExit(f"mutmut {' '.join(args)} failed in {work} (exit {out.returncode}):\n{out.stdout[-3000:]}")
    return out.stdout


def _diffs(work: Path, names: list[str], env: dict[str, str]) -> list[str]:
    """The diff of each mutant (one process: ``mutmut show`` per mutant costs an interpreter start each)."""
    if not names:
        return []
    code = ("import json, sys\nfrom mutmut.mutation.diff_apply import get_diff_for_mutant\n"
            "print(json.dumps([f'# {n}\\n' + get_diff_for_mutant(n) for n in json.loads(sys.stdin.read())]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, text=True, input=json.dumps(names),
                         capture_output=True)
    if out.returncode != 0:
        raise SystemExit(f"reading the mutants' diffs failed in {work}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


def _code(path: Path) -> str:
    """The module's code without docstrings and comments (a docstring edit changes no mutant)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


DETECTED = ("killed", "timeout", "caught by type check", "segfault")


def _statuses(work: Path, env: dict[str, str]) -> dict[str, str]:
    """{mutant: status} of every mutant of the last run in ``work`` (killed, survived, no tests, timeout, ...)."""
    lines = _mutmut(work, "results", "--all", "true", env=env).splitlines()
    return dict(line.strip().rsplit(": ", 1) for line in lines if ": " in line)


def run_module(name: str, workdir: Path, jobs: int, show: bool, previous: Path | None = None,
               leave_out: tuple[str, ...] = ()) -> Row:
    t = TARGETS[name]
    t = Target(t.source, [p for p in t.tests if p not in leave_out], t.limit, t.deselect)
    missing = [p for p in t.tests if not (ROOT / p).is_file()]
    if missing:
        print(f"warning: {name}: test file(s) missing, left out: {', '.join(missing)}", flush=True)
        t = Target(t.source, [p for p in t.tests if p not in missing], t.limit, t.deselect)
    if not t.tests:
        raise SystemExit(f"{name}: no test file to run")
    work = workdir / name
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "TRUSTLAB_DATA": os.environ.get("TRUSTLAB_DATA", str(ROOT / ".cache" / "trustlab"))}
    # --retest-survivors-of: tests were only added since that run and the code is the same, so its
    # killed mutants stay killed; only its survivors are run again (mutmut run NAME...)
    prev: dict[str, str] = {}
    if previous is not None and (previous / name / "mutants").is_dir():
        if _code(previous / name / t.source) == _code(ROOT / t.source):
            pj = previous / name / "results.json"
            prev = json.loads(pj.read_text()) if pj.is_file() else _statuses(previous / name, env)
        else:
            print(f"{name}: {t.source} changed since {previous}; running every mutant", flush=True)
    _prepare(work, t)
    retest = [m for m, st in prev.items() if st not in DETECTED]
    t0 = time.perf_counter()
    if not prev or retest:
        _mutmut(work, "run", "--max-children", str(jobs), *retest, env=env, log=work / "run.log")
    row = Row(name, seconds=time.perf_counter() - t0)
    now = _statuses(work, env) if (not prev or retest) else {}
    statuses = {m: now.get(m, st) if m in retest else st for m, st in prev.items()} if prev else now
    (work / "results.json").write_text(json.dumps(statuses, indent=1))
    row.mutants = len(statuses)
    row.killed = sum(st in ("killed", "caught by type check", "segfault") for st in statuses.values())
    row.timeout = sum(st == "timeout" for st in statuses.values())
    survivors = [m for m, st in statuses.items() if st not in DETECTED]
    shown: list[str] = []
    excl = EQUIVALENT.get(name, {})
    diffs = _diffs(work, survivors, env)
    for m, diff in zip(survivors, diffs):
        if m in excl and any(line.startswith("+") and excl[m][0] in line for line in diff.splitlines()):
            row.excluded += 1
            continue
        if m in excl:
            row.stale.append(m)
        row.survivors.append(m)
        shown.append(diff)
    row.stale += [m for m in excl if m not in survivors]
    row.survived = len(row.survivors)
    (work / "survivors.txt").write_text("\n".join(shown) + "\n")
    if show and shown:
        print(f"--- survivors of {name} ({work / 'survivors.txt'})\n" + "\n".join(shown), flush=True)
    return row


def table(rows: list[Row]) -> str:
    head = "| module | source | mutants | killed | survived | timeout | excluded (equivalent) | survivor % | time (s) |"
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        lines.append(f"| {r.name} | `{TARGETS[r.name].source}` | {r.mutants} | {r.killed} | {r.survived} | "
                     f"{r.timeout} | {r.excluded} | {100 * r.share:.1f} | {r.seconds:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*", help=f"any of {', '.join(TARGETS)} (default: all)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/trustlab-mutation"))
    ap.add_argument("--jobs", type=int, default=1, help="mutants tested at once (mutmut --max-children)")
    ap.add_argument("--show", action="store_true", help="print the diff of every surviving mutant")
    ap.add_argument("--retest-survivors-of", type=Path, metavar="WORKDIR",
                    help="a previous --workdir: keep its killed mutants (tests only added, source unchanged) and "
                         "run only its survivors again")
    ap.add_argument("--leave-out", nargs="*", default=[], metavar="TEST_FILE",
                    help="test files not to run (e.g. the before of a before/after comparison)")
    args = ap.parse_args(argv)
    unknown = [m for m in args.modules if m not in TARGETS]
    if unknown:
        ap.error(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    if not MUTMUT.exists():
        raise SystemExit(f"{MUTMUT} not found: install the dev extra (pip install -e '.[dev]')")
    rows = []
    for name in args.modules or list(TARGETS):
        row = run_module(name, args.workdir, args.jobs, args.show, args.retest_survivors_of, tuple(args.leave_out))
        rows.append(row)
        print(f"{name}: {row.mutants} mutants, {row.survived} survived ({100 * row.share:.1f}%), "
              f"{row.seconds:.0f} s", flush=True)
        for m in row.stale:
            print(f"  warning: exclusion {m} no longer matches a surviving mutant; update EQUIVALENT", flush=True)
    print(table(rows))
    over = [r.name for r in rows if r.share > TARGETS[r.name].limit]
    if over:
        print(f"over the survivor limit: {', '.join(over)}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())

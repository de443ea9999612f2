"""Fabricated ``pmtiqa/distort`` runs (summaries as ``run_pmtiqa`` writes them on the embedded iqa-distort data).

A variant is told apart by ``method.multi_scale`` / ``method.schedule``; the unseen-type runs by
``data.exclude_types`` (they carry ``heldout`` and ``heldout_untrained``). A run is one fold of a k-fold
partition (``data.folds``, ``data.fold``, ``data.split_seed``; ``train.seed = split_seed * FOLDS + fold``).
Values vary per fold, so the claims' pairing is exercised (the margins are paired differences on one fold).
"""

from __future__ import annotations

from typing import Any

from trustlab.methods.pmtiqa.claims import FOLDS, HELD_OUT, MS, MS_PMT, PMT, TESTED_TYPES, UNSEEN, VARIANTS

TYPES = ("gaussian_blur", "motion_blur", "white_noise", "jpeg", "jpeg2000", "contrast", "saturation", "quantization",
         "pixelation", "ringing", "impulse_noise", "speckle_noise")


def _variant(ov: dict[str, Any]) -> str:
    for name, keys in VARIANTS.items():
        if all(ov.get(k) == v for k, v in keys.items()):
            return name
    raise AssertionError(f"no variant for {ov}")


def _seed(ov: dict[str, Any]) -> int:
    """The unit's seed, after checking the run is one fold of the claims' k-fold partition."""
    assert ov["data.folds"] == FOLDS and 0 <= ov["data.fold"] < FOLDS
    assert ov["train.seed"] == ov["data.split_seed"] * FOLDS + ov["data.fold"]
    return ov["train.seed"]


def _summary(srcc: float, plcc: float, seed: int, held: dict[str, dict[str, float]] | None = None,
             untrained: dict[str, dict[str, float]] | None = None,
             unlearned: str | None = None) -> dict[str, Any]:
    test = {"srcc": srcc, "krcc": 0.7 * srcc, "plcc": plcc, "plcc_l4": plcc + 0.02, "plcc_l5": plcc + 0.02}
    val = {k: v - 0.02 for k, v in test.items()}
    per_type = {t: {"srcc": srcc + 0.1 * ((i + seed) % 3 - 1), "level_srcc": min(1.0, srcc + 0.3)}
                for i, t in enumerate(TYPES)}
    if unlearned is not None:  # a type the model has not learned: its levels in no order within a reference
        per_type[unlearned]["level_srcc"] = -0.1 + 0.05 * (seed % 3)
    out: dict[str, Any] = {"n_train": 2700, "n_val": 360, "n_test": 720,
                           **{f"test_{k}": v for k, v in test.items()}, **{f"val_{k}": v for k, v in val.items()},
                           "test": test, "train_seconds": 25.0, "per_type": per_type}
    if held is not None:
        out["per_type"].update(held)
        out["heldout"], out["heldout_untrained"] = held, untrained
    return out


def _variants(srcc: dict[str, float], plcc_gap: float = 0.01, spread: float = 0.05, unlearned: str | None = None):
    """``srcc``: mean test SRCC per variant; per-fold jitter shared by the variants of one fold (as a fold's
    test photos move every variant, by up to 2 x ``spread``) plus a smaller per-variant part. ``unlearned``:
    a distortion type SS-ST has not learned (within-reference level SRCC about 0)."""
    def make(recipe: str, ov: dict[str, Any]) -> dict[str, Any]:
        assert recipe == "pmtiqa/distort"
        assert ov["data.score_types"] == TESTED_TYPES  # the comparisons are scored on the tested types
        seed, v = _seed(ov), _variant(ov)
        split = spread * ((seed * 3) % 5 - 2)
        own = 0.005 * ((seed + len(v)) % 3 - 1)
        s = min(1.0, srcc[v] + split + own)
        return _summary(s, min(1.0, s + plcc_gap), seed, unlearned=unlearned if v == "SS-ST" else None)
    return make


def _unseen(level: float, untrained: float, test_srcc: float = 0.45):
    def make(recipe: str, ov: dict[str, Any]) -> dict[str, Any]:
        assert ov["data.exclude_types"] == [HELD_OUT] and _variant(ov) == "MS+PMT" and "data.score_types" not in ov
        seed = _seed(ov)
        j = 0.04 * ((seed * 2) % 5 - 2)
        held = {HELD_OUT: {"srcc": 0.5 * (level + j), "level_srcc": level + j}}
        untr = {HELD_OUT: {"srcc": 0.1, "level_srcc": untrained - j}}
        return _summary(test_srcc + j / 4, test_srcc + 0.02, seed, held, untr)
    return make


_GOOD = {"SS-ST": 0.40, "+MS": 0.46, "+PMT": 0.45, "MS+PMT": 0.48}
FIXTURES = {
    # PASS although SS-ST has not learned JPEG: an untested type does not gate the comparison
    MS_PMT: {"PASS": _variants(_GOOD, unlearned="jpeg"), "FAIL": _variants({**_GOOD, "MS+PMT": 0.33}),
             "INVALID": _variants({**_GOOD, "SS-ST": 0.05, "MS+PMT": 0.3}),  # the baseline learned nothing
             "suite": "quick"},
    MS: {"PASS": _variants(_GOOD), "FAIL": _variants({**_GOOD, "+MS": 0.34}),
         # the baseline at the ceiling: no room to beat it by the effect of interest
         "INVALID": _variants({"SS-ST": 0.98, "+MS": 0.99, "+PMT": 0.975, "MS+PMT": 0.985}, plcc_gap=0.005,
                              spread=0.002)},
    PMT: {"PASS": _variants(_GOOD), "FAIL": _variants({**_GOOD, "+PMT": 0.36}),
          # the baseline learned quality overall but not JPEG 2000, a tested type: it cannot test PMT on it
          "INVALID": _variants(_GOOD, unlearned="jpeg2000")},
    UNSEEN: {"PASS": _unseen(0.55, 0.1),
             # the model orders the held-out blur backwards (more blur, higher predicted quality)
             "FAIL": _unseen(-0.3, 0.1),
             # the untrained network (same initial weights) already ranks the levels
             "INVALID": _unseen(0.6, 0.7)},
}

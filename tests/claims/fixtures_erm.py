"""Fabricated ERM runs (erm/digits-dg, leave-one-domain-out): per_domain accuracies and the held-out one."""

from __future__ import annotations

from typing import Any

from trustlab.methods.erm.claims import DOMAINS, ID_CHANCE, ID_GAP


def _erm(indom: float, held: float, jitter: float = 0.01):
    def make(recipe: str, ov: dict[str, Any]) -> dict[str, Any]:
        seed, target = ov.get("train.seed", 0), ov["data.target"]
        j = jitter * ((seed * 7 + DOMAINS.index(target)) % 3 - 1)
        per = {d: (held if d == target else indom) + j for d in DOMAINS}
        return {"per_domain": per, "heldout_acc": per[target]}
    return make


FIXTURES = {
    ID_GAP: {"PASS": _erm(0.9, 0.6), "FAIL": _erm(0.6, 0.8), "INVALID": _erm(0.3, 0.2)},
    ID_CHANCE: {"PASS": _erm(0.9, 0.6), "FAIL": _erm(0.9, 0.2), "INVALID": _erm(0.2, 0.15)},
}

"""Robustness metrics for attacks over K domains (models, inputs, transformations) and for robust training.

Pure functions on arrays (numpy arrays or torch tensors; converted with ``np.asarray``). Shapes:
``success`` is a bool matrix (N, K): entry (n, k) says the attack on sample n succeeded in domain k
(the k-th model, input of a group, or transformation). Definitions follow Wang et al., NeurIPS 2021
(Wang et al., Adversarial Attack Generation Empowered by Min-Max Optimization, arXiv:1906.03563) and the reference
code's "foolrate":

- ``asr_all``: share of samples that fool ALL K domains (the worst domain per sample).
- ``asr_avg``: mean per-domain success, i.e. success averaged over samples and domains.
- ``per_domain_rate``: success rate of each domain (K,); ``worst_domain_rate`` its minimum.
- ``fooling_rate``: share of inputs whose prediction changed (universal perturbations,
  Moosavi-Dezfooli et al. 2017).
- ``eot_success``: EOT success averaged over transformations and worst case (all transformations,
  per sample; and the weakest single transformation).
- ``union_accuracy``: robust accuracy under the union of perturbation types: a sample counts only if
  it is classified correctly under every type (the worst case per sample).

    s = success_matrix(pred_adv, labels)          # (N, K) bool
    asr_all(s), asr_avg(s), per_domain_rate(s)
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _arr(a: Any) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def _matrix(success: Any) -> np.ndarray:
    s = _arr(success)
    if s.ndim == 1:
        s = s[:, None]
    if s.ndim != 2:
        raise ValueError(f"expected a (N, K) success matrix, got shape {s.shape}")
    return s.astype(bool)


def success_matrix(pred: Any, labels: Any, targeted: bool = False) -> np.ndarray:
    """(N, K) bool: untargeted success = prediction != label; targeted = prediction == target."""
    p, y = _arr(pred), _arr(labels)
    if p.shape != y.shape:
        y = np.broadcast_to(y.reshape(len(y), -1), p.shape)
    return (p == y) if targeted else (p != y)


def asr_all(success: Any) -> float:
    """Share of samples whose attack succeeds in every domain (ASR_all, the reference's foolrate)."""
    s = _matrix(success)
    return float(s.all(1).mean()) if len(s) else float("nan")


def asr_avg(success: Any) -> float:
    """Success averaged over samples and domains (ASR_avg)."""
    s = _matrix(success)
    return float(s.mean()) if s.size else float("nan")


def per_domain_rate(success: Any) -> list[float]:
    """Success rate of each domain, (K,)."""
    s = _matrix(success)
    return [float(v) for v in s.mean(0)] if len(s) else [float("nan")] * s.shape[1]


def worst_domain_rate(success: Any) -> float:
    """The lowest per-domain success rate (the domain the attack fools least)."""
    return float(min(per_domain_rate(success)))


def per_domain_accuracy(pred: Any, labels: Any) -> list[float]:
    """Accuracy of each domain's predictions (N, K) against labels (N,) or (N, K)."""
    return [1.0 - r for r in per_domain_rate(success_matrix(pred, labels))]


def fooling_rate(clean_pred: Any, adv_pred: Any) -> float:
    """Share of inputs whose predicted class changed under the perturbation."""
    c, a = _arr(clean_pred).ravel(), _arr(adv_pred).ravel()
    if c.shape != a.shape:
        raise ValueError(f"clean and adversarial predictions differ in shape: {c.shape} vs {a.shape}")
    return float((c != a).mean()) if c.size else float("nan")


def eot_success(success: Any) -> dict[str, float]:
    """``avg``: mean over transformations; ``worst``: share fooled under all of them;
    ``worst_transform``: success rate of the transformation fooled least."""
    return {"avg": asr_avg(success), "worst": asr_all(success), "worst_transform": worst_domain_rate(success)}


def perturbation_norms(delta: Any) -> dict[str, float]:
    """Mean l_inf, l_2, l_1 and l_0 (share of changed entries) norms of per-sample perturbations."""
    d = _arr(delta).astype(np.float64)
    if not len(d):
        return {k: float("nan") for k in ("linf", "l2", "l1", "l0")}
    flat = d.reshape(len(d), -1) if d.ndim > 1 else d[:, None]
    a = np.abs(flat)
    return {
        "linf": float(a.max(1).mean()),
        "l2": float(np.sqrt((a**2).sum(1)).mean()),
        "l1": float(a.sum(1).mean()),
        "l0": float((a > 1e-8).mean()),
    }


def union_accuracy(correct: Any) -> float:
    """Robust accuracy under the union of T perturbation types: correct (N, T) -> share correct under all."""
    c = _matrix(correct)
    return float(c.all(1).mean()) if len(c) else float("nan")

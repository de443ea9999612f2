"""Data-inspection defenses applied to the distilled images, using the suspect model's features.

- Spectral signatures: Tran, Li & Madry, "Spectral Signatures in Backdoor Attacks", NeurIPS 2018
  (https://arxiv.org/abs/1811.00636). Per class, centre the penultimate features, score each image by its
  squared projection on the top singular vector, remove the ``remove_fraction`` highest-scoring images.
  Class-level detection: the target class has the largest share of variance on its top singular vector.
- Activation clustering: Chen et al., "Detecting Backdoor Attacks on Deep Neural Networks by Activation
  Clustering", 2018 (https://arxiv.org/abs/1811.03728). Per class, reduce the features to ``components``
  dims (PCA here; the paper uses ICA) and split them with 2-means; a class whose smaller cluster holds less
  than ``size_threshold`` of its images is flagged and that cluster removed.

After removal a fresh model is trained on what is left and measured (``*_after``). With ipc 10 a class
holds only 10 images, so both statistics are noisy; we report them as measured.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from trustlab.methods.doorping.config import ActivationClusteringConfig, SpectralConfig
from trustlab.methods.doorping.defenses.base import DefenseContext, features, register_defense


@register_defense("spectral-signatures", "spectral", "Spectral signatures on the distilled images: remove "
                  "top-singular-vector outliers per class (NeurIPS 2018)")
def spectral_signatures(ctx: DefenseContext, cfg: SpectralConfig) -> dict[str, float]:
    feats = features(ctx.model, ctx.syn_x)
    keep = torch.ones(len(feats), dtype=torch.bool)
    share = {}
    for c in ctx.syn_y.unique().tolist():
        idx = torch.nonzero(ctx.syn_y == c).flatten()
        r = feats[idx] - feats[idx].mean(0)
        _, s, vh = torch.linalg.svd(r, full_matrices=False)
        share[c] = float(s[0] ** 2 / (s**2).sum().clamp_min(1e-12))
        score = (r @ vh[0]) ** 2
        n = min(len(idx) - 1, math.ceil(cfg.remove_fraction * len(idx)))
        keep[idx[torch.argsort(score, descending=True)[:n]]] = False
    ranked = sorted(share, key=share.get, reverse=True)  # type: ignore[arg-type]
    target = ctx.trigger.target
    return {
        "detected": float(ranked[0] == target),
        "target_rank": float(ranked.index(target) + 1 if target in ranked else float("nan")),
        "top_share_target": share.get(target, float("nan")),
        "removed": float((~keep).sum()),
        **ctx.retrain(keep),
    }


@register_defense("activation-clustering", "activation_clustering", "Activation clustering on the distilled "
                  "images: 2-means per class, drop small clusters (2018)")
def activation_clustering(ctx: DefenseContext, cfg: ActivationClusteringConfig) -> dict[str, float]:
    feats = features(ctx.model, ctx.syn_x).numpy()
    keep = torch.ones(len(feats), dtype=torch.bool)
    flagged = []
    for c in ctx.syn_y.unique().tolist():
        idx = torch.nonzero(ctx.syn_y == c).flatten().numpy()
        if len(idx) < 4:
            continue
        dims = min(cfg.components, len(idx) - 1)
        from sklearn.cluster import KMeans  # lazy: scikit-learn costs seconds to import
        from sklearn.decomposition import PCA

        z = PCA(n_components=dims, random_state=ctx.seed).fit_transform(feats[idx])
        labels = KMeans(n_clusters=2, n_init=10, random_state=ctx.seed).fit_predict(z)
        sizes = np.bincount(labels, minlength=2)
        small = int(sizes.argmin())
        if sizes[small] / len(idx) < cfg.size_threshold:
            flagged.append(c)
            keep[torch.as_tensor(idx[labels == small])] = False
    target = ctx.trigger.target
    return {
        "detected": float(target in flagged),
        "flagged_classes": float(len(flagged)),
        "false_flags": float(len([c for c in flagged if c != target])),
        "removed": float((~keep).sum()),
        **ctx.retrain(keep),
    }

"""Post-hoc detectors on penultimate features (fit on the training set's features).

All scores: higher = more in-distribution. Shapes: features (N, D), logits (N, K), head W (K, D), b (K,).

* ``mds``   Mahalanobis, Lee et al., NeurIPS 2018 (https://arxiv.org/abs/1807.03888), as OpenOOD's MDS:
            class means and one tied covariance of the train features (pseudo-inverse, as sklearn's
            ``EmpiricalCovariance.precision_``); ``max_c -(f - mu_c)^T S^+ (f - mu_c)``. No input noise.
* ``rmds``  Relative Mahalanobis, Ren et al. 2021 (https://arxiv.org/abs/2106.09022):
            ``max_c -(MD_c(f) - MD_0(f))`` with MD_0 the distance to the global mean under the global covariance.
* ``knn``   Sun et al., ICML 2022 (https://arxiv.org/abs/2204.06507): L2-normalised features; minus the
            Euclidean distance to the K-th nearest train feature, K=50 (grid 50..1000, clipped to the bank).
            Exact search on a faiss ``IndexFlatL2`` (as OpenOOD), blocked inside faiss, so 60k x 60k is never
            built; APS searches once at the largest K of the grid.
* ``vim``   Wang et al., CVPR 2022 (https://arxiv.org/abs/2203.10807): origin ``u = -pinv(W) b``; principal
            subspace (top ``dim`` eigenvectors of the uncentred covariance of ``f - u``); residual norm outside it;
            ``alpha = mean(max train logit) / mean(train residual)``; score ``logsumexp(logits) - alpha * residual``.
            ``dim=0`` means ``min(256, D // 2)`` (the paper uses 256..1000 for D >= 768; small nets need less).
            Grid: OpenOOD's ``vim.yml`` sweep [256, 1000], keeping the values below D (none left: ``dim=0``'s
            value); ``wide_grid``: D/8, D/4, D/2, 3D/4.
* ``react`` Sun, Guo & Li, NeurIPS 2021 (https://arxiv.org/abs/2111.12797): clip features at the p-th percentile
            of the ID-val activations (the fit set when no val), then energy of the head; p=90 (grid 85..99).
* ``ash``   ASH-B, Djurisic et al., ICLR 2023 (https://arxiv.org/abs/2209.09858): keep the top
            ``k = D - round(D p / 100)`` activations per sample, set each to ``sum / k``, zero the rest,
            then energy of the head; p=90 (grid 65..95). Features here are the flattened last feature map.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from trustlab.errors import ConfigError
from trustlab.methods.ood.base import Outputs, Scorer, register, require


def _tied_precision(centred: Tensor) -> Tensor:
    """Pseudo-inverse of the (biased) covariance of already centred rows, float64."""
    x = centred - centred.mean(0, keepdim=True)
    cov = x.T @ x / x.shape[0]
    return torch.linalg.pinv(cov, hermitian=True)


def _sq_mahalanobis(f: Tensor, means: Tensor, precision: Tensor) -> Tensor:
    """(N, C) squared Mahalanobis distances of rows ``f`` (N, D) to ``means`` (C, D), chunk-free expansion."""
    fp = f @ precision
    return (fp * f).sum(1, keepdim=True) - 2.0 * fp @ means.T + ((means @ precision) * means).sum(1)[None, :]


@register("mds")
class Mahalanobis(Scorer):
    """Class-conditional Gaussians with a tied covariance (Lee et al. 2018); higher = more in-distribution."""

    needs_features = True
    needs_logits = False
    needs_labels = True
    state = ("means", "precision")

    def _fit(self, train: Outputs, val: Outputs | None) -> None:
        f = require(train.features, "features", self.name()).double()
        y = train.labels
        classes = torch.unique(y)
        self.means = torch.stack([f[y == c].mean(0) for c in classes])
        index = torch.searchsorted(classes, y)
        self.precision = _tied_precision(f - self.means[index])

    def score_outputs(self, out: Outputs) -> Tensor:
        f = require(out.features, "features", self.name()).double()
        return (-_sq_mahalanobis(f, self.means, self.precision).min(1).values).float()


@register("rmds")
class RelativeMahalanobis(Mahalanobis):
    """Mahalanobis minus the class-agnostic background Mahalanobis (Ren et al. 2021); higher = more ID."""

    state = ("means", "precision", "mean0", "precision0")

    def _fit(self, train: Outputs, val: Outputs | None) -> None:
        super()._fit(train, val)
        f = require(train.features, "features", self.name()).double()
        self.mean0 = f.mean(0, keepdim=True)
        self.precision0 = _tied_precision(f - self.mean0)

    def score_outputs(self, out: Outputs) -> Tensor:
        f = require(out.features, "features", self.name()).double()
        md = _sq_mahalanobis(f, self.means, self.precision)
        md0 = _sq_mahalanobis(f, self.mean0, self.precision0)
        return (-(md - md0).min(1).values).float()


def l2_normalise(f: Tensor) -> Tensor:
    return f / (f.norm(dim=1, keepdim=True) + 1e-10)


def kth_neighbour_distance(
    queries: Tensor, bank: Tensor, k: int, chunk_elems: int = 2**24, skip_self: bool = False
) -> Tensor:
    """Exact Euclidean distance from each row of ``queries`` (Q, D) to its k-th nearest row of ``bank`` (N, D),
    in plain torch (the reference the faiss search is tested against; see ``benchmarks/ood_throughput.py``).

    Works in query chunks of ``max(1, chunk_elems // N)`` rows, so memory is O(chunk_elems + Q k), never Q x N
    at once. ``skip_self``: the query set *is* the bank (transductive), so the nearest hit (itself) is skipped.
    """
    n = bank.shape[0]
    kk = k + int(skip_self)
    if not 1 <= kk <= n:
        raise ConfigError(f"knn: k={k} needs at least {kk} fit samples, the bank has {n}; lower k")
    rows = max(1, chunk_elems // max(n, 1))
    bank_sq = (bank * bank).sum(1)
    out = torch.empty(queries.shape[0], dtype=bank.dtype)
    for i in range(0, queries.shape[0], rows):
        q = queries[i : i + rows]
        # ||q||^2 is constant per row, so it is added after the top-k (one fused GEMM + top-k per chunk)
        d2 = torch.addmm(bank_sq[None, :], q, bank.T, alpha=-2.0)
        out[i : i + rows] = d2.topk(kk, dim=1, largest=False).values[:, -1] + (q * q).sum(1)
    return out.clamp_min(0).sqrt()


def flat_index(bank: Tensor) -> Any:
    """An exact faiss index (``IndexFlatL2``, as OpenOOD's KNN) over the rows of ``bank`` (N, D), float32.

    faiss runs on as many OpenMP threads as torch has (``torch.get_num_threads()``), so a one-thread worker
    stays on one thread.
    """
    import faiss

    faiss.omp_set_num_threads(max(1, torch.get_num_threads()))
    b = np.ascontiguousarray(bank.detach().float().cpu().numpy())
    index = faiss.IndexFlatL2(b.shape[1])
    index.add(b)
    return index


def knn_distances(index: Any, queries: Tensor, k: int, skip_self: bool = False) -> Tensor:
    """(Q, k) Euclidean distances, ascending, from each query row to its k nearest rows of ``index``;
    ``skip_self`` drops the first hit (the query set is the bank). Exact (a flat index), float32."""
    import faiss

    n = index.ntotal
    kk = k + int(skip_self)
    if not 1 <= kk <= n:
        raise ConfigError(f"knn: k={k} needs at least {kk} fit samples, the bank has {n}; lower k")
    faiss.omp_set_num_threads(max(1, torch.get_num_threads()))
    q = np.ascontiguousarray(queries.detach().float().cpu().numpy())
    d2, _ = index.search(q, kk)  # squared L2 distances, ascending
    d2[~np.isfinite(q).all(1)] = np.nan  # faiss would rank a NaN query anyway; keep it visible to check_scores
    d = torch.from_numpy(np.sqrt(np.maximum(d2, 0.0)))
    return d[:, 1:] if skip_self else d


@register("knn")
class KNN(Scorer):
    """Minus the distance to the K-th nearest normalised train feature (Sun et al. 2022); higher = more ID.

    The search is exact, on a faiss ``IndexFlatL2`` of the L2-normalised bank (OpenOOD's KNN postprocessor).
    OpenOOD returns minus the *squared* distance; this returns minus the distance (same ranking, same AUROC).
    """

    needs_features = True
    needs_logits = False
    pixels_ok = True
    grid_refits = False  # the bank does not depend on k: APS searches once at the largest k
    defaults = {"k": 50}
    grid = {"k": [50, 100, 200, 500, 1000]}  # OpenOOD knn.yml
    state = ("bank",)

    def check_params(self) -> None:
        if int(self.params["k"]) < 1:
            raise ConfigError(f"detector knn: k must be >= 1, got {self.params['k']}")

    def param_grid(self, train: Outputs) -> dict[str, list]:
        n = len(train)
        ks = [k for k in super().param_grid(train).get("k", []) if k <= n] or [max(1, n // 2)]
        return {"k": ks}

    def _fit(self, train: Outputs, val: Outputs | None) -> None:
        self.bank = l2_normalise(require(train.features, "features", self.name()).float())
        self._index = None

    @property
    def index(self) -> Any:
        if getattr(self, "_index", None) is None:  # built on first use (also after load_state_dict)
            self._index = flat_index(self.bank)
        return self._index

    def load_state_dict(self, state: dict[str, Any], model: Any = None) -> Scorer:
        self._index = None
        return super().load_state_dict(state, model)

    def score_outputs(self, out: Outputs) -> Tensor:
        return self.score_grid([{}], out)[0]

    def score_grid(self, combos: Sequence[Mapping[str, Any]], out: Outputs | None = None,
                   x: Tensor | None = None) -> list[Tensor]:
        """One search at the largest k of ``combos``; each combo's score is its k-th column."""
        ks = [int(c.get("k", self.params["k"])) for c in combos]
        q = l2_normalise(require(out.features if out is not None else None, "features", self.name()).float())
        d = knn_distances(self.index, q, max(ks))
        return [-d[:, k - 1].contiguous() for k in ks]

    def fit_score(self, out: Outputs) -> Tensor:
        self.fit(out, None, self.model)
        return -knn_distances(self.index, self.bank, int(self.params["k"]), skip_self=True)[:, -1].contiguous()


def _energy(logits: Tensor) -> Tensor:
    return torch.logsumexp(logits, dim=1)


@register("vim")
class ViM(Scorer):
    """Virtual-logit matching (Wang et al. 2022); higher = more in-distribution."""

    needs_features = True
    needs_head = True
    defaults = {"dim": 0}
    grid = {"dim": [256, 1000]}  # OpenOOD vim.yml (values >= D are dropped for this model)
    WIDE_FRACTIONS = (0.125, 0.25, 0.5, 0.75)  # wide grid: these fractions of D
    state = ("u", "null_space", "alpha")

    def check_params(self) -> None:
        if int(self.params["dim"]) < 0:
            raise ConfigError(f"detector vim: dim must be >= 0 (0 = auto), got {self.params['dim']}")

    def param_grid(self, train: Outputs) -> dict[str, list]:
        d = train.features.shape[1] if train.features is not None else 0
        if d <= 1:
            return {}
        if self.grid_name == "wide" and self.search.get("dim") == self.grid["dim"]:  # not overridden
            return {"dim": sorted({max(1, int(d * f)) for f in self.WIDE_FRACTIONS})}
        dims = [int(v) for v in self.search.get("dim", []) if 1 <= int(v) < d]
        return {"dim": dims or [min(256, d // 2)]}

    def _fit(self, train: Outputs, val: Outputs | None) -> None:
        f = require(train.features, "features", self.name()).double()
        logits = require(train.logits, "logits", self.name()).double()
        d = f.shape[1]
        dim = int(self.params["dim"]) or min(256, d // 2)
        if not 1 <= dim < d:
            raise ConfigError(f"detector vim: dim={dim} must be in [1, {d - 1}] for {d}-dim features; lower dim")
        w, b = self.head[0].double(), self.head[1].double()
        self.u = -(torch.linalg.pinv(w) @ b)
        x = f - self.u
        cov = x.T @ x / x.shape[0]
        _, vecs = torch.linalg.eigh(cov)  # ascending eigenvalues
        self.null_space = vecs[:, : d - dim].contiguous()  # all but the top-`dim` directions
        residual = (x @ self.null_space).norm(dim=1)
        self.alpha = logits.max(1).values.mean() / residual.mean().clamp_min(1e-12)

    def score_outputs(self, out: Outputs) -> Tensor:
        f = require(out.features, "features", self.name()).double()
        logits = require(out.logits, "logits", self.name()).double()
        residual = ((f - self.u) @ self.null_space).norm(dim=1)
        return (_energy(logits) - self.alpha * residual).float()


def _head_logits(head: tuple[Tensor, Tensor], f: Tensor) -> Tensor:
    return f @ head[0].T.to(f.dtype) + head[1].to(f.dtype)


@register("react")
class ReAct(Scorer):
    """Energy after clipping features at a percentile of ID activations (Sun et al. 2021); higher = more ID."""

    needs_features = True
    needs_head = True
    defaults = {"percentile": 90.0}
    grid = {"percentile": [85.0, 90.0, 95.0, 99.0]}
    state = ("activations",)

    def check_params(self) -> None:
        if not 0 < float(self.params["percentile"]) <= 100:
            raise ConfigError(f"detector react: percentile must be in (0, 100], got {self.params['percentile']}")

    def _fit(self, train: Outputs, val: Outputs | None) -> None:
        src = val if val is not None and val.features is not None else train
        acts = require(src.features, "features", self.name()).float().flatten().numpy()
        # a fixed 1M-value sample keeps the percentile exact enough and the memory bounded on 60k x 2048 banks
        if acts.size > 1_000_000:
            acts = np.random.default_rng(0).choice(acts, 1_000_000, replace=False)
        self.activations = torch.from_numpy(np.sort(acts))

    @property
    def threshold(self) -> float:
        return float(np.percentile(self.activations.numpy(), float(self.params["percentile"])))

    def score_outputs(self, out: Outputs) -> Tensor:
        f = require(out.features, "features", self.name()).float().clamp(max=self.threshold)
        return _energy(_head_logits(self.head, f))


def ash_b(f: Tensor, percentile: float) -> Tensor:
    """ASH-B on (N, D): top-k activations set to ``sum / k``, the rest to 0, ``k = D - round(D p / 100)``."""
    d = f.shape[1]
    k = max(1, d - int(np.round(d * percentile / 100.0)))
    vals, idx = f.topk(k, dim=1)
    fill = (f.sum(1, keepdim=True) / k).expand_as(vals)
    return torch.zeros_like(f).scatter_(1, idx, fill)


@register("ash")
class ASH(Scorer):
    """ASH-B activation shaping, then energy (Djurisic et al. 2023); higher = more in-distribution."""

    needs_fit = False
    needs_features = True
    needs_head = True
    defaults = {"percentile": 90.0}
    grid = {"percentile": [65.0, 70.0, 75.0, 80.0, 85.0, 90.0, 95.0]}

    def check_params(self) -> None:
        if not 0 <= float(self.params["percentile"]) < 100:
            raise ConfigError(f"detector ash: percentile must be in [0, 100), got {self.params['percentile']}")

    def score_outputs(self, out: Outputs) -> Tensor:
        f = require(out.features, "features", self.name()).float()
        return _energy(_head_logits(self.head, ash_b(f, float(self.params["percentile"]))))


"""Classical anomaly / outlier detectors (scikit-learn) on penultimate features or on raw pixels.

All scores: higher = more normal (in-distribution). Input: features (N, D), or flattened pixels
(N, C*H*W) when ``setup(None, images)`` is called without a model. Each feature is standardised with the
fit set's mean and std (constant features are left centred), then:

* ``iforest`` Isolation Forest, Liu, Ting & Zhou, ICDM 2008: ``score_samples`` (minus the average path-
              length anomaly score); n_estimators=100, max_samples="auto", seeded.
* ``lof``     Local Outlier Factor, Breunig et al., SIGMOD 2000: ``-LOF``, n_neighbors=20. Inductive scoring
              uses ``novelty=True``; transductive outlier detection (:meth:`fit_score`) uses the fit
              samples' own ``negative_outlier_factor_`` (each point is not its own neighbour).
* ``ocsvm``   One-class SVM, Schoelkopf et al., Neural Computation 2001: RBF kernel, gamma="scale", nu=0.1;
              ``score_samples``.

At most ``max_fit`` fit samples are used (a seeded subset; one-class SVM is quadratic in N). The fitted
state is the (subsampled, raw) fit set: ``load_state_dict`` refits deterministically from it.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
import torch
from torch import Tensor

from trustlab.errors import ConfigError
from trustlab.methods.ood.base import Outputs, Scorer, register, require


class SklearnScorer(Scorer, abc.ABC):
    """Shared plumbing: standardise, subsample, fit a scikit-learn estimator, score with ``score_samples``."""

    needs_features = True
    needs_logits = False
    pixels_ok = True
    state = ("fit_features",)
    defaults: dict[str, Any] = {"max_fit": 5000, "seed": 0}

    def check_params(self) -> None:
        if int(self.params["max_fit"]) < 2:
            raise ConfigError(f"detector {self.name()}: max_fit must be >= 2, got {self.params['max_fit']}")

    @abc.abstractmethod
    def estimator(self, n: int) -> Any:
        """The unfitted scikit-learn estimator for ``n`` fit samples."""

    def _fit(self, train: Outputs, val: Outputs | None) -> None:
        x = require(train.features, "features", self.name()).float()
        cap = int(self.params["max_fit"])
        if len(x) > cap:
            idx = np.sort(np.random.default_rng(int(self.params["seed"])).choice(len(x), cap, replace=False))
            x = x[torch.from_numpy(idx)]
        if len(x) < 2:
            raise ConfigError(f"detector {self.name()} needs at least 2 fit samples, got {len(x)}")
        self.fit_features = x
        self._build()

    def _build(self) -> None:
        x = self.fit_features.double().numpy()
        self._mean = x.mean(0)
        std = x.std(0)
        self._std = np.where(std > 1e-12, std, 1.0)
        self._est = self.estimator(len(x)).fit(self._transform(x))

    def _transform(self, x: np.ndarray) -> np.ndarray:
        return (x - self._mean) / self._std

    def load_state_dict(self, state: dict[str, Any], model: Any = None) -> Scorer:
        super().load_state_dict(state, model)
        self._build()
        return self

    def score_outputs(self, out: Outputs) -> Tensor:
        x = require(out.features, "features", self.name()).double().numpy()
        return torch.from_numpy(np.asarray(self._est.score_samples(self._transform(x)), dtype=np.float32))


@register("iforest")
class IsolationForestScorer(SklearnScorer):
    """Isolation Forest (Liu et al. 2008) via scikit-learn; higher = more normal."""

    defaults = {**SklearnScorer.defaults, "n_estimators": 100}
    grid = {"n_estimators": [100, 300]}

    def estimator(self, n: int) -> Any:
        from sklearn.ensemble import IsolationForest

        return IsolationForest(n_estimators=int(self.params["n_estimators"]), random_state=int(self.params["seed"]))


@register("lof")
class LOFScorer(SklearnScorer):
    """Local Outlier Factor (Breunig et al. 2000) via scikit-learn; higher = more normal."""

    defaults = {**SklearnScorer.defaults, "n_neighbors": 20}
    grid = {"n_neighbors": [10, 20, 50]}

    def check_params(self) -> None:
        super().check_params()
        if int(self.params["n_neighbors"]) < 1:
            raise ConfigError(f"detector lof: n_neighbors must be >= 1, got {self.params['n_neighbors']}")

    def estimator(self, n: int, novelty: bool = True) -> Any:
        from sklearn.neighbors import LocalOutlierFactor

        return LocalOutlierFactor(n_neighbors=min(int(self.params["n_neighbors"]), n - 1), novelty=novelty)

    def fit_score(self, out: Outputs) -> Tensor:
        x = require(out.features, "features", self.name()).double().numpy()
        std = x.std(0)
        z = (x - x.mean(0)) / np.where(std > 1e-12, std, 1.0)
        est = self.estimator(len(z), novelty=False).fit(z)
        self.fit(out, None, self.model)
        return torch.from_numpy(est.negative_outlier_factor_.astype(np.float32))


@register("ocsvm")
class OneClassSVMScorer(SklearnScorer):
    """One-class SVM (Schoelkopf et al. 2001), RBF kernel, via scikit-learn; higher = more normal."""

    defaults = {**SklearnScorer.defaults, "nu": 0.1}
    grid = {"nu": [0.01, 0.1, 0.5]}

    def check_params(self) -> None:
        super().check_params()
        if not 0 < float(self.params["nu"]) <= 1:
            raise ConfigError(f"detector ocsvm: nu must be in (0, 1], got {self.params['nu']}")

    def estimator(self, n: int) -> Any:
        from sklearn.svm import OneClassSVM

        return OneClassSVM(kernel="rbf", gamma="scale", nu=float(self.params["nu"]))

"""Generalized OOD detection (AD, ND, OSR, OOD detection, OD): detectors, recipes, claims (see README.md)."""

from trustlab.methods.ood import (  # noqa: F401
    classical,
    claims,
    deep_svdd,
    feature_scorers,
    logit_scorers,
    recipes,
)

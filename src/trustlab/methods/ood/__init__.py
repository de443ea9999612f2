"""Generalized OOD detection (AD, ND, OSR, OOD detection, OD): detectors, recipes, claims (see README.md)."""

from trustlab.methods.ood import (  # noqa: F401
    claims,
    classical,
    deep_svdd,
    feature_scorers,
    logit_scorers,
    paper,
    recipes,
)

"""On-device domain generalization: KD, OKD, DG baselines, DOSCO and export (see README.md)."""

from trustlab.methods.okd import (  # noqa: F401  (registration)
    baselines,
    claims,
    commands,
    dosco,
    generators,
    method,
    paper,
    recipes,
)

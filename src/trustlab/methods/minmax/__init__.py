"""Min-max attacks over multiple domains (ensemble, universal, EOT), PGD, and min-max adversarial
training (Wang et al., Adversarial Attack Generation Empowered by Min-Max Optimization, arXiv:1906.03563; see
README.md)."""

from trustlab.methods.minmax import (  # noqa: F401
    attacks,
    claims,
    config,
    method,
    paper,
    recipes,
    run,
    solver,
    transforms,
)

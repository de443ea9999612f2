"""Min-max attacks over multiple domains (ensemble, universal, EOT), PGD, and min-max adversarial
training (papers/03; see README.md)."""

from trustlab.methods.minmax import attacks, claims, method, recipes, recipes_at, solver, transforms  # noqa: F401

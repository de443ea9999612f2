"""ERM baseline (method, recipes, claims)."""

from trustlab.methods.erm import claims, method, recipes  # noqa: F401

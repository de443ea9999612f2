"""ERM baseline (method, run, recipes, claims; files map in README.md)."""

from trustlab.methods.erm import claims, method, recipes, run  # noqa: F401

"""GMoE / SF-MoE: sparse mixture-of-experts ViTs for domain generalization (files map in README.md)."""

from trustlab.methods.gmoe import claims, config, method, paper, recipes, run  # noqa: F401

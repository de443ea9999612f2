"""GMoE / SF-MoE: sparse mixture-of-experts ViTs for domain generalization (method, recipes, claims)."""

from trustlab.methods.gmoe import claims, method, recipes  # noqa: F401

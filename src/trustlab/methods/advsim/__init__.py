"""AdvSim: adversarial safety-critical scenarios against a LiDAR autonomy stack (Wang et al., CVPR 2021)."""

from trustlab.methods.advsim import claims, paper, recipes, scenarios  # noqa: F401

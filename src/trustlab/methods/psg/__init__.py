"""PSG: panoptic scene graph generation (PSG format, generated scenes, two-stage model and PSGTR)."""

from trustlab.methods.psg import claims, paper, recipes, scenes  # noqa: F401

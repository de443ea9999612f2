"""PSG: panoptic scene graph generation (PSG format, generated scenes, two-stage model and PSGTR)."""

from trustlab.methods.psg import claims, recipes, scenes  # noqa: F401

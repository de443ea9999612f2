"""PSG: panoptic scene graph generation (PSG format, generated scenes, two-stage model and PSGTR)."""

from trustlab.methods.psg import scenes  # noqa: F401

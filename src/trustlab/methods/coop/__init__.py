"""CoOp: prompt learning for CLIP-like models, with an offline-pretrained tiny CLIP (see README.md)."""

from trustlab.methods.coop import claims, data, paper, recipes  # noqa: F401

"""PMT-IQA: blind image quality assessment with multi-scale features and progressive multi-task learning."""

from trustlab.methods.pmtiqa import claims, data, distortions, paper, recipes, score  # noqa: F401

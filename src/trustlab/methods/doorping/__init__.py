"""Backdoor attacks against dataset distillation (NaiveAttack, DOORPING), the distillation methods
(DC, DSA, DM, DD) and defenses; see README.md. Importing registers recipes, claims, the ``distilled``
dataset, and the ``DISTILLERS`` / ``BACKDOORS`` / ``DEFENSES`` registries.
"""

from trustlab.methods.doorping import attack, data, defenses, distill, method, recipes  # noqa: F401
from trustlab.methods.doorping import claims  # noqa: F401  (after recipes: claims run them)

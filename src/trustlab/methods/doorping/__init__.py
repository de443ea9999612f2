"""Backdoor attacks against dataset distillation (NaiveAttack, DOORPING), the distillation methods
(DC, DSA, DM, DD) and defenses; see README.md. Importing registers recipes, claims, the ``distilled``
dataset, and the ``DISTILLERS`` / ``BACKDOORS`` / ``DEFENSES`` registries.
"""

from trustlab.methods.doorping import (  # noqa: F401
    attack,
    claims,  # noqa: F401  (after recipes: claims run them)
    config,
    data,
    defenses,
    distill,
    paper,
    recipes,
    run,
)

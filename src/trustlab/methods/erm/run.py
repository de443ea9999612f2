"""The run function of recipes ``erm/digits-dg`` and ``erm/folder``: leave-one-domain-out ERM."""

from __future__ import annotations

from typing import Any

from trustlab.errors import ConfigError
from trustlab.methods.erm.method import ERM, ERMRecipeConfig
from trustlab.recipes import RunContext
from trustlab.tasks.classification import run_dg


def run_erm(cfg: ERMRecipeConfig, ctx: RunContext) -> dict[str, Any]:
    if cfg.data.name == "folder" and not cfg.data.root:
        raise ConfigError(
            "this recipe needs data.root: --set data.root=/path/to/dataset (root/<domain>/<class>/<image>)"
        )
    return run_dg(cfg, ctx, lambda model, data, c: ERM(model, c.method))

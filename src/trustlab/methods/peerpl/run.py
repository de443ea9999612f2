"""The run functions of the peerpl recipes (``recipes.py`` registers them): each runs torch on one thread and
hands the run record to the setting's module (``noisy.py``, ``bc.py``, ``cotrain.py``)."""

from __future__ import annotations

from typing import Any

from trustlab.methods.peerpl.config import BCRecipeConfig, CotrainRecipeConfig, DemosRecipeConfig, NoisyRewardConfig
from trustlab.recipes import RunContext


def _threads() -> None:
    import torch

    # tiny MLPs (batch 64, 64x64): more threads only add overhead, and on a loaded machine a lot: on a 2-core VM
    # running other jobs, 2 threads cost 43x the CPU-seconds of 1 (OpenMP spin-waits), over bench workers' setting
    torch.set_num_threads(1)


def run_noisy(cfg: NoisyRewardConfig, ctx: RunContext) -> dict[str, Any]:
    from trustlab.methods.peerpl.noisy import run_noisy_reward

    _threads()
    return run_noisy_reward(cfg, ctx.record, ctx.quiet)


def run_demos_recipe(cfg: DemosRecipeConfig, ctx: RunContext) -> dict[str, Any]:
    from trustlab.methods.peerpl.bc import run_demos

    _threads()
    return run_demos(cfg, ctx.record)


def run_bc_recipe(cfg: BCRecipeConfig, ctx: RunContext) -> dict[str, Any]:
    from trustlab.methods.peerpl.bc import run_bc

    _threads()
    return run_bc(cfg, ctx.record)


def run_cotrain_recipe(cfg: CotrainRecipeConfig, ctx: RunContext) -> dict[str, Any]:
    from trustlab.methods.peerpl.cotrain import run_cotrain

    _threads()
    return run_cotrain(cfg, ctx.record)

"""Recipes ``peerpl/noisy-reward``, ``peerpl/demos``, ``peerpl/bc`` and ``peerpl/cotrain`` (any gymnasium
env id with Box observations and Discrete actions; CartPole-v1 by default, Acrobot-v1 via ``env.id``)."""

from __future__ import annotations

from trustlab.methods.peerpl.config import BCRecipeConfig, CotrainRecipeConfig, DemosRecipeConfig, NoisyRewardConfig
from trustlab.methods.peerpl.run import run_bc_recipe, run_cotrain_recipe, run_demos_recipe, run_noisy
from trustlab.recipes import Recipe, register_recipe

TINY_RL = {"train.curve_points": 4, "train.eval_episodes": 2, "env.max_episode_steps": 50}

register_recipe(Recipe(
    name="peerpl/noisy-reward",
    description="DQN (SB3) on clean / noisy / surrogate / peer rewards (method.reward), true return reported",
    config_cls=NoisyRewardConfig, run=run_noisy,
    defaults={"env": {"id": "CartPole-v1"}, "noise": {"kind": "binary", "e_plus": 0.2}, "method": {"reward": "peer"}},
    tiny={**TINY_RL, "train.steps": 300, "dqn.learning_starts": 50},
))

register_recipe(Recipe(
    name="peerpl/demos",
    description="weak demonstrators: PPO checkpointed at demo.checkpoints steps + their recorded demonstrations",
    config_cls=DemosRecipeConfig, run=run_demos_recipe,
    tiny={"env.max_episode_steps": 50, "demo.checkpoints": [256, 512], "demo.episodes": 2, "demo.n_envs": 2,
          "ppo.n_steps": 64, "ppo.batch_size": 64},
))

register_recipe(Recipe(
    name="peerpl/bc",
    description="(peer) behaviour cloning from weak demonstrations (bc.xi=0: plain BC); demonstrator return beside",
    config_cls=BCRecipeConfig, run=run_bc_recipe,
    defaults={"demo": {"train_steps": 10_000}, "bc": {"xi": 0.2}},
    tiny={**TINY_RL, "demo.train_steps": 256, "demo.episodes": 2, "demo.n_envs": 2, "ppo.n_steps": 64,
          "ppo.batch_size": 64, "bc.epochs": 2},
))

register_recipe(Recipe(
    name="peerpl/cotrain",
    description="co-training of two PPO agents with different state views (cotrain.mode, cotrain.xi)",
    config_cls=CotrainRecipeConfig, run=run_cotrain_recipe,
    defaults={"cotrain": {"mode": "cotrain", "xi": 0.2}},
    tiny={**TINY_RL, "train.steps": 256, "env.n_envs": 2, "ppo.n_steps": 64, "ppo.batch_size": 64},
))

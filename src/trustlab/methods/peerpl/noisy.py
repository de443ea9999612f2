"""Recipe body of ``peerpl/noisy-reward``: DQN on clean, noisy, surrogate-corrected or peer rewards.

One run = one agent, one seed. The agent learns from the reward ``method.reward`` names; the score is
always the true return: the area under the learning curve of the training episodes' true returns
(:func:`trustlab.metrics.rl.area_under_curve`) and the greedy return on the clean env after training.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from trustlab.errors import ConfigError
from trustlab.methods.peerpl.config import NoiseConfig, NoisyRewardConfig
from trustlab.methods.peerpl.envs import Episodes, episode_callback, evaluate, make_vec
from trustlab.methods.peerpl.noise import (
    BinaryRewardNoise,
    ConfusionRewardNoise,
    SurrogateReward,
    check_confusion,
    default_levels,
    uniform_confusion,
)
from trustlab.metrics.rl import area_under_curve, learning_curve, step_grid


def noise_wrapper(noise: NoiseConfig, env_id: str, reward: str, seed: int):
    """``wrapper(env, rank)`` that applies the noise (and the surrogate correction), or None for clean."""
    if reward == "clean" or noise.kind == "none":
        if reward == "surrogate":
            raise ConfigError("method.reward=surrogate needs reward noise: set noise.kind=binary or confusion")
        return None
    if noise.kind == "binary":
        levels = tuple(noise.levels) if noise.levels is not None else default_levels(env_id)

        def make_noise(env, rank):
            return BinaryRewardNoise(env, noise.e_plus, noise.e_minus, levels=levels, seed=seed * 1000 + rank)
    else:
        if noise.levels is None:
            raise ConfigError("noise.kind=confusion needs noise.levels (the discretised reward values)")
        matrix = (check_confusion(noise.matrix, noise.levels) if noise.matrix is not None
                  else uniform_confusion(len(noise.levels), noise.weight))

        def make_noise(env, rank):
            return ConfusionRewardNoise(env, noise.levels, matrix, seed=seed * 1000 + rank)

    if reward == "surrogate":
        return lambda env, rank: SurrogateReward(make_noise(env, rank))
    return make_noise


def build_dqn(cfg: NoisyRewardConfig, venv: Any):
    """A :class:`PeerDQN` for ``cfg`` (xi = 0 unless ``method.reward == 'peer'``)."""
    from trustlab.methods.peerpl.dqn import PeerDQN

    d, m = cfg.dqn, cfg.method
    return PeerDQN(
        "MlpPolicy", venv, learning_rate=d.learning_rate, batch_size=d.batch_size, buffer_size=d.buffer_size,
        learning_starts=d.learning_starts, train_freq=d.train_freq, gradient_steps=d.gradient_steps,
        target_update_interval=d.target_update_interval, tau=d.tau, gamma=d.gamma,
        exploration_fraction=d.exploration_fraction, exploration_final_eps=d.exploration_final_eps,
        max_grad_norm=d.max_grad_norm, policy_kwargs={"net_arch": list(d.net_arch)}, seed=cfg.train.seed,
        device=cfg.train.device, verbose=0,
        peer_xi=m.xi if m.reward == "peer" else 0.0, peer_schedule=m.schedule, peer_start=m.start, peer_end=m.end,
        double=d.double, loss=d.loss,
    )


def curve_summary(episodes: Episodes, total_steps: int, points: int) -> dict[str, Any]:
    """Learning curve on a fixed step grid, its AUC and the last window's return."""
    grid = step_grid(total_steps, points)
    curve = learning_curve(episodes.steps, episodes.returns, grid)
    auc = area_under_curve(grid, curve) if len(episodes.steps) else float("nan")
    return {"grid": grid.tolist(), "curve": curve.tolist(), "auc": auc, "final": float(curve[-1])}


def run_noisy_reward(cfg: NoisyRewardConfig, record: Any, quiet: bool = True) -> dict[str, Any]:
    import torch

    from trustlab.methods.peerpl.figures import save_curve

    seed = cfg.train.seed
    wrapper = noise_wrapper(cfg.noise, cfg.env.id, cfg.method.reward, seed)
    venv = make_vec(cfg.env, seed, wrapper)
    torch.manual_seed(seed)
    model = build_dqn(cfg, venv)
    episodes = Episodes()
    t0 = time.perf_counter()
    model.learn(cfg.train.steps, callback=episode_callback(episodes))
    seconds = time.perf_counter() - t0
    venv.close()
    steps = int(model.num_timesteps)
    cs = curve_summary(episodes, steps, cfg.train.curve_points)
    for x, y in zip(cs["grid"], cs["curve"]):
        record.log({"step": int(x), "true_return": y})

    def greedy(obs: np.ndarray) -> np.ndarray:
        return model.predict(obs, deterministic=True)[0]

    evals = evaluate(greedy, cfg.env, cfg.train.eval_episodes, seed + 10_000)
    from trustlab.runs import atomic

    atomic.write_json(record.artifact("curve.json"), {**cs, "episodes": episodes.to_dict()})
    save_curve(cs["grid"], cs["curve"], record.artifact("learning_curve.png"),
               f"{cfg.env.id} DQN, {cfg.method.reward} reward", episodes=episodes)
    return {
        "env": cfg.env.id,
        "reward": cfg.method.reward,
        "true_auc": cs["auc"],
        "true_final": cs["final"],
        "eval_return": float(np.mean(evals)),
        "eval_return_std": float(np.std(evals)),
        "episodes": len(episodes.steps),
        "env_steps": steps,
        "steps_per_s": steps / seconds,
        "train_seconds": seconds,
        "updates": int(model._n_updates),
    }

"""Recipe ``peerpl/cotrain``: policy co-training of two PPO agents that see different views of the state.

PeerPL setting 3 (Wang et al., NeurIPS 2021; reference ``bc-cotrain/stable_baselines/ppo2/copier.py``).
Agents A and B are SB3 PPO agents whose features extractor zeroes one observation feature each
(``cotrain.masks``; the reference's MLP views hide feature 1 ('even') and feature 0 ('odd')); on Atari frames
each sees every other pixel (``cotrain.masks`` = the hidden pixel parity, :func:`.policies.masked_cnn`). Every update:
each agent takes one PPO update on its own rollout; then (``mode=cotrain``) each takes ``repeat`` cloning
steps on the *other* agent's last rollout (its observations and sampled actions) with the peer loss
``CE - xi(t) * CE_peer`` (:func:`.policies.peer_cloning_loss`), using its own PPO optimizer.
``mode=individual`` skips the copying (independent training of the same two agents); ``xi=0`` copies
without the peer term.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch as th

from trustlab.errors import ConfigError
from trustlab.methods.peerpl.config import CotrainRecipeConfig
from trustlab.methods.peerpl.envs import Episodes, check_discrete, episode_callback, evaluate, make_vec
from trustlab.methods.peerpl.noisy import curve_summary
from trustlab.methods.peerpl.policies import make_ppo, peer_cloning_loss, policy_logits
from trustlab.methods.peerpl.schedules import peer_weight


def copy_step(model: Any, obs: np.ndarray, actions: np.ndarray, xi: float, lr: float,
              generator: th.Generator) -> tuple[float, float]:
    """One cloning step of ``model``'s policy towards (obs, actions) with the peer term; (loss, peer)."""
    policy = model.policy
    policy.set_training_mode(True)
    for group in policy.optimizer.param_groups:
        group["lr"] = lr
    o = th.as_tensor(obs, device=policy.device)
    a = th.as_tensor(actions, device=policy.device).long()
    loss, peer = peer_cloning_loss(policy_logits(policy, o), a, xi, generator)
    policy.optimizer.zero_grad()
    loss.backward()
    th.nn.utils.clip_grad_norm_(policy.parameters(), model.max_grad_norm)
    policy.optimizer.step()
    return float(loss.item()), float(peer.item())


def last_rollout(model: Any) -> tuple[np.ndarray, np.ndarray]:
    buf = model.rollout_buffer
    obs = buf.observations.reshape(-1, *buf.obs_shape)
    return obs, buf.actions.reshape(-1)


def run_cotrain(cfg: CotrainRecipeConfig, record: Any) -> dict[str, Any]:
    from trustlab.methods.peerpl.figures import save_bands
    from trustlab.runs import atomic

    obs_shape, _ = check_discrete(cfg.env.id)
    c = cfg.cotrain
    if len(obs_shape) == 3:  # frames: each agent sees every other pixel (the reference's CNN views)
        if len(c.masks) != 2 or any(m not in (0, 1) for m in c.masks):
            raise ConfigError(f"config key 'cotrain.masks': on image observations two pixel parities in {{0, 1}} "
                              f"(the pixels each agent does not see), got {c.masks}")
    elif len(c.masks) != 2 or any(not 0 <= m < int(np.prod(obs_shape)) for m in c.masks):
        raise ConfigError(f"config key 'cotrain.masks': two feature indices in [0, {int(np.prod(obs_shape))}) "
                          f"(one hidden from each agent), got {c.masks}")
    seed = cfg.train.seed
    th.manual_seed(seed)
    agents, logs = {}, {}
    for k, (name, hide) in enumerate(zip("AB", c.masks)):
        venv = make_vec(cfg.env, seed + 100 * k)
        agents[name] = make_ppo(cfg.ppo, venv, seed + 100 * k, cfg.train.device, hide=[hide])
        logs[name] = Episodes()
    n_batch = cfg.ppo.n_steps * cfg.env.n_envs
    n_updates = max(1, cfg.train.steps // n_batch)
    gen = th.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for t in range(n_updates):
        for name, model in agents.items():
            model.learn(n_batch, reset_num_timesteps=t == 0, callback=episode_callback(logs[name]))
        row: dict[str, Any] = {"step": (t + 1) * n_batch}
        if c.mode == "cotrain":
            xi = peer_weight(c.schedule, c.xi, t / n_updates, c.start, c.end)
            data = {name: last_rollout(model) for name, model in agents.items()}
            for name, other in (("A", "B"), ("B", "A")):
                for _ in range(c.repeat):
                    loss, peer = copy_step(agents[name], *data[other], xi, cfg.ppo.learning_rate / c.repeat, gen)
                row[f"copy/{name}_loss"] = loss
            row["peer_xi"] = xi
        record.log(row)
    seconds = time.perf_counter() - t0
    steps = n_updates * n_batch
    out: dict[str, Any] = {"env": cfg.env.id, "mode": c.mode, "xi": c.xi if c.mode == "cotrain" else 0.0}
    curves = {}
    per_agent = {}
    for k, (name, model) in enumerate(agents.items()):
        cs = curve_summary(logs[name], steps, cfg.train.curve_points)
        curves[name] = cs
        evals = evaluate(lambda o, m=model: m.predict(o, deterministic=True)[0], cfg.env, cfg.train.eval_episodes,
                         seed + 10_000 + k)
        per_agent[name] = {"true_auc": cs["auc"], "true_final": cs["final"], "eval_return": float(np.mean(evals)),
                           "episodes": len(logs[name].steps)}
        model.env.close()
    out["agents"] = per_agent
    out["true_auc"] = float(np.mean([a["true_auc"] for a in per_agent.values()]))
    out["true_final"] = float(np.mean([a["true_final"] for a in per_agent.values()]))
    out["eval_return"] = float(np.mean([a["eval_return"] for a in per_agent.values()]))
    out["env_steps_per_agent"] = steps
    out["steps_per_s"] = 2 * steps / seconds
    out["train_seconds"] = seconds
    atomic.write_json(record.artifact("curve.json"), {"grid": curves["A"]["grid"], "A": curves["A"]["curve"],
                                                  "B": curves["B"]["curve"],
                                                  "episodes": {n: e.to_dict() for n, e in logs.items()}})
    save_bands(curves["A"]["grid"], {f"agent {n} (hides {h})": [curves[n]["curve"]] for n, h in zip("AB", c.masks)},
               record.artifact("learning_curves.png"), f"{cfg.env.id} co-training ({c.mode}, xi={out['xi']})")
    return out

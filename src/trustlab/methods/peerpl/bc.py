"""Recipes ``peerpl/demos`` and ``peerpl/bc``: weak demonstrators, and (peer) behaviour cloning from them.

PeerPL setting 2 (Wang et al., NeurIPS 2021; reference ``bc-cotrain``): a PPO agent checkpointed before it
is good (a *weak* demonstrator) records demonstrations with its stochastic policy; a fresh policy is cloned
from them with plain BC (``xi = 0``) or peer BC (``xi > 0``, :func:`.policies.peer_cloning_loss`). Scores:
the clone's true return on the environment, beside the demonstrator's own return (of the recorded episodes).

Demonstration files (``demo.path``) are ``.npz`` with ``obs`` (N x obs_dim float), ``actions`` (N int) and
optionally ``episode_returns``; observation size and action range must match ``env.id``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

from trustlab.engine.optim import build_optimizer
from trustlab.errors import DataError, NotFoundError
from trustlab.experiment import TrainConfig
from trustlab.methods.peerpl.config import (
    BCRecipeConfig,
    DemoConfig,
    DemonstratorsConfig,
    DemosRecipeConfig,
    PPOConfig,
)
from trustlab.methods.peerpl.envs import EnvConfig, check_discrete, evaluate, make_vec
from trustlab.methods.peerpl.policies import make_ppo, peer_cloning_loss, policy_logits, record_demos


def load_demos(path: str | Path, env_id: str) -> dict[str, np.ndarray]:
    """Read and check a demonstrations file against ``env_id``'s observation and action spaces."""
    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"config key 'demo.path': no demonstrations file '{p}'; give an .npz with obs and actions")
    try:
        with np.load(p) as z:
            data = {k: z[k] for k in z.files}
    except Exception as exc:  # a broken or non-npz file
        raise DataError(f"demonstrations '{p}' cannot be read as .npz ({type(exc).__name__}); "
                        "save with numpy.savez(path, obs=..., actions=...)") from None
    for key in ("obs", "actions"):
        if key not in data:
            raise DataError(f"demonstrations '{p}' have no '{key}' array (found {sorted(data)}); "
                            "save with numpy.savez(path, obs=..., actions=...)")
    obs_shape, n_actions = check_discrete(env_id)
    obs, act = data["obs"], data["actions"]
    if obs.ndim != 1 + len(obs_shape) or obs.shape[1:] != obs_shape:
        raise DataError(f"demonstrations '{p}': observations have shape {obs.shape[1:]}, but '{env_id}' "
                        f"observes {obs_shape}; record them on the same environment")
    if act.ndim != 1 or len(act) != len(obs):
        raise DataError(f"demonstrations '{p}': actions must be a vector of {len(obs)} ints, got shape {act.shape}")
    if len(act) == 0 or act.min() < 0 or act.max() >= n_actions or not np.all(np.equal(np.mod(act, 1), 0)):
        raise DataError(f"demonstrations '{p}': actions must be integers in [0, {n_actions}) for '{env_id}'")
    data["obs"] = obs if obs.dtype == np.uint8 and len(obs_shape) == 3 else obs.astype(np.float32)  # frames: uint8
    data["actions"] = act.astype(np.int64)
    return data


def train_demonstrator(env: EnvConfig, demo: DemoConfig | DemonstratorsConfig, ppo: PPOConfig, seed: int,
                       checkpoints: list[int], out_dir: Path, device: str = "cpu") -> list[dict[str, Any]]:
    """Train PPO, and at each step count in ``checkpoints`` save the agent and record demonstrations."""
    from trustlab.runs import atomic

    venv = make_vec(EnvConfig(env.id, demo.n_envs, env.max_episode_steps), seed)
    model = make_ppo(ppo, venv, seed, device=device)
    done_steps, rows = 0, []
    for i, steps in enumerate(sorted(checkpoints)):
        if steps > done_steps:
            model.learn(steps - done_steps, reset_num_timesteps=i == 0)
            done_steps = int(model.num_timesteps)
        model.save(out_dir / f"demonstrator_{steps}.zip")
        demos = record_demos(model, env, demo.episodes, seed + 20_000 + i)
        path = out_dir / f"demos_{steps}.npz"
        buf = _npz_bytes(demos)
        atomic.write_bytes(path, buf)
        rows.append({"steps": steps, "path": str(path), "return": float(demos["episode_returns"].mean()),
                     "transitions": int(len(demos["actions"]))})
    venv.close()
    return rows


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    import io as _io

    buf = _io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


class Cloner(th.nn.Module):
    """A policy cloned by (peer) BC, as a :class:`~trustlab.engine.protocols.Trainable` for
    :func:`trustlab.engine.fit.fit`: batches are ``(obs, actions)``; the peer term draws its permutations from
    ``generator`` (the one the batch order comes from, as the reference's single RNG)."""

    def __init__(self, policy: Any, xi: float, generator: th.Generator) -> None:
        super().__init__()
        self.policy, self.xi, self.generator = policy, xi, generator

    def training_step(self, batch: tuple[th.Tensor, th.Tensor]) -> dict[str, th.Tensor]:
        obs, act = batch
        loss, peer = peer_cloning_loss(policy_logits(self.policy, obs), act, self.xi, self.generator)
        return {"loss": loss, "peer_loss": peer}

    def predict(self, obs: th.Tensor) -> th.Tensor:
        return policy_logits(self.policy, obs)

    def configure_optimizers(self, cfg: TrainConfig) -> th.optim.Optimizer:
        return build_optimizer(self.policy.parameters(), cfg)  # Adam, eps 1e-8 (stable-baselines' pretrain)


class ReturnCurve:
    """The evaluator: the clone's true return (half the evaluation episodes) at the epochs of ``at``."""

    def __init__(self, run_eval: Any, at: set[int], episodes: int) -> None:
        self.run_eval, self.at, self.episodes = run_eval, at, episodes
        self.curve: list[tuple[int, float]] = []

    def evaluate(self, method: Any, epoch: int) -> dict[str, float]:
        if epoch not in self.at:
            return {}
        ret = float(np.mean(self.run_eval(self.episodes, 30_000 + epoch)))
        self.curve.append((epoch, ret))
        return {"true_return": ret}

    def state_dict(self) -> dict[str, Any]:
        return {"curve": [list(c) for c in self.curve]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.curve = [(int(e), float(r)) for e, r in state["curve"]]


def bc_train_config(cfg: BCRecipeConfig) -> TrainConfig:
    """The engine settings of (peer) BC: ``bc.epochs`` epochs of Adam at ``bc.learning_rate``, constant LR."""
    return TrainConfig(epochs=cfg.bc.epochs, optimizer="adam", lr=cfg.bc.learning_rate, weight_decay=0.0,
                       schedule="constant", device=cfg.train.device, seed=cfg.train.seed)


def clone(cfg: BCRecipeConfig, demos: dict[str, np.ndarray], record: Any) -> dict[str, Any]:
    """Train a fresh PPO-style policy by (peer) BC on ``demos`` with :func:`~trustlab.engine.fit.fit`; evaluate
    it at a few epochs. Not resumable (seconds; the batch order's generator is not checkpointed)."""
    from trustlab.engine.fit import StreamBatchSampler, TensorRows, fit

    seed = cfg.train.seed
    th.manual_seed(seed)
    venv = make_vec(EnvConfig(cfg.env.id, 1, cfg.env.max_episode_steps), seed)
    # the learner is a PPO policy (as the reference's PPO2.pretrain); only its net_arch matters for cloning
    ppo_cfg = PPOConfig(**{**cfg.ppo.__dict__, "net_arch": list(cfg.bc.net_arch), "batch_size": cfg.ppo.n_steps})
    learner = make_ppo(ppo_cfg, venv, seed, device=cfg.train.device)
    venv.close()
    policy = learner.policy
    obs = th.as_tensor(demos["obs"])
    if obs.ndim == 4 and tuple(obs.shape[1:]) != tuple(policy.observation_space.shape):
        obs = obs.permute(0, 3, 1, 2)  # frames (N, H, W, C) -> the CNN's channels first (SB3 transposes images)
    act = th.as_tensor(demos["actions"])
    gen = th.Generator().manual_seed(seed)
    evals_at = set(np.unique(np.linspace(0, cfg.bc.epochs, min(cfg.train.curve_points, cfg.bc.epochs) + 1)
                             .round().astype(int)).tolist()) - {0}

    def run_eval(episodes: int, offset: int) -> list[float]:
        def act_fn(o: np.ndarray) -> np.ndarray:
            return policy.predict(o, deterministic=cfg.bc.deterministic_eval)[0]
        return evaluate(act_fn, cfg.env, episodes, seed + offset)

    t0 = time.perf_counter()
    curve = ReturnCurve(run_eval, evals_at, max(1, cfg.train.eval_episodes // 2))
    # the DataLoader's own generator: its per-epoch draw must not move the global RNG that the stochastic
    # evaluation samples actions from (the seeded results stay those of the hand-written loop before issue 24)
    fit(Cloner(policy, cfg.bc.xi, gen), TensorRows(obs, act), bc_train_config(cfg),
        batch_sampler=StreamBatchSampler(len(act), cfg.bc.batch_size, gen), collate_fn=TensorRows.collate,
        evaluator=curve, record=record, quiet=True, generator=th.Generator())
    final = run_eval(cfg.train.eval_episodes, 10_000)
    with th.no_grad():
        if obs.ndim == 2:
            agree = float((policy_logits(policy, obs.to(policy.device)).argmax(1) == act.to(policy.device))
                          .float().mean())
        else:  # frames: in chunks (a CNN over 1e5 frame stacks at once does not fit)
            hits = sum(int((policy_logits(policy, obs[i:i + 1024].to(policy.device)).argmax(1)
                            == act[i:i + 1024].to(policy.device)).sum()) for i in range(0, len(act), 1024))
            agree = hits / len(act)
    return {"eval_return": float(np.mean(final)), "eval_return_std": float(np.std(final)),
            "curve_epochs": [e for e, _ in curve.curve], "curve": [r for _, r in curve.curve],
            "train_agreement": agree, "bc_seconds": time.perf_counter() - t0}


def run_demos(cfg: DemosRecipeConfig, record: Any) -> dict[str, Any]:
    """``peerpl/demos``: demonstrators at ``demo.checkpoints`` steps and their demonstrations (artifacts)."""
    from trustlab.runs import atomic

    check_discrete(cfg.env.id)
    cps = [int(s) for s in cfg.demo.checkpoints]
    t0 = time.perf_counter()
    rows = train_demonstrator(cfg.env, cfg.demo, cfg.ppo, cfg.train.seed, cps, record.artifact("x").parent,
                              device=cfg.train.device)
    atomic.write_json(record.artifact("demonstrators.json"), rows)
    demos = {f"steps_{r['steps']}": {"return": r["return"], "transitions": r["transitions"]} for r in rows}
    return {"env": cfg.env.id, "demonstrators": demos,
            "seconds": time.perf_counter() - t0}


def run_bc(cfg: BCRecipeConfig, record: Any) -> dict[str, Any]:
    """``peerpl/bc``: clone from ``demo.path`` (or from a demonstrator trained here for ``demo.train_steps``)."""
    from trustlab.methods.peerpl.figures import save_curve
    from trustlab.runs import atomic

    if cfg.demo.path is None:
        rows = train_demonstrator(cfg.env, cfg.demo, cfg.ppo, cfg.train.seed, [cfg.demo.train_steps],
                                  record.artifact("x").parent, device=cfg.train.device)
        path = rows[0]["path"]
    else:
        path = cfg.demo.path
    demos = load_demos(path, cfg.env.id)
    demo_ret = demos.get("episode_returns")
    out = clone(cfg, demos, record)
    atomic.write_json(record.artifact("curve.json"), {"epochs": out["curve_epochs"], "curve": out["curve"]})
    save_curve(out["curve_epochs"], out["curve"], record.artifact("bc_curve.png"),
               f"{cfg.env.id} {'peer BC' if cfg.bc.xi else 'BC'} (xi={cfg.bc.xi})", xlabel="BC epoch")
    return {
        "env": cfg.env.id,
        "method": "peer_bc" if cfg.bc.xi else "bc",
        "xi": cfg.bc.xi,
        "eval_return": out["eval_return"],
        "eval_return_std": out["eval_return_std"],
        "demonstrator_return": float(np.mean(demo_ret)) if demo_ret is not None and len(demo_ret) else float("nan"),
        "demo_transitions": int(len(demos["actions"])),
        "train_agreement": out["train_agreement"],
        "bc_seconds": out["bc_seconds"],
        "demo_path": str(path),
    }

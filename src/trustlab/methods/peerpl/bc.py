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

from trustlab.errors import ConfigError, DataError, NotFoundError
from trustlab.methods.peerpl.envs import EnvConfig, check_discrete, evaluate, make_vec
from trustlab.methods.peerpl.method import BCRecipeConfig, DemoConfig, PPOConfig
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
    if obs.ndim != 2 or obs.shape[1:] != obs_shape:
        raise DataError(f"demonstrations '{p}': observations have shape {obs.shape[1:]}, but '{env_id}' "
                        f"observes {obs_shape}; record them on the same environment")
    if act.ndim != 1 or len(act) != len(obs):
        raise DataError(f"demonstrations '{p}': actions must be a vector of {len(obs)} ints, got shape {act.shape}")
    if len(act) == 0 or act.min() < 0 or act.max() >= n_actions or not np.all(np.equal(np.mod(act, 1), 0)):
        raise DataError(f"demonstrations '{p}': actions must be integers in [0, {n_actions}) for '{env_id}'")
    data["obs"] = obs.astype(np.float32)
    data["actions"] = act.astype(np.int64)
    return data


def train_demonstrator(env: EnvConfig, demo: DemoConfig, ppo: PPOConfig, seed: int, checkpoints: list[int],
                       out_dir: Path) -> list[dict[str, Any]]:
    """Train PPO, and at each step count in ``checkpoints`` save the agent and record demonstrations."""
    from trustlab.runs import io

    venv = make_vec(EnvConfig(env.id, demo.n_envs, env.max_episode_steps), seed)
    model = make_ppo(ppo, venv, seed)
    done_steps, rows = 0, []
    for i, steps in enumerate(sorted(checkpoints)):
        if steps > done_steps:
            model.learn(steps - done_steps, reset_num_timesteps=i == 0)
            done_steps = int(model.num_timesteps)
        model.save(out_dir / f"demonstrator_{steps}.zip")
        demos = record_demos(model, env, demo.episodes, seed + 20_000 + i)
        path = out_dir / f"demos_{steps}.npz"
        buf = _npz_bytes(demos)
        io.write_bytes(path, buf)
        rows.append({"steps": steps, "path": str(path), "return": float(demos["episode_returns"].mean()),
                     "transitions": int(len(demos["actions"]))})
    venv.close()
    return rows


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    import io as _io

    buf = _io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def clone(cfg: BCRecipeConfig, demos: dict[str, np.ndarray], record: Any) -> dict[str, Any]:
    """Train a fresh PPO-style policy by (peer) BC on ``demos``; evaluate it at a few epochs."""
    seed = cfg.train.seed
    th.manual_seed(seed)
    venv = make_vec(EnvConfig(cfg.env.id, 1, cfg.env.max_episode_steps), seed)
    # the learner is a PPO policy (as the reference's PPO2.pretrain); only its net_arch matters for cloning
    ppo_cfg = PPOConfig(**{**cfg.ppo.__dict__, "net_arch": list(cfg.bc.net_arch), "batch_size": cfg.ppo.n_steps})
    learner = make_ppo(ppo_cfg, venv, seed)
    venv.close()
    policy = learner.policy
    opt = th.optim.Adam(policy.parameters(), lr=cfg.bc.learning_rate, eps=1e-8)
    obs = th.as_tensor(demos["obs"])
    act = th.as_tensor(demos["actions"])
    gen = th.Generator().manual_seed(seed)
    n = len(act)
    evals_at = set(np.unique(np.linspace(0, cfg.bc.epochs, min(cfg.train.curve_points, cfg.bc.epochs) + 1)
                             .round().astype(int)).tolist()) - {0}

    def run_eval(episodes: int, offset: int) -> list[float]:
        def act_fn(o: np.ndarray) -> np.ndarray:
            return policy.predict(o, deterministic=cfg.bc.deterministic_eval)[0]
        return evaluate(act_fn, cfg.env, episodes, seed + offset)

    curve, t0 = [], time.perf_counter()
    for epoch in range(1, cfg.bc.epochs + 1):
        order = th.randperm(n, generator=gen)
        losses, peers = [], []
        policy.set_training_mode(True)
        for b in range(0, n, cfg.bc.batch_size):
            idx = order[b:b + cfg.bc.batch_size]
            loss, peer = peer_cloning_loss(policy_logits(policy, obs[idx]), act[idx], cfg.bc.xi, gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            peers.append(peer.item())
        policy.set_training_mode(False)
        row: dict[str, Any] = {"epoch": epoch, "train/loss": float(np.mean(losses)),
                               "train/peer_loss": float(np.mean(peers))}
        if epoch in evals_at:
            ret = float(np.mean(run_eval(max(1, cfg.train.eval_episodes // 2), 30_000 + epoch)))
            row["true_return"] = ret
            curve.append((epoch, ret))
        record.log(row)
    final = run_eval(cfg.train.eval_episodes, 10_000)
    with th.no_grad():
        agree = float((policy_logits(policy, obs).argmax(1) == act).float().mean())
    return {"eval_return": float(np.mean(final)), "eval_return_std": float(np.std(final)),
            "curve_epochs": [e for e, _ in curve], "curve": [r for _, r in curve], "train_agreement": agree,
            "bc_seconds": time.perf_counter() - t0}


def run_demos(cfg: BCRecipeConfig, record: Any) -> dict[str, Any]:
    """``peerpl/demos``: demonstrators at ``demo.checkpoints`` steps and their demonstrations (artifacts)."""
    from trustlab.runs import io

    check_discrete(cfg.env.id)
    cps = [int(s) for s in cfg.demo.checkpoints] or [cfg.demo.train_steps]
    t0 = time.perf_counter()
    rows = train_demonstrator(cfg.env, cfg.demo, cfg.ppo, cfg.train.seed, cps, record.artifact("x").parent)
    io.write_json(record.artifact("demonstrators.json"), rows)
    demos = {f"steps_{r['steps']}": {"return": r["return"], "transitions": r["transitions"]} for r in rows}
    return {"env": cfg.env.id, "demonstrators": demos,
            "seconds": time.perf_counter() - t0}


def run_bc(cfg: BCRecipeConfig, record: Any) -> dict[str, Any]:
    """``peerpl/bc``: clone from ``demo.path`` (or from a demonstrator trained here for ``demo.train_steps``)."""
    from trustlab.methods.peerpl.plots import save_curve
    from trustlab.runs import io

    if cfg.demo.path is None:
        rows = train_demonstrator(cfg.env, cfg.demo, cfg.ppo, cfg.train.seed, [cfg.demo.train_steps],
                                  record.artifact("x").parent)
        path = rows[0]["path"]
    else:
        path = cfg.demo.path
    demos = load_demos(path, cfg.env.id)
    demo_ret = demos.get("episode_returns")
    out = clone(cfg, demos, record)
    io.write_json(record.artifact("curve.json"), {"epochs": out["curve_epochs"], "curve": out["curve"]})
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


def check_bc_config(cfg: BCRecipeConfig) -> None:
    if cfg.bc.xi < 0:
        raise ConfigError(f"config key 'bc.xi': must be >= 0, got {cfg.bc.xi}")
    if cfg.demo.path is not None:
        load_demos(cfg.demo.path, cfg.env.id)

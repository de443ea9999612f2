"""(Peer) BC runs through the engine's fit() and gives the results of the loop it replaced (same seed: same batch
order and peer permutations from one generator, same stochastic evaluations), and the BC config is checked without
reading the demonstrations (they are loaded when the run starts)."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th

from trustlab.config import build_config
from trustlab.errors import ConfigError
from trustlab.methods.peerpl.bc import clone
from trustlab.methods.peerpl.config import BCRecipeConfig, DemosRecipeConfig, PPOConfig
from trustlab.methods.peerpl.envs import EnvConfig, evaluate, make_vec
from trustlab.methods.peerpl.policies import make_ppo, peer_cloning_loss, policy_logits
from trustlab.runs.store import RunRecord


def _hand_written_clone(cfg: BCRecipeConfig, demos: dict[str, np.ndarray]) -> tuple[dict, list[dict]]:
    """bc.clone before issue 24 (commit c4ca20e), verbatim but for the logging."""
    seed = cfg.train.seed
    th.manual_seed(seed)
    venv = make_vec(EnvConfig(cfg.env.id, 1, cfg.env.max_episode_steps), seed)
    ppo_cfg = PPOConfig(**{**cfg.ppo.__dict__, "net_arch": list(cfg.bc.net_arch), "batch_size": cfg.ppo.n_steps})
    policy = make_ppo(ppo_cfg, venv, seed).policy
    venv.close()
    opt = th.optim.Adam(policy.parameters(), lr=cfg.bc.learning_rate, eps=1e-8)
    obs, act = th.as_tensor(demos["obs"]), th.as_tensor(demos["actions"])
    gen = th.Generator().manual_seed(seed)
    n = len(act)
    evals_at = set(np.unique(np.linspace(0, cfg.bc.epochs, min(cfg.train.curve_points, cfg.bc.epochs) + 1)
                             .round().astype(int)).tolist()) - {0}

    def run_eval(episodes: int, offset: int) -> list[float]:
        return evaluate(lambda o: policy.predict(o, deterministic=cfg.bc.deterministic_eval)[0], cfg.env, episodes,
                        seed + offset)

    curve, rows = [], []
    for epoch in range(1, cfg.bc.epochs + 1):
        order = th.randperm(n, generator=gen)
        losses = []
        policy.set_training_mode(True)
        for b in range(0, n, cfg.bc.batch_size):
            idx = order[b:b + cfg.bc.batch_size]
            loss, _ = peer_cloning_loss(policy_logits(policy, obs[idx]), act[idx], cfg.bc.xi, gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        policy.set_training_mode(False)
        rows.append({"epoch": epoch, "train/loss": float(np.mean(losses))})
        if epoch in evals_at:
            curve.append(float(np.mean(run_eval(max(1, cfg.train.eval_episodes // 2), 30_000 + epoch))))
    final = run_eval(cfg.train.eval_episodes, 10_000)
    with th.no_grad():
        agree = float((policy_logits(policy, obs).argmax(1) == act).float().mean())
    return {"eval_return": float(np.mean(final)), "curve": curve, "train_agreement": agree}, rows


def test_bc_through_fit_matches_the_old_loop(tmp_path):
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(200, 4)).astype(np.float32)
    demos = {"obs": obs, "actions": (obs[:, 2] + obs[:, 3] > 0).astype(np.int64)}
    cfg = build_config(BCRecipeConfig, {}, None, {"bc.epochs": 3, "bc.batch_size": 64, "bc.xi": 0.2,
                                                  "bc.learning_rate": 1e-3, "train.eval_episodes": 4,
                                                  "train.curve_points": 2, "env.max_episode_steps": 100,
                                                  "train.seed": 5})
    want, old_rows = _hand_written_clone(cfg, demos)
    rec = RunRecord.create("peerpl/bc", {"train": {"seed": 5}}, root=tmp_path)
    got = clone(cfg, demos, rec)
    assert got["eval_return"] == want["eval_return"] and got["curve"] == want["curve"]
    assert got["train_agreement"] == want["train_agreement"]
    rows = rec.metrics()
    assert [r["epoch"] for r in rows] == [1, 2, 3]  # 1-based, as the old loop logged them
    for r, o in zip(rows, old_rows):  # float32 sums (fit) vs float64 means of .item() (old): same to 1e-6
        assert r["train/loss"] == pytest.approx(o["train/loss"], rel=1e-5)
    assert "true_return" in rows[-1] and "train/peer_loss" in rows[0]


def test_bc_config_checks_xi_and_reads_no_demonstrations(tmp_path):
    with pytest.raises(ConfigError, match="'bc.xi': must be >= 0"):
        build_config(BCRecipeConfig, {}, None, {"bc.xi": -0.1})
    # a missing file is found when the run starts (peerpl/bc loads it first, before writing anything)
    cfg = build_config(BCRecipeConfig, {}, None, {"demo.path": str(tmp_path / "missing.npz")})
    assert cfg.demo.path.endswith("missing.npz")


def test_demos_and_bc_configs_hold_only_their_keys():
    # peerpl/demos checkpoints one PPO run (no BC, no single train_steps); peerpl/bc clones (no checkpoints)
    with pytest.raises(ConfigError, match="'demo.checkpoints'"):
        build_config(DemosRecipeConfig, {}, None, {"demo.checkpoints": []})
    for cls, key in ((DemosRecipeConfig, "bc.xi"), (DemosRecipeConfig, "demo.path"),
                     (DemosRecipeConfig, "train.steps"), (BCRecipeConfig, "demo.checkpoints"),
                     (BCRecipeConfig, "train.steps")):
        with pytest.raises(ConfigError):
            build_config(cls, {}, None, {key: 1})

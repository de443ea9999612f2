"""The AdvSim detector's training runs through the engine's fit() and gives the weights of the loop it replaced
(same seed, same batches drawn with replacement, Adam + OneCycleLR): the shipped weights stay valid."""

from __future__ import annotations

import numpy as np
import torch

from trustlab.engine.runtime import seed_everything
from trustlab.methods.advsim.detector import DetectorConfig, _loss, build_detector, detector_samples, train_detector
from trustlab.methods.advsim.lidar import BEVConfig, Lidar, LidarConfig


def _hand_written_loop(cfg: DetectorConfig, lidar_cfg: LidarConfig, bcfg: BEVConfig):
    """The loop of advsim/stack.py before issue 24 (commit c4ca20e), verbatim but for the metrics."""
    seed_everything(cfg.seed)
    data = detector_samples(cfg.samples + max(8, cfg.samples // 8), cfg.seed, Lidar(lidar_cfg), bcfg, cfg.min_points)
    t = {k: torch.from_numpy(v) for k, v in data.items()}
    net = build_detector(bcfg.channels, cfg.width)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(1, cfg.steps))
    g = torch.Generator().manual_seed(cfg.seed)
    for _ in range(cfg.steps):
        idx = torch.randint(0, cfg.samples, (cfg.batch,), generator=g)
        loss = _loss(net(t["x"][idx].float()), t["heat"][idx], t["reg"][idx], t["mask"][idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return {k: v.detach().numpy() for k, v in net.state_dict().items()}, float(loss.detach())


def test_fit_trains_the_detector_exactly_as_the_old_loop():
    cfg, lidar_cfg, bcfg = DetectorConfig(samples=24, steps=6, batch=4, seed=3), LidarConfig(), BEVConfig()
    state, final_loss = _hand_written_loop(cfg, lidar_cfg, bcfg)
    got = train_detector(cfg, lidar_cfg, bcfg)
    assert set(state) == {k for k in got if not k.startswith("meta/")}
    for k, v in state.items():
        np.testing.assert_array_equal(got[k], v, err_msg=k)
    assert float(got["meta/final_loss"]) == final_loss
    assert 0.0 <= float(got["meta/val_recall"]) <= 1.0

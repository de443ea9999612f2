"""The AdvSim BEV detector: its network, training data, training (through the engine's ``fit``) and decoding.

A small CNN on the ego-centric BEV grid of one sweep (:func:`trustlab.methods.advsim.lidar.bev`),
CenterNet-style: a centre heatmap at 1 m cells (stride 2) and per-cell regression of the centre offset, the
box orientation (cos 2θ, sin 2θ: boxes are symmetric) and log length / width. Trained on simulated sweeps of
scenarios generated with other seeds than the embedded set (:func:`train_detector`: ``steps`` Adam steps on
batches of ``batch`` sweeps drawn with replacement, OneCycleLR). The default settings' weights ship in the
package (``weights/bev_detector.pt``, :mod:`trustlab.methods.advsim.shipped`) and are used whenever the
requested settings are the ones they were trained with (``detector.shipped``); other settings are trained and
cached under ``$TRUSTLAB_DATA/advsim-detector/``.

A leaf of the package: it imports the LiDAR, the world and the scenario generator; the stack (:mod:`.stack`,
whose :func:`~trustlab.methods.advsim.stack.load_detector` picks shipped or cached weights) and the shipped-weights
script (:mod:`.shipped`) import it, never the other way round.

Usage::

    w = train_detector(DetectorConfig(steps=200), LidarConfig(), BEVConfig())  # state dict + meta/val_* (numpy)
    dets = decode(net(x)[0].numpy(), pose, BEVConfig(), threshold=0.3)        # (N, 6): x, y, yaw, l, w, score
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from trustlab.engine.optim import build_optimizer
from trustlab.experiment import TrainConfig
from trustlab.methods.advsim.lidar import BEVConfig, Lidar, LidarConfig, bev, to_ego
from trustlab.methods.advsim.world import Scenario, box_gap

STRIDE = 2
DETECTOR_VERSION = "1.0"  # of the training loop and targets: bump when they change (cache key, shipped settings)


# --- the detector ------------------------------------------------------------------------------------------


def build_detector(channels: int, width: int = 24) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels, 16, 3, stride=STRIDE, padding=1), nn.ReLU(),
        nn.Conv2d(16, width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(width, 7, 1),
    )


@dataclass(frozen=True)
class DetectorConfig:
    samples: int = 2000  # simulated sweeps to train on
    steps: int = 1000  # Adam steps
    batch: int = 16
    lr: float = 3e-3
    width: int = 24
    seed: int = 0
    threshold: float = 0.3  # heatmap peak score to report a detection
    min_points: int = 4  # an actor with fewer LiDAR points is not a training positive (invisible)
    # use the weights shipped in the package when these settings (but threshold) are the ones they were trained
    # with; false: train on this machine and cache, as before shipped weights existed
    shipped: bool = True


def _targets(boxes: np.ndarray, pose: np.ndarray, visible: np.ndarray, bcfg: BEVConfig) -> tuple[np.ndarray, ...]:
    """Heatmap (h, w) and regression (6, h, w) + mask at stride-2 cells for the visible boxes."""
    H, W = bcfg.shape
    h, w = H // STRIDE, W // STRIDE
    cell = bcfg.cell * STRIDE
    heat = np.zeros((h, w), np.float32)
    reg = np.zeros((6, h, w), np.float32)
    mask = np.zeros((h, w), np.float32)
    gx, gy = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    for b, vis in zip(boxes, visible):
        if not vis:
            continue
        e = to_ego(b[None, :2], pose)[0]
        fx, fy = (e[0] - bcfg.x_min) / cell, (e[1] + bcfg.y_half) / cell
        ix, iy = int(math.floor(fx)), int(math.floor(fy))
        if not (0 <= ix < h and 0 <= iy < w):
            continue
        sig = 0.8
        heat = np.maximum(heat, np.exp(-((gx + 0.5 - fx) ** 2 + (gy + 0.5 - fy) ** 2) / (2 * sig**2)))
        heat[ix, iy] = 1.0
        yaw = float(b[2] - pose[2])
        reg[:, ix, iy] = (fx - ix - 0.5, fy - iy - 0.5, math.cos(2 * yaw), math.sin(2 * yaw), math.log(b[3]),
                          math.log(b[4]))
        mask[ix, iy] = 1.0
    return heat, reg, mask


def detector_samples(n: int, seed: int, lidar: Lidar, bcfg: BEVConfig, min_points: int) -> dict[str, np.ndarray]:
    """``n`` simulated sweeps around the SDV of generated scenarios (seeds unlike the embedded set's 0), with
    the actors jittered, as BEV inputs and CenterNet targets."""
    from trustlab.methods.advsim.scenarios import generate

    rng = np.random.default_rng(seed)
    pool: list[Scenario] = []
    k = 0
    while len(pool) * 10 < n:
        pool += generate(seed=1000 + seed * 100 + k, per_kind=2)
        k += 1
    H, W = bcfg.shape
    out = {"x": np.zeros((n, bcfg.channels, H, W), np.float16),
           "heat": np.zeros((n, H // STRIDE, W // STRIDE), np.float32),
           "reg": np.zeros((n, 6, H // STRIDE, W // STRIDE), np.float32),
           "mask": np.zeros((n, H // STRIDE, W // STRIDE), np.float32)}
    for i in range(n):
        sc = pool[int(rng.integers(len(pool)))]
        t = int(rng.integers(sc.steps + 1))
        pose = sc.sdv_log()[t, :3] + rng.normal(0, [0.5, 0.5, 0.05])
        states = [sc.actor_log(j)[t].copy() for j in range(len(sc.actors))]
        sizes = [a.size for a in sc.actors]
        for st in states:
            st[:3] += rng.normal(0, [2.0, 1.0, 0.3])
        for _ in range(int(rng.integers(0, 3))):  # distractor cars anywhere in view
            e = np.array([rng.uniform(-10, 45), rng.uniform(-20, 20)])
            c, s = math.cos(pose[2]), math.sin(pose[2])
            w = pose[:2] + np.array([c * e[0] - s * e[1], s * e[0] + c * e[1]])
            states.append(np.array([w[0], w[1], rng.uniform(-np.pi, np.pi), 0, 0]))
            sizes.append((rng.uniform(4, 5.5), rng.uniform(1.8, 2.2), 1.6))
        boxes = np.array([[st[0], st[1], st[2], sz[0], sz[1], sz[2]] for st, sz in zip(states, sizes)]).reshape(-1, 6)
        keep = (box_gap(boxes[:, None, :5], boxes[None, :, :5]) + np.eye(len(boxes)) * 1e9).min(1) > 0 \
            if len(boxes) > 1 else np.ones(len(boxes), bool)
        keep &= np.hypot(boxes[:, 0] - pose[0], boxes[:, 1] - pose[1]) > 4.0
        boxes = boxes[keep]
        sw = lidar.cast(pose[:2], boxes)
        pts, hit = sw.points()
        counts = np.bincount(hit[hit >= 0].astype(np.int64), minlength=len(boxes))
        out["x"][i] = bev(pts, hit, pose, bcfg)
        out["heat"][i], out["reg"][i], out["mask"][i] = _targets(boxes, pose, counts >= min_points, bcfg)
    return out


def _loss(out: torch.Tensor, heat: torch.Tensor, reg: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """CenterNet focal loss on the heatmap + L1 on the regression at centre cells."""
    p = torch.sigmoid(out[:, 0]).clamp(1e-4, 1 - 1e-4)
    pos = heat.eq(1).float()
    neg = 1 - pos
    lp = -(torch.log(p) * (1 - p) ** 2 * pos).sum()
    ln = -(torch.log(1 - p) * p**2 * (1 - heat) ** 4 * neg).sum()
    npos = pos.sum().clamp(min=1)
    lreg = (torch.abs(out[:, 1:] - reg) * mask[:, None]).sum() / npos
    return (lp + ln) / npos + lreg


class DetectorTraining(nn.Module):
    """The detector as a :class:`~trustlab.engine.protocols.Trainable` for :func:`trustlab.engine.fit.fit`:
    batches are ``(x fp16, heat, reg, mask)``; the CenterNet loss; Adam (``train.optimizer=adam``)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.last_loss: torch.Tensor | None = None

    def training_step(self, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        x, heat, reg, mask = batch
        loss = _loss(self.net(x.float()), heat, reg, mask)
        self.last_loss = loss.detach()
        return {"loss": loss}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.float())

    def configure_optimizers(self, cfg: TrainConfig) -> torch.optim.Optimizer:
        return build_optimizer(self.net.parameters(), cfg)


def train_config(cfg: DetectorConfig) -> TrainConfig:
    """The engine settings of the detector's training: ``cfg.steps`` Adam steps on batches drawn with
    replacement, under OneCycleLR (max lr ``cfg.lr``), on the CPU."""
    return TrainConfig(epochs=1, optimizer="adam", lr=cfg.lr, weight_decay=0.0, schedule="onecycle",
                       device="cpu", seed=cfg.seed)


def train_detector(cfg: DetectorConfig, lidar_cfg: LidarConfig, bcfg: BEVConfig) -> dict[str, np.ndarray]:
    """Train on simulated sweeps with :func:`~trustlab.engine.fit.fit`; returns the state dict (numpy) and
    held-out detection metrics."""
    from trustlab.engine.fit import RandomBatchSampler, TensorRows, fit
    from trustlab.engine.runtime import seed_everything

    seed_everything(cfg.seed)
    lidar = Lidar(lidar_cfg)
    n_val = max(8, cfg.samples // 8)
    data = detector_samples(cfg.samples + n_val, cfg.seed, lidar, bcfg, cfg.min_points)
    t = {k: torch.from_numpy(v) for k, v in data.items()}
    net = build_detector(bcfg.channels, cfg.width)
    method = DetectorTraining(net)
    train = TensorRows(*(t[k][: cfg.samples] for k in ("x", "heat", "reg", "mask")))
    fit(method, train, train_config(cfg), batch_sampler=RandomBatchSampler(cfg.samples, cfg.batch, cfg.steps, cfg.seed),
        collate_fn=TensorRows.collate, quiet=True)
    state = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    val = slice(cfg.samples, cfg.samples + n_val)
    with torch.no_grad():
        out = net(t["x"][val].float()).numpy()
    prec, rec = _det_metrics(out, data["heat"][val], cfg.threshold)
    return {**state, "meta/val_precision": np.array(prec), "meta/val_recall": np.array(rec),
            "meta/final_loss": np.array(float(method.last_loss))}


def _peaks(out: np.ndarray, threshold: float, k: int = 24) -> list[tuple[int, int, float]]:
    """(ix, iy, score) of local maxima of the heatmap logits above ``threshold`` (3x3 max)."""
    p = 1 / (1 + np.exp(-out[0]))
    padded = np.pad(p, 1, constant_values=0)
    h, w = p.shape
    m = np.max(np.stack([padded[i : i + h, j : j + w] for i in range(3) for j in range(3)]), axis=0)
    ix, iy = np.nonzero((p >= m) & (p > threshold))
    sc = p[ix, iy]
    order = np.argsort(-sc)[:k]
    return [(int(ix[o]), int(iy[o]), float(sc[o])) for o in order]


def _det_metrics(out: np.ndarray, heat: np.ndarray, thr: float) -> tuple[float, float]:
    """Precision / recall of peaks vs target centres (match within 1 cell = 1 m)."""
    tp = fp = fn = 0
    for o, hm in zip(out, heat):
        gts = list(zip(*np.nonzero(hm == 1)))
        dets = _peaks(o, thr)
        used = set()
        for ix, iy, _ in dets:
            j = next((j for j, (gx, gy) in enumerate(gts) if j not in used and abs(gx - ix) <= 1 and abs(gy - iy) <= 1),
                     None)
            if j is None:
                fp += 1
            else:
                used.add(j)
                tp += 1
        fn += len(gts) - len(used)
    return tp / max(1, tp + fp), tp / max(1, tp + fn)


def decode(out: np.ndarray, pose: np.ndarray, bcfg: BEVConfig, threshold: float) -> np.ndarray:
    """Detections (N, 6) in the world frame: (x, y, yaw mod pi, length, width, score)."""
    cell = bcfg.cell * STRIDE
    c, s = math.cos(pose[2]), math.sin(pose[2])
    dets = []
    for ix, iy, sc in _peaks(out, threshold):
        ox, oy, c2, s2, ll, lw = out[1:, ix, iy]
        ex = bcfg.x_min + (ix + 0.5 + ox) * cell
        ey = -bcfg.y_half + (iy + 0.5 + oy) * cell
        yaw = 0.5 * math.atan2(s2, c2) + pose[2]
        dets.append([pose[0] + c * ex - s * ey, pose[1] + s * ex + c * ey, yaw, math.exp(min(ll, 3.0)),
                     math.exp(min(lw, 1.5)), sc])
    return np.array(dets, dtype=np.float64).reshape(-1, 6)

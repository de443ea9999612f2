"""Shipped weights of the default BEV detector: ``weights/bev_detector.pt`` + ``weights/bev_detector.json``.

Rebuild them (trains :class:`~trustlab.methods.advsim.detector.DetectorConfig` defaults on simulated sweeps, about
90 CPU-seconds, and rewrites both files)::

    python -m trustlab.methods.advsim.shipped          # or: make weights
    python -m trustlab.methods.advsim.shipped --tiny --out /tmp/w/det.pt   # 56 sweeps, 4 steps: the script runs

The file holds the state dict (fp32: 15k parameters, 60 kB) and the held-out metrics (``meta/*``).
:func:`load_if_matching` returns it only when the requested detector, LiDAR and BEV settings equal the recorded
``key`` (the decoding threshold is not part of it); otherwise :func:`~trustlab.methods.advsim.stack.load_detector`
trains (cached) as before.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS = Path(__file__).resolve().parent / "weights" / "bev_detector.pt"
COMMAND = "python -m trustlab.methods.advsim.shipped"
PROBE_RTOL, PROBE_ATOL = 1e-3, 1e-3
TINY = {"samples": 48, "steps": 4, "batch": 8}
NOT_TRAINING = ("threshold", "shipped")  # decoding / loading options: not part of what was trained


def detector_settings(cfg: Any, lidar_cfg: Any, bcfg: Any) -> dict[str, Any]:
    """What the trained weights depend on: the detector's training settings, LiDAR, BEV grid, data and loop."""
    from trustlab.methods.advsim import scenarios
    from trustlab.methods.advsim.detector import DETECTOR_VERSION

    det = {k: v for k, v in asdict(cfg).items() if k not in NOT_TRAINING}
    return {"detector": det, "lidar": asdict(lidar_cfg), "bev": asdict(bcfg), "scenario_generator": scenarios.GENERATOR,
            "loop": DETECTOR_VERSION}


def probe(net: Any, channels: int, shape: tuple[int, int]) -> dict[str, list[float]]:
    """Per-channel sum and max of the detector's output on a fixed sparse BEV input (integer arithmetic)."""
    import torch

    g = torch.arange(channels * shape[0] * shape[1], dtype=torch.int64).reshape(1, channels, *shape)
    x = (((g * 7919 + (g // 97) * 31) % 256) < 8).float()
    with torch.no_grad():
        out = net(x)[0]
    return {"sum": [round(float(v), 4) for v in out.sum(dim=(1, 2))],
            "max": [round(float(v), 5) for v in out.amax(dim=(1, 2))]}


def net_from(payload: dict[str, Any], channels: int, width: int) -> Any:
    from trustlab.methods.advsim.detector import build_detector

    net = build_detector(channels, width)
    net.load_state_dict({k[len("weights/"):]: v.float() for k, v in payload.items() if k.startswith("weights/")})
    return net.eval()


def load_if_matching(cfg: Any, lidar_cfg: Any, bcfg: Any, path: Path = WEIGHTS) -> tuple[Any, dict, str]:
    """``(net, meta, description)`` from the shipped file when it was trained with these settings, else
    ``(None, {}, why not)``."""
    from trustlab.data import shipped

    info = shipped.info(path)
    if info is None:
        return None, {}, f"no shipped weights at {path}"
    why = shipped.mismatch(info.get("key"), detector_settings(cfg, lidar_cfg, bcfg))
    if why:
        return None, {}, f"the shipped weights are for other settings ({why})"
    payload, info = shipped.load(path)
    meta = {k[len("meta/"):]: float(v) for k, v in payload.items() if k.startswith("meta/")}
    return (net_from(payload, bcfg.channels, cfg.width), meta,
            f"shipped weights {path.parent.name}/{path.name} (sha256 {info['sha256'][:12]})")


def build(out: Path = WEIGHTS, tiny: bool = False) -> dict[str, Any]:
    """Train the detector with the default settings (``tiny``: :data:`TINY`) and write ``out`` + its JSON."""
    import torch

    from trustlab.data import shipped
    from trustlab.methods.advsim.detector import DetectorConfig, train_detector
    from trustlab.methods.advsim.lidar import BEVConfig, LidarConfig

    cfg = DetectorConfig(**TINY) if tiny else DetectorConfig()
    lidar_cfg, bcfg = LidarConfig(), BEVConfig()
    start, cpu0 = time.time(), time.process_time()
    with torch.enable_grad():
        w = train_detector(cfg, lidar_cfg, bcfg)
    payload: dict[str, Any] = {"format": "trustlab-advsim-detector/1"}
    for k, v in w.items():
        t = torch.from_numpy(np.ascontiguousarray(v))
        payload[k if k.startswith("meta/") else f"weights/{k}"] = t
    net = net_from(payload, bcfg.channels, cfg.width)
    meta = {"what": "the AdvSim BEV detector (detector.build_detector) trained on simulated LiDAR sweeps",
            "command": COMMAND + (f" --tiny --out {out}" if tiny else ""), "seed": cfg.seed,
            "data": f"{cfg.samples} + {max(8, cfg.samples // 8)} held-out simulated sweeps of scenarios generated "
                    f"with seeds 1000+ (detector.detector_samples), advsim scenario generator "
                    f"{detector_settings(cfg, lidar_cfg, bcfg)['scenario_generator']}",
            "key": detector_settings(cfg, lidar_cfg, bcfg), "torch_threads": torch.get_num_threads(),
            "storage": "fp32 state dict",
            "build_seconds": round(time.time() - start, 1), "cpu_seconds": round(time.process_time() - cpu0, 1),
            "val_precision": round(float(w["meta/val_precision"]), 4),
            "val_recall": round(float(w["meta/val_recall"]), 4),
            "probe": {"input": "1 x C x H x W, ((i * 7919 + (i // 97) * 31) % 256) < 8",
                      **probe(net, bcfg.channels, bcfg.shape), "rtol": PROBE_RTOL, "atol": PROBE_ATOL}}
    return shipped.save(out, payload, meta)


def main(argv: list[str] | None = None) -> int:
    from trustlab.data import shipped

    return shipped.build_main(
        argv, command=COMMAND, description="Build the shipped AdvSim BEV detector weights (trains it).",
        weights=WEIGHTS, tiny_help=str(TINY), build=build,
        report=lambda m: (f"{m['bytes'] / 1e3:.0f} kB, sha256 {m['sha256']}, held-out precision "
                          f"{m['val_precision']} recall {m['val_recall']}, {m['build_seconds']} s"))


if __name__ == "__main__":
    raise SystemExit(main())

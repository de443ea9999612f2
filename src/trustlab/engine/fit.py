"""The training loop: ``fit(method, train_data, cfg)`` for any :class:`Trainable`.

It owns epochs and steps, the device, mixed precision (CUDA), gradient clipping, the LR schedule,
evaluation cadence, a checkpoint every epoch and ``resume``, a NaN/inf guard, a progress bar with ETA,
and DistributedDataParallel when started under ``torchrun`` (gloo on CPU, nccl on CUDA).

Usage::

    result = fit(method, train_dataset, cfg.train, batch_size=64, evaluator=ev, record=record)

Batches: the global batch ``batch_size`` is drawn from a permutation seeded by (seed, epoch) and split
evenly over DDP ranks, so one process and N processes see the same global batches (the DDP test
relies on it) and a resumed run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from trustlab.engine.optim import build_scheduler
from trustlab.engine.protocols import Evaluator
from trustlab.engine.runtime import DistContext, init_distributed, resolve_device
from trustlab.errors import ConfigError, NotFoundError, TrainingDivergedError
from trustlab.experiment import TrainConfig
from trustlab.runs.store import RunRecord


class EpochBatchSampler(Sampler[list[int]]):
    """Global batches from a (seed, epoch) permutation; rank r takes its slice of each batch."""

    def __init__(self, n: int, batch_size: int, seed: int, dist_ctx: DistContext) -> None:
        if n <= 0:
            raise ConfigError("the training set is empty")
        if batch_size % dist_ctx.world_size:
            raise ConfigError(f"data.batch_size {batch_size} is not divisible by the {dist_ctx.world_size} processes")
        self.n, self.batch_size, self.seed, self.ctx = n, batch_size, seed, dist_ctx
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return max(self.n // self.batch_size, 1)

    def __iter__(self) -> Iterator[list[int]]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        perm = torch.randperm(self.n, generator=g)
        local = self.batch_size // self.ctx.world_size
        for k in range(len(self)):
            batch = perm[k * self.batch_size : (k + 1) * self.batch_size]
            if len(batch) < self.batch_size:  # training set smaller than one batch
                local = max(len(batch) // self.ctx.world_size, 1)
            yield batch[self.ctx.rank * local : (self.ctx.rank + 1) * local].tolist()


class _Stepper(nn.Module):
    """Lets DDP hook a method's ``training_step`` (DDP syncs gradients through ``forward``)."""

    def __init__(self, method: nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, batch: Any) -> dict[str, Any]:
        return self.method.training_step(batch)


@dataclass
class FitResult:
    epochs: int
    steps: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    last_eval: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"
    world_size: int = 1
    samples_per_second: float = 0.0


def to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_gauss": [int(np_state[3]), float(np_state[4])],
        "python": list(random.getstate()[1]),
        "python_gauss": random.getstate()[2],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    keys = state["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, state["numpy_pos"], state["numpy_gauss"][0], state["numpy_gauss"][1]))
    random.setstate((3, tuple(state["python"]), state["python_gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_checkpoint(path: str, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; a missing file is a one-line error."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"checkpoint '{p}' does not exist; start a fresh run without --resume")
    try:
        return torch.load(p, map_location=device, weights_only=True)
    except Exception as exc:  # corrupt or foreign file
        raise NotFoundError(f"checkpoint '{p}' cannot be read ({type(exc).__name__}); delete it and rerun") from None


def fit(
    method: nn.Module,
    train_data: Dataset,
    cfg: TrainConfig,
    *,
    batch_size: int,
    evaluator: Evaluator | None = None,
    record: RunRecord | None = None,
    resume: bool = False,
    quiet: bool = False,
    num_workers: int = 0,
    collate_fn: Callable[[list[Any]], Any] | None = None,
) -> FitResult:
    """Train ``method`` on ``train_data`` as ``cfg`` says; see the module docstring."""
    if cfg.epochs < 1:
        raise ConfigError(f"train.epochs must be >= 1, got {cfg.epochs}")
    device = resolve_device(cfg.device)
    ctx = init_distributed(device)
    method.to(device)
    optimizer = method.configure_optimizers(cfg)
    sampler = EpochBatchSampler(len(train_data), batch_size, cfg.seed, ctx)
    loader = DataLoader(
        train_data,
        batch_sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_fn,
        pin_memory=device.type == "cuda",
        persistent_workers=num_workers > 0,
    )
    steps_per_epoch = min(len(sampler), cfg.max_steps_per_epoch or len(sampler))
    scheduler = build_scheduler(optimizer, cfg, steps_per_epoch)
    use_amp = cfg.amp and device.type == "cuda"
    if cfg.amp and not use_amp and not quiet and ctx.is_main:
        print("note: train.amp needs CUDA; training in fp32", file=sys.stderr)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    stepper: nn.Module = _Stepper(method)
    if ctx.world_size > 1:
        stepper = nn.parallel.DistributedDataParallel(
            stepper,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=getattr(method, "ddp_find_unused_parameters", False),
        )
    params = [p for p in method.parameters() if p.requires_grad]

    start_epoch, history = 0, []
    if resume:
        if record is None:
            raise ConfigError("--resume needs a run record to resume from")
        state = load_checkpoint(str(record.checkpoint_path()), device)
        method.load_state_dict(state["method"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        if evaluator is not None and state.get("evaluator") is not None:
            evaluator.load_state_dict(state["evaluator"])
        _set_rng_state(state["rng"])
        start_epoch, history = int(state["epoch"]), list(state.get("history", []))
        record.truncate_metrics(start_epoch)

    total_steps = cfg.epochs * steps_per_epoch
    bar = tqdm(
        total=total_steps,
        initial=start_epoch * steps_per_epoch,
        disable=quiet or not ctx.is_main,
        desc=record.recipe if record else "fit",
        unit="step",
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=0.5,
    )
    t_start = time.perf_counter()
    samples, last_eval = 0, {}
    try:
        for epoch in range(start_epoch, cfg.epochs):
            sampler.set_epoch(epoch)
            method.train()
            if hasattr(method, "on_epoch_start"):
                method.on_epoch_start(epoch)
            sums: dict[str, Any] = {}
            n_steps = 0
            t_epoch = time.perf_counter()
            for step, batch in enumerate(loader):
                if step >= steps_per_epoch:
                    break
                batch = to_device(batch, device)
                with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                    out = stepper(batch)
                loss = out["loss"]
                if not torch.isfinite(loss.detach()).all():
                    raise TrainingDivergedError(
                        f"loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}; "
                        "lower train.lr, set train.grad_clip=1.0, or check the data"
                    )
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if cfg.grad_clip:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                for key, value in out.items():
                    v = value.detach().float() if isinstance(value, torch.Tensor) else float(value)
                    sums[key] = sums.get(key, 0.0) + v
                n_steps += 1
                samples += _batch_len(batch) * ctx.world_size
                bar.update(1)
            if ctx.world_size > 1:
                sums = _mean_over_ranks(sums, device)
            row: dict[str, float] = {"epoch": epoch + 1, "step": (epoch + 1) * steps_per_epoch}
            row.update({f"train/{k}": float(v) / max(n_steps, 1) for k, v in sums.items()})
            row["lr"] = optimizer.param_groups[0]["lr"]
            row["time/epoch_s"] = time.perf_counter() - t_epoch
            if evaluator is not None and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs):
                method.eval()
                with torch.no_grad():
                    last_eval = evaluator.evaluate(method, epoch + 1)
                row.update(last_eval)
            bar.set_postfix(loss=f"{row.get('train/loss', math.nan):.3f}")
            history.append(row)
            if record is not None:
                record.log(row)
                record.save_checkpoint(
                    {
                        "epoch": epoch + 1,
                        "method": method.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "scaler": scaler.state_dict(),
                        "evaluator": evaluator.state_dict() if evaluator is not None else None,
                        "rng": _rng_state(),
                        "history": history,
                    }
                )
    finally:
        bar.close()
    seconds = time.perf_counter() - t_start
    method.eval()
    return FitResult(
        epochs=cfg.epochs,
        steps=cfg.epochs * steps_per_epoch,
        seconds=seconds,
        history=history,
        last_eval=last_eval,
        device=str(device),
        world_size=ctx.world_size,
        samples_per_second=samples / seconds if seconds > 0 else 0.0,
    )


def _mean_over_ranks(sums: dict[str, Any], device: torch.device) -> dict[str, float]:
    """Logged training scalars averaged over DDP ranks (each rank saw its slice of every batch)."""
    import torch.distributed as dist

    keys = sorted(sums)
    t = torch.tensor([float(sums[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    t /= dist.get_world_size()
    return dict(zip(keys, t.tolist()))


def _batch_len(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return len(batch)
    if isinstance(batch, (list, tuple)) and batch:
        return _batch_len(batch[0])
    if isinstance(batch, dict) and batch:
        return _batch_len(next(iter(batch.values())))
    return 0

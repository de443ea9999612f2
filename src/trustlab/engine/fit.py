"""The training loop: ``fit(method, train_data, cfg)`` for any :class:`Trainable`.

It owns epochs and steps, the device, mixed precision (CUDA), gradient clipping, the LR schedule,
evaluation cadence, a checkpoint every epoch and ``resume``, a NaN/inf guard, a progress bar with ETA,
and DistributedDataParallel when started under ``torchrun`` (gloo on CPU, nccl on CUDA).

Usage::

    result = fit(method, train_dataset, cfg.train, batch_size=64, evaluator=ev, record=record)

Batches: the global batch ``batch_size`` is drawn from a permutation seeded by (seed, epoch) and split
evenly over DDP ranks, so one process and N processes see the same global batches (the DDP test
relies on it) and a resumed run sees the same batches as an uninterrupted one. ``train.grad_accum_steps=k``
runs each batch as k micro-batches (losses weighted by their share) before one optimizer step: the same
update with less activation memory (BatchNorm statistics then come from the micro-batches).

Layout (timm's ``train_one_epoch`` / nanoGPT): :class:`_State` is what a run carries across epochs (and
checkpoints), :func:`_train_epoch` one epoch, :func:`_optimizer_step` one batch, :func:`_evaluate` the
evaluator. The host waits for the device only at log steps (``train.log_every``: the NaN/inf guard and the
progress bar) and at each epoch's end; under AMP the dtype is ``train.amp_dtype`` (fp16 with a GradScaler).
"""

from __future__ import annotations

import contextlib
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


class StreamBatchSampler(Sampler[list[int]]):
    """Each epoch one ``torch.randperm`` from ``generator`` cut into batches, the last one short: every row once per
    epoch, as the hand-written loops fit replaced (PSG's two stages and PSGTR, PeerPL's peer BC). No ``set_epoch``:
    the order continues the generator's stream from epoch to epoch. One process only."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator) -> None:
        self.n, self.batch_size, self.generator = n, batch_size, generator

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(self.n, generator=self.generator)
        for b in range(0, self.n, self.batch_size):
            yield order[b : b + self.batch_size].tolist()


class RandomBatchSampler(Sampler[list[int]]):
    """``steps`` batches of ``batch_size`` indices drawn with replacement (``torch.randint``, nanoGPT's
    ``get_batch``), from a generator seeded by (seed, epoch): epoch 0 is ``manual_seed(seed)``. One process only."""

    def __init__(self, n: int, batch_size: int, steps: int, seed: int) -> None:
        if n <= 0:
            raise ConfigError("the training set is empty")
        self.n, self.batch_size, self.steps, self.seed = n, batch_size, max(1, steps), seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[list[int]]:
        g = torch.Generator().manual_seed(self.seed + self.epoch * 1_000_003)
        for _ in range(self.steps):
            yield torch.randint(0, self.n, (self.batch_size,), generator=g).tolist()


class TensorRows(Dataset):
    """Rows of equal-length tensors whose batch is one fancy index per tensor (no per-row collation):
    ``fit(method, TensorRows(x, y), cfg, ..., collate_fn=TensorRows.collate)``; a batch is ``(x[idx], y[idx])``."""

    def __init__(self, *tensors: torch.Tensor) -> None:
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        return tuple(t[i] for t in self.tensors)

    def __getitems__(self, idx: list[int]) -> tuple[torch.Tensor, ...]:
        return tuple(t[idx] for t in self.tensors)

    @staticmethod
    def collate(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        return batch


class _MicroBatches(Sampler[list[int]]):
    """Each batch of ``sampler`` as ``k`` contiguous micro-batches (sizes differ by at most one)."""

    def __init__(self, sampler: Any, k: int) -> None:
        self.sampler, self.k = sampler, k

    def __len__(self) -> int:
        return len(self.sampler) * self.k

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.sampler:
            if len(batch) < self.k:
                raise ConfigError(f"train.grad_accum_steps={self.k} splits a batch of {len(batch)} samples "
                                  "into empty micro-batches; lower it or raise the batch size")
            q, r = divmod(len(batch), self.k)
            start = 0
            for j in range(self.k):
                end = start + q + (j < r)
                yield list(batch[start:end])
                start = end


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


@dataclass
class _State:
    """What a run carries from epoch to epoch; :meth:`checkpoint` is what ``resume`` restores."""

    method: nn.Module
    stepper: nn.Module  # the method wrapped for DDP (or the plain wrapper)
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    params: list[nn.Parameter]
    sampler: Any
    loader: DataLoader
    steps_per_epoch: int
    device: torch.device
    ctx: DistContext
    amp_dtype: torch.dtype | None  # None: full precision
    epoch: int = 0  # epochs done
    step: int = 0  # optimizer steps done
    samples: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    last_eval: dict[str, float] = field(default_factory=dict)

    def checkpoint(self, evaluator: Evaluator | None) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "method": self.method.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "evaluator": evaluator.state_dict() if evaluator is not None else None,
            "rng": _rng_state(),
            "history": self.history,
        }

    def restore(self, state: dict[str, Any], evaluator: Evaluator | None) -> None:
        self.method.load_state_dict(state["method"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if evaluator is not None and state.get("evaluator") is not None:
            evaluator.load_state_dict(state["evaluator"])
        _set_rng_state(state["rng"])
        self.epoch, self.history = int(state["epoch"]), list(state.get("history", []))
        self.step = self.epoch * self.steps_per_epoch


def fit(
    method: nn.Module,
    train_data: Dataset,
    cfg: TrainConfig,
    *,
    batch_size: int | None = None,
    evaluator: Evaluator | None = None,
    record: RunRecord | None = None,
    resume: bool = False,
    quiet: bool = False,
    num_workers: int = 0,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    batch_sampler: Sampler[list[int]] | None = None,
    generator: torch.Generator | None = None,
) -> FitResult:
    """Train ``method`` on ``train_data`` as ``cfg`` says; see the module docstring.

    ``batch_sampler`` (instead of ``batch_size``) gives the index lists of each optimizer step, with
    ``len`` and, where its order depends on the epoch, ``set_epoch(epoch)``: e.g. :class:`RandomBatchSampler`
    (draws with replacement). ``generator``
    is the DataLoader's: it draws one number per epoch (worker seeds), from the global RNG when None."""
    st = _setup(method, train_data, cfg, batch_size, batch_sampler, num_workers, collate_fn, generator, quiet)
    if resume:
        if record is None:
            raise ConfigError("--resume needs a run record to resume from")
        st.restore(load_checkpoint(str(record.checkpoint_path()), st.device), evaluator)
        record.truncate_metrics(st.epoch)
    bar = tqdm(total=cfg.epochs * st.steps_per_epoch, initial=st.step, disable=quiet or not st.ctx.is_main,
               desc=record.recipe if record else "fit", unit="step", file=sys.stderr, dynamic_ncols=True,
               mininterval=0.5)
    t_start = time.perf_counter()
    try:
        while st.epoch < cfg.epochs:
            row = _train_epoch(st, cfg, bar)
            st.epoch += 1
            if evaluator is not None and (st.epoch % cfg.eval_every == 0 or st.epoch == cfg.epochs):
                st.last_eval = _evaluate(method, evaluator, st.epoch)
                row.update(st.last_eval)
            bar.set_postfix(loss=f"{row.get('train/loss', math.nan):.3f}")
            st.history.append(row)
            if record is not None:
                record.log(row)
                record.save_checkpoint(st.checkpoint(evaluator))
    finally:
        bar.close()
    seconds = time.perf_counter() - t_start
    method.eval()
    return FitResult(epochs=cfg.epochs, steps=cfg.epochs * st.steps_per_epoch, seconds=seconds, history=st.history,
                     last_eval=st.last_eval, device=str(st.device), world_size=st.ctx.world_size,
                     samples_per_second=st.samples / seconds if seconds > 0 else 0.0)


def _setup(method: nn.Module, train_data: Dataset, cfg: TrainConfig, batch_size: int | None,
           batch_sampler: Sampler[list[int]] | None, num_workers: int, collate_fn: Any,
           generator: torch.Generator | None, quiet: bool) -> _State:
    """Device, DDP, optimizer, batches, schedule and mixed precision of a fresh run."""
    if cfg.epochs < 1:
        raise ConfigError(f"train.epochs must be >= 1, got {cfg.epochs}")
    if (batch_size is None) == (batch_sampler is None):
        raise ConfigError("fit needs exactly one of batch_size and batch_sampler")
    device = resolve_device(cfg.device)
    ctx = init_distributed(device)
    method.to(device)
    optimizer = method.configure_optimizers(cfg)
    sampler = batch_sampler if batch_sampler is not None else EpochBatchSampler(
        len(train_data), batch_size, cfg.seed, ctx)  # type: ignore[arg-type]
    loader = DataLoader(
        train_data,
        batch_sampler=_MicroBatches(sampler, cfg.grad_accum_steps) if cfg.grad_accum_steps > 1 else sampler,
        num_workers=num_workers,
        collate_fn=collate_fn,
        pin_memory=device.type == "cuda",
        persistent_workers=num_workers > 0,
        generator=generator,
    )
    steps_per_epoch = min(len(sampler), cfg.max_steps_per_epoch or len(sampler))
    amp_dtype = autocast_dtype(cfg, device)
    if cfg.amp and amp_dtype is None and not quiet and ctx.is_main:
        print("note: train.amp needs CUDA; training in fp32", file=sys.stderr)
    stepper: nn.Module = _Stepper(method)
    if ctx.world_size > 1:
        stepper = nn.parallel.DistributedDataParallel(
            stepper,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=getattr(method, "ddp_find_unused_parameters", False),
        )
    return _State(
        method=method, stepper=stepper, optimizer=optimizer,
        scheduler=(method.configure_scheduler(optimizer, cfg, steps_per_epoch)
                   if hasattr(method, "configure_scheduler") else build_scheduler(optimizer, cfg, steps_per_epoch)),
        scaler=torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16),
        params=[p for p in method.parameters() if p.requires_grad], sampler=sampler, loader=loader,
        steps_per_epoch=steps_per_epoch, device=device, ctx=ctx, amp_dtype=amp_dtype,
    )


def autocast_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``train.amp`` / ``train.amp_dtype`` on ``device`` (None: full precision; AMP is
    CUDA only). fp16 also gets a GradScaler (loss scaling); bf16 has fp32's range and needs none."""
    if not cfg.amp or device.type != "cuda":
        return None
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[cfg.amp_dtype]


def _train_epoch(st: _State, cfg: TrainConfig, bar: Any) -> dict[str, float]:
    """One epoch of optimizer steps; returns its row (mean training scalars, lr, time). The host waits for
    the device only every ``cfg.log_every`` steps (NaN/inf check, progress bar) and at the epoch's end."""
    if hasattr(st.sampler, "set_epoch"):  # optional, as for DataLoader samplers: a stream-continuing order has none
        st.sampler.set_epoch(st.epoch)
    st.method.train()
    if hasattr(st.method, "on_epoch_start"):
        st.method.on_epoch_start(st.epoch)
    k = cfg.grad_accum_steps
    sums: dict[str, Any] = {}
    n_steps, micro, t_epoch = 0, [], time.perf_counter()
    # as before accumulation existed, the loader has fetched the next batch when the step cap ends the
    # epoch: its augmentation draws are part of every seeded run's random stream
    for i, batch in enumerate(st.loader):
        if i // k >= st.steps_per_epoch:
            break
        micro.append(to_device(batch, st.device))
        if len(micro) < k:  # _MicroBatches yields exactly k micro-batches per batch
            continue
        out = _optimizer_step(st, cfg, micro)
        micro = []
        if st.step % cfg.log_every == 0:
            _check_finite(out["loss"], st.epoch, n_steps)
            bar.set_postfix(loss=f"{float(out['loss']):.3f}")
        for key, value in out.items():
            sums[key] = sums.get(key, 0.0) + value
        n_steps += 1
        st.step += 1
        bar.update(1)
    if "loss" in sums:
        _check_finite(sums["loss"], st.epoch, n_steps - 1, "summed over the epoch")
    if st.ctx.world_size > 1:
        sums = _mean_over_ranks(sums, st.device)
    row: dict[str, float] = {"epoch": st.epoch + 1, "step": (st.epoch + 1) * st.steps_per_epoch}
    row.update({f"train/{k}": float(v) / max(n_steps, 1) for k, v in sums.items()})
    row["lr"] = st.optimizer.param_groups[0]["lr"]
    row["time/epoch_s"] = time.perf_counter() - t_epoch
    return row


def _optimizer_step(st: _State, cfg: TrainConfig, micro: list[Any]) -> dict[str, Any]:
    """Forward/backward over the micro-batches of one batch (each loss weighted by its share of the batch, so
    ``k`` micro-batches give the batch's mean-loss gradient), then one optimizer and schedule step. Returns the
    batch's scalars as detached tensors (no host sync)."""
    sizes = [_batch_len(b) for b in micro]
    total = sum(sizes)
    weights = [n / total for n in sizes] if total else [1.0 / len(micro)] * len(micro)
    st.optimizer.zero_grad(set_to_none=True)
    out_sum: dict[str, Any] = {}
    for j, (batch, w) in enumerate(zip(micro, weights)):
        sync = j == len(micro) - 1 or not isinstance(st.stepper, nn.parallel.DistributedDataParallel)
        with contextlib.nullcontext() if sync else st.stepper.no_sync():
            with torch.autocast(device_type=st.device.type, dtype=st.amp_dtype or torch.float32,
                                enabled=st.amp_dtype is not None):
                out = st.stepper(batch)
            loss = out["loss"]
            st.scaler.scale(loss * w if len(micro) > 1 else loss).backward()
        for key, value in out.items():
            v = value.detach().float() if isinstance(value, torch.Tensor) else float(value)
            out_sum[key] = out_sum.get(key, 0.0) + (v * w if len(micro) > 1 else v)
        st.samples += _batch_len(batch) * st.ctx.world_size
    if cfg.grad_clip:
        st.scaler.unscale_(st.optimizer)
        nn.utils.clip_grad_norm_(st.params, cfg.grad_clip)
    st.scaler.step(st.optimizer)
    st.scaler.update()
    st.scheduler.step()
    return out_sum


def _check_finite(loss: Any, epoch: int, step: int, what: str = "") -> None:
    """The NaN/inf guard (a host sync): raises before the epoch's checkpoint is written."""
    if not torch.isfinite(torch.as_tensor(loss).detach()).all():
        raise TrainingDivergedError(
            f"loss became {float(loss)} at epoch {epoch + 1}, step {step + 1}{f' ({what})' if what else ''}; "
            "lower train.lr, set train.grad_clip=1.0, or check the data"
        )


def _evaluate(method: nn.Module, evaluator: Evaluator, epoch: int) -> dict[str, float]:
    """The evaluator's metrics after ``epoch`` epochs (1-based), in eval mode without gradients."""
    method.eval()
    with torch.no_grad():
        return evaluator.evaluate(method, epoch)


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

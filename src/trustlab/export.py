"""Export a trained run's model for devices: ONNX (fp32, optionally int8) with an onnxruntime check.

``trustlab export RUN_DIR --format onnx [--quantize int8]`` (Python: :func:`export_run`) rebuilds the run's
selected model (``checkpoints/best.pt`` + ``config.yaml``), writes ``artifacts/export/model.onnx``
(``torch.onnx.export``, dynamic batch, input ``images`` (B, C, H, W) in [0, 1], output ``logits`` (B, K);
normalisation is inside the graph) and checks it with onnxruntime on CPU:

* ``max_abs_diff``: max |ORT - PyTorch| of the logits on a batch of the run's held-out test images
  (random images if the dataset cannot be built); must be <= 1e-4 for fp32 (``within_tol``);
* ``params``, ``macs`` (one image), ``file_kb``;
* ``latency_ms_b1``: median wall time of one batch-1 inference over ``latency_runs`` runs after warm-up,
  onnxruntime with ``threads`` intra-op threads (PyTorch's median beside it, same threads);
* ``heldout_acc`` / ``indomain_acc`` of the exported model on the run's test splits (mean over domains,
  as in the run's summary), when the dataset can be built here.

``--quantize int8`` adds ``model.int8.onnx``: onnxruntime static quantization (QDQ, per-channel int8
weights, int8 activations calibrated on up to 256 source-domain training images, MinMax) with the same
numbers plus ``top1_agreement`` with PyTorch (int8 has no 1e-4 bound). Results go to
``artifacts/export/export.json`` and to ``summary.json["export"]`` (one row per format), which the run's
HTML report shows as a table beside its accuracies.

Example::

    from trustlab.export import export_run
    rows = export_run("runs/okd/digits-dg/20250101-120000-s0-ab12", quantize="int8")
    rows["onnx-fp32"]["max_abs_diff"]    # e.g. 4e-07
"""

from __future__ import annotations

import logging
import statistics
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from trustlab.errors import ConfigError, NotFoundError, TrustlabError
from trustlab.runs import atomic
from trustlab.runs.store import RunRecord

FP32_TOLERANCE = 1e-4
FORMATS = ("onnx",)
QUANTIZE = ("int8",)


def load_run_model(record: RunRecord) -> tuple[nn.Module, dict[str, Any]]:
    """The run's selected model (``checkpoints/best.pt``) rebuilt from its config, in eval mode."""
    from trustlab.models import build_model

    ckpt = record.checkpoint_path("best.pt")
    if not ckpt.is_file():
        links = record.summary().get("leaderboard") or {}
        runs = [v["run"] for v in links.values() if isinstance(v, dict) and v.get("run")]
        hint = f"; export one of its linked runs, e.g. {runs[0]}" if runs else "; finish the run (or train it again)"
        raise NotFoundError(f"run '{record.path}' has no checkpoint (checkpoints/best.pt){hint}")
    cfg = record.config()
    model_cfg, data_cfg = cfg.get("model") or {}, cfg.get("data") or {}
    if "name" not in model_cfg:
        raise ConfigError(f"run '{record.path}' has no model section in config.yaml; nothing to export")
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise NotFoundError(f"checkpoint '{ckpt}' cannot be read ({type(exc).__name__}); train the run again") from None
    state = state.get("model", state) if isinstance(state, dict) else state
    tensors = [v for v in state.values() if isinstance(v, torch.Tensor)]
    in_chans = next((int(v.shape[1]) for v in tensors if v.dim() == 4), 3)
    size = int(data_cfg.get("image_size", 32))
    name, width = model_cfg["name"], float(model_cfg.get("width", 1.0))
    probe = build_model(name, 2, input_size=size, width=width, in_chans=in_chans)
    head_key = next(k for k, p in probe.named_parameters() if p is probe.classifier().weight)
    if head_key not in state:
        raise ConfigError(f"checkpoint '{ckpt}' does not hold a '{name}' model (no '{head_key}')")
    model = build_model(name, int(state[head_key].shape[0]), input_size=size, width=width, in_chans=in_chans)
    model.load_state_dict(state, strict=True)
    return model.eval(), {"name": name, "width": width, "image_size": size, "in_chans": in_chans,
                          "num_classes": int(state[head_key].shape[0])}


def _run_data(record: RunRecord) -> Any:
    """The run's DGData with its targets and sources, or None when it cannot be built here."""
    from trustlab.config import from_dict
    from trustlab.experiment import DataConfig
    from trustlab.tasks.classification import build_data

    try:
        data = build_data(from_dict(DataConfig, record.config().get("data") or {}))
        targets, sources = data.parse_targets(record.config()["data"]["target"])
        return data, targets, sources
    except (TrustlabError, KeyError):
        return None


def _batches(dataset: Any, batch_size: int = 256) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    from torch.utils.data import DataLoader

    for x, y in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        yield x.numpy(), y.numpy()


def _first_images(datasets: list[Any], n: int) -> np.ndarray | None:
    xs: list[np.ndarray] = []
    for ds in datasets:
        for x, _ in _batches(ds, n):
            xs.append(x)
            if sum(len(a) for a in xs) >= n:
                return np.concatenate(xs)[:n]
    return np.concatenate(xs)[:n] if xs else None


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _median_ms(fn: Any, runs: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return float(statistics.median(times))


def _accuracy(sess: Any, datasets: list[Any]) -> float | None:
    """Mean over ``datasets`` (domains) of the top-1 accuracy, as the run's summary averages domains."""
    accs = []
    for ds in datasets:
        correct = total = 0
        for x, y in _batches(ds):
            correct += int((sess.run(None, {"images": x})[0].argmax(1) == y).sum())
            total += len(y)
        if total:
            accs.append(correct / total)
    return sum(accs) / len(accs) if accs else None


def onnx_export(model: nn.Module, example: torch.Tensor, path: Path, opset: int = 18) -> Path:
    """``torch.onnx.export`` (dynamo exporter, dynamic batch, weights inside the file) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = torch.export.Dim("batch", min=1, max=65536)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model, (example,), None, input_names=["images"], output_names=["logits"], opset_version=opset,
            dynamo=True, external_data=False, dynamic_shapes={"x": {0: batch}}, verbose=False,
        )
    data = program.model_proto.SerializeToString()
    return atomic.write_bytes(path, data)


class _Calibration:
    """onnxruntime CalibrationDataReader over a float array (N, C, H, W), batch 32."""

    def __init__(self, images: np.ndarray) -> None:
        self._it = iter([{"images": images[i : i + 32]} for i in range(0, len(images), 32)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)


def quantize_int8(src: Path, dst: Path, calibration: np.ndarray) -> Path:
    """Static int8 quantization (QDQ, per-channel weights, MinMax calibration) with onnxruntime."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = dst.with_suffix(".pre.onnx")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs a per-channel note for every 1-D weight
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre), str(dst), _Calibration(calibration.astype(np.float32)), quant_format=QuantFormat.QDQ,
            per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    root.setLevel(level)
    pre.unlink(missing_ok=True)
    return dst


def _torch_latency_ms(model: torch.nn.Module, one: torch.Tensor, runs: int, threads: int) -> float:
    """Median batch-1 latency of the PyTorch model with ``threads`` intra-op threads (restored after)."""
    prev = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            return _median_ms(lambda: model(one), runs)
    finally:
        torch.set_num_threads(prev)


def _format_row(key: str, path: Path, run_path: Path, check: np.ndarray, reference: np.ndarray, held: list,
                indom: list, facts: dict[str, Any], latency_runs: int, threads: int) -> dict[str, Any]:
    """One exported file's row: size, agreement with PyTorch, latency and accuracies (None values dropped)."""
    sess = _session(path, threads)
    logits = sess.run(None, {"images": check})[0]
    diff = float(np.abs(logits - reference).max())
    row: dict[str, Any] = {
        "file_kb": round(path.stat().st_size / 1024, 1),
        "params": facts["params"],
        "macs": facts["macs"],
        "max_abs_diff": diff,
        "latency_ms_b1": _median_ms(lambda: sess.run(None, {"images": check[:1]}), latency_runs),
        "torch_latency_ms_b1": facts["torch_latency_ms_b1"],
        "threads": facts["threads"],
        "top1_agreement": float((logits.argmax(1) == reference.argmax(1)).mean()),
        "heldout_acc": _accuracy(sess, held),
        "indomain_acc": _accuracy(sess, indom),
        "file": str(path.relative_to(run_path)),
    }
    if key == "onnx-fp32":
        row["within_tol"] = diff <= FP32_TOLERANCE
    return {k: v for k, v in row.items() if v is not None}


def export_run(
    run_dir: str | Path,
    fmt: str = "onnx",
    quantize: str | None = None,
    *,
    opset: int = 18,
    check_batch: int = 64,
    latency_runs: int = 50,
    threads: int = 1,
) -> dict[str, dict[str, Any]]:
    """Export and check ``run_dir``'s model; returns ``{"onnx-fp32": {...}, ["onnx-int8": {...}]}``."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format '{fmt}' is not supported; use one of {', '.join(FORMATS)}")
    if quantize not in (None, *QUANTIZE):
        raise ConfigError(f"--quantize '{quantize}' is not supported; use int8 or leave it out")
    record = RunRecord.open(run_dir)
    model, spec = load_run_model(record)
    from trustlab.models import count_macs, count_parameters

    c, s = spec["in_chans"], spec["image_size"]
    found = _run_data(record)
    held, indom, calib_sets = ([], [], []) if found is None else (
        [found[0].get(d, "test") for d in found[1]],
        [found[0].get(d, "test") for d in found[2]],
        [found[0].get(d, "train") for d in found[2]],
    )
    check = _first_images(held, check_batch)
    if check is None:  # no data recorded: random images of the model's input shape
        check = torch.rand(check_batch, c, s, s, generator=torch.Generator().manual_seed(0)).numpy()
    with torch.no_grad():
        reference = model(torch.from_numpy(check)).numpy()
    out_dir = record.path / "artifacts" / "export"
    fp32 = onnx_export(model, torch.from_numpy(check[:2]), out_dir / "model.onnx", opset)
    files = {"onnx-fp32": fp32}
    if quantize == "int8":
        calib = _first_images(calib_sets, 256)
        files["onnx-int8"] = quantize_int8(fp32, out_dir / "model.int8.onnx", check if calib is None else calib)

    torch_ms = _torch_latency_ms(model, torch.from_numpy(check[:1]), latency_runs, threads)
    facts = {"params": count_parameters(model), "macs": count_macs(model, (c, s, s)), "torch_latency_ms_b1": torch_ms,
             "threads": threads}
    rows = {key: _format_row(key, path, record.path, check, reference, held, indom, facts, latency_runs, threads)
            for key, path in files.items()}
    atomic.write_json(out_dir / "export.json", {"model": spec, "check_images": int(len(check)),
                                            "check_data": "held-out test" if held else "random", "formats": rows})
    summary = record.summary()
    summary["export"] = rows
    record.write_summary(summary)
    return rows

"""OOD scoring throughput: every registered detector on 10k ID + 10k OOD images after one shared forward pass.

    .venv/bin/python benchmarks/ood_throughput.py [--bank 60000] [--n 10000] [--width 0.125] [--threads 2]

The model's logits and features are computed once for the fit bank (Fashion-MNIST train, up to
``--bank`` images; MNIST-5k when Fashion-MNIST is absent, repeated to the size) and once for the 20k
test images (Fashion-MNIST test + the embedded OOD sources MNIST, glyphs, textures, noise); then each
detector is fit on the bank outputs and scores the 20k test outputs. ODIN (input perturbation) and
Deep SVDD (its own network, 1 epoch here) read images again, so their time includes their own
forward/backward passes. Printed per detector: fit seconds, scoring seconds, scoring time / shared
forward time, and the peak-RSS growth while scoring. KNN is also run transductively on the whole bank
(bank x bank distances) to show memory stays bounded: a dense 60k x 60k float32 matrix would be
14.4 GB. The model is randomly initialised (timing only).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

import trustlab.methods  # noqa: F401
from trustlab.data.mnist import has_fashion_mnist
from trustlab.methods.ood import data as D
from trustlab.methods.ood.base import Outputs, extract
from trustlab.methods.ood.evaluate import make_detector
from trustlab.models import build_model
from trustlab.registry import SCORERS

SLOW_PARAMS = {"deep_svdd": {"epochs": 1}}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def images(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).float().div_(255.0).unsqueeze(1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bank", type=int, default=60000)
    ap.add_argument("--n", type=int, default=10000, help="ID images and OOD images (each)")
    ap.add_argument("--width", type=float, default=0.125)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip", default="", help="comma-separated detectors to leave out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    ids = D.load_id("auto")
    reps = int(np.ceil(args.bank / len(ids.x_train)))
    bank_x = np.concatenate([ids.x_train] * reps)[: args.bank]
    bank_y = np.concatenate([ids.y_train] * reps)[: args.bank]
    sources = ("glyphs", "textures", "noise") if ids.name == "mnist5k" else ("mnist", "glyphs", "textures", "noise")
    oods = [D.load_source(s) for s in sources]
    ood_x = np.concatenate(oods)
    ood_x = ood_x[np.random.default_rng(0).permutation(len(ood_x))][: args.n]
    id_x = np.concatenate([ids.x_test] * int(np.ceil(args.n / len(ids.x_test))))[: args.n]
    test_imgs = images(np.concatenate([id_x, ood_x]))
    model = build_model("small_cnn", len(ids.classes), input_size=32, width=args.width, in_chans=1).eval()
    print(f"ID {ids.name} (fashion-mnist installed: {has_fashion_mnist()}), bank {len(bank_x)}, test {len(test_imgs)}"
          f" ({args.n} ID + {len(ood_x)} OOD), small_cnn width {args.width} (D={model.feature_dim}), "
          f"{torch.get_num_threads()} threads")

    t = time.perf_counter()
    bank = extract(model, torch.utils.data.TensorDataset(images(bank_x), torch.from_numpy(bank_y)))
    t_bank = time.perf_counter() - t
    t = time.perf_counter()
    test = extract(model, test_imgs)
    t_fwd = time.perf_counter() - t
    print(f"shared forward pass: bank {t_bank:.1f} s, test {t_fwd:.1f} s ({len(test_imgs) / t_fwd:.0f} img/s)\n")

    skip = {s for s in args.skip.split(",") if s}
    print(f"{'detector':<10} {'fit s':>8} {'score s':>8} {'score/fwd':>10} {'+RSS MB':>8}")
    for name in SCORERS.names():
        if name in skip:
            continue
        det = make_detector(name, SLOW_PARAMS)
        t = time.perf_counter()
        if det.needs_input:
            det.setup(model if name != "deep_svdd" else None, images(bank_x[:10000]) if name == "deep_svdd" else bank)
        else:
            det.fit(bank, None, model)
        t_fit = time.perf_counter() - t
        before = rss_mb()
        t = time.perf_counter()
        if det.needs_input:
            s = torch.cat([det.score(test_imgs[i : i + 500]) for i in range(0, len(test_imgs), 500)])
        else:
            s = det.score_outputs(Outputs(test.logits, test.features))
        t_score = time.perf_counter() - t
        assert s.shape == (len(test_imgs),) and torch.isfinite(s).all(), name
        print(f"{name:<10} {t_fit:8.2f} {t_score:8.2f} {t_score / t_fwd:10.2f} {rss_mb() - before:8.0f}")

    before = rss_mb()
    t = time.perf_counter()
    make_detector("knn").fit_score(Outputs(None, bank.features))
    dense_gb = len(bank) ** 2 * 4 / 1e9
    print(f"\nKNN transductive on the bank ({len(bank)} x {len(bank)} distances, chunked): "
          f"{time.perf_counter() - t:.1f} s, "
          f"peak RSS +{rss_mb() - before:.0f} MB (a dense float32 matrix would be {dense_gb:.1f} GB)")


if __name__ == "__main__":
    main()

"""OOD scoring throughput: every registered detector on 10k ID + 10k OOD images after one shared forward pass.

    .venv/bin/python benchmarks/ood_throughput.py [--bank 60000] [--n 10000] [--width 0.125] [--threads 2]
                                                  [--compare] [--skip odin,...]

The model's logits and features are computed once for the fit bank (Fashion-MNIST train, up to ``--bank``
images; MNIST-5k when Fashion-MNIST is absent, repeated to the size) and once for the test images
(Fashion-MNIST / MNIST-5k test + the embedded OOD sources); then each detector is fit on the bank outputs
and scores the test outputs. ODIN (input perturbation) and Deep SVDD (its own network, 1 epoch here) read
images again, so their time includes their own forward/backward passes. Printed per detector: fit seconds,
scoring seconds, scoring time / shared forward time, and the peak-RSS growth while scoring; then the totals
(the goal: all detectors together under 30 s on 2 cores).

``--compare`` also times, in the same run, what the scoring cost before (issue 12, "OOD scoring budget"):
KNN with the exact torch search (GEMM + top-k in query chunks, ``kth_neighbour_distance``) against the faiss
flat index, with the largest score difference (parity); and ODIN's 8-point APS grid (OpenOOD's sweep) on
``--val`` images scored one grid point at a time (a gradient pass per point) against ``score_grid`` (one
gradient per temperature, perturbed passes batched). KNN transductive on the whole bank (60k x 60k) runs with
faiss. The model is randomly initialised (timing only). The code before the change is at git commit d19eaf2:
``git archive d19eaf2 src benchmarks | tar -x -C /tmp/old`` and ``PYTHONPATH=/tmp/old/src python
/tmp/old/benchmarks/ood_throughput.py`` prints the same table for it.
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
from trustlab.methods.ood.config import POSTHOC
from trustlab.methods.ood.evaluate import make_detector
from trustlab.methods.ood.feature_scorers import kth_neighbour_distance, l2_normalise
from trustlab.models import build_model
from trustlab.registry import SCORERS

SLOW_PARAMS = {"deep_svdd": {"epochs": 1}}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def images(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).float().div_(255.0).unsqueeze(1)


def timed(fn):  # noqa: ANN001, ANN201
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def score_images(det, x: torch.Tensor, batch: int = 500) -> torch.Tensor:  # noqa: ANN001
    return torch.cat([det.score(x[i : i + batch]) for i in range(0, len(x), batch)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bank", type=int, default=60000)
    ap.add_argument("--n", type=int, default=10000, help="ID images and OOD images (each)")
    ap.add_argument("--width", type=float, default=0.125)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--val", type=int, default=2000, help="images of the ODIN APS timing (ID-val + OOD-val)")
    ap.add_argument("--skip", default="", help="comma-separated detectors to leave out")
    ap.add_argument("--compare", action="store_true", help="also time the previous KNN search and ODIN search")
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

    bank_set = torch.utils.data.TensorDataset(images(bank_x), torch.from_numpy(bank_y))
    bank, t_bank = timed(lambda: extract(model, bank_set))
    test, t_fwd = timed(lambda: extract(model, test_imgs))
    print(f"shared forward pass: bank {t_bank:.1f} s, test {t_fwd:.1f} s ({len(test_imgs) / t_fwd:.0f} img/s)\n")

    skip = {s for s in args.skip.split(",") if s}
    totals = {"post-hoc (ood/ood's 12)": 0.0, "classical + deep_svdd": 0.0}
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
        if det.needs_input:
            s, t_score = timed(lambda: score_images(det, test_imgs))  # noqa: B023
        else:
            s, t_score = timed(lambda: det.score_outputs(Outputs(test.logits, test.features)))  # noqa: B023
        assert s.shape == (len(test_imgs),) and torch.isfinite(s).all(), name
        totals["post-hoc (ood/ood's 12)" if name in POSTHOC else "classical + deep_svdd"] += t_fit + t_score
        print(f"{name:<10} {t_fit:8.2f} {t_score:8.2f} {t_score / t_fwd:10.2f} {rss_mb() - before:8.0f}")
    print()
    for k, v in totals.items():
        print(f"total fit + score, {k}: {v:.1f} s")
    print(f"total fit + score, all detectors: {sum(totals.values()):.1f} s (goal: < 30 s on 2 cores)")

    if args.compare and "knn" not in skip:
        knn = make_detector("knn").fit(bank)
        new, t_new = timed(lambda: knn.score_outputs(test))
        q = l2_normalise(test.features.float())
        old, t_old = timed(lambda: -kth_neighbour_distance(q, knn.bank, 50))
        print(f"\nKNN K=50 ({len(q)} x {len(knn.bank)}): torch exact search {t_old:.1f} s, faiss IndexFlatL2 "
              f"{t_new:.1f} s (x{t_old / t_new:.1f} faster); largest |score difference| "
              f"{float((new - old).abs().max()):.2e}")
    if args.compare and "odin" not in skip:
        val = test_imgs[torch.randperm(len(test_imgs), generator=torch.Generator().manual_seed(0))[: args.val]]
        odin = make_detector("odin").setup(model, val)
        combos = [dict(zip(("temperature", "eps"), v)) for v in
                  [(t, e) for t in odin.search["temperature"] for e in odin.search["eps"]]]
        _, t_fwd_val = timed(lambda: extract(model, val))

        def one_at_a_time() -> None:
            for c in combos:
                odin.set_params(**c)
                score_images(odin, val, 256)

        _, t_loop = timed(one_at_a_time)
        _, t_grid = timed(lambda: [odin.score_grid(combos, x=val[i : i + 256]) for i in range(0, len(val), 256)])
        print(f"ODIN APS grid ({len(combos)} points) on {len(val)} images: one point at a time {t_loop:.1f} s "
              f"({t_loop / t_fwd_val:.1f} forward passes), score_grid {t_grid:.1f} s ({t_grid / t_fwd_val:.1f} forward "
              f"passes; x{t_loop / t_grid:.1f} faster)")

    before = rss_mb()
    knn = make_detector("knn")
    _, t_tr = timed(lambda: knn.fit_score(Outputs(None, bank.features)))
    dense_gb = len(bank) ** 2 * 4 / 1e9
    print(f"\nKNN transductive on the bank ({len(bank)} x {len(bank)} distances, faiss): {t_tr:.1f} s, "
          f"peak RSS +{rss_mb() - before:.0f} MB (a dense float32 matrix would be {dense_gb:.1f} GB)")


if __name__ == "__main__":
    main()

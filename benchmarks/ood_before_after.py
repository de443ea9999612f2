"""OOD scoring cost before / after issue 12's "OOD scoring budget", in CPU seconds (robust on a busy machine).

    .venv/bin/python benchmarks/ood_before_after.py                       # this checkout
    git archive d19eaf2 src | tar -x -C /tmp/old                          # the code before the change
    .venv/bin/python benchmarks/ood_before_after.py --src /tmp/old/src     # the same workload on it

Both use only the API the two versions share (``make_detector``, ``extract``, ``EvalSet``, ``score_set``,
``aps_search``). Printed per step: CPU seconds (``time.process_time``, all threads of the process) and wall
seconds: the shared forward pass of the test images, KNN (K=50) scoring them against the bank, ODIN at one
setting scoring them, and ODIN's APS over its 8-point grid on ID-val + OOD-val images; ratios are to the
forward pass of the same images. The model is randomly initialised (timing only).
"""

from __future__ import annotations

import argparse
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default="", help="put this source tree first on sys.path (an older checkout)")
    ap.add_argument("--bank", type=int, default=10000)
    ap.add_argument("--n", type=int, default=4000, help="test images (half ID, half OOD)")
    ap.add_argument("--val", type=int, default=1000, help="ID-val and OOD-val images for ODIN's APS (total)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.src:
        sys.path.insert(0, args.src)
    import numpy as np
    import torch

    import trustlab
    import trustlab.methods  # noqa: F401
    from trustlab.methods.ood import data as D
    from trustlab.methods.ood.base import Outputs, extract
    from trustlab.methods.ood.evaluate import EvalSet, aps_search, make_detector, score_set
    from trustlab.models import build_model

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ids = D.load_id("auto")
    rng = np.random.default_rng(0)
    img = lambda x: torch.from_numpy(x).float().div_(255.0).unsqueeze(1)  # noqa: E731
    bank_x = ids.x_train[rng.choice(len(ids.x_train), min(args.bank, len(ids.x_train)), replace=False)]
    bank_x = np.concatenate([bank_x] * int(np.ceil(args.bank / len(bank_x))))[: args.bank]
    ood = np.concatenate([D.load_source(s) for s in ("glyphs", "textures", "noise")])
    half = args.n // 2
    test = img(np.concatenate([ids.x_test[rng.choice(len(ids.x_test), half)], ood[rng.choice(len(ood), half)]]))
    val_id = img(ids.x_train[rng.choice(len(ids.x_train), args.val // 2)])
    val_ood = img(np.concatenate([D.load_source(s) for s in ("val_glyphs", "val_photos")])[
        rng.choice(1000, args.val // 2)])
    model = build_model("small_cnn", len(ids.classes), input_size=32, width=0.125, in_chans=1).eval()
    print(f"code: {trustlab.__file__}; bank {args.bank}, test {len(test)}, val {args.val}, {args.threads} thread(s)")

    def step(name: str, fn, ref: tuple[float, float] | None = None):  # noqa: ANN001, ANN202
        c, w = time.process_time(), time.perf_counter()
        out = fn()
        c, w = time.process_time() - c, time.perf_counter() - w
        ratio = f"  {c / ref[0]:5.2f} x forward (CPU)" if ref else ""
        print(f"{name:<38} CPU {c:7.1f} s   wall {w:7.1f} s{ratio}")
        return out, (c, w)

    bank, _ = step("forward pass, bank", lambda: extract(model, img(bank_x)))
    out, fwd = step("forward pass, test", lambda: extract(model, test))
    val_fwd = step("forward pass, ID-val + OOD-val", lambda: extract(model, torch.cat([val_id, val_ood])))[1]
    knn = make_detector("knn").fit(Outputs(None, bank.features))
    step("knn K=50, score test", lambda: knn.score_outputs(Outputs(None, out.features)), fwd)
    odin = make_detector("odin").setup(model, val_id)
    step("odin T=1000 eps=0.0014, score test", lambda: score_set(odin, EvalSet("t", test, out)), fwd)
    none = Outputs(None, None)
    fresh = make_detector("odin")
    choice, _ = step("odin APS, 8-point grid (ID-val + OOD-val)",
                     lambda: aps_search(fresh, model, none, EvalSet("i", val_id, none), EvalSet("o", val_ood, none)),
                     val_fwd)
    print(f"odin APS choice: {choice}")


if __name__ == "__main__":
    main()

"""DOORPING diagnostics: does a distillation method carry a trigger into the synthetic set, and when?

    .venv/bin/python benchmarks/doorping_probe.py --method dm --attack naive --portion 0.1 --iterations 200
    .venv/bin/python benchmarks/doorping_probe.py --method dm --attack naive --color 20 --iterations 100
    .venv/bin/python benchmarks/doorping_probe.py --method dc --attack doorping --net reference --iterations 60

Distils MNIST-5k (32 px, ipc 10, small_cnn width 0.125, 1 thread) with the attack's poisoned training set,
and every ``--every`` iterations trains one fresh model on the synthetic set and prints: the mean value
of the trigger's pixels in the class-0 (target) synthetic images and in the others, the trigger's mean
value, CTA, ASR, ASR of the non-target test images. At the end, as a control, fresh models trained on
``ipc`` clean real images per class are tested with the final trigger: an ASR there means the trigger
alone fools any model (not a backdoor carried by the distilled data). The number of poisoned images
among the starting synthetic set is printed too (real-image init can pick one).

``--color`` > 1 scales NaiveAttack's patch beyond the valid pixel range (the probe that shows the
backdoor rides on trigger magnitude); ``--net reference`` is baadd's ConvNet (no normalisation,
192-unit hidden layer); ``--net dc`` is the DC papers' ConvNet (instance norm). ``--unbounded`` leaves
the trigger and the synthetic images unbounded, as the reference code runs DOORPING; by default both
stay in [0, 1]. The trigger is optimised in MNIST's normalised units (std 0.3081), as the reference.
ASR columns: ``asr`` (headline: non-target images, stamped, clipped, 8-bit), ``asr_reference`` (all
images, raw trigger).
Not a timing benchmark: it lives here because it is a measurement script, not part of the library.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict

import torch

from trustlab.experiment import DataConfig, TrainConfig
from trustlab.methods.doorping.attack import BACKDOORS
from trustlab.methods.doorping.config import NETS, AttackConfig, DistillConfig, resolved
from trustlab.methods.doorping.data import load_source
from trustlab.methods.doorping.distill import build_distiller
from trustlab.methods.doorping.distill.base import RealData, init_synthetic
from trustlab.methods.doorping.evaluate import backdoor_metrics, train_fresh
from trustlab.methods.doorping.recipes import clean_subset
from trustlab.methods.doorping.triggers import PatchTrigger
from trustlab.models import build_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", choices=["dc", "dm"], default="dm")
    ap.add_argument("--attack", choices=["naive", "doorping"], default="naive")
    ap.add_argument("--net", choices=sorted(NETS), default="dc")
    ap.add_argument("--portion", type=float, default=0.01)
    ap.add_argument("--color", type=float, default=1.0, help="NaiveAttack patch value (> 1: out of range)")
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--every", type=int, default=25)
    ap.add_argument("--trigger-steps", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--unbounded", action="store_true", help="trigger and synthetic images unbounded (reference)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    reference = args.net == "reference"
    bounded = not args.unbounded
    src = load_source(DataConfig(name="mnist5k", image_size=32))
    k, shape = src.num_classes, src.shape
    gen = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)

    def make_net() -> torch.nn.Module:
        return build_model("small_cnn", k, input_size=shape[1:], width=0.125, in_chans=shape[0],
                           **asdict(NETS[args.net]))

    acfg = AttackConfig(kind=args.attack, portion=args.portion, trigger_steps=args.trigger_steps,
                        trigger_clamp=bounded, trigger_unit=0.3081)
    attack = BACKDOORS.get(args.attack)(acfg, shape, k, gen)
    if args.color != 1.0:
        attack.trigger = PatchTrigger(attack.trigger.mask, attack.trigger.mask * args.color, acfg.target)
    x, y = attack.poison(src.x_train, src.y_train)
    per_method = ({"batch_real": 32, "lr_img": 0.1, "outer_loop": 2, "inner_loop": 1, "init": "real"}
                  if args.method == "dc" else {"batch_real": 48, "lr_img": 2.0})
    dcfg = resolved(DistillConfig(method=args.method, iterations=args.iterations, checkpoint_every=0,
                                  clamp=bounded and args.color <= 1.0, **per_method))
    real = RealData(x, y, k, gen)
    attack.bind(real)
    distiller = build_distiller(dcfg, make_net, k, torch.device("cpu"))
    images, labels = init_synthetic(dcfg, real, shape)  # type: ignore[arg-type]
    poisoned_in_start = int(sum((images[i] == x[j]).all() for i in range(len(images)) for j in attack.indices))
    # control: ipc clean real images per class (never poisoned), the same size as the synthetic set
    clean, _ = clean_subset(src.x_train, src.y_train, dcfg.ipc, k)
    syn = images.requires_grad_(True)
    distiller.setup(syn)
    tcfg = (TrainConfig(epochs=100, optimizer="adam", lr=1e-3, weight_decay=0.0, schedule="step", step_size=50,
                        device="cpu") if reference else
            TrainConfig(epochs=40, lr=0.01, schedule="step", step_size=20, device="cpu"))
    x_test, y_test = src.x_test[:1000], src.y_test[:1000]
    mask = attack.trigger.mask.bool()
    on_network = attack.on_network if args.attack == "doorping" else None
    t0 = time.perf_counter()
    print(f"{args} (class 0 is the target); poisoned images among the starting synthetic set: "
          f"{poisoned_in_start}")
    for it in range(args.iterations):
        distiller.step(it, syn, real, on_network)
        if dcfg.clamp:
            with torch.no_grad():
                syn.clamp_(0.0, 1.0)
        if (it + 1) % args.every == 0 or it + 1 == args.iterations:
            with torch.no_grad():
                c0, rest = syn[: dcfg.ipc][:, mask].mean().item(), syn[dcfg.ipc :][:, mask].mean().item()
            model = train_fresh(syn.detach(), labels, make_net, tcfg, batch_size=256, seed=1)
            r = backdoor_metrics(model, x_test, y_test, attack.trigger)
            print(f"it {it + 1:4d} {time.perf_counter() - t0:5.0f}s  trigger pixels: class-0 synthetic {c0:.3f}, "
                  f"others {rest:.3f}, trigger {attack.trigger.pattern[mask].mean().item():.1f}  "
                  f"cta {r['cta']:.3f} asr {r['asr']:.3f} asr_reference {r['asr_reference']:.3f}", flush=True)
    for seed in (1, 2):
        for name, data in (("clean real (control)", clean), ("distilled", syn.detach())):
            model = train_fresh(data, labels, make_net, tcfg, batch_size=256, seed=seed)
            r = backdoor_metrics(model, x_test, y_test, attack.trigger)
            print(f"model seed {seed}, trained on the {name} set, final trigger: cta {r['cta']:.3f} "
                  f"asr {r['asr']:.3f} asr_reference {r['asr_reference']:.3f}", flush=True)


if __name__ == "__main__":
    main()

"""Run function of the GMoE recipes: GMoE, the dense ViT beside it and the fusion ablation, on Digits-DG and
DomainBed folders.

* ``gmoe/digits-dg``         GMoE (``vit_moe``: 6 experts, cosine router, top-1) leaving ``data.target`` out
* ``gmoe/dense-digits-dg``   the same ViT with dense MLPs (``model.name=vit``), same budget
* ``gmoe/fusion-digits-dg``  GMoE + our layer-fusion block (``vit.fusion=layers``)
* ``gmoe/folder``            GMoE on ``root/<domain>/<class>/<image>`` (PACS, VLCS, OfficeHome, ...)
* ``gmoe/dense-folder``      the dense ViT on a folder dataset

The ERM CNN baseline is ``erm/digits-dg`` (``small_cnn``). Every run also measures routing: expert
specialisation against a permutation control and against the same model at its initial weights (the very
weights this run started from), load balance
over training, and writes ``artifacts/routing.png`` (per expert: classes, domains, visual attributes).
"""

from __future__ import annotations

from typing import Any

from trustlab.bench.claims import mean
from trustlab.data.base import DGData
from trustlab.engine.fit import FitResult
from trustlab.engine.runtime import seed_everything
from trustlab.errors import ConfigError
from trustlab.methods.gmoe.augment import domainbed_batch
from trustlab.methods.gmoe.config import GMoERecipeConfig
from trustlab.methods.gmoe.method import GMoE, build_vit_model
from trustlab.recipes import RunContext
from trustlab.tasks.classification import run_dg

ROUTING_IMAGES = 100  # test images per domain for the routing statistics


def _routing_summary(cfg: GMoERecipeConfig, model: Any, data: DGData, result: FitResult,
                     ctx: RunContext, init_state: dict[str, Any] | None = None) -> dict[str, Any]:
    from trustlab.methods.gmoe.routing import collect_routing, routing_figure, specialisation

    out: dict[str, Any] = {}
    hist = [r for r in result.history if "train/moe_cv" in r]
    if not hist:
        return out
    cv = [float(r["train/moe_cv"]) for r in hist]
    drop = [float(r["train/moe_drop"]) for r in hist]
    out["balance"] = {"cv_max": max(cv), "cv_last": cv[-1], "cv_mean": mean(cv),
                      "drop_max": max(drop), "drop_last": drop[-1], "drop_mean": mean(drop)}
    out["balance_curve"] = {"cv": cv, "drop": drop}
    routing = collect_routing(model, data, ROUTING_IMAGES)
    out["specialisation"] = specialisation(routing, seed=cfg.train.seed)
    routing_figure(routing, ctx.record.artifact("routing.png"),
                   f"{cfg.model.name} held-out {cfg.data.target}, seed {cfg.train.seed}: tokens routed per expert")
    # control: the very weights this run started from, untrained (does routing only reflect a random
    # projection?). Re-seeding and rebuilding is not the same: run_dg draws other weights before make_method
    # builds the trained model, so a rebuilt model is another random init (measured: every tensor differs).
    init = build_vit_model(cfg, data.num_classes)
    if init_state is not None:
        init.load_state_dict(init_state)
    else:  # no snapshot (a caller outside run_gmoe): a fresh init of the same seed, flagged as such
        seed_everything(cfg.train.seed, cfg.train.deterministic)
        init = build_vit_model(cfg, data.num_classes)
    init = init.to(next(model.parameters()).device)
    out["specialisation_init"] = specialisation(collect_routing(init, data, ROUTING_IMAGES), seed=cfg.train.seed)
    # what the trained-vs-untrained comparison (claim gmoe/experts-specialise) needs: the same initial weights
    out["specialisation_init_weights"] = "run-initial" if init_state is not None else "reseeded"
    return out


def run_gmoe(cfg: GMoERecipeConfig, ctx: RunContext) -> dict[str, Any]:
    if cfg.data.name == "folder" and not cfg.data.root:
        raise ConfigError(
            "this recipe needs data.root: --set data.root=/path/to/dataset (root/<domain>/<class>/<image>)"
        )
    if cfg.data.image_size % cfg.vit.patch_size:
        raise ConfigError(f"vit.patch_size={cfg.vit.patch_size} must divide data.image_size={cfg.data.image_size}")
    build_vit_model(cfg, 2)  # fail on a bad model/moe setting before any data is built

    init_state: dict[str, Any] = {}

    def make_method(_default: Any, data: DGData, c: GMoERecipeConfig) -> GMoE:
        model = build_vit_model(c, data.num_classes)
        # the initial weights, kept for the untrained control of the routing statistics (same weights)
        init_state.update({k: v.detach().clone() for k, v in model.state_dict().items()})
        return GMoE(model, augment=domainbed_batch if c.vit.augment == "domainbed" else None)

    def extra(method: GMoE, data: DGData, result: FitResult) -> dict[str, Any]:
        from trustlab.models import count_macs, count_parameters

        model = method.model
        size = cfg.data.image_size
        per_token = model.macs_per_token()
        moe = model.moe_layers()
        out: dict[str, Any] = {
            "params": count_parameters(model),
            "macs": count_macs(model, (3, size, size)),
            "macs_per_token": per_token["total"],
            "tokens": model.num_tokens,
            "experts": moe[0].num_experts if moe else 0,
            "expert_hidden": moe[0].hidden if moe else model.dense_hidden,
        }
        out["pretrained"] = cfg.vit.pretrained
        out["augment"] = cfg.vit.augment
        if moe:  # what the balance claims' gates read (k = E or k x capacity >= E balance by construction)
            out.update({"top_k": cfg.moe.top_k, "capacity_factor": cfg.moe.capacity_factor})
        out.update(_routing_summary(cfg, model, data, result, ctx, init_state or None))
        return out

    return run_dg(cfg, ctx, make_method, extra)

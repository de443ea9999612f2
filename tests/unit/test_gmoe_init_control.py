"""The untrained routing control of a GMoE run is measured on the very weights the run started from."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


def test_specialisation_init_uses_the_runs_own_initial_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trustlab.methods.gmoe import routing, run
    from trustlab.recipes import RECIPES, run_recipe

    built: list[dict[str, torch.Tensor]] = []
    seen: list[dict[str, torch.Tensor]] = []
    build, collect = run.build_vit_model, routing.collect_routing

    def record_build(*args, **kwargs):
        model = build(*args, **kwargs)
        built.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return model

    def record_collect(model, *args, **kwargs):
        seen.append({k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        return collect(model, *args, **kwargs)

    monkeypatch.setattr(run, "build_vit_model", record_build)
    monkeypatch.setattr(routing, "collect_routing", record_collect)
    rec = run_recipe("gmoe/digits-dg", overrides=dict(RECIPES.get("gmoe/digits-dg").tiny), runs_root=tmp_path,
                     quiet=True)
    summary = rec.summary()
    assert summary["specialisation_init_weights"] == "run-initial"
    assert summary["top_k"] == 1 and summary["capacity_factor"] == 1.5
    # builds: the config check (2 classes), the trained model (make_method), the control; routing: trained, control
    trained_init, control = built[1], seen[1]
    assert all(torch.equal(trained_init[k], control[k]) for k in trained_init)
    assert not all(torch.equal(seen[0][k], control[k]) for k in control)  # training moved the weights

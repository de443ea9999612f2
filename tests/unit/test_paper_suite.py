"""``trustlab bench --suite paper``: the data check, the plan and the tiny runs of each wired protocol on fixtures
written in the official layouts (the verdicts are not the point: the code path from --data to a finished run is)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import trustlab.methods  # noqa: F401  (registers the protocols)
from trustlab.bench import paper
from trustlab.bench.paper import PAPERS, parse_data, plan_runs, run_paper
from trustlab.cli import main
from trustlab.errors import ConfigError, DataError

from . import paper_fixtures as F

RATE = (1e10, 1.0, 1e10)  # a fixed CPU rate: the plan tests do not measure


@pytest.fixture
def no_measure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paper, "measure_cpu_rate", lambda: RATE)


def test_every_protocol_is_registered_with_its_data_and_paper() -> None:
    assert set(PAPERS.names()) == {"okd", "gmoe", "coop", "ood", "minmax", "doorping", "pmtiqa", "psg", "peerpl",
                                   "advsim"}
    for _, p in PAPERS.items():
        assert "arXiv:" in p.paper
        for n in p.needs:
            assert n.layout and n.source and n.what


@pytest.mark.usefixtures("no_measure")
def test_plan_overview_without_data(tmp_path: Path) -> None:
    text = run_paper({}, out_root=tmp_path, plan=True)
    assert "okd" in text and "gmoe" in text and "peerpl" in text and "GPU-hours" in text and "estimate" in text
    empty = [p.id for _, p in PAPERS.items() if not p.runs(paper.placeholders([p]), p.seeds)]
    assert all(f"{pid}: not wired" in text for pid in empty)  # a protocol without runs says why (none is left)
    assert any(ln.startswith("advsim ") and "advsim/highway" in ln for ln in text.splitlines())  # highway-env runs
    assert any(ln.startswith("  okd: ") and "GPU-hours" in ln for ln in text.splitlines())  # per-protocol total
    assert not any(tmp_path.iterdir())  # the plan writes nothing


@pytest.mark.usefixtures("no_measure")
def test_plan_hash_and_done_follow_the_run_cache(tmp_path: Path) -> None:
    root = F.write_mnist(tmp_path / "tv", n=20)
    text = run_paper({"MNIST": root}, out_root=tmp_path / "rep", plan=True)
    rows = [ln for ln in text.splitlines() if ln.startswith("minmax")]
    assert len(rows) == 6 * 3 and all(" no " in ln for ln in rows)  # 6 runs x 3 seeds, none done
    runs, _ = plan_runs([PAPERS.get("minmax")], {"MNIST": root})
    from trustlab.config import override_strings
    from trustlab.runs.cache import cache_path

    first = runs[0][1]
    done = cache_path(first.recipe, override_strings(first.overrides), tmp_path / "rep" / "paper" / "runs") / "done"
    done.parent.mkdir(parents=True)
    done.write_text("")
    again = [ln for ln in run_paper({"MNIST": root}, out_root=tmp_path / "rep", plan=True).splitlines()
             if ln.startswith("minmax")]
    assert sum(" yes " in ln for ln in again) == 1 and done.parent.name.endswith(again[0].split()[4])


def test_every_paper_run_resolves_at_the_papers_scale() -> None:
    """Every run of every protocol (placeholder roots) builds its recipe's config with its paper-scale overrides:
    no unknown key, no wrong type (the tiny end-to-end runs replace the scale, so they cannot catch these)."""
    from trustlab.config import override_strings
    from trustlab.registry import RECIPES

    protocols = [p for _, p in PAPERS.items()]
    runs, _ = plan_runs(protocols, paper.placeholders(protocols), explicit=True)
    assert len(runs) > 100
    for _, r in runs:
        RECIPES.get(r.recipe).config(None, override_strings(r.overrides))


def _torchvision_resnet18(path: Path) -> Path:
    import torch
    import torchvision

    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18().state_dict(), path)  # torchvision's layout (1000-class fc)
    return path


def test_okd_teacher_init_from_a_torchvision_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--data resnet50=`` is torchvision's ImageNet state_dict; the teacher (timm:<arch>) loads weights strictly
    under its own keys: prepare() re-keys it per class count, the runs name the prepared file."""
    import torch

    from trustlab.methods.okd import paper as okd_paper
    from trustlab.models import build_model

    monkeypatch.setattr(okd_paper, "ARCH", "resnet18")  # resnet50's layout, a fifth of the bytes
    src = _torchvision_resnet18(tmp_path / "r18.pth")
    pacs = F.write_domainbed(tmp_path / "PACS", ("art_painting", "cartoon", "photo", "sketch"), per_class=1)
    data, folder = {"PACS": pacs, "resnet50": src}, tmp_path / "rep" / "prepared"
    okd_paper.prepare(data, folder)
    (made,) = folder.iterdir()
    assert made.name == okd_paper.prepared_name(src, 7)
    model = build_model("timm:resnet18", 7, input_size=224, weights=made)  # strict load: every key fits
    assert torch.equal(model.state_dict()["model.conv1.weight"], torch.load(src)["conv1.weight"])
    runs, _ = plan_runs([PAPERS.get("okd")], data, prepared=folder)
    weights = {r.overrides.get("teacher.model.weights") for _, r in runs}
    assert weights == {None, str(made)}  # student-erm has no teacher; kd/okd read the prepared file
    bad = tmp_path / "bad.pth"
    bad.write_text("not a checkpoint")
    with pytest.raises(DataError, match="torchvision's ImageNet resnet18 state_dict") as e:
        okd_paper.prepare({"VLCS": pacs, "resnet50": bad}, tmp_path / "none")
    assert "\n" not in str(e.value) and not (tmp_path / "none").exists()
    out = tmp_path / "reports"
    assert main(["bench", "--suite", "paper", "--data", f"PACS={pacs}", "--data", f"resnet50={bad}", "--out",
                 str(out), "--quiet"]) == 2
    assert not out.exists()  # the bad checkpoint stopped it before any run or report


def test_pmtiqa_backbone_from_a_torchvision_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--data resnet50=`` gives PMT-IQA the paper's ImageNet ResNet: prepare() re-keys it into timm:<arch> (2-way
    head), every arm names the prepared file, and PMT's net loads it strictly with stages at model.layer1..4."""
    import torch

    from trustlab.experiment import ModelConfig
    from trustlab.methods.pmtiqa import paper as iqa_paper
    from trustlab.methods.pmtiqa.config import PMTConfig
    from trustlab.methods.pmtiqa.method import build_net

    monkeypatch.setattr(iqa_paper, "ARCH", "resnet18")  # resnet50's layout, a fifth of the bytes
    monkeypatch.setitem(iqa_paper.GMACS, "timm:resnet18", 1.0)
    src = _torchvision_resnet18(tmp_path / "r18.pth")
    data = {"koniq": tmp_path / "koniq", "koniq-meta": F.write_koniq(tmp_path / "koniq"), "resnet50": src}
    folder = tmp_path / "rep" / "prepared"
    iqa_paper.prepare(data, folder)
    (made,) = folder.iterdir()
    assert made.name == iqa_paper.prepared_name(src)
    runs, _ = plan_runs([PAPERS.get("pmtiqa")], data, prepared=folder)
    assert {(r.overrides["model.name"], r.overrides["model.weights"]) for _, r in runs} == {("timm:resnet18",
                                                                                           str(made))}
    net = build_net(ModelConfig("timm:resnet18", 1.0, str(made)), PMTConfig(patch_size=32))
    conv1 = net.backbone.state_dict()["model.conv1.weight"]
    assert torch.equal(conv1, torch.load(src)["conv1.weight"])  # the ImageNet stem, not a fresh init
    assert [b[0].out_channels for b in net.branches] == [16, 32, 64]  # ResNet-18 stages 64/128/256, reduced by 4
    assert net(torch.rand(2, 3, 32, 32))["mos"].shape == (2,)
    without = plan_runs([PAPERS.get("pmtiqa")], {k: v for k, v in data.items() if k != "resnet50"})[0]
    assert {r.overrides["model.name"] for _, r in without} == {"resnet18"}  # the documented fallback
    from trustlab.methods.pmtiqa.model import branch_reduction, stage_modules

    assert branch_reduction("timm:resnet50", 256) == 16 and branch_reduction("resnet18", 64) == 4  # the reference's
    with pytest.raises(ConfigError, match="no stage table for PMT-IQA; use one of resnet18"):
        stage_modules("vit")


def test_minmax_cifar_ensemble_is_the_papers_four_members() -> None:
    from trustlab.config import override_strings
    from trustlab.registry import RECIPES

    runs, _ = plan_runs([PAPERS.get("minmax")], paper.placeholders([PAPERS.get("minmax")]), explicit=True)
    (cifar,) = {tuple(r.overrides["ensemble.models"]) for _, r in runs if "ensemble.models" in r.overrides}
    assert cifar == ("mlp", "timm:vgg16", "timm:resnet50", "googlenet")
    run = next(r for _, r in runs if "ensemble.models" in r.overrides)
    cfg = RECIPES.get(run.recipe).config(None, override_strings(run.overrides))
    assert cfg.ensemble.models == list(cifar) and run.data == "CIFAR-10"


def test_psgtr_backbone_from_a_torchvision_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--data resnet50=`` puts PSGTR on the reference's ImageNet ResNet (method.backbone=timm:<arch>): the prepared
    file loads strictly, the backbone learns at a tenth of the lr, and the tiny CNN is the fallback."""
    import torch

    from trustlab.methods.psg import paper as psg_paper
    from trustlab.methods.psg.config import PSGTRConfig
    from trustlab.methods.psg.psgtr import PSGTR, PSGTRTrainable

    monkeypatch.setattr(psg_paper, "ARCH", "resnet18")  # resnet50's layout, a fifth of the bytes
    src = _torchvision_resnet18(tmp_path / "r18.pth")
    root = tmp_path / "psg"
    root.mkdir()
    (root / "psg.json").write_text("{}")  # plan_runs needs only the key; prepare reads the checkpoint
    data, folder = {"PSG": root, "resnet50": src}, tmp_path / "rep" / "prepared"
    psg_paper.prepare(data, folder)
    (made,) = folder.iterdir()
    runs, _ = plan_runs([PAPERS.get("psg")], data, prepared=folder)
    psgtr = [r.overrides for _, r in runs if r.recipe == "psg/psgtr"]
    assert psgtr and all(o["method.backbone"] == "timm:resnet18" and o["method.backbone_weights"] == str(made)
                         for o in psgtr)
    assert all("method.backbone" not in r.overrides for _, r in runs if r.recipe == "psg/two-stage")
    cfg = PSGTRConfig(backbone="timm:resnet18", backbone_weights=str(made))
    net = PSGTR(5, 3, cfg, image_size=64)
    assert torch.equal(net.resnet.body.conv1.weight, torch.load(src)["conv1.weight"])  # ImageNet stem, strict load
    out = net(torch.rand(2, 3, 64, 64))
    assert out["sub_mask"].shape == (2, cfg.queries, 64, 64) and out["rel"].shape == (2, cfg.queries, 4)
    groups = PSGTRTrainable(net, torch.zeros(0), [], cfg).configure_optimizers(None).param_groups
    assert [g["lr"] for g in groups] == [cfg.lr, pytest.approx(cfg.lr * 0.1)]
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters()))
    assert all("method.backbone" not in r.overrides for _, r in plan_runs([PAPERS.get("psg")], {"PSG": root})[0])
    with pytest.raises(ConfigError, match="method.backbone' must be 'tiny' or a timm ResNet"):
        PSGTRConfig(backbone="vit")
    with pytest.raises(ConfigError, match="backbone_weights' needs method.backbone"):
        PSGTRConfig(backbone_weights=str(made))


def test_gmoe_arms_start_from_a_deit_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--data deit_s=`` (a timm ViT state_dict under 'model', as DeiT's release): prepare() builds each arm from its
    run's config and loads it (GMoE: experts copy the MLP); the run's strict model.weights load takes the file."""
    import torch
    from timm.models.vision_transformer import VisionTransformer

    from trustlab.config import override_strings
    from trustlab.methods.gmoe import paper as gmoe_paper
    from trustlab.methods.gmoe.method import build_vit_model
    from trustlab.registry import RECIPES

    # DeiT-S's layout at a size a test can build (the protocol's own is ViT-S/16 at 224 px)
    monkeypatch.setattr(gmoe_paper, "VIT_S", {"vit.patch_size": 16, "vit.embed_dim": 48, "vit.depth": 4,
                                              "vit.num_heads": 4, "moe.proj_dim": 48})
    monkeypatch.setattr(gmoe_paper, "MOE_BLOCKS", [1, 3])
    monkeypatch.setattr(gmoe_paper, "SIZE", 32)
    torch.manual_seed(0)
    deit = VisionTransformer(img_size=32, patch_size=16, embed_dim=48, depth=4, num_heads=4, qkv_bias=True)
    src = tmp_path / "deit.pth"
    torch.save({"model": deit.state_dict()}, src)
    pacs = F.write_domainbed(tmp_path / "PACS", ("art_painting", "cartoon", "photo", "sketch"), per_class=1)
    data, folder = {"PACS": pacs, "deit_s": src}, tmp_path / "prepared"
    gmoe_paper.prepare(data, folder)
    assert len(list(folder.glob("deit_s-*-7cls.pt"))) == 2  # one per arm
    runs, _ = plan_runs([PAPERS.get("gmoe")], data, prepared=folder)
    for recipe in ("gmoe/folder", "gmoe/dense-folder"):
        run = next(r for _, r in runs if r.recipe == recipe)
        cfg = RECIPES.get(recipe).config(None, override_strings(run.overrides))
        model = build_vit_model(cfg, 7)  # loads model.weights strictly
        assert torch.equal(model.vit.blocks[0].attn.qkv.weight, deit.blocks[0].attn.qkv.weight)
        assert torch.equal(model.vit.pos_embed, deit.pos_embed)
    bad = tmp_path / "bad.pth"
    torch.save({"model": {"x": torch.zeros(1)}}, bad)
    with pytest.raises(DataError, match="deit_small_patch16_224") as e:
        gmoe_paper.prepare({"PACS": pacs, "deit_s": bad}, tmp_path / "none")
    assert "\n" not in str(e.value) and not (tmp_path / "none").exists()


def test_missing_root_is_one_line_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "reports"
    rc = main(["bench", "--suite", "paper", "--data", f"PACS={tmp_path / 'nope'}", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: ") and "\n" not in err
    assert "DomainBed PACS" in err and "art_painting" in err and "DomainBed" in err and "download.py" in err
    assert not out.exists()
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "photo").mkdir()  # a root without the other domains
    with pytest.raises(DataError, match="has no art_painting"):
        run_paper({"PACS": tmp_path / "half"}, out_root=out)
    assert not out.exists()


def test_iqa_images_without_their_meta_csv_is_one_line(tmp_path: Path) -> None:
    meta = F.write_koniq(tmp_path / "koniq")
    for data in ({"koniq": tmp_path / "koniq"}, {"koniq": tmp_path / "koniq", "livec-meta": meta}):
        with pytest.raises(ConfigError, match="needs both --data (koniq|livec)="):
            run_paper(data, out_root=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_data_keys_and_map(tmp_path: Path) -> None:
    m = tmp_path / "data.yaml"
    m.write_text("PACS: /a\nMNIST: /b\n")
    assert parse_data(["MNIST=/c"], str(m)) == {"PACS": Path("/a"), "MNIST": Path("/c")}
    for bad in (["PACS"], ["=x"]):
        with pytest.raises(ConfigError):
            parse_data(bad)
    with pytest.raises(ConfigError, match="did you mean 'PACS'"):
        run_paper({"PAC": tmp_path}, out_root=tmp_path / "r")


def test_other_suites_refuse_paper_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--suite", "smoke", "--plan"]) == 2
    assert "for --suite paper" in capsys.readouterr().err


# ---------------------------------------------------------------- the tiny runs on fixtures


def _fixtures(tmp: Path) -> dict[str, dict[str, Path]]:
    pacs = F.write_domainbed(tmp / "PACS", ("art_painting", "cartoon", "photo", "sketch"))
    return {
        "okd": {"PACS": pacs},
        "gmoe": {"PACS": pacs},
        "minmax": {"MNIST": F.write_mnist(tmp / "tv", n=60)},
        "pmtiqa": {"koniq": tmp / "koniq", "koniq-meta": F.write_koniq(tmp / "koniq")},
        "psg": {"PSG": _psg_root(tmp / "psg")},
        "ood": {"openood-cifar10": F.write_openood(tmp / "openood", per_class=3, ood=6)},
        "coop": {"OxfordPets": F.write_dassl(tmp / "oxford_pets", per_split=(4, 2, 3))},
    }


def _psg_root(root: Path) -> Path:
    """A small PSG root in the OpenPSG release layout (psg.json, train2017/, panoptic_train2017/)."""
    from trustlab.methods.psg.scenes import generate

    from .openpsg_fixture import write_openpsg

    write_openpsg(root, generate(seed=11, sizes={"train": 8, "val": 0, "test": 4}))
    return root


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("protocol", ["okd", "gmoe", "minmax", "pmtiqa", "psg", "ood", "coop", "peerpl"])
def test_tiny_protocol_runs_end_to_end(protocol: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from contextlib import ExitStack

    from tests.contract.config_reads import recipe_reads
    from trustlab.registry import RECIPES

    data = _fixtures(tmp_path).get(protocol, {})
    if protocol == "okd":  # the teacher's ImageNet init goes through prepare() (resnet18 stands in for resnet50)
        from trustlab.methods.okd import paper as okd_paper

        monkeypatch.setattr(okd_paper, "ARCH", "resnet18")
        data["resnet50"] = _torchvision_resnet18(tmp_path / "r18.pth")
    tiny, _ = plan_runs([PAPERS.get(protocol)], data, tiny=True, explicit=True)
    with ExitStack() as stack:  # every run in this process (jobs 1): record which config keys its code reads
        reads = {r.recipe: stack.enter_context(recipe_reads(RECIPES.get(r.recipe)))[0] for _, r in tiny}
        out = run_paper(data, out_root=tmp_path / "rep", only=[protocol], tiny=True, quiet=True)
    for _, r in tiny:  # the keys that wire a run to the data and define its cell act (not accepted and ignored)
        assert set(r.where) <= reads[r.recipe].keys, (r.recipe, sorted(set(r.where) - reads[r.recipe].keys))
    report = json.loads((Path(out).parent / "paper.json").read_text())
    rows = [r for r in report["runs"] if r["protocol"] == protocol]
    assert rows and all("error" not in r for r in rows), [r.get("error") for r in rows]
    assert all(Path(r["run"], "done").is_file() for r in rows)
    where = {k for r in rows for k in (o.split("=")[0] for o in r["overrides"])}
    if data:
        assert "data.root" in where  # the run read the fixture, not the recipe's embedded data
    assert f"## {protocol}" in Path(out).read_text()
    if protocol == "okd":
        assert len(list((Path(out).parent / "prepared").glob("resnet18-*-7cls.pt"))) == 1

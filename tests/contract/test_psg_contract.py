"""Both PSG recipes run end to end with their tiny overrides, write figures and a checkpoint that loads back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import trustlab.methods  # noqa: F401  (registers recipes)
from trustlab.methods.psg.scenes import PREDICATES
from trustlab.recipes import run_recipe
from trustlab.registry import CLAIMS, DATASETS, RECIPES

PSG = [n for n in RECIPES.names() if n.startswith("psg/")]


def test_registered():
    assert sorted(PSG) == ["psg/psgtr", "psg/two-stage"]
    assert "psg-scenes" in DATASETS.names()
    assert {c for c in CLAIMS.names() if c.startswith("psg/")} == {
        "psg/two-stage-above-prior", "psg/psgtr-above-prior", "psg/predcls-sgcls-sgdet", "psg/long-tail-gap",
        "psg/debias-raises-mr"}


def test_two_stage_tiny_with_figures(tmp_path):
    over = {**RECIPES.get("psg/two-stage").tiny, "method.figures": True}
    rec = run_recipe("psg/two-stage", overrides=over, runs_root=tmp_path, quiet=True)
    s = rec.summary()
    for mode in ("predcls", "sgcls", "sgdet", "predcls_freq", "sgdet_freq", "predcls_debiased"):
        vals = s[f"test_{mode}"]
        assert {"R@20", "mR@20", "R@50", "R@100", "ngR@20", "ngmR@100"} <= set(vals)
        assert all(0.0 <= v <= 1.0 for v in vals.values() if v == v)
        assert vals["R@20"] <= vals["R@50"] + 1e-12 <= vals["R@100"] + 2e-12  # recall grows with K
        assert vals["R@20"] <= vals["ngR@20"] + 1e-12 or mode.endswith("freq")
    assert 0.0 <= s["test_PQ"] <= 1.0 and len(s["per_predicate_R@50"]) == len(PREDICATES)
    assert (rec.path / "artifacts" / "sgdet_examples.png").is_file()
    assert (rec.path / "artifacts" / "per_predicate_recall.png").is_file()
    from trustlab.methods.psg.twostage import TinyPanoptic

    state = torch.load(rec.path / "checkpoints" / "model.pt", weights_only=False)
    net = TinyPanoptic(13, 16)
    net.load_state_dict(state["segmenter"])
    feats, logits, bnd = net(torch.zeros(1, 3, 64, 64))
    assert logits.shape == (1, 13, 64, 64) and bnd.shape == (1, 64, 64)


def test_psgtr_tiny(tmp_path):
    over = {**RECIPES.get("psg/psgtr").tiny, "method.figures": True}
    rec = run_recipe("psg/psgtr", overrides=over, runs_root=tmp_path, quiet=True)
    s = rec.summary()
    assert {"R@20", "mR@20", "ngR@50"} <= set(s["test_sgdet"]) and "test_sgdet_resolved" in s
    assert (rec.path / "artifacts" / "sgdet_examples.png").is_file()
    from trustlab.methods.psg.config import PSGTRConfig
    from trustlab.methods.psg.psgtr import PSGTR

    net = PSGTR(13, len(PREDICATES), PSGTRConfig())
    net.load_state_dict(torch.load(rec.path / "checkpoints" / "model.pt", weights_only=False)["model"])


def test_psgtr_matching_recovers_a_planted_assignment():
    """The Hungarian matcher pairs each GT triplet with the query whose classes and masks fit it."""
    from trustlab.methods.psg.psgtr import match

    q, g, nc, npred = 5, 3, 4, 3
    big = 8.0
    out = {k: torch.full((1, q, n + 1), -big) for k, n in (("sub", nc), ("obj", nc), ("rel", npred))}
    masks = torch.zeros(g, 8, 8)
    for i in range(g):
        masks[i, i * 2 : i * 2 + 2] = 1
    tgt = {"sub": torch.tensor([0, 1, 2]), "obj": torch.tensor([3, 3, 0]), "rel": torch.tensor([0, 2, 1]),
           "sub_mask": masks, "obj_mask": masks.flip(1)}
    plant = [4, 0, 2]  # query for each GT
    out["sub_mask"] = torch.full((1, q, 8, 8), -big)
    out["obj_mask"] = torch.full((1, q, 8, 8), -big)
    for gi, qi in enumerate(plant):
        out["sub"][0, qi, tgt["sub"][gi]] = big
        out["obj"][0, qi, tgt["obj"][gi]] = big
        out["rel"][0, qi, tgt["rel"][gi] + 1] = big
        out["sub_mask"][0, qi] = masks[gi] * 2 * big - big
        out["obj_mask"][0, qi] = masks.flip(1)[gi] * 2 * big - big
    rows, cols = match(out, 0, tgt)
    assert dict(zip(cols.tolist(), rows.tolist())) == dict(enumerate(plant))


@pytest.mark.parametrize("labels", [None, "gt"])
def test_relation_head_shapes_and_logit_adjustment(labels):
    from trustlab.methods.psg.twostage import RelationHead, pair_geometry, predict_pairs

    masks = torch.zeros(3, 16, 16, dtype=torch.bool)
    masks[0, :4, :4] = masks[1, 4:8, :4] = masks[2, 8:] = True
    geo = pair_geometry(masks)
    # contact: mask 0 sits directly above mask 1 (rows 3 / 4), not above mask 2
    assert geo[0, 1, -3] > 0 and geo[0, 2, -3] == 0 and geo[1, 0, -2] > 0
    head = RelationHead(10, 4, 3).eval()
    x = torch.randn(3, 10)
    lab = torch.tensor([0, 1, 3]) if labels else None
    prior = torch.log(torch.tensor([0.8, 0.15, 0.05]))
    pairs, probs, lab_out, scores = predict_pairs(head, x, geo, lab, prior, tau=0.0)
    _, probs_adj, _, _ = predict_pairs(head, x, geo, lab, prior, tau=1.0)
    assert pairs.shape == (6, 2) and probs.shape == (6, 3) and len(lab_out) == 3 and len(scores) == 3
    ratio = (probs_adj / probs)
    assert np.all(ratio[:, 2] > ratio[:, 0])  # the rare predicate gains relative to the frequent one


def test_psgtr_dedup_drops_lower_ranked_duplicates():
    """As the reference: a later triplet with the same three labels and both masks IoU > 0.5 is dropped."""
    from trustlab.methods.psg.psgtr import _dedup

    m = np.zeros((3, 8, 8), bool)
    m[0, :4], m[1, :3], m[2, 4:] = True, True, True  # query 1's masks overlap query 0's (IoU 0.75)
    keep = _dedup(np.array([0, 1, 2, 1]), np.array([0, 0, 0, 1]), np.array([1, 1, 1]), np.array([2, 2, 2]), m, m)
    assert keep.tolist() == [True, False, True, True]  # same labels + overlap: dropped; other predicate kept


def test_data_show_embedded(tmp_path):
    from trustlab.experiment import DataConfig

    paths = DATASETS.get("psg-scenes").show(DataConfig(name="psg-scenes"), tmp_path)
    assert len(paths) == 6 and all(p.is_file() and p.stat().st_size > 1000 for p in paths)


def _tr_out(q: int = 3, nc: int = 2, npred: int = 3, size: int = 4) -> dict:
    torch.manual_seed(0)
    return {"sub": torch.randn(1, q, nc + 1), "obj": torch.randn(1, q, nc + 1), "rel": torch.randn(1, q, npred + 1),
            "sub_mask": torch.randn(1, q, size, size), "obj_mask": torch.randn(1, q, size, size)}


def test_psgtr_openpsg_decoding_relabels_top_entries_to_the_query_best_predicate():
    """OpenPSG: the top (query, predicate) entries, de-duplicated on the entry's labels, then each relabelled to
    its query's argmax predicate with the entry's rank; per-query: one triplet per query."""
    from trustlab.methods.psg.config import PSGTRConfig
    from trustlab.methods.psg.psgtr import decode

    out = _tr_out()
    out["sub_mask"][:] = -5.0
    out["sub_mask"][0, :, 0] = 5.0  # identical masks: de-duplication decides on labels
    out["obj_mask"] = out["sub_mask"].clone()
    out["rel"][0] = torch.log(torch.tensor([[0.01, 0.50, 0.40, 0.09],    # query 0: 1st and 2nd entries
                                             [0.61, 0.05, 0.04, 0.30],   # query 1: best predicate 2
                                             [0.94, 0.02, 0.02, 0.02]]))  # query 2: low scores
    out["sub"][0, :, 0] = 9.0
    out["obj"][0, :, 1] = 9.0  # every query: subject class 0, object class 1
    cfg = PSGTRConfig()
    op = decode(out, 0, 4, cfg, True, max_triplets=4)
    pq = decode(out, 0, 4, cfg, True, max_triplets=4, mode="per-query")
    ng = decode(out, 0, 4, cfg, False, max_triplets=4)
    # entries by score: (0, p0) .50, (0, p1) .40, (1, p2) .30, (0, p2) .09 -> (0, p2) duplicates (1, p2): dropped
    assert ng.triplets[:, 2].tolist() == [0, 1, 2] and ng.triplets[:, 0].tolist() == [0, 0, 1]
    assert op.triplets.tolist() == [[0, 3, 0], [0, 3, 0], [1, 4, 2]]  # query 0 fills two slots, relabelled
    assert np.allclose(op.scores, [0.50, 0.40, 0.30], atol=1e-5)
    assert pq.triplets.tolist() == [[0, 3, 0], [1, 4, 2]]  # one per query; query 2 (0, 1, p0) duplicates 0's


def test_psgtr_loss_subject_object_on_matched_queries_only():
    """so_loss="matched" (OpenPSG's label weights): changing an unmatched query's subject logits leaves the loss
    unchanged; with so_loss="all" it changes it (no-object target)."""
    from trustlab.methods.psg.config import PSGTRConfig
    from trustlab.methods.psg.psgtr import loss_fn, match

    out = _tr_out(q=3)
    tgt = {"sub": torch.tensor([0]), "obj": torch.tensor([1]), "rel": torch.tensor([2]),
           "sub_mask": torch.ones(1, 4, 4), "obj_mask": torch.zeros(1, 4, 4)}
    rows, _ = match(out, 0, tgt)
    free = [i for i in range(3) if i not in rows.tolist()][0]
    out2 = {k: v.clone() for k, v in out.items()}
    out2["sub"][0, free] = torch.tensor([5.0, -5.0, -5.0])
    for so, same in (("matched", True), ("all", False)):
        cfg = PSGTRConfig(so_loss=so)
        a, b = float(loss_fn(out, [tgt], 2, 3, cfg)), float(loss_fn(out2, [tgt], 2, 3, cfg))
        assert (abs(a - b) < 1e-6) == same


def test_psgtr_predicate_cost_weight_decides_a_match():
    """The predicate cost weight (OpenPSG r_cls_cost 2): with classes split between two queries, weight 2 picks the
    query with the right predicate, weight 0 the one with the right subject and object."""
    from trustlab.methods.psg.psgtr import match

    big = 6.0
    out = {k: torch.zeros(1, 2, n + 1) for k, n in (("sub", 2), ("obj", 2), ("rel", 3))}
    out["sub_mask"] = out["obj_mask"] = torch.zeros(1, 2, 4, 4)
    out["sub"][0, 0, 0] = out["obj"][0, 0, 1] = big  # query 0: right subject and object
    out["rel"][0, 1, 3] = 2 * big  # query 1: right predicate (2 -> column 3)
    tgt = {"sub": torch.tensor([0]), "obj": torch.tensor([1]), "rel": torch.tensor([2]),
           "sub_mask": torch.ones(1, 4, 4), "obj_mask": torch.ones(1, 4, 4)}
    assert match(out, 0, tgt, rel_weight=2.0)[0].tolist() == [1]
    assert match(out, 0, tgt, rel_weight=0.0)[0].tolist() == [0]

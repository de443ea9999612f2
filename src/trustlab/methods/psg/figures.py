"""PSG run artifacts: ``sgdet_examples.png`` (predicted masks and top triplets drawn as a graph) and the two-stage
``per_predicate_recall.png``."""

from __future__ import annotations

from typing import Any

import numpy as np

from trustlab.methods.psg.data import Prepared
from trustlab.metrics.psg import ScenePred


def two_stage_figures(ctx: Any, data: Any, ev: Prepared, preds: list[ScenePred], res: dict[str, dict[str, Any]]
                      ) -> None:
    """artifacts: sgdet_examples.png (predicted masks + top triplets), per_predicate_recall.png."""
    from trustlab.report.figures import grouped_bar_chart

    draw_examples(ctx.record.artifact("sgdet_examples.png"), data, ev, preds, "two-stage SGDet")
    groups = {data.predicate_classes[p]: {k: res[k]["per_predicate@50"][p] for k in
                                          ("predcls", "predcls_debiased", "predcls_freq")}
              for p in range(data.num_predicates)}
    grouped_bar_chart({g: {k: (v if v == v else 0.0) for k, v in s.items()} for g, s in groups.items()},
                      ctx.record.artifact("per_predicate_recall.png"),
                      "test R@50 per predicate (PredCls), predicates in class order", ylabel="recall")


def draw_examples(path: Any, data: Any, ev: Prepared, preds: list[ScenePred], title: str, n: int = 4,
                  top: int = 5) -> None:
    """Scenes with their predicted masks (numbered) and top triplets; ground truth listed below."""
    from PIL import Image

    from trustlab.methods.psg.format import PSGScene
    from trustlab.methods.psg.scenes import draw_graph_panel
    from trustlab.report.figures import save_image

    panels = []
    for i in range(min(n, len(preds))):
        p = preds[i]
        img = (ev.images[i].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        sc = PSGScene(i, "", img, ev.pans[i], [], np.zeros((0, 3), np.int64))
        used = sorted({int(v) for t in p.triplets[:top] for v in t[:2]})
        remap = {u: k for k, u in enumerate(used)}
        masks = np.asarray(p.masks)[used] if used else np.zeros((0, *img.shape[:2]), bool)
        labels = [data.classes[int(p.labels[u])] for u in used]
        trip = [(remap[int(a)], remap[int(b)], data.predicate_classes[int(r)]) for a, b, r in p.triplets[:top]]
        gt = [f"{data.classes[ev.labels[i][a]]} {data.predicate_classes[r]} {data.classes[ev.labels[i][b]]}"
              for a, b, r in ev.rels[i]]
        panel = draw_graph_panel(sc, masks, labels, trip, f"{title}: top-{top} triplets | GT: " + "; ".join(gt)[:90])
        panels.append(panel)
    if not panels:
        return
    w = max(p.width for p in panels)
    canvas = Image.new("RGB", (w, sum(p.height for p in panels)), (255, 255, 255))
    y = 0
    for p in panels:
        canvas.paste(p, (0, y))
        y += p.height
    save_image(canvas, path)

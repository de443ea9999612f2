"""CoOp's paper protocol for ``trustlab bench --suite paper`` (Learning to Prompt for Vision-Language Models,
arXiv:2109.01134): declared, not wired.

The protocol: Dassl's released splits (``split_zhou_<Dataset>.json``, read by ``data.name=dassl``), a local OpenAI or
LAION open_clip checkpoint (``clip.weights``), 1/2/4/8/16 shots, 3 seeds. Not wired: the ``coop/fewshot`` recipe
reads only ``coop-scenes`` and ``folder`` (an ImageFolder split at random, not the released split), so the paper's
splits cannot reach it through ``data.name`` without a change in the method's ``load_tasks`` (owned by the CoOp
work). The data keys are declared so ``--data`` accepts and checks them and ``--plan`` says what is missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from trustlab.bench.paper import DataNeed, PaperRun, Protocol, register_paper

COOP_DATA = "CoOp's DATASETS.md (https://github.com/KaiyangZhou/CoOp/blob/main/DATASETS.md)"
DATASETS = ("OxfordPets", "OxfordFlowers", "DescribableTextures", "EuroSAT", "StanfordCars", "Food101", "SUN397",
            "Caltech101", "UCF101")
NEEDS = [DataNeed(d, f"{d} (Dassl split)", f"ROOT/split_zhou_{d}.json and its image folder", COOP_DATA,
                  probe=(f"split_zhou_{d}.json",)) for d in DATASETS]
NEEDS.append(DataNeed("clip", "open_clip checkpoint (OpenAI or LAION)", "a local open_clip .pt/.bin file",
                      "open_clip's pretrained table (https://github.com/mlfoundations/open_clip)", kind="file",
                      optional=True))


def runs(data: Mapping[str, Path], seeds: Sequence[int]) -> list[PaperRun]:
    return []  # see the module docstring: coop/fewshot cannot read data.name=dassl yet


register_paper(Protocol(
    "coop", "Learning to Prompt for Vision-Language Models (arXiv:2109.01134)", NEEDS, runs,
    metrics=("accuracy",),
    not_wired="coop/fewshot reads only data.name=coop-scenes|folder; the released split_zhou files (data.name=dassl) "
              "need load_tasks to accept a DGData (CoOp owner)",
))

"""CoOp's configs: the images, the CLIP to use, the prompt and schedule (the reference's names and values), what
each recipe evaluates (``fewshot:``), the engine settings that act on CoOp's loop, and the recipe configs that hold
them (one per recipe: each holds only the keys its run reads)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from trustlab.experiment import FitKeysConfig
from trustlab.methods.coop.clip_model import TINY

REFERENCE_EPOCHS = {1: 50, 2: 100, 4: 100, 8: 200, 16: 200}  # scripts/coop/main.sh + configs rn50_ep50/ep100/rn50
REFERENCE_LR = 0.002  # configs/trainers/CoOp/*.yaml OPTIM.LR, for OpenAI's CLIP
# The embedded tiny CLIP's lr, chosen on few-shot validation data only (benchmarks/coop_lr_selection.py; the
# study and its table are in the README): at 0.002 the context does not leave its initialisation.
TINY_LR = 0.01
EMBEDDED = "coop-scenes"  # data.name of the embedded captioned scenes


@dataclass
class CoOpDataConfig:
    """The images: the embedded captioned scenes (``name`` coop-scenes; their tasks are ``fewshot.*``) or a
    user's folder (``name`` folder with ``root``: ImageFolder or DomainBed layout, each domain split into
    train/val/test as :func:`trustlab.data.folder.build_folder` does; images at the CLIP's input size)."""

    name: Literal["coop-scenes", "folder"] = EMBEDDED
    root: str | None = None  # folder: root/[<domain>/]<class>/<image>
    skip_corrupt: bool = False  # folder: skip unreadable images (counted) instead of failing
    val_fraction: float = 0.2  # folder: share of each domain held out for validation
    test_fraction: float = 0.2  # folder: share of each domain kept for test
    split_seed: int = 0  # folder: seed of the train/val/test split (not of training)


@dataclass
class CoOpDGDataConfig(CoOpDataConfig):
    """``coop/dg``'s images: as :class:`CoOpDataConfig`, plus the held-out domains of a folder."""

    target: str = ""  # folder: held-out domain(s), comma separated (the embedded scenes: fewshot.source)


@dataclass
class ClipConfig:
    """Which CLIP: ``arch`` "tiny" (the embedded pretrained model when ``weights`` is empty) or any
    open_clip architecture name with a local checkpoint in ``weights``."""

    arch: str = TINY
    weights: str | None = None
    pretrained: bool = True  # arch tiny without weights: the embedded pretrained model (false: random init)
    # the embedded pretrained model: the weights shipped in the package when they are for the current pretraining
    # recipe (false: pretrain on this machine and cache, as before shipped weights existed)
    shipped: bool = True


@dataclass
class CoOpConfig:
    """CoOp's prompt and schedule (reference defaults)."""

    n_ctx: int = 16  # M; ignored when init is a phrase (M = its token count)
    csc: bool = False  # class-specific context
    position: Literal["end", "middle", "front"] = "end"
    init: str = ""  # "" = random N(0, init_std); else a phrase such as "a photo of a"
    init_std: float = 0.02
    lr: float | None = None  # None: REFERENCE_LR for open_clip architectures, TINY_LR for the tiny CLIP
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 32
    epoch_scale: float = 1.0  # multiplies the reference epochs per shot count
    epochs: int | None = None  # fixed epochs for every shot count (overrides the reference table)
    warmup_epochs: int = 1
    warmup_lr: float = 1e-5


@dataclass
class FewShotConfig:
    """What ``coop/fewshot`` evaluates: tasks, shot counts, prompts, the linear probe beside CoOp."""

    tasks: list[str] = field(default_factory=lambda: ["digit", "colour", "background", "style"])
    shots: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16])
    classnames: list[str] = field(default_factory=list)  # folder data: one word per class folder
    templates: list[str] = field(default_factory=list)  # folder data: hand-crafted prompts with "{}"
    linear_probe: bool = True
    nearest_k: int = 3


@dataclass
class DGShotConfig:
    """What ``coop/dg`` evaluates (its ``fewshot:`` section): one task, the style (embedded scenes) or the source
    domains (folder: all but ``data.target``) CoOp learns on, and the shots (the largest of ``shots``)."""

    shots: list[int] = field(default_factory=lambda: [16])
    classnames: list[str] = field(default_factory=list)  # folder data: one word per class folder
    templates: list[str] = field(default_factory=list)  # folder data: hand-crafted prompts with "{}"
    nearest_k: int = 3
    source: str = "handwritten"  # embedded scenes: the style CoOp learns on
    dg_task: str = "background"  # embedded scenes: the task (digit is at chance for the tiny CLIP)


@dataclass
class CoOpTrainConfig(FitKeysConfig):
    """The engine settings that act on CoOp's loop (:func:`trustlab.engine.fit.fit`); the optimiser and the
    schedule are CoOp's own (``coop.*``: the reference's names and values)."""


@dataclass
class CoOpRecipeConfig:
    """``coop/fewshot``."""

    data: CoOpDataConfig = field(default_factory=CoOpDataConfig)
    clip: ClipConfig = field(default_factory=ClipConfig)
    coop: CoOpConfig = field(default_factory=CoOpConfig)
    fewshot: FewShotConfig = field(default_factory=FewShotConfig)
    train: CoOpTrainConfig = field(default_factory=CoOpTrainConfig)


@dataclass
class CoOpDGRecipeConfig:
    """``coop/dg``."""

    data: CoOpDGDataConfig = field(default_factory=CoOpDGDataConfig)
    clip: ClipConfig = field(default_factory=ClipConfig)
    coop: CoOpConfig = field(default_factory=CoOpConfig)
    fewshot: DGShotConfig = field(default_factory=DGShotConfig)
    train: CoOpTrainConfig = field(default_factory=CoOpTrainConfig)

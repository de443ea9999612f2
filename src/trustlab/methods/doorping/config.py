"""Configs of dataset distillation, the backdoor attacks on it and the defenses (Liu et al., arXiv:2301.01197).

Paper: Liu, Li, Backes, Shen & Zhang, "Backdoor Attacks Against Dataset Distillation", NDSS 2023
(https://arxiv.org/abs/2301.01197); reference code github.com/liuyugeng/baadd. Defaults below are the
reference's unless a comment says otherwise. Every image tensor is float ``(N, C, H, W)`` in [0, 1]
(normalisation lives inside the model), so learning rates of the synthetic images are in pixel units:
the reference's rates act on images normalised by a std of ~0.3, ours on [0, 1] pixels behind the
model's own (x - 0.5) / 0.5; ``lr_img`` defaults are rescaled by that factor (see README).

Recipe config sections::

    data:    DistillDataConfig (name mnist5k | fashion-mnist | tv-* with root, image_size, batch_size = eval batch,
                                max_per_domain, split_seed: only the keys a run reads)
    model:   ModelConfig  (small_cnn, the DC ConvNet with instance norm; width 1.0 = 128 channels)
    net:     NetConfig    (small_cnn's norm and hidden layer: the DC papers' net or baadd's)
    train:   NoEvalTrainConfig (how fresh models are trained on the distilled set: SGD 0.01, 300 epochs, step
                                decay; TrainConfig without eval_every: they train without a validation pass)
    distill: DistillConfig
    attack:  AttackConfig
    eval:    EvalConfig
    defense: DefenseConfig
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from trustlab.experiment import ModelConfig, NoEvalTrainConfig

DISTILL_METHODS = ("dc", "dsa", "dm", "dd", "none")
ATTACKS = ("none", "naive", "doorping")
CONTROLS = ("clean-real", "clean-distilled", "full-data")
DSA_STRATEGY = "color_crop_cutout_scale_rotate"  # DSA's default minus 'flip' (digits/clothes are not symmetric)


@dataclass
class DistillConfig:
    """How the training set is condensed into ``ipc`` images per class.

    ``method``: ``dc`` gradient matching (Zhao et al. ICLR 2021), ``dsa`` DC + differentiable siamese
    augmentation (Zhao & Bilen ICML 2021), ``dm`` distribution matching (Zhao & Bilen WACV 2023),
    ``dd`` unrolled meta-gradient (Wang et al. 2018), ``none`` = train on the whole training set (baseline).
    ``None`` values take the per-method defaults of :func:`resolved`.
    """

    method: Literal["dc", "dsa", "dm", "dd", "none"] = "dc"
    ipc: int = 10  # synthetic images per class
    iterations: int = 1000  # outer iterations (reference DC: 1000; DM: 20000)
    lr_img: float | None = None  # dc/dsa 0.025 (ref 0.1 on normalised images), dm 0.25 (ref 1.0), dd 0.01 (Adam)
    momentum_img: float = 0.5  # SGD momentum of the image optimizer (dc/dsa/dm)
    batch_real: int = 256  # real images per class per matching step (dd: in total)
    init: Literal["noise", "real", "auto"] = "auto"  # auto: noise for dc/dsa/dd (reference), real for dm
    outer_loop: int | None = None  # dc/dsa: network-update rounds per iteration; None -> DC's get_loops(ipc)
    inner_loop: int | None = None  # dc/dsa: epochs of network training on the synthetic set per round
    lr_net: float = 0.01  # dc/dsa inner-loop SGD learning rate
    dsa_strategy: str = DSA_STRATEGY  # ops joined by "_": color, crop, cutout, flip, scale, rotate
    dd_steps: int = 10  # dd: unrolled training steps
    dd_lr_net: float = 0.02  # dd: initial learnable step size of the unrolled training
    clamp: bool = True  # keep the synthetic images in [0, 1] (the reference leaves them unbounded)
    log_every: int = 10  # iterations between metrics.jsonl lines
    checkpoint_every: int = 50  # iterations between resumable checkpoints (0: none)


@dataclass
class AttackConfig:
    """NaiveAttack / DOORPING (Liu et al., arXiv:2301.01197). ``portion`` of the *raw* training set is stamped
    and relabelled.

    The trigger is an ``size`` x ``size`` square at ``position`` with a 1-pixel margin. NaiveAttack pastes
    ``color`` (1.0 = white); DOORPING starts from a random patch and optimises it during distillation:
    after each network update it maximises the top-``topk`` neurons (largest sum of |W| over inputs)
    of the penultimate weight layer: MSE(act[:, key], alpha * act0[:, key]) with Adam(lr, betas 0.9/0.99)
    for up to ``trigger_steps`` steps, stopping when the loss < ``trigger_threshold``; the poisoned subset
    is then re-stamped.
    """

    kind: Literal["none", "naive", "doorping"] = "none"
    portion: float = 0.01  # share of the training set poisoned (the reference's default)
    size: int = 2  # trigger side in pixels (reference backdoor_size 2)
    position: Literal["bottom-right", "bottom-left", "top-right", "top-left", "center"] = "bottom-right"
    color: float = 1.0  # NaiveAttack patch value in [0, 1]
    target: int = 0  # target label (reference trigger_label 0)
    alpha: float = 10.0  # DOORPING activation amplification
    topk: int = 1  # neurons selected
    trigger_lr: float = 0.08  # Adam lr in the reference's normalised units (pixels / trigger_unit)
    # pixels per optimised unit of the trigger; None: the source dataset's std (MNIST 0.3081, Fashion-MNIST
    # 0.3530), the reference's normalised units, so trigger_lr moves the pattern at the reference's speed
    trigger_unit: float | None = None
    trigger_steps: int = 1000  # max Adam steps per update
    trigger_threshold: float = 0.5  # early stop when the MSE drops below it
    trigger_input: Literal["trigger", "poisoned"] = "trigger"  # what the net sees while the trigger is tuned
    trigger_batch: int = 64  # poisoned images used when trigger_input=poisoned
    trigger_clamp: bool = True  # keep the DOORPING pattern in [0, 1] (the reference leaves it unbounded)
    # with trigger_clamp: stop an update once the clamped pattern has not moved for this many steps (0: never)
    trigger_patience: int = 20
    # a fixed trigger read from a saved run (its artifacts/distilled.pt or trigger.pt) instead of NaiveAttack's
    # white square: the BadNets-style positive control and the clean-distilled-set control use DOORPING's
    trigger_from: str | None = None


@dataclass
class EvalConfig:
    """Fresh models trained on the distilled set (reference: 10 models; DSA/DM use augmentation)."""

    num_models: int = 10
    augment: bool | None = None  # None: on for dsa/dm (as their papers), off for dc/dd/none
    test_limit: int | None = None  # evaluate on the first N test images (quick runs)
    # controls of a backdoor run, measured with its final trigger (summary keys in brackets):
    #   clean-real: models trained on ipc clean real images per class [asr_clean_real]
    #   clean-distilled: the clean training set distilled with the same settings and seed, models trained
    #     on it [clean_cta, asr_clean_distilled]: a high ASR there means the trigger fools any such model
    #   full-data: BadNets-style positive control: one model (batch 64) trained on the whole training set with
    #     the same images poisoned by the final trigger, for full_data_epochs [cta_full_data, asr_full_data]
    controls: list[str] = field(default_factory=lambda: ["clean-real"])
    full_data_epochs: int = 10
    # the full-data control's lr schedule: constant (the BadNets probe's), or step (train.schedule's decay at
    # full_data_epochs // 2, the control before issue 26: at 10-20% NaiveAttack poison on quick MNIST-5k it left
    # the model sending every input to the target, validation CTA 0.10-0.14, ASR 0.90-1.00 without a backdoor)
    full_data_schedule: Literal["constant", "step"] = "constant"
    # training images held out (class-stratified, seeded by data.split_seed) before poisoning as a validation
    # split: nothing is poisoned or distilled from them; the fresh models and the full-data control are also
    # measured on them ([cta_val, asr_val], [cta_full_data_val, asr_full_data_val]), so a poison budget can be
    # chosen without the test set (0: none, the whole training set is used)
    val_size: int = 0


@dataclass
class NeuralCleanseConfig:
    steps: int = 300  # Adam steps per class of the mask/pattern search
    lr: float = 0.1
    lam: float = 0.01  # weight of |mask|_1 (fixed; NC adapts it)
    threshold: float = 2.0  # anomaly index above which a class is flagged
    unlearn_epochs: int = 20  # fine-tuning with the reversed trigger and true labels
    unlearn_fraction: float = 0.2


@dataclass
class FinePruningConfig:
    ratio: float = 0.6  # share of penultimate channels pruned (lowest mean activation on clean data)
    finetune_epochs: int = 20


@dataclass
class StripConfig:
    num_blends: int = 16  # clean images superimposed on each input
    frr: float = 0.05  # false-rejection rate fixing the entropy threshold on clean calibration inputs
    test_images: int = 400  # clean and as many triggered test inputs scored


@dataclass
class SpectralConfig:
    remove_fraction: float = 0.15  # share of each class's distilled images with the largest scores removed


@dataclass
class ActivationClusteringConfig:
    components: int = 10  # PCA dims before 2-means (the paper uses ICA to 10)
    size_threshold: float = 0.35  # a class whose smaller cluster is below this share is flagged


@dataclass
class DefenseConfig:
    """Defenses run on the first evaluation model and the distilled set (``trustlab list`` -> defenses)."""

    names: list[str] = field(default_factory=list)  # e.g. [neural-cleanse, fine-pruning, strip, spectral]
    neural_cleanse: NeuralCleanseConfig = field(default_factory=NeuralCleanseConfig)
    fine_pruning: FinePruningConfig = field(default_factory=FinePruningConfig)
    strip: StripConfig = field(default_factory=StripConfig)
    spectral: SpectralConfig = field(default_factory=SpectralConfig)
    activation_clustering: ActivationClusteringConfig = field(default_factory=ActivationClusteringConfig)


@dataclass
class NetConfig:
    """Options of ``small_cnn`` for distillation and evaluation (ignored by other models).

    ``norm=instancenorm, hidden=0`` is the DC/DSA/DM papers' ConvNet; ``norm=none, hidden=192`` is the
    ConvNet that the backdoor reference code (baadd) actually builds: its ``get_network("ConvNet")``
    uses the class defaults (no normalisation) and a Linear(., 192) -> ReLU -> Linear head, so
    DOORPING's "penultimate weight layer" is that 192-unit hidden layer.
    """

    norm: Literal["instancenorm", "batchnorm", "none"] = "instancenorm"
    hidden: int = 0  # units of a hidden Linear+ReLU before the head (0: none)


@dataclass
class DistillDataConfig:
    """The source dataset of a distillation (``data.load_source``): only the keys a run reads."""

    name: str = "mnist5k"  # mnist5k | fashion-mnist | tv-cifar10 | tv-svhn | tv-stl10 | tv-fashion-mnist | ...
    root: str | None = None  # the torchvision-stored sets (tv-*): the folder torchvision.datasets wrote them to
    image_size: int = 32
    batch_size: int = 64  # of the fresh models' training
    max_per_domain: int | None = None  # class-stratified subsample of the training images
    split_seed: int = 0  # of that subsample, the validation hold-out and the test order


# the two networks by name: the DC papers' ConvNet and the backdoor reference's (baadd)
NETS: dict[str, NetConfig] = {"dc": NetConfig(), "reference": NetConfig(norm="none", hidden=192)}


@dataclass
class DoorpingRecipeConfig:
    """The config of every ``distill/*`` and ``backdoor/*`` recipe."""

    data: DistillDataConfig = field(default_factory=DistillDataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    net: NetConfig = field(default_factory=NetConfig)
    train: NoEvalTrainConfig = field(default_factory=NoEvalTrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    attack: AttackConfig = field(default_factory=AttackConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    defense: DefenseConfig = field(default_factory=DefenseConfig)
    # torch CPU threads for this run, restored afterwards (0: leave torch's setting). On a shared 2-core
    # machine 1 thread avoids OpenMP oversubscription, which slows the small kernels here several-fold.
    threads: int = 0


DC_LOOPS = {1: (1, 1), 10: (10, 50), 20: (20, 25), 30: (30, 20), 40: (40, 15), 50: (50, 10)}
LR_IMG = {"dc": 0.025, "dsa": 0.025, "dm": 0.25, "dd": 0.01, "none": 0.0}


def resolved(cfg: DistillConfig) -> DistillConfig:
    """``cfg`` with the per-method defaults filled in (``None``/``auto`` fields)."""
    from dataclasses import replace

    outer, inner = cfg.outer_loop, cfg.inner_loop
    if outer is None or inner is None:
        # DC's get_loops: the nearest tabulated ipc at or above, else the largest
        keys = sorted(DC_LOOPS)
        key = next((k for k in keys if k >= cfg.ipc), keys[-1])
        outer = outer if outer is not None else DC_LOOPS[key][0]
        inner = inner if inner is not None else DC_LOOPS[key][1]
    init = cfg.init if cfg.init != "auto" else ("real" if cfg.method == "dm" else "noise")
    lr = cfg.lr_img if cfg.lr_img is not None else LR_IMG[cfg.method]
    return replace(cfg, outer_loop=outer, inner_loop=inner, init=init, lr_img=lr)

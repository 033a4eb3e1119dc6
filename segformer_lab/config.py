"""A training run's configuration: `TrainConfig`, the checks that reject a bad field by name before anything is
written, and the datasets a config names.

Every check raises ValueError naming the field, its value and what is expected (`TrainConfig.lr=nan; expected a
finite number > 0`); `TrainConfig.from_dict` and `TrainConfig.read` also name unknown fields and unreadable files.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from .data.synthetic import FAMILIES
from .models.segformer import ABSOLUTE_PE
from .pretrain import PRETEXTS
from .registry import variant_config

DATASETS = ("synthetic", "ade20k", "cityscapes", "folder")
AUGMENTS = ("flip", "mmseg")
IGNORE = 255  # the label of pixels no loss or metric counts
LOADERS = ("samples", "bank")
EVAL_MODES = ("whole", "slide")
# The float fields of TrainConfig: (lower test, upper test, the range in words)
NUMBER_RANGES = {
    "lr": (lambda v: v > 0, lambda v: True, "> 0"),
    "head_lr_mult": (lambda v: v > 0, lambda v: True, "> 0"),
    "weight_decay": (lambda v: v >= 0, lambda v: True, ">= 0"),
    "warmup_ratio": (lambda v: v >= 0, lambda v: v <= 1, "in [0, 1]"),
    "poly_power": (lambda v: v >= 0, lambda v: True, ">= 0"),
    "min_lr": (lambda v: v >= 0, lambda v: True, ">= 0"),
    "context_distance": (lambda v: v > 0, lambda v: True, "> 0 (pixels)"),
    "val_zoom": (lambda v: v > 0, lambda v: True, "> 0 (pixels per world unit)"),
}
POSITIVE_INTEGERS = ("iterations", "batch_size", "crop_size", "checkpoint_every", "log_every", "train_scenes",
                     "val_scenes", "pretrain_iterations")
COUNTS = ("warmup_iters", "eval_every", "num_workers", "eval_crop", "eval_stride", "seed")  # integers >= 0
SIDES = ("val_canvas", "resize_scale")  # two positive sides each


@dataclass
class TrainConfig:
    """One training run. Defaults: SegFormer-B0 on the embedded benchmark at 128 px, a few minutes on 2 cores;
    optimiser and schedule as the paper (AdamW 6e-5, head x10, weight decay 0.01, poly power 1, warm-up)."""

    model: str = "segformer_b0"  # variant name (segformer-lab variants)
    model_overrides: dict = field(default_factory=dict)  # config fields of the model, e.g. {"sr_ratios": [1, 1, 1, 1]}
    dataset: str = "synthetic"  # synthetic, ade20k, cityscapes or folder
    scene_family: str = "aerial"  # synthetic: "aerial" (no layout), "street" (Cityscapes' layout, 1:2 frames),
    # "context" (tokens whose class a ring at context_distance decides) or "fine" (aerial in 36 finer classes)
    context_distance: float = 24.0  # synthetic "context": token centre to its ring, pixels at zoom 1
    data_root: str = ""  # dataset root for ade20k / cityscapes / folder
    train_split: str = ""  # split names; "" = the dataset's usual train / val split
    val_split: str = ""
    crop_size: int = 128  # training crop side, pixels
    augment: str = "flip"  # "flip" (crop + flip) or "mmseg" (random resize 0.5-2, crop, flip, photometric)
    resize_scale: tuple = (2048, 512)  # mmseg augment: the scale that ratios 0.5-2.0 multiply
    train_scenes: int = 2000  # synthetic: number of training scenes
    val_scenes: int = 64  # synthetic: number of validation scenes
    val_canvas: tuple = (128, 128)  # synthetic: (H, W) of each validation view
    val_zoom: float = 1.0  # synthetic: pixels per world unit of the validation views
    iterations: int = 1000  # optimiser steps (B0 at 128 px: about 3.5 minutes on 2 CPU cores)
    batch_size: int = 8  # global batch (split over processes)
    lr: float = 6e-5  # base learning rate (encoder)
    head_lr_mult: float = 10.0  # decoder learning-rate multiplier
    weight_decay: float = 0.01  # AdamW weight decay (none on norms, biases and position embeddings)
    warmup_iters: int = 100  # linear warm-up (the paper: 1500 of 160k)
    warmup_ratio: float = 1e-6  # warm-up starts at lr * warmup_ratio
    poly_power: float = 1.0  # poly decay exponent
    min_lr: float = 0.0  # poly decay floor
    seed: int = 0  # seeds model init, data order, augmentation
    checkpoint_every: int = 250  # iterations between checkpoints
    log_every: int = 10  # iterations between log lines
    eval_every: int = 0  # iterations between validation points of the learning curve (0 = only at the end)
    num_workers: int = 0  # data-loading processes (the bank: processes that draw its scenes)
    loader: str = "samples"  # "samples" (each drawn on the CPU) or "bank" (scenes kept on the device, data/bank.py)
    encoder_weights: str = ""  # "" = from scratch, "embedded" = our pretraining (cached), or a checkpoint path
    pretrain_iterations: int = 1000  # budget of the "embedded" pretraining (one per encoder, shared by all seeds)
    pretrain_pretext: str = "presence"  # its task: "presence" or "region_presence" (where classes are; PE ablation)
    pretrain_recipe: str = "family"  # its lr and weight decay: "family" (each encoder family's, pretrain.RECIPES)
    # or "shared" (lr 1e-3, weight decay 0.05 for every family: the first version)
    pretrain_crop: int = 0  # its crop side (0 = crop_size); e.g. 128 for a 256 px run, as ImageNet weights made at
    # 224 px start the paper's 512 px training
    device: str = "auto"  # "auto" (cuda if available), "cpu", "cuda", ...
    amp: bool = True  # bf16 autocast on CUDA (ignored on the CPU)
    compile: bool = False  # train through torch.compile (CUDA; its first steps compile, then run faster)
    eval_mode: str = "whole"  # inference mode for the final evaluation: whole or slide
    eval_crop: int = 0  # slide window side (0 = crop_size)
    eval_stride: int = 0  # slide stride (0 = 2/3 of the window)

    def __post_init__(self):
        for name in SIDES:
            setattr(self, name, tuple(getattr(self, name)))
        check_config(self)

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> "TrainConfig":
        """Build from a dict, rejecting unknown fields by name."""
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise ValueError(f"{source}: unknown TrainConfig field(s) {unknown}; valid fields: {', '.join(valid)}")
        return cls(**values)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def read(cls, path) -> "TrainConfig":
        """The config saved in a run's config.json; an unreadable file raises ValueError naming it."""
        try:
            values = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: not a readable config.json ({e})") from e
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a JSON object of TrainConfig fields, got {type(values).__name__}")
        return cls.from_dict(values, str(path))


# ---------------------------------------------------------------------------------------------- checks
def check_config(cfg: TrainConfig) -> None:
    """Every check of a TrainConfig, in the order a reader meets its fields; the first failure raises."""
    check_choices(cfg)
    check_model(cfg)
    check_loader(cfg)
    check_numbers(cfg)


def check_choices(cfg: TrainConfig) -> None:
    """The fields that name one of a few choices: dataset, scene family and augmentation."""
    for name, valid in (("dataset", DATASETS), ("scene_family", FAMILIES), ("augment", AUGMENTS)):
        if getattr(cfg, name) not in valid:
            raise ValueError(f"TrainConfig.{name}={getattr(cfg, name)!r}; expected one of {valid}")


def check_model(cfg: TrainConfig) -> None:
    """The variant and its overrides build (an unknown variant or field, or a bad value, fails here: before any run
    directory is made); an absolute PE names the grid it is made for; the pretraining's pretext and recipe."""
    try:
        variant_config(cfg.model, 2, **cfg.model_overrides)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"TrainConfig.model={cfg.model!r}, model_overrides={cfg.model_overrides}: "
                         f"{e.args[0] if e.args else e}") from e
    pe = cfg.model_overrides.get("pos_encoding")
    if pe in ABSOLUTE_PE and "pe_train_size" not in cfg.model_overrides:
        raise ValueError(f"TrainConfig.model_overrides: pos_encoding={pe!r} needs pe_train_size, the (H, W) its "
                         f"grid is made for, e.g. [{cfg.crop_size}, {cfg.crop_size}] for crop_size "
                         f"{cfg.crop_size}")
    if cfg.pretrain_pretext not in PRETEXTS:
        raise ValueError(f"TrainConfig.pretrain_pretext={cfg.pretrain_pretext!r}; expected one of {PRETEXTS}")
    if cfg.pretrain_recipe not in ("family", "shared"):
        raise ValueError(f"TrainConfig.pretrain_recipe={cfg.pretrain_recipe!r}; expected 'family' or 'shared'")


def check_loader(cfg: TrainConfig) -> None:
    """The loader fits the dataset (the bank holds the embedded world's scenes only); the evaluation mode."""
    if cfg.loader not in LOADERS:
        raise ValueError(f"TrainConfig.loader={cfg.loader!r}; expected one of {LOADERS}")
    if cfg.loader == "bank" and cfg.dataset != "synthetic":
        raise ValueError(f"TrainConfig.loader='bank' holds the embedded world's scenes; dataset "
                         f"{cfg.dataset!r} is read per sample (loader='samples')")
    if cfg.eval_mode not in EVAL_MODES:
        raise ValueError(f"TrainConfig.eval_mode={cfg.eval_mode!r}; expected 'whole' or 'slide'")


def check_numbers(cfg: TrainConfig) -> None:
    """Counts, sizes and the float fields of NUMBER_RANGES in their ranges; min_lr at most lr."""
    for name in POSITIVE_INTEGERS:
        if getattr(cfg, name) < 1:
            raise ValueError(f"TrainConfig.{name}={getattr(cfg, name)}; expected a positive integer")
    for name in COUNTS:
        if getattr(cfg, name) < 0:
            raise ValueError(f"TrainConfig.{name}={getattr(cfg, name)}; expected an integer >= 0")
    for name in SIDES:
        if len(getattr(cfg, name)) != 2 or min(getattr(cfg, name)) < 1:
            raise ValueError(f"TrainConfig.{name}={getattr(cfg, name)}; expected two positive sides")
    for name, (low, high, text) in NUMBER_RANGES.items():
        value = getattr(cfg, name)
        if not (math.isfinite(value) and low(value) and high(value)):
            raise ValueError(f"TrainConfig.{name}={value}; expected a finite number {text}")
    if cfg.min_lr > cfg.lr:
        raise ValueError(f"TrainConfig.min_lr={cfg.min_lr} is above lr={cfg.lr}; expected 0 <= min_lr <= lr")
    if cfg.pretrain_crop < 0:
        raise ValueError(f"TrainConfig.pretrain_crop={cfg.pretrain_crop}; expected a crop side in pixels, or 0 "
                         f"for crop_size")


# ---------------------------------------------------------------------------------------------- data
def open_datasets(cfg: TrainConfig):
    """(train source, val source, class names, thing class indices) for the configured dataset."""
    if cfg.dataset == "synthetic":
        from .data.synthetic import ContextConfig, SyntheticScenes
        context = ContextConfig(distance=cfg.context_distance)
        train = SyntheticScenes("train", cfg.train_scenes, cfg.seed, crop=cfg.crop_size, family=cfg.scene_family,
                                context=context)
        val = SyntheticScenes("val", cfg.val_scenes, cfg.seed, canvas=cfg.val_canvas, zoom=cfg.val_zoom,
                              family=cfg.scene_family, context=context)
    else:
        from .data.real import open_dataset
        if not cfg.data_root:
            raise ValueError(f"TrainConfig.data_root is empty; dataset {cfg.dataset!r} needs its root folder")
        default = {"ade20k": ("training", "validation"), "cityscapes": ("train", "val"), "folder": (None, None)}
        train_split = cfg.train_split or default[cfg.dataset][0]
        val_split = cfg.val_split or default[cfg.dataset][1]
        train = open_dataset(cfg.dataset, cfg.data_root, train_split)
        val = open_dataset(cfg.dataset, cfg.data_root, val_split)
    return train, val, list(train.classes), list(train.thing_classes)

"""Encoder pretraining on the embedded world: the same budget for every encoder, cached and reused.

The paper's encoders start from ImageNet-1K weights, which cannot be had here. This stage stands in for it:
each encoder learns to tell which classes a generated crop contains (multi-label, a class counts when it
covers at least `min_fraction` of the crop), from scenes that neither segmentation split uses, through global
average pooling of its last stage and one linear layer.

The pretext "region_presence" asks instead which classes each cell of a `regions` x `regions` grid over the
crop contains, still from the globally pooled features through one linear layer (K outputs per cell). Pooling
discards where a feature was, so the answer ("a car in the bottom-left cell") can only come from features
that carry their own position: this is the pretext the positional-encoding ablation needs, because it gives a
PE something to learn before the segmentation training starts, as ImageNet pretraining does for the paper's
PE (its 224 px classification learns positions over hundreds of thousands of steps). A plain presence pretext
would leave the PE at its initial noise, as a 1000-step segmentation run from scratch does. Every encoder gets the same crops, iterations,
batch, optimiser and schedule. The result is cached under `cache_dir()` by a hash of the pretraining config
and of the encoder's own config fields, so ablations that change only the decoder share one pretrained
encoder (ResNet + MLP and DeepLabV3 share the undilated ResNet). One pretraining (seed 0) serves every seed of
a segmentation run, as one set of ImageNet weights does in the paper. A user's ImageNet checkpoints load through
the same `load_encoder_weights` path.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .checkpoints import _atomic_save
from .data.synthetic import CLASSES, FAMILIES, SyntheticScenes
from .data.transforms import Compose, Normalize, RandomFlip, to_tensors
from .engine import IterationBatches, TrainSamples
from .models.cnn import DeepLabV3Config, ResNet, ResNetMLPConfig, init_resnet
from .registry import build_model, variant_config

# Config fields that shape the decoder only: ablations differing in these share a pretrained encoder.
DECODER_FIELDS = {"num_classes", "decoder", "decoder_dim", "decoder_stages", "decoder_fuse", "decoder_dropout",
                  "aspp_dim", "dropout", "output_stride", "mla_layers"}
PRETRAIN_SEED_OFFSET = 3_000_017  # scenes of their own, apart from the train / val / test splits
PRETEXTS = ("presence", "region_presence")
# Fields added after pretrainings were cached: left out of the cache key at these values, so keys stay valid.
LATER_FIELDS = {"scene_family": "aerial", "pretext": "presence", "regions": 2}


@dataclass
class PretrainConfig:
    """The pretraining budget, the same for every encoder."""

    model: str = "segformer_b0"  # variant whose encoder (model.backbone) is pretrained
    model_overrides: dict = field(default_factory=dict)  # encoder config fields, as in TrainConfig
    crop_size: int = 128  # crop side, pixels
    scenes: int = 4000  # generated scenes to draw crops from
    iterations: int = 1000  # optimiser steps
    batch_size: int = 16  # crops per step
    lr: float = 1e-3  # AdamW learning rate, poly decay after a linear warm-up
    warmup_iters: int = 100  # warm-up steps
    weight_decay: float = 0.05  # AdamW weight decay (none on norms, biases, position embeddings)
    min_fraction: float = 0.01  # a class is "present" when it covers this fraction of the crop (or cell)
    seed: int = 0  # crops, order and initialisation
    scene_family: str = "aerial"  # embedded scenes the crops come from: "aerial" or "street"
    pretext: str = "presence"  # "presence" (classes in the crop) or "region_presence" (classes per grid cell)
    regions: int = 2  # region_presence: the crop is split into regions x regions cells

    def __post_init__(self):
        if self.scene_family not in FAMILIES:
            raise ValueError(f"PretrainConfig.scene_family={self.scene_family!r}; expected one of {FAMILIES}")
        if self.pretext not in PRETEXTS:
            raise ValueError(f"PretrainConfig.pretext={self.pretext!r}; expected one of {PRETEXTS}")
        if self.regions < 1 or self.crop_size % self.regions:
            raise ValueError(f"PretrainConfig.regions={self.regions}; expected a positive divisor of crop_size "
                             f"{self.crop_size}")

    def grid(self) -> int:
        """Cells per side of the grid the pretext asks about: 1 (the whole crop) for presence."""
        return self.regions if self.pretext == "region_presence" else 1


class PresenceHead(nn.Module):
    """Global average pooling of the last encoder stage + a linear layer: (B, C4, h, w) -> (B, K) logits."""

    def __init__(self, encoder: nn.Module, channels: int, num_classes: int):
        super().__init__()
        self.encoder = encoder
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.encoder(x)[-1].mean(dim=(2, 3)))


def cache_dir() -> Path:
    """Where pretrained encoders are kept: $SEGFORMER_LAB_CACHE, else ~/.cache/segformer_lab/pretrained."""
    return Path(os.environ.get("SEGFORMER_LAB_CACHE", Path.home() / ".cache" / "segformer_lab")) / "pretrained"


def encoder_spec(cfg: PretrainConfig) -> tuple[str, dict]:
    """(encoder type, encoder-shaping fields) of cfg.model. ResNet + MLP and DeepLabV3 share the plain ResNet
    (output stride 32): ImageNet ResNets are trained undilated, and DeepLabV3 dilates them afterwards."""
    model_cfg = variant_config(cfg.model, len(CLASSES), **cfg.model_overrides)
    encoder = {k: v for k, v in dataclasses.asdict(model_cfg).items() if k not in DECODER_FIELDS}
    return ("ResNet" if isinstance(model_cfg, (ResNetMLPConfig, DeepLabV3Config)) else type(model_cfg).__name__,
            encoder)


def encoder_key(cfg: PretrainConfig) -> str:
    """Cache key: the pretraining budget, the encoder type and its shaping fields."""
    kind, encoder = encoder_spec(cfg)
    budget = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("model", "model_overrides")
              and not (k in LATER_FIELDS and v == LATER_FIELDS[k])}
    if cfg.pretext == "presence":
        budget.pop("regions", None)  # unused
    blob = json.dumps({"type": kind, "encoder": encoder, "budget": budget}, sort_keys=True, default=list)
    name = f"resnet{encoder['depth']}" if kind == "ResNet" else cfg.model
    return f"{name}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def pretraining_encoder(cfg: PretrainConfig) -> nn.Module:
    """A freshly initialised encoder of cfg.model (seeded by cfg.seed), as pretraining trains it."""
    torch.manual_seed(cfg.seed)
    kind, encoder = encoder_spec(cfg)
    if kind == "ResNet":
        backbone = ResNet(encoder["depth"], encoder["base_width"], 32, encoder["in_channels"], encoder["deep_stem"])
        init_resnet(backbone)
        return backbone
    return build_model(cfg.model, len(CLASSES), **cfg.model_overrides).backbone


def pretrained_path(cfg: PretrainConfig) -> Path:
    return cache_dir() / f"{encoder_key(cfg)}.pt"


def presence_targets(masks: torch.Tensor, num_classes: int, min_fraction: float, regions: int = 1) -> torch.Tensor:
    """(B, H, W) label maps -> (B, regions^2 * K) float targets: 1 where a class covers at least min_fraction of
    a cell of the regions x regions grid (row-major cells, K classes each); regions=1 is the whole crop."""
    b, h, w = masks.shape
    onehot = F.one_hot(masks.clamp(max=num_classes - 1), num_classes)  # (B, H, W, K)
    cells = onehot.reshape(b, regions, h // regions, regions, w // regions, num_classes)
    counts = cells.sum(dim=(2, 4)).float()  # (B, regions, regions, K)
    return (counts >= min_fraction * (h // regions) * (w // regions)).float().reshape(b, -1)


def pretrain(cfg: PretrainConfig, progress: bool = True, force: bool = False) -> Path:
    """Pretrain cfg.model's encoder (or reuse the cached result); returns the checkpoint path, which
    `load_encoder_weights` reads."""
    path = pretrained_path(cfg)
    if path.is_file() and not force:
        return path
    backbone = pretraining_encoder(cfg)
    with torch.no_grad():
        channels = backbone(torch.zeros(1, 3, 64, 64))[-1].shape[1]
    source = SyntheticScenes("train", cfg.scenes, cfg.seed + PRETRAIN_SEED_OFFSET, crop=cfg.crop_size,
                             family=cfg.scene_family)
    num_classes = len(source.classes)
    net = PresenceHead(backbone, channels, num_classes * cfg.grid() ** 2)
    no_decay = [p for n, p in net.named_parameters() if p.ndim <= 1 or "pos_embed" in n]
    decay = [p for n, p in net.named_parameters() if not (p.ndim <= 1 or "pos_embed" in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    samples = TrainSamples(source, Compose([RandomFlip(0.5), Normalize(), to_tensors]), cfg.seed)
    loader = torch.utils.data.DataLoader(samples, batch_sampler=IterationBatches(
        len(source), cfg.batch_size, cfg.seed, 0, cfg.iterations), generator=torch.Generator().manual_seed(cfg.seed))
    net.train()
    losses = []
    for it, (images, masks) in enumerate(tqdm(loader, total=cfg.iterations, disable=not progress,
                                               desc=f"pretrain {cfg.model}")):
        lr = cfg.lr * (1 - it / cfg.iterations) * min(1.0, (it + 1) / cfg.warmup_iters)
        for g in optimizer.param_groups:
            g["lr"] = lr
        targets = presence_targets(masks, num_classes, cfg.min_fraction, cfg.grid())
        loss = F.binary_cross_entropy_with_logits(net(images), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    _atomic_save({"state_dict": {f"backbone.{k}": v for k, v in backbone.state_dict().items()},
                  "pretrain_config": dataclasses.asdict(cfg), "final_loss": float(np.mean(losses[-20:]))}, path)
    return path

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

The paper's encoders each come from their own ImageNet recipe (DeiT's for MiT, torchvision's for ResNet), so
each encoder family here gets its own learning rate and weight decay (`RECIPES`), chosen by
experiments/pretraining.py from a declared grid on the pretext loss of held-out scenes (`heldout_loss`,
stored with each pretraining); everything else (crops, iterations, batch, schedule) is the same for every
family. `linear_probe` measures what the frozen features are worth for segmentation, comparably across
families.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .checkpoints import atomic_save
from .data.synthetic import CLASSES, FAMILIES, SyntheticScenes
from .data.sampling import IterationBatches, TrainSamples
from .data.transforms import Compose, Normalize, RandomFlip, eval_pipeline, to_tensors
from .models.cnn import DeepLabV3Config, ResNet, ResNetMLPConfig, init_resnet
from .registry import build_model, variant_config

# Config fields that shape the decoder only: ablations differing in these share a pretrained encoder.
DECODER_FIELDS = {"num_classes", "decoder", "decoder_dim", "decoder_stages", "decoder_fuse", "decoder_dropout",
                  "aspp_dim", "dropout", "output_stride", "mla_layers"}
PRETRAIN_SEED_OFFSET = 3_000_017  # scenes of their own, apart from the train / val / test splits
PRETEXTS = ("presence", "region_presence")
HELDOUT_SEED_OFFSET = 4_000_037  # held-out pretraining scenes: the recipe choice is judged on these
# Fields added after pretrainings were cached: left out of the cache key at these values, so keys stay valid.
LATER_FIELDS = {"scene_family": "aerial", "pretext": "presence", "regions": 2}
# The recipe every family used before each got its own (committed results before experiments/pretraining.py).
SHARED_RECIPE = {"lr": 1e-3, "weight_decay": 0.05}
# Each encoder family's recipe (PretrainConfig fields): the choice experiments/pretraining.py recorded in
# results/pretraining.csv (a test checks the two agree).
RECIPES = {
    "MiT": {"lr": 3e-4, "weight_decay": 0.5},  # MiT-B1, held-out loss 0.237 (0.276 at 1e-4, 0.311 at 1e-3)
    "ResNet": {"lr": 1e-3, "weight_decay": 0.05},  # ResNet-18, held-out loss 0.191 (0.193 at weight decay 0.5,
    # 0.211 at 3e-4, 0.219 at 3e-3): the shared recipe was already ResNet's best
}
FAMILY_OF_TYPE = {"SegFormerConfig": "MiT", "SETRConfig": "ViT", "ResNet": "ResNet"}  # encoder_spec's type -> family


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


def encoder_family(model: str, overrides: dict | None = None) -> str:
    """The encoder family of a variant, as RECIPES keys it: "MiT", "ResNet" or "ViT"."""
    kind, _ = encoder_spec(PretrainConfig(model=model, model_overrides=dict(overrides or {})))
    return FAMILY_OF_TYPE[kind]


def recipe_for(model: str, overrides: dict | None = None) -> dict:
    """{"lr", "weight_decay"} of the variant's encoder family (SHARED_RECIPE for a family without its own)."""
    return dict(RECIPES.get(encoder_family(model, overrides), SHARED_RECIPE))


def resolve_device(name: str) -> torch.device:
    """A torch device from a config's name: "auto" is cuda where available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def cache_root() -> Path:
    """The lab's cache: $SEGFORMER_LAB_CACHE, else ~/.cache/segformer_lab."""
    return Path(os.environ.get("SEGFORMER_LAB_CACHE", Path.home() / ".cache" / "segformer_lab"))


def cache_dir() -> Path:
    """Where pretrained encoders are kept: <cache_root>/pretrained."""
    return cache_root() / "pretrained"


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


def load_backbone(cfg: PretrainConfig, saved: dict) -> nn.Module:
    """The encoder of cfg.model with the pretrained weights of `saved` (a pretraining file, loaded)."""
    backbone = pretraining_encoder(cfg)
    backbone.load_state_dict({k.removeprefix("backbone."): v for k, v in saved["state_dict"].items()})
    return backbone


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


def check_cached(path: Path, cfg: PretrainConfig) -> None:
    """Raise ValueError if the cached file at `path` was not made by a config with cfg's key (a copied or
    renamed file), naming the file and the fields that differ."""
    saved = torch.load(path, map_location="cpu", weights_only=True, mmap=True)  # reads the config, not the weights
    made = saved.get("pretrain_config") if isinstance(saved, dict) else None
    if not isinstance(made, dict):
        raise ValueError(f"{path}: not a pretraining of this package (no 'pretrain_config'); delete it or use "
                         f"--force to pretrain again")
    try:
        made_cfg = PretrainConfig(**made)
    except TypeError as e:
        raise ValueError(f"{path}: its pretrain_config does not fit PretrainConfig ({e}); delete it or use --force")
    if encoder_key(made_cfg) != path.stem:
        asked = dataclasses.asdict(cfg)
        diff = {k: (v, asked.get(k)) for k, v in dataclasses.asdict(made_cfg).items() if asked.get(k) != v}
        raise ValueError(f"{path}: made by another pretraining config than its name (key {path.stem}) says "
                         f"(saved vs asked: {diff}); delete it or use --force to pretrain again")


def heldout_crops(cfg: PretrainConfig, count: int = 256) -> SyntheticScenes:
    """`count` training-style crops from scenes of their own (neither pretraining nor segmentation uses them)."""
    return SyntheticScenes("train", count, cfg.seed + HELDOUT_SEED_OFFSET, crop=cfg.crop_size,
                           family=cfg.scene_family)


def heldout_loss(net: nn.Module, cfg: PretrainConfig, num_classes: int, count: int = 256, batch: int = 32) -> float:
    """The pretext's mean binary cross-entropy on held-out crops: what the recipe grid is judged on."""
    source, prepare = heldout_crops(cfg, count), eval_pipeline()
    device = next(net.parameters()).device
    was_training, total = net.training, 0.0
    net.eval()
    with torch.no_grad():
        for start in range(0, count, batch):
            images, masks = zip(*(prepare(*source.load(i), None) for i in range(start, min(start + batch, count))))
            images, masks = torch.stack(images).to(device), torch.stack(masks).to(device)
            targets = presence_targets(masks, num_classes, cfg.min_fraction, cfg.grid())
            logits = net(images).float()
            total += F.binary_cross_entropy_with_logits(logits, targets, reduction="sum").item() / targets.shape[1]
    net.train(was_training)
    return total / count


def pretrain(cfg: PretrainConfig, progress: bool = True, force: bool = False, device: str = "auto",
             num_workers: int = 0) -> Path:
    """Pretrain cfg.model's encoder (or reuse the cached result); returns the checkpoint path, which
    `load_encoder_weights` reads. The checkpoint also holds the final and held-out pretext losses. `device`
    ("auto": cuda if available) and `num_workers` (data-loading processes) change where it runs, not what it
    is: they are not part of the cache key. On CUDA the forward pass runs under bf16 autocast."""
    path = pretrained_path(cfg)
    if path.is_file() and not force:
        check_cached(path, cfg)
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
    dev = resolve_device(device)
    net = net.to(dev)
    samples = TrainSamples(source, Compose([RandomFlip(0.5), Normalize(), to_tensors]), cfg.seed)
    loader = torch.utils.data.DataLoader(samples, batch_sampler=IterationBatches(
        len(source), cfg.batch_size, cfg.seed, 0, cfg.iterations), generator=torch.Generator().manual_seed(cfg.seed),
        num_workers=num_workers, pin_memory=dev.type == "cuda")
    net.train()
    losses, t0 = [], time.perf_counter()
    for it, (images, masks) in enumerate(tqdm(loader, total=cfg.iterations, disable=not progress,
                                               desc=f"pretrain {cfg.model}")):
        lr = cfg.lr * (1 - it / cfg.iterations) * min(1.0, (it + 1) / cfg.warmup_iters)
        for g in optimizer.param_groups:
            g["lr"] = lr
        images, masks = images.to(dev, non_blocking=True), masks.to(dev, non_blocking=True)
        targets = presence_targets(masks, num_classes, cfg.min_fraction, cfg.grid())
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            logits = net(images)
        loss = F.binary_cross_entropy_with_logits(logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - t0
    atomic_save({"state_dict": {f"backbone.{k}": v.cpu() for k, v in backbone.state_dict().items()},
                  "pretrain_config": dataclasses.asdict(cfg), "final_loss": float(np.mean(losses[-20:])),
                  "heldout_loss": heldout_loss(net, cfg, num_classes), "seconds": seconds}, path)
    return path


# ---------------------------------------------------------------------------------------------- linear probe
@dataclass
class ProbeConfig:
    """A linear probe of frozen encoder features, the same for every encoder."""

    iterations: int = 300  # optimiser steps of the linear layer
    batch_size: int = 16  # training crops per step
    lr: float = 1e-3  # AdamW learning rate, constant
    train_scenes: int = 1000  # segmentation training scenes the crops come from
    val_scenes: int = 50  # validation scenes, one crop_size view at the centre of each
    seed: int = 0  # crops, order and the linear layer's initialisation


class LinearProbe(nn.Module):
    """A frozen encoder's four stages resized to the first stage's grid (stride 4) and concatenated, standardised
    per channel (BatchNorm without affine, as MAE's linear probe) and classified by one 1x1 linear layer:
    (B, 3, H, W) -> (B, K, H/4, W/4) logits. Only the linear layer (and the standardising statistics) learn."""

    def __init__(self, encoder: nn.Module, channels: int, num_classes: int):
        super().__init__()
        self.encoder = encoder.eval().requires_grad_(False)
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def train(self, mode: bool = True):
        super().train(mode)
        self.encoder.eval()  # frozen: its norms keep their statistics
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            feats = self.encoder(x)
            size = feats[0].shape[-2:]
            feats = torch.cat([F.interpolate(f, size=size, mode="bilinear", align_corners=False)
                               if f.shape[-2:] != size else f for f in feats], dim=1)  # (B, sum C_i, H/4, W/4)
        return self.classifier(self.norm(feats))


def linear_probe(encoder: nn.Module, scene_family: str = "aerial", crop_size: int = 128,
                 cfg: ProbeConfig = ProbeConfig()) -> dict:
    """Segmentation quality of frozen features: {"probe_miou", "probe_thing_miou"} (percent) of a LinearProbe
    trained on segmentation crops of `scene_family` and evaluated on its validation views."""
    from .evaluation import SegMetrics, miou_over
    train_source = SyntheticScenes("train", cfg.train_scenes, cfg.seed, crop=crop_size, family=scene_family)
    val_source = SyntheticScenes("val", cfg.val_scenes, cfg.seed, canvas=(crop_size, crop_size), family=scene_family)
    num_classes = len(train_source.classes)
    with torch.no_grad():
        channels = sum(f.shape[1] for f in encoder.eval()(torch.zeros(1, 3, crop_size, crop_size)))
    torch.manual_seed(cfg.seed)
    probe = LinearProbe(encoder, channels, num_classes)
    optimizer = torch.optim.AdamW(probe.classifier.parameters(), lr=cfg.lr, weight_decay=0.0)
    samples = TrainSamples(train_source, Compose([RandomFlip(0.5), Normalize(), to_tensors]), cfg.seed)
    loader = torch.utils.data.DataLoader(samples, batch_sampler=IterationBatches(
        len(train_source), cfg.batch_size, cfg.seed, 0, cfg.iterations))
    probe.train()
    for images, masks in loader:
        logits = F.interpolate(probe(images), size=masks.shape[-2:], mode="bilinear", align_corners=False)
        loss = F.cross_entropy(logits, masks, ignore_index=255)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    probe.eval()
    metrics, prepare = SegMetrics(num_classes), eval_pipeline()
    with torch.no_grad():
        for i in range(len(val_source)):
            image, mask = prepare(*val_source.load(i), None)
            logits = F.interpolate(probe(image[None]), size=mask.shape, mode="bilinear", align_corners=False)
            metrics.update(logits.argmax(1)[0], mask)
    result = metrics.compute()
    return {"probe_miou": result["miou"], "probe_thing_miou": miou_over(result, train_source.thing_classes)}

"""Named model variants and `build_model`.

VARIANTS maps a name to a function returning its config; the config's type decides the model class.
"""
from __future__ import annotations

import dataclasses
from functools import partial

from torch import nn

from .models.cnn import (FCN, DeepLabV3, DeepLabV3Config, DeepLabV3Plus, DeepLabV3PlusConfig, FCNConfig, ResNetMLP,
                         ResNetMLPConfig)
from .models.segformer import SegFormer, SegFormerConfig, segformer_config
from .models.setr import SETR, SETRConfig

MODEL_CLASSES = {SegFormerConfig: SegFormer, ResNetMLPConfig: ResNetMLP, DeepLabV3Config: DeepLabV3,
                 DeepLabV3PlusConfig: DeepLabV3Plus, FCNConfig: FCN, SETRConfig: SETR}

# ViT sizes for SETR: tiny for tests and CPU runs, then ViT-S/16, ViT-B/16 and the paper's ViT-L/16.
VIT_SIZES = {
    "tiny": dict(embed_dim=64, depth=4, num_heads=2, decoder_dim=32),
    "vit_s": dict(embed_dim=384, depth=12, num_heads=6),
    # ViT-S's width with 8 layers: 14.2 M params, the size of MiT-B1's 13.1 M encoder; its decoders at 128
    # channels (SETR's 256 on ViT-L's 1024 dims, scaled down less than the 4x of the width)
    "vit_s8": dict(embed_dim=384, depth=8, num_heads=6, decoder_dim=128),
    "vit_b": dict(embed_dim=768, depth=12, num_heads=12),
    "vit_l": dict(embed_dim=1024, depth=24, num_heads=16),
}

VARIANTS = {
    **{f"segformer_{s}": partial(segformer_config, s) for s in ("b0", "b1", "b2", "b3", "b4", "b5", "tiny")},
    **{f"resnet{d}_mlp": partial(ResNetMLPConfig, depth=d) for d in (18, 34, 50, 101)},
    "resnet_tiny_mlp": partial(ResNetMLPConfig, depth=18, base_width=8, decoder_dim=32),
    **{f"deeplabv3_r{d}": partial(DeepLabV3Config, depth=d) for d in (18, 50, 101)},
    "deeplabv3_tiny": partial(DeepLabV3Config, depth=18, base_width=8, aspp_dim=16),
    # mmseg's DeepLabV3+ (ResNetV1c, d8) and torchvision's FCN, as their released checkpoints
    **{f"deeplabv3plus_r{d}": partial(DeepLabV3PlusConfig, depth=d) for d in (50, 101)},
    "deeplabv3plus_tiny": partial(DeepLabV3PlusConfig, depth=18, base_width=8, channels=16, c1_channels=8),
    **{f"fcn_r{d}": partial(FCNConfig, depth=d) for d in (50, 101)},
    "fcn_tiny": partial(FCNConfig, depth=18, base_width=8),
    **{f"setr_{dec}_{size}": partial(SETRConfig, decoder=dec, **spec)
       for dec in ("naive", "pup", "mla") for size, spec in VIT_SIZES.items()},
}


def variant_config(name: str, num_classes: int = 150, **overrides):
    """The config of variant `name` with `num_classes` and `overrides` applied; unknown names are errors."""
    if name not in VARIANTS:
        raise KeyError(f"unknown model variant {name!r}; valid variants: {', '.join(sorted(VARIANTS))}")
    cfg = VARIANTS[name](num_classes=num_classes)
    valid = [f.name for f in dataclasses.fields(cfg)]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise TypeError(f"unknown override(s) {unknown} for {name} ({type(cfg).__name__}); valid fields: {', '.join(valid)}")
    return dataclasses.replace(cfg, **overrides)


def build_from_config(cfg) -> nn.Module:
    """The model for a config instance."""
    return MODEL_CLASSES[type(cfg)](cfg)


def build_model(name: str, num_classes: int = 150, **overrides) -> nn.Module:
    """Build variant `name` (see VARIANTS) with `num_classes` outputs; `overrides` replace config fields.

    >>> model = build_model("segformer_b0", 19, pos_encoding="learned", sr_ratios=(1, 1, 1, 1))
    """
    model = build_from_config(variant_config(name, num_classes, **overrides))
    model.variant = name
    return model


def config_from_dict(kind: str, fields: dict):
    """Rebuild a config from its class name and a dict of fields (as saved by `save_pretrained`)."""
    classes = {cls.__name__: cls for cls in MODEL_CLASSES}
    if kind not in classes:
        raise ValueError(f"unknown config type {kind!r}; expected one of {sorted(classes)}")
    cls = classes[kind]
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(fields) - valid)
    if unknown:
        raise ValueError(f"unknown {kind} field(s) {unknown}; valid fields: {sorted(valid)}")
    return cls(**fields)

"""Tiny stand-ins for what users hold, written in the official layouts: dataset trees (ADE20K, Cityscapes) and
random-weight checkpoints (NVlabs/mmseg SegFormer `.pth`, transformers folders, mmseg DeepLabV3+ `.pth`). The
tests and the released-models notebook run the whole path on them when no real weights or data are at hand;
their numbers mean nothing.

Images are smooth random colour fields with label regions drawn from the same field, at odd, portrait and
landscape sizes, so that resizing, windows and per-class metrics are all exercised.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .data.real import ADE20K_CLASSES, CITYSCAPES_LABEL_TO_TRAIN_ID

ADE20K_SIZES = ((61, 97), (97, 61), (50, 50))  # (H, W): landscape, portrait, square, none a multiple of 32
CITYSCAPES_SIZES = ((64, 128), (48, 96))  # Cityscapes' 1:2 frames, small


def _scene(height: int, width: int, num_labels: int, seed: int) -> tuple:
    """(uint8 (H, W, 3) image, int64 (H, W) labels in [0, num_labels)) from one smooth random field."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((4, -(-height // 8) + 1, -(-width // 8) + 1))
    field = torch.nn.functional.interpolate(torch.from_numpy(coarse)[None], size=(height, width), mode="bilinear",
                                            align_corners=False)[0].numpy()  # (4, H, W)
    image = (field[:3] * 255).round().clip(0, 255).astype(np.uint8).transpose(1, 2, 0)
    labels = np.minimum((field[3] * num_labels).astype(np.int64), num_labels - 1)
    return image, labels


def _save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def make_ade20k_tree(root, sizes=ADE20K_SIZES, split: str = "validation", seed: int = 0) -> Path:
    """ADEChallengeData2016 layout: images/<split>/ADE_val_*.jpg, annotations/<split>/*.png with values 0..150
    (0 = "other", ignored), the images as JPEG as released."""
    root = Path(root)
    for i, (h, w) in enumerate(sizes):
        image, labels = _scene(h, w, 12, seed + i)
        stored = np.where(labels == 0, 0, labels * 11 % len(ADE20K_CLASSES) + 1).astype(np.uint8)  # some 0s
        stem = f"ADE_val_{i + 1:08d}"
        _save(root / "images" / split / f"{stem}.jpg", image)
        _save(root / "annotations" / split / f"{stem}.png", stored)
    return root


def make_cityscapes_tree(root, sizes=CITYSCAPES_SIZES, split: str = "val", train_ids: bool = False,
                         seed: int = 0) -> Path:
    """Cityscapes layout: leftImg8bit/<split>/<city>/<city>_000000_0000NN_leftImg8bit.png and
    gtFine/<split>/<city>/..._gtFine_labelIds.png (raw label ids, some not evaluated), or with `train_ids` the
    `_gtFine_labelTrainIds.png` files mmseg's converter writes."""
    root = Path(root)
    label_ids = np.array([0, 4] + sorted(CITYSCAPES_LABEL_TO_TRAIN_ID))  # two ignored ids, then the 19
    for i, (h, w) in enumerate(sizes):
        city = ("frankfurt", "lindau")[i % 2]
        image, labels = _scene(h, w, len(label_ids), seed + i)
        stem = f"{city}_000000_{i:06d}"
        _save(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", image)
        raw = label_ids[labels].astype(np.uint8)
        if train_ids:
            lut = np.full(256, 255, dtype=np.uint8)
            for label_id, train_id in CITYSCAPES_LABEL_TO_TRAIN_ID.items():
                lut[label_id] = train_id
            _save(root / "gtFine" / split / city / f"{stem}_gtFine_labelTrainIds.png", lut[raw])
        else:
            _save(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", raw)
    return root


def tiny_segformer_config(num_classes: int):
    """A SegFormer small enough for a test at the protocols' sizes (about 0.1 M parameters), with the released
    head counts (1, 2, 5, 8), which an NVlabs checkpoint cannot tell."""
    from .models.segformer import SegFormerConfig
    return SegFormerConfig(num_classes=num_classes, embed_dims=(8, 16, 40, 64), depths=(1, 1, 1, 1),
                           decoder_dim=16)


def make_nvlabs_checkpoint(path, num_classes: int = 150, seed: int = 0, config=None) -> Path:
    """A random SegFormer saved as NVlabs' released `.pth` ({"state_dict", "meta"}), with non-trivial BatchNorm
    statistics. `config`: a SegFormerConfig (default: tiny_segformer_config)."""
    from .checkpoints import save_pretrained
    from .models.segformer import SegFormer
    torch.manual_seed(seed)
    model = SegFormer(config or tiny_segformer_config(num_classes)).eval()
    with torch.no_grad():
        model.decode_head.linear_fuse.bn.running_mean.normal_()
        model.decode_head.linear_fuse.bn.running_var.uniform_(0.5, 2.0)
        model.decode_head.linear_pred.weight.normal_()  # a spread of classes in the predictions, not one
    return save_pretrained(model, path, format="nvlabs")


def make_mmseg_deeplabv3plus(path, num_classes: int = 19, seed: int = 0, base_width: int = 8) -> Path:
    """A random DeepLabV3+ in mmseg's released layout ({"state_dict": {"backbone.stem.0.weight", ...,
    "decode_head.conv_seg.weight"}, "meta"}): ResNet-50's block counts at `base_width` (64 in the release), so
    that it loads as mmseg's R50 while staying small, with non-trivial BatchNorm statistics."""
    from .checkpoints_cnn import MMSEG_DEEPLABV3PLUS, checkpoint_key
    from .models.cnn import DeepLabV3Plus, DeepLabV3PlusConfig
    torch.manual_seed(seed)
    model = DeepLabV3Plus(DeepLabV3PlusConfig(num_classes=num_classes, depth=50, base_width=base_width,
                                              channels=2 * base_width, c1_channels=base_width)).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    state = {checkpoint_key(MMSEG_DEEPLABV3PLUS, k): v for k, v in model.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "meta": {"CLASSES": None}}, path)
    return path

def transformers_fields(size: str) -> dict:
    """transformers' SegformerConfig fields of the released MiT-`size` (b0..b5), read from MIT_SIZES (its other
    defaults, heads and ratios, are the released ones)."""
    from .models.segformer import MIT_SIZES
    spec = MIT_SIZES[size]
    return {"depths": list(spec["depths"]), "hidden_sizes": list(spec["embed_dims"]),
            "decoder_hidden_size": spec["decoder_dim"]}


def make_transformers_folder(path, num_classes: int = 150, seed: int = 0, **config) -> Path:
    """A random `transformers.SegformerForSemanticSegmentation` saved with `save_pretrained` (built offline);
    `config` fields go to its SegformerConfig (default: a tiny one). Needs transformers."""
    from transformers import SegformerConfig, SegformerForSemanticSegmentation
    fields = dict(hidden_sizes=[8, 16, 40, 64], depths=[1, 1, 1, 1], num_attention_heads=[1, 2, 5, 8],
                  decoder_hidden_size=16, num_labels=num_classes)
    torch.manual_seed(seed)
    model = SegformerForSemanticSegmentation(SegformerConfig(**{**fields, **config})).eval()
    with torch.no_grad():
        model.decode_head.batch_norm.running_mean.normal_()
        model.decode_head.batch_norm.running_var.uniform_(0.5, 2.0)
        model.decode_head.classifier.weight.normal_()  # a spread of classes in the predictions, not one
    model.save_pretrained(path)
    return Path(path)


__all__ = ["make_ade20k_tree", "make_cityscapes_tree", "make_nvlabs_checkpoint", "make_transformers_folder",
           "transformers_fields",
           "make_mmseg_deeplabv3plus",
           "tiny_segformer_config", "ADE20K_SIZES", "CITYSCAPES_SIZES"]

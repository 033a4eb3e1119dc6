"""Each dataset's standard test protocol as data, and the prediction of one image under a protocol.

A `Protocol` says how a held-out image becomes a label map: the keep-ratio resize (mmcv's `imrescale`), NVlabs'
alignment of each side to a multiple of 32 (`AlignedResize`), whole-image or sliding-window inference, the
multi-scale ratios and flip, and the split that is scored. The one evaluator (segformer_lab/evaluator.py), `erf`
and the `released_models` experiment all read PROTOCOLS, so a reader checks a protocol against PAPER.md section 9
in one place; the lab's own runs are evaluated under "embedded" (or their TrainConfig's window), and may be under
any other.

The resize is bilinear on the 0..255 image (align_corners=False, no antialiasing: what cv2's INTER_LINEAR, which
mmcv calls, computes), rounded back to whole intensities after each step as cv2 does on uint8 images; then the
image is normalised, predicted, and its logits resized bilinearly to the original size before the argmax.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data.transforms import IMAGENET_MEAN, IMAGENET_STD
from .evaluation import MODES, check_window, multi_scale_flip, predict_view

MS_RATIOS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)  # the paper's multi-scale test ("MS"): ratios of the protocol's scale


@dataclass(frozen=True)
class Protocol:
    """How one dataset's split is tested. Sizes are (long side, short side) for `scale`, (h, w) for windows."""

    name: str  # the key in PROTOCOLS
    dataset: str  # the dataset it reads (a key of segformer_lab.data.real.DATASETS)
    split: str | None = None  # the split scored (None: the dataset's only one)
    scale: tuple | None = None  # keep-ratio resize to fit (long, short); None keeps the stored size
    size_divisor: int | None = None  # NVlabs' AlignedResize: then resize each side up to a multiple of this
    mode: str = "whole"  # "whole" image or "slide" windows
    crop: tuple | None = None  # slide window (h, w)
    stride: tuple | None = None  # slide stride (h, w)
    ratios: tuple = (1.0,)  # test-time ratios of `scale` (several: softmax averaged at the original size)
    flip: bool = False  # also predict the horizontally flipped image (softmax averaged)
    source: str = ""  # where this protocol is defined

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"protocol {self.name}: mode {self.mode!r}; expected one of {list(MODES)}")
        if self.mode == "slide" and (self.crop is None or self.stride is None):
            raise ValueError(f"protocol {self.name}: slide inference needs a crop and a stride")
        for field in ("crop", "stride", "scale"):
            value = getattr(self, field)
            if value is not None and (len(value) != 2 or min(value) <= 0):
                raise ValueError(f"protocol {self.name}: {field} {value}; expected two positive sizes")
        if self.crop and self.stride and any(s > c for s, c in zip(self.stride, self.crop)):
            raise ValueError(f"protocol {self.name}: stride {self.stride} larger than the window {self.crop}")
        if not self.ratios or min(self.ratios) <= 0:
            raise ValueError(f"protocol {self.name}: ratios {self.ratios}; expected positive numbers")

    def describe(self) -> str:
        """One line for the console and the provenance columns."""
        if self.scale is None:
            resize = "no resize"
        else:
            resize = f"keep-ratio resize to fit {self.scale[0]}x{self.scale[1]}"
            if self.size_divisor:
                resize += f", sides aligned up to multiples of {self.size_divisor}"
        infer_text = (f"slide {self.crop[0]}x{self.crop[1]} windows, stride {self.stride[0]}x{self.stride[1]}"
                      if self.mode == "slide" else "whole image")
        ms = f", ratios {list(self.ratios)}" if tuple(self.ratios) != (1.0,) else ""
        return (f"{self.name} ({self.dataset}{':' + self.split if self.split else ''}): {resize}; {infer_text}{ms}"
                f"{', flip' if self.flip else ''}; logits resized to the original size, then argmax")

    def window(self) -> dict:
        """The keyword arguments of one view's prediction (evaluation.predict_view / infer): mode, crop, stride."""
        return {"mode": "slide", "crop_size": self.crop, "stride": self.stride} if self.mode == "slide" else {
            "mode": "whole"}


PROTOCOLS = {
    # The paper's Table 1 numbers: NVlabs' configs (AlignedResize inside MultiScaleFlipAug, img_scale (2048, 512)).
    "ade20k": Protocol("ade20k", "ade20k", "validation", scale=(2048, 512), size_divisor=32,
                       source="NVlabs SegFormer local_configs/_base_/datasets/ade20k_repeat.py (AlignedResize)"),
    # The B5 640x640 release tests at (2048, 640).
    "ade20k_640": Protocol("ade20k_640", "ade20k", "validation", scale=(2048, 640), size_divisor=32,
                           source="NVlabs SegFormer segformer.b5.640x640.ade.160k.py (AlignedResize)"),
    # mmseg 1.x's SegFormer configs: plain keep-ratio Resize (a few tenths of mIoU away from the paper's).
    "ade20k_mmseg": Protocol("ade20k_mmseg", "ade20k", "validation", scale=(2048, 512),
                             source="mmsegmentation configs/_base_/datasets/ade20k.py (Resize, keep_ratio)"),
    # Cityscapes val at its full 1024x2048 (the keep-ratio fit of (2048, 1024) leaves it as stored), 1024 windows.
    "cityscapes": Protocol("cityscapes", "cityscapes", "val", scale=(2048, 1024), mode="slide", crop=(1024, 1024),
                           stride=(768, 768),
                           source="NVlabs SegFormer segformer.b*.1024x1024.city.160k.py (slide 1024, stride 768)"),
    "folder": Protocol("folder", "folder", None, source="a folder dataset: each image whole, as stored"),
    # The lab's own benchmark: each validation view whole, as drawn (a run's TrainConfig may ask for slide windows).
    "embedded": Protocol("embedded", "synthetic", "val",
                         source="segformer_lab/data/synthetic: the embedded benchmark's validation views, as drawn"),
}
DEFAULT_PROTOCOL = {"ade20k": "ade20k", "cityscapes": "cityscapes", "folder": "folder", "synthetic": "embedded"}


def protocol_for(dataset: str, name: str | None = None, **overrides) -> Protocol:
    """The protocol `name` (default: the dataset's standard one) with `overrides` of its fields (None values are
    ignored, so CLI options left unset keep the protocol's)."""
    name = name or DEFAULT_PROTOCOL.get(dataset)
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r} for dataset {dataset!r}; valid protocols: {', '.join(PROTOCOLS)}")
    protocol = PROTOCOLS[name]
    if protocol.dataset != dataset:
        raise ValueError(f"protocol {name!r} is for {protocol.dataset}, not {dataset}")
    return with_overrides(protocol, **overrides)


def with_overrides(protocol: Protocol, **overrides) -> Protocol:
    """`protocol` with `overrides` of its fields (None values ignored; lists as tuples; a window without a stride
    tiles without overlap); an unknown field, or slide without a window, raises ValueError."""
    name = protocol.name
    valid = {f.name for f in dataclasses.fields(Protocol)} - {"name", "dataset", "source"}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise ValueError(f"unknown protocol field(s) {unknown}; valid fields: {sorted(valid)}")
    changes = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items() if v is not None}
    if changes.get("mode") == "slide" and "crop" not in changes and protocol.crop is None:
        raise ValueError(f"--mode slide needs --crop (protocol {name} has no window)")
    if "crop" in changes and "stride" not in changes:
        changes["stride"] = changes["crop"]  # a window without a stride tiles without overlap
    return dataclasses.replace(protocol, **changes)


def rescale_size(height: int, width: int, scale) -> tuple:
    """mmcv's keep-ratio size: the factor min(long / long side, short / short side), sides rounded half up."""
    long_edge, short_edge = max(scale), min(scale)
    factor = min(long_edge / max(height, width), short_edge / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


def resize_steps(protocol: Protocol, height: int, width: int, ratio: float = 1.0) -> list:
    """The sizes (h, w) an (height, width) image is resized to, in order: [] when it stays as stored.

    With a `scale`, ratio r fits the image to (int(long r), int(short r)) as mmseg's MultiScaleFlipAug does; without
    one, the stored size times r. NVlabs' alignment is a second resize to the next multiples of `size_divisor`."""
    if protocol.scale is not None:
        scale = tuple(int(s * ratio) for s in protocol.scale)
        size = rescale_size(height, width, scale)
    else:
        size = (int(height * ratio + 0.5), int(width * ratio + 0.5))
    steps = [size] if size != (height, width) else []
    if protocol.size_divisor:
        d = protocol.size_divisor
        aligned = (-(-size[0] // d) * d, -(-size[1] // d) * d)
        if aligned != size:
            steps.append(aligned)
    return steps


def resize_image(image: torch.Tensor, steps: list) -> torch.Tensor:
    """(B, 3, H, W) float on the 0..255 scale -> resized through `steps`, rounded to whole values after each."""
    for size in steps:
        image = F.interpolate(image, size=size, mode="bilinear", align_corners=False).round_().clamp_(0, 255)
    return image


def normalise(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB 0..255 -> normalised with the ImageNet mean and std every released model was trained with."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    return (image - mean) / std


def protocol_input(image: np.ndarray, protocol: Protocol, ratio: float = 1.0, device="cpu") -> torch.Tensor:
    """uint8 (H, W, 3) RGB -> the normalised (1, 3, h, w) input the model sees under the protocol at `ratio`."""
    x = torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1)[None].float()  # (1, 3, H, W)
    # contiguous (B, 3, h, w) as the training batches, whatever the steps leave
    return normalise(resize_image(x, resize_steps(protocol, *image.shape[:2], ratio))).contiguous()


def protocol_scores(model: nn.Module, images: list, protocol: Protocol, resolution: float = 1.0,
                    num_classes: int | None = None, min_side: int | None = None) -> torch.Tensor:
    """uint8 (H, W, 3) RGB images of one size -> (B, K, H, W) scores at their original size: the logits for one
    ratio without flip, else the softmax averaged over the ratios (each times `resolution`) and flips
    (evaluation.multi_scale_flip). min_side: inputs smaller than the model takes are padded to it. The caller
    sets eval()."""
    device = next(model.parameters()).device
    height, width = images[0].shape[:2]
    crop, stride = check_window(protocol.mode, protocol.crop, protocol.stride)

    def view_at(ratio: float) -> torch.Tensor:  # (B, 3, h, w): each image as the protocol prepares it at `ratio`
        return torch.cat([protocol_input(image, protocol, ratio * resolution, device) for image in images])

    def predict(x: torch.Tensor) -> torch.Tensor:
        return predict_view(model, x, protocol.mode, num_classes, crop, stride, min_side=min_side)
    with torch.inference_mode():
        return multi_scale_flip(predict, view_at, protocol.ratios, (height, width), protocol.flip)


def predict_scores(model: nn.Module, image: np.ndarray, protocol: Protocol, resolution: float = 1.0,
                   num_classes: int | None = None) -> torch.Tensor:
    """uint8 (H, W, 3) RGB -> (K, H, W) scores at the image's original size (protocol_scores of one image)."""
    return protocol_scores(model, [image], protocol, resolution, num_classes)[0]


def predict_labels(model: nn.Module, image: np.ndarray, protocol: Protocol, resolution: float = 1.0,
                   num_classes: int | None = None) -> torch.Tensor:
    """uint8 (H, W, 3) RGB -> int64 (H, W) predicted classes at the original size (on the model's device)."""
    # max's indices are argmax's (the first maximum, documented for both); its CPU kernel is about 2x faster here
    return predict_scores(model, image, protocol, resolution, num_classes).max(0).indices


__all__ = ["Protocol", "PROTOCOLS", "DEFAULT_PROTOCOL", "MS_RATIOS", "protocol_for", "with_overrides", "rescale_size",
           "resize_steps", "resize_image", "normalise", "protocol_input", "protocol_scores", "predict_scores",
           "predict_labels"]

"""Evaluation the mmsegmentation way: a confusion-matrix metric (mIoU, mAcc, aAcc) and the three inference
modes of the paper's section 6 (whole image, sliding window, multi-scale + flip).

Conventions follow mmseg 0.x, which produced the paper's numbers: per-class IoU = intersect / union is NaN
where a class is absent from both ground truth and prediction, and means skip NaN; the multi-scale + flip
test averages softmax probabilities (`aug_test` sums the softmax outputs of `inference`), not raw logits.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .models.common import pad_to_multiple, upsample_logits

MODES = ("whole", "slide")


def _nanmean(values) -> float:
    """Mean over the non-NaN entries; NaN (without a warning) when there are none."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


class SegMetrics:
    """Accumulates a (K, K) int64 confusion matrix, rows = ground truth, columns = prediction."""

    def __init__(self, num_classes: int, ignore_index: int = 255):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add integer label maps `pred` and `target` of the same shape (any leading dims)."""
        if pred.shape != target.shape:
            raise ValueError(f"prediction shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
        if pred.is_floating_point() or target.is_floating_point():
            raise TypeError(f"labels must be integer tensors, got {pred.dtype} and {target.dtype}; argmax first")
        k = self.num_classes
        pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
        valid = target != self.ignore_index
        for name, labels, bad in (("target", target, valid & ((target < 0) | (target >= k))),
                                  ("prediction", pred, (pred < 0) | (pred >= k))):
            if bad.any():
                values = labels[bad].unique().tolist()[:10]
                raise ValueError(f"{name} values {values} outside [0, {k})"
                                 + (f" and not ignore_index {self.ignore_index}" if name == "target" else ""))
        counts = torch.bincount(target[valid] * k + pred[valid], minlength=k * k)
        self.confusion += counts.reshape(k, k).cpu()

    def merge(self, other: "SegMetrics") -> "SegMetrics":
        """Add another accumulator's counts (e.g. gathered from other processes); returns self."""
        if other.num_classes != self.num_classes:
            raise ValueError(f"cannot merge {other.num_classes}-class metrics into {self.num_classes}-class ones")
        self.confusion += other.confusion
        return self

    def reset(self) -> None:
        self.confusion.zero_()

    def compute(self) -> dict:
        """Percentages: `miou`, `macc`, `aacc` (floats) and per-class lists `iou`, `acc` (NaN where undefined)."""
        cm = self.confusion.double().numpy()
        intersect, gt, pred = np.diag(cm), cm.sum(1), cm.sum(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = 100 * intersect / (gt + pred - intersect)  # NaN where absent from both gt and prediction
            acc = 100 * intersect / gt  # NaN where absent from gt
            aacc = float(100 * intersect.sum() / gt.sum())
        return {"miou": _nanmean(iou), "macc": _nanmean(acc), "aacc": aacc, "iou": iou.tolist(), "acc": acc.tolist()}


def boundary_band(mask: torch.Tensor, width: int = 3) -> torch.Tensor:
    """(H, W) labels -> (H, W) bool: the pixels within `width` pixels (Chebyshev distance) of a pixel of another
    label, i.e. whose (2 width + 1)^2 neighbourhood holds more than one label; the image border is no boundary."""
    if width < 1:
        raise ValueError(f"boundary width must be a positive number of pixels, got {width}")
    x = mask.double()[None, None]  # (1, 1, H, W)
    k = 2 * width + 1
    high = F.max_pool2d(F.pad(x, (width,) * 4, mode="replicate"), k, stride=1)
    low = -F.max_pool2d(F.pad(-x, (width,) * 4, mode="replicate"), k, stride=1)
    return (high != low)[0, 0]


def miou_over(result: dict, class_indices: Iterable[int]) -> float:
    """Mean IoU (percent) of `compute()`'s result over a subset of classes (e.g. "thing" classes), skipping NaN."""
    return _nanmean([result["iou"][i] for i in class_indices])


def _pair(value) -> tuple:
    return (value, value) if isinstance(value, int) else tuple(value)


def slide_windows(height: int, width: int, crop_size, stride) -> list:
    """Windows (y1, y2, x1, x2) of mmseg's `slide_inference`; the last row/column is shifted back to fit."""
    (h_crop, w_crop), (h_stride, w_stride) = _pair(crop_size), _pair(stride)
    h_grids = max(height - h_crop + h_stride - 1, 0) // h_stride + 1
    w_grids = max(width - w_crop + w_stride - 1, 0) // w_stride + 1
    windows = []
    for i in range(h_grids):
        for j in range(w_grids):
            y2, x2 = min(i * h_stride + h_crop, height), min(j * w_stride + w_crop, width)
            windows.append((max(y2 - h_crop, 0), y2, max(x2 - w_crop, 0), x2))
    return windows


def _forward(model: nn.Module, image: torch.Tensor, size_divisor) -> torch.Tensor:
    """Logits (B, K, H, W) at the image's size; with `size_divisor`, zero-pad bottom/right and crop back."""
    h, w = image.shape[-2:]
    padded = pad_to_multiple(image, size_divisor) if size_divisor else image
    # classes innermost: the CPU's resize of K-channel logits and the argmax over K run faster (the values differ
    # from an NCHW resize by float rounding only, about 1e-6)
    logits = model(padded).contiguous(memory_format=torch.channels_last)  # (B, K, h, w)
    return upsample_logits(logits, padded.shape[-2:])[..., :h, :w]


def _slide(model: nn.Module, image: torch.Tensor, crop_size, stride, size_divisor) -> torch.Tensor:
    """Sum the logits of overlapping windows and divide by how many windows cover each pixel."""
    h, w = image.shape[-2:]
    preds, count = None, image.new_zeros(1, 1, h, w)
    for y1, y2, x1, x2 in slide_windows(h, w, crop_size, stride):
        logits = _forward(model, image[..., y1:y2, x1:x2], size_divisor)
        if preds is None:
            preds = logits.new_zeros(image.shape[0], logits.shape[1], h, w)
        preds[..., y1:y2, x1:x2] += logits
        count[..., y1:y2, x1:x2] += 1
    return preds / count


def infer(model: nn.Module, image: torch.Tensor, mode: str = "whole", num_classes: int | None = None,
          crop_size=None, stride=None, scales: Sequence[float] = (1.0,), flip: bool = False,
          size_divisor: int | None = None) -> torch.Tensor:
    """Predict a normalised image (B, 3, H, W) -> (B, K, H, W) at its full size (the caller sets eval()).

    mode: "whole" or "slide" (windows of `crop_size`, `stride` defaulting to `crop_size`; ints or (h, w)).
    With one scale and no flip the raw logits are returned; with several `scales` and/or `flip`, the
    softmax probabilities averaged over every scale and flip (mmseg's aug_test; the paper says "logits").
    num_classes: if given, the number of channels the model must return.
    """
    if mode not in MODES:
        raise ValueError(f"unknown inference mode {mode!r}; valid modes: {list(MODES)}")
    if image.ndim != 4:
        raise ValueError(f"expected an image batch (B, 3, H, W), got shape {tuple(image.shape)}")
    if mode == "slide":
        if crop_size is None:
            raise ValueError("slide inference needs crop_size (and optionally stride)")
        crop_size, stride = _pair(crop_size), _pair(stride if stride is not None else crop_size)
        if any(s <= 0 or s > c for s, c in zip(stride, crop_size)):
            raise ValueError(f"stride {stride} must be positive and no larger than crop_size {crop_size}")
    if not scales or min(scales) <= 0:
        raise ValueError(f"scales must be a non-empty sequence of positive numbers, got {scales}")

    def run(x):
        if mode == "slide":
            logits = _slide(model, x, crop_size, stride, size_divisor)
        else:
            logits = _forward(model, x, size_divisor)
        if num_classes is not None and logits.shape[1] != num_classes:
            raise ValueError(f"model returned {logits.shape[1]} classes, expected {num_classes}")
        return logits

    h, w = image.shape[-2:]
    with torch.no_grad():
        if tuple(scales) == (1.0,) and not flip:
            return run(image)
        probs, n = 0.0, 0
        for s in scales:
            size = (int(h * s + 0.5), int(w * s + 0.5))
            x = F.interpolate(image, size, mode="bilinear", align_corners=False) if size != (h, w) else image
            for flipped in (False, True) if flip else (False,):
                logits = run(x.flip(-1)).flip(-1) if flipped else run(x)  # flip the input, then the logits back
                probs = probs + upsample_logits(logits, (h, w)).softmax(1)
                n += 1
        return probs / n


def evaluate(model: nn.Module, samples: Iterable, num_classes: int, ignore_index: int = 255,
             **infer_kwargs) -> dict:
    """SegMetrics.compute() over (image (1, 3, H, W) or (3, H, W), mask (H, W)) pairs; `infer_kwargs` go to
    `infer`. The caller puts the model in eval mode; inputs are moved to the device of its parameters."""
    device = next(model.parameters(), torch.empty(0)).device
    metrics = SegMetrics(num_classes, ignore_index)
    for image, mask in samples:
        image = image.unsqueeze(0) if image.ndim == 3 else image
        logits = infer(model, image.to(device), num_classes=num_classes, **infer_kwargs)
        metrics.update(logits.argmax(1)[0], mask.to(device))
    return metrics.compute()

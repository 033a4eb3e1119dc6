"""Evaluation the mmsegmentation way: a confusion-matrix metric (mIoU, mAcc, aAcc) and the three inference
modes of the paper's section 6 (whole image, sliding window, multi-scale + flip), each written once here:
`predict_view` predicts one view whole or in windows, `multi_scale_flip` averages views and their mirror images.
`infer` applies them to a normalised tensor; protocols.protocol_scores to images prepared as a dataset's protocol
says, which is how evaluator.evaluate scores the lab's runs and held checkpoints alike.

Conventions follow mmseg 0.x, which produced the paper's numbers: per-class IoU = intersect / union is NaN
where a class is absent from both ground truth and prediction, and means skip NaN; the multi-scale + flip
test averages softmax probabilities (`aug_test` sums the softmax outputs of `inference`), not raw logits.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Iterable, Sequence

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


def _takes(model: nn.Module, side: int) -> bool:
    device = next(model.parameters()).device
    try:
        model(torch.zeros(1, 3, side, side, device=device))
        return True
    except (RuntimeError, ValueError, IndexError, AssertionError):  # a kernel or grid larger than its input
        return False


def min_input_side(model: nn.Module, limit: int = 4096) -> int:
    """The smallest square input side `model` takes, found by forwards at batch 1 (doubling, then halving the
    interval); remembered on the model."""
    if getattr(model, "_min_input_side", None) is None:
        was_training = model.training
        model.eval()
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            high = 1
            while not _takes(model, high):
                if high >= limit:
                    raise ValueError(f"{type(model).__name__} takes no square input up to {limit} px")
                high *= 2
            low = high // 2  # fails (or 0)
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (low, middle) if _takes(model, middle) else (middle, high)
        model.train(was_training)
        model._min_input_side = high
    return model._min_input_side


def _forward(model: nn.Module, image: torch.Tensor, size_divisor, min_side) -> torch.Tensor:
    """Logits (B, K, H, W) at the image's size. With `size_divisor`, zero-pad bottom/right to its multiples, with
    `min_side` to at least that side (the model's smallest input, as mmseg pads a crop); the logits are cut back."""
    h, w = image.shape[-2:]
    padded = pad_to_multiple(image, size_divisor) if size_divisor else image
    if min_side:
        padded = F.pad(padded, (0, max(0, min_side - padded.shape[-1]), 0, max(0, min_side - padded.shape[-2])))
    # classes innermost: the CPU's resize of K-channel logits and the argmax over K run faster (the values differ
    # from an NCHW resize by float rounding only, about 1e-6)
    logits = model(padded).contiguous(memory_format=torch.channels_last)  # (B, K, h, w)
    return upsample_logits(logits, padded.shape[-2:])[..., :h, :w]


def _slide(model: nn.Module, image: torch.Tensor, crop_size, stride, size_divisor, min_side) -> torch.Tensor:
    """Sum the logits of overlapping windows and divide by how many windows cover each pixel."""
    h, w = image.shape[-2:]
    preds, count = None, image.new_zeros(1, 1, h, w)
    for y1, y2, x1, x2 in slide_windows(h, w, crop_size, stride):
        logits = _forward(model, image[..., y1:y2, x1:x2], size_divisor, min_side)
        if preds is None:
            preds = logits.new_zeros(image.shape[0], logits.shape[1], h, w)
        preds[..., y1:y2, x1:x2] += logits
        count[..., y1:y2, x1:x2] += 1
    return preds / count


def check_window(mode: str, crop_size=None, stride=None) -> tuple:
    """(crop (h, w), stride (h, w)) of a slide inference, (None, None) for whole; a bad mode, a missing crop or a
    stride beyond the crop raises ValueError. `stride` defaults to `crop_size`; ints or (h, w)."""
    if mode not in MODES:
        raise ValueError(f"unknown inference mode {mode!r}; valid modes: {list(MODES)}")
    if mode == "whole":
        return None, None
    if crop_size is None:
        raise ValueError("slide inference needs crop_size (and optionally stride)")
    crop_size, stride = _pair(crop_size), _pair(stride if stride is not None else crop_size)
    if any(s <= 0 or s > c for s, c in zip(stride, crop_size)):
        raise ValueError(f"stride {stride} must be positive and no larger than crop_size {crop_size}")
    return crop_size, stride


def predict_view(model: nn.Module, x: torch.Tensor, mode: str = "whole", num_classes: int | None = None,
                 crop_size=None, stride=None, size_divisor: int | None = None,
                 min_side: int | None = None) -> torch.Tensor:
    """One view: a normalised batch (B, 3, h, w) -> logits (B, K, h, w), whole or in slide windows (checked by
    `check_window`). num_classes: if given, the number of channels the model must return."""
    if mode == "slide":
        logits = _slide(model, x, crop_size, stride, size_divisor, min_side)
    else:
        logits = _forward(model, x, size_divisor, min_side)
    if num_classes is not None and logits.shape[1] != num_classes:
        raise ValueError(f"model returned {logits.shape[1]} classes, expected {num_classes}")
    return logits


def multi_scale_flip(predict: Callable, view_at: Callable, ratios: Sequence[float], size, flip: bool) -> torch.Tensor:
    """The test-time augmentation of the paper's section 6, written once for every caller.

    predict: a view (B, 3, h, w) -> its logits (B, K, h, w); view_at: a ratio -> the view at that ratio; size: the
    (H, W) of the scores. One ratio without flip gives that view's logits resized to `size`; otherwise the softmax
    probabilities of every view and of its mirror image, each resized to `size`, are averaged (mmseg's aug_test).
    Returns (B, K, H, W)."""
    if len(ratios) == 1 and not flip:
        return upsample_logits(predict(view_at(ratios[0])), size)
    total = 0.0
    for ratio in ratios:
        x = view_at(ratio)
        for flipped in (False, True) if flip else (False,):
            logits = predict(x.flip(-1)).flip(-1) if flipped else predict(x)  # flip the input, then the logits back
            total = total + upsample_logits(logits, size).softmax(1)
    return total / (len(ratios) * (2 if flip else 1))


def infer(model: nn.Module, image: torch.Tensor, mode: str = "whole", num_classes: int | None = None,
          crop_size=None, stride=None, scales: Sequence[float] = (1.0,), flip: bool = False,
          size_divisor: int | None = None, min_side: int | None = None) -> torch.Tensor:
    """Predict a normalised image (B, 3, H, W) -> (B, K, H, W) at its full size (the caller sets eval()).

    mode: "whole" or "slide" (windows of `crop_size`, `stride` defaulting to `crop_size`; ints or (h, w)).
    With one scale and no flip the logits are returned; with several `scales` and/or `flip`, the softmax
    probabilities averaged over every scale and flip (mmseg's aug_test; the paper says "logits"). Each scale's
    view is the normalised batch resized bilinearly (protocols.py resizes the 0..255 image instead, as mmseg).
    num_classes: if given, the number of channels the model must return; min_side: pad smaller inputs to it.
    """
    crop_size, stride = check_window(mode, crop_size, stride)
    if image.ndim != 4:
        raise ValueError(f"expected an image batch (B, 3, H, W), got shape {tuple(image.shape)}")
    if not scales or min(scales) <= 0:
        raise ValueError(f"scales must be a non-empty sequence of positive numbers, got {scales}")
    h, w = image.shape[-2:]

    def view_at(scale: float) -> torch.Tensor:
        size = (int(h * scale + 0.5), int(w * scale + 0.5))
        return F.interpolate(image, size, mode="bilinear", align_corners=False) if size != (h, w) else image
    predict = partial(predict_view, model, mode=mode, num_classes=num_classes, crop_size=crop_size, stride=stride,
                      size_divisor=size_divisor, min_side=min_side)
    with torch.no_grad():
        return multi_scale_flip(predict, view_at, tuple(scales), (h, w), flip)


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

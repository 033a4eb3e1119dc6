"""The one evaluator: any model on a source of (image, mask) pairs under a protocol (segformer_lab/protocols.py),
the lab's runs and the checkpoints a user holds alike.

`evaluate` streams the source: each image is prepared as the protocol says (resize, normalisation), predicted whole
or in windows at each test ratio and flip (protocols.protocol_scores, evaluation.multi_scale_flip), its scores
brought to the image's size, and its argmax counted into a (K, K) confusion matrix, and optionally into one over
the pixels near a ground-truth boundary. Images of one size may share a forward pass (`batch`); an image smaller
than the model takes is padded for it, its padding never scored.

A lab run is evaluated under its own protocol by default (`run_protocol`: each validation image as stored, whole
or in the windows of its TrainConfig, "embedded" on the embedded benchmark), or under any of PROTOCOLS for its
dataset; study.py evaluates a held checkpoint through the same `evaluate`.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .checkpoints import from_pretrained
from .config import IGNORE, TrainConfig, open_datasets
from .corruptions import CorruptedSource
from .evaluation import SegMetrics, boundary_band, min_input_side, miou_over
from .pretrain import resolve_device
from .protocols import PROTOCOLS, Protocol, protocol_for, protocol_scores, with_overrides

BOUNDARY_WIDTH = 3  # boundary mIoU: over the pixels within this many pixels of a ground-truth class boundary
EVAL_BATCH = 8  # a lab run's validation images per forward pass (images of one size; in eval mode each is scored alone)


def same_size_batches(source, count: int, size: int):
    """(indices, images, masks) of consecutive images of one size, at most `size` of them, over the first `count`
    of `source` (its `load(i)` gives uint8 (H, W, 3) and (H, W))."""
    group = []
    for i in range(count):
        image, mask = source.load(i)
        if group and (len(group) == size or image.shape != group[0][1].shape):
            yield tuple(zip(*group))
            group = []
        group.append((i, image, mask))
    if group:
        yield tuple(zip(*group))


def evaluate(model: nn.Module, source, protocol: Protocol, classes: list, things=(), resolution: float = 1.0,
             max_images: int | None = None, batch: int = 1, boundary_width: int | None = None, on_prediction=None,
             progress: bool = False, desc: str = "") -> dict:
    """Score `model` on the first `max_images` (default all) of `source` under `protocol`, its test size times
    `resolution`.

    Returns percentages "miou", "macc", "aacc", per-class lists "iou" and "acc" (NaN where undefined), "thing_miou"
    and "stuff_miou" over the `things` class indices and the others (NaN for an empty set), "boundary_miou" (over
    the pixels within `boundary_width` of a ground-truth boundary, where local continuity matters; NaN without a
    width), "confusion" (K, K) int64, "images" and "seconds". on_prediction(i, image, labels (H, W) int64 array) is
    called for every image, e.g. to save it. The model runs on its own device, in eval mode, restored after."""
    num_classes = len(classes)
    ignore = getattr(source, "ignore_index", IGNORE)
    metrics = SegMetrics(num_classes, ignore)
    boundary = SegMetrics(num_classes, ignore)
    count = len(source) if max_images is None else min(max_images, len(source))
    was_training = model.training
    model.eval()
    smallest = min_input_side(model)
    start = time.perf_counter()
    with tqdm(total=count, desc=desc, unit="image", disable=not progress, leave=False) as bar:
        for indices, images, masks in same_size_batches(source, count, batch):
            scores = protocol_scores(model, list(images), protocol, resolution, num_classes, smallest)  # (B, K, H, W)
            # max's indices are argmax's (the first maximum, documented for both); its CPU kernel is about 2x faster
            for i, image, mask, labels in zip(indices, images, masks, scores.max(1).indices.cpu()):
                mask = torch.from_numpy(np.ascontiguousarray(mask)).long()
                metrics.update(labels, mask)
                if boundary_width:
                    band = boundary_band(mask, boundary_width)
                    boundary.update(labels[band], mask[band])
                if on_prediction is not None:
                    on_prediction(i, image, labels.numpy())
            bar.update(len(indices))
    seconds = time.perf_counter() - start
    model.train(was_training)
    result = metrics.compute()
    stuff = [c for c in range(num_classes) if c not in things]
    return {**result, "thing_miou": miou_over(result, things) if things else math.nan,
            "stuff_miou": miou_over(result, stuff) if stuff else math.nan,
            "boundary_miou": boundary.compute()["miou"] if boundary.confusion.sum() else math.nan,
            "confusion": metrics.confusion, "images": count, "seconds": seconds}


# ---------------------------------------------------------------------------------------------- the lab's runs
def run_protocol(cfg: TrainConfig, name: str | None = None, **overrides) -> Protocol:
    """The protocol a lab run is evaluated under. By default its own: each validation image as stored ("embedded"
    on the embedded benchmark), whole, or in windows of eval_crop (0: the crop size) every eval_stride (0: 2/3 of
    the window) under eval_mode "slide". With `name`, that protocol of PROTOCOLS for the run's dataset (e.g.
    "ade20k"). Then `overrides` of its fields (protocols.with_overrides; None values ignored)."""
    if name is not None:
        return protocol_for(cfg.dataset, name, **overrides)
    own = PROTOCOLS["embedded"] if cfg.dataset == "synthetic" else Protocol(
        "as_stored", cfg.dataset, cfg.val_split or None, source="a lab run's own evaluation: each image as stored")
    if cfg.eval_mode == "slide":
        crop = cfg.eval_crop or cfg.crop_size
        stride = cfg.eval_stride or max(1, crop * 2 // 3)
        own = dataclasses.replace(own, mode="slide", crop=(crop, crop), stride=(stride, stride))
    return with_overrides(own, **overrides)


def eval_kwargs(cfg: TrainConfig) -> dict:
    """The keyword arguments of `evaluation.infer` for a run's own window (mode, crop_size, stride)."""
    return run_protocol(cfg).window()


def evaluate_model(model: nn.Module, source, cfg: TrainConfig, classes: list, things: list,
                   protocol: Protocol | None = None) -> dict:
    """mIoU, mAcc, aAcc, per-class IoU (a dict by class name), the mIoU over thing and stuff classes, the boundary
    mIoU (within BOUNDARY_WIDTH pixels of a ground-truth boundary) and the confusion matrix (lists) of `model` on
    `source` under `protocol` (default: the run's own, `run_protocol(cfg)`)."""
    result = evaluate(model, source, protocol or run_protocol(cfg), classes, things, batch=EVAL_BATCH,
                      boundary_width=BOUNDARY_WIDTH)
    return {"miou": result["miou"], "macc": result["macc"], "aacc": result["aacc"],
            "thing_miou": result["thing_miou"], "stuff_miou": result["stuff_miou"],
            "boundary_miou": result["boundary_miou"], "iou": dict(zip(classes, result["iou"])),
            "confusion": result["confusion"].tolist()}


def one_or_two(sides: tuple):
    """A window's (h, w) as one side when square (as TrainConfig.eval_crop), else as [h, w]."""
    return sides[0] if sides[0] == sides[1] else list(sides)


def evaluate_run(run_dir, mode: str | None = None, crop: int = 0, stride: int = 0, canvas=None, zoom=None,
                 scales: tuple = (1.0,), flip: bool = False, out=None, device: str = "auto",
                 corruption: str | None = None, severity: int = 3, corruption_cache=None,
                 protocol: str | None = None) -> dict:
    """Evaluate the finished run in `run_dir` (its model.pt), optionally in another inference mode, or, on the
    embedded benchmark, at another canvas size (same pixel scale) or zoom (another pixel density), or on its
    validation images under a Table 5 corruption at a severity (segformer_lab/corruptions.py; the same corrupted
    images for every run, cached as .npy files in `corruption_cache` if given).

    protocol: a name of PROTOCOLS for the run's dataset (e.g. "ade20k" for a run trained on ADE20K) instead of the
    run's own; `mode`, `crop` and `stride` then change its window. scales, flip: multi-scale + flip test."""
    run_dir = Path(run_dir)
    for name in ("config.json", "model.pt"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir / name}: missing; is {run_dir} a finished training run?")
    cfg = TrainConfig.read(run_dir / "config.json")
    changes = {}
    if canvas is not None:
        changes["val_canvas"] = tuple(canvas)
    if zoom is not None:
        changes["val_zoom"] = zoom
    test_time = {"ratios": tuple(scales), "flip": flip} if tuple(scales) != (1.0,) or flip else {}
    if protocol is None:  # the run's own window, changed as its TrainConfig fields would change it
        changes.update(eval_mode=mode or cfg.eval_mode, eval_crop=crop or cfg.eval_crop,
                       eval_stride=stride or cfg.eval_stride)
        cfg = dataclasses.replace(cfg, **changes)
        chosen = run_protocol(cfg, **test_time)
    else:
        cfg = dataclasses.replace(cfg, **changes)
        chosen = run_protocol(cfg, protocol, mode=mode, crop=(crop, crop) if crop else None,
                              stride=(stride, stride) if stride else None, **test_time)
    _, val_source, classes, things = open_datasets(cfg)
    if corruption is not None:
        val_source = CorruptedSource(val_source, corruption, severity, cache_dir=corruption_cache)
    model = from_pretrained(run_dir / "model.pt").to(resolve_device(device))
    start = time.perf_counter()
    metrics = evaluate_model(model, val_source, cfg, classes, things, chosen)
    metrics["seconds_per_image"] = (time.perf_counter() - start) / max(len(val_source), 1)
    window = ({"crop_size": one_or_two(chosen.crop), "stride": one_or_two(chosen.stride)}
              if chosen.mode == "slide" else {})
    metrics["eval"] = {"protocol": chosen.name, "canvas": list(cfg.val_canvas), "zoom": cfg.val_zoom,
                       "scales": list(chosen.ratios), "flip": chosen.flip, "mode": chosen.mode, **window}
    if corruption is not None:
        metrics["eval"].update(corruption=val_source.name, severity=val_source.severity,
                               corrupt_seconds_per_image=val_source.seconds / max(len(val_source), 1))
    if out:
        Path(out).write_text(json.dumps(metrics, indent=2))
    return metrics


__all__ = ["evaluate", "run_protocol", "eval_kwargs", "evaluate_model", "evaluate_run", "same_size_batches",
           "BOUNDARY_WIDTH", "EVAL_BATCH"]

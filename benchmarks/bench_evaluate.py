"""Benchmark: images per second of `segformer-lab evaluate` under NVlabs' ADE20K protocol, end to end, against the
same protocol written with transformers' SegFormer on the same weights and the same image files.

For each variant (B0, B2: random `transformers.SegformerForSemanticSegmentation`, 150 classes, saved offline to a
temporary folder) on a made-up ADE20K tree of N images at ADE20K's usual sizes (short side about 512):
- ours: `segformer_lab.study.score` with the model of `load_source(folder)`, i.e. the lab's whole path: JPEG and
  PNG decoding, the protocol's two resizes and normalisation, forward, logits resized, argmax, confusion matrix;
- transformers: what a user of transformers writes for the same protocol: PIL decode, keep-ratio fit to
  (2048, 512) then each side up to a multiple of 32 (bilinear, no antialias, rounded to whole values after each
  as cv2 does on uint8), ImageNet normalisation, `model(pixel_values=x).logits` under torch.inference_mode, the
  logits resized to the input then to the original size (bilinear, align_corners False, as mmseg's
  whole_inference), argmax, a confusion matrix by np.bincount and mmseg's mIoU (NaN classes skipped).
  transformers' SegformerImageProcessor cannot express this protocol (it resizes every image to a fixed 512x512,
  without keeping the ratio or aligning to 32) and its post_process_semantic_segmentation resizes the 1/4-scale
  logits straight to the target size, so neither is used.
Both are first checked to give the same predictions (at least 0.999 of the pixels agree, the two models' logits
differing by float rounding; where all agree, the confusion matrices must be equal), then timed over the N images
in turn (ours, transformers, ours, ...) for R rounds so that drift in the machine's speed touches both alike. The
mIoU of random weights on made-up images means nothing (it is often 0); it is written to show both sides agree. One row per variant is appended to results/bench_evaluate.csv: median images/s of each, the median
per-round ratio ours / transformers with its min and max. A per-stage split of each side's time per image
(decode, resize + normalise, forward, logits resize, argmax, metrics) is printed, not written. Each pass also
prints the cores it kept busy (process CPU time / wall time): well under --threads, other load took the cores
and the figures are not the machine's.

    python benchmarks/bench_evaluate.py [--variants b0 b2] [--images 8] [--rounds 3] [--threads N]
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from segformer_lab.data.real import open_dataset
from segformer_lab.evaluation import SegMetrics
from segformer_lab.models.common import upsample_logits
from segformer_lab.protocols import PROTOCOLS, predict_labels, protocol_input
from segformer_lab.results import append_csv, cpu_model, provenance
from segformer_lab.standins import make_ade20k_tree, make_transformers_folder
from segformer_lab.study import Study, load_source, score

COLUMNS = ["benchmark", "variant", "images", "rounds", "threads", "ours_images_per_s", "transformers_images_per_s",
           "ratio_ours_over_transformers", "ratio_min", "ratio_max", "pixel_agreement", "miou_ours",
           "miou_transformers", "transformers_version", "cpu_model", "nproc", "git_commit", "torch_version",
           "device", "date"]
NUM_CLASSES = 150
# SegformerConfig fields of each variant; B0's are transformers' defaults, written out because
# make_transformers_folder's own defaults are a tiny model (which "tiny" keeps, for the tests).
SIZES = {
    "b0": {"depths": [2, 2, 2, 2], "hidden_sizes": [32, 64, 160, 256], "num_attention_heads": [1, 2, 5, 8],
           "decoder_hidden_size": 256},
    "b2": {"depths": [3, 4, 6, 3], "hidden_sizes": [64, 128, 320, 512], "num_attention_heads": [1, 2, 5, 8],
           "decoder_hidden_size": 768},
    "tiny": {},
}
# (H, W) of the made-up images, cycled: ADE20K's validation images are mostly 512 on the short side
IMAGE_SIZES = ((512, 683), (683, 512), (375, 500), (480, 640))
STAGES = ("decode", "resize_normalise", "forward", "logits_resize", "argmax", "metrics")
MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)  # ImageNet, RGB on the 0..255 scale
STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)


class Laps:
    """Wall time per named stage, summed over a pass: `lap(name)` charges the time since the previous lap."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] += now - self.last
        self.last = now


# ---------------------------------------------------------------- the protocol as a transformers user writes it


def ade20k_pairs(root, split: str = "validation") -> list:
    """[(image .jpg, annotation .png)] of an ADEChallengeData2016 tree, sorted by name."""
    root = Path(root)
    return [(p, root / "annotations" / split / f"{p.stem}.png")
            for p in sorted((root / "images" / split).glob("*.jpg"))]


def fit_and_align(height: int, width: int, scale=(2048, 512), divisor: int = 32) -> tuple:
    """mmcv's keep-ratio fit of (height, width) to `scale` (sides rounded half up), then NVlabs' AlignedResize
    of each side up to a multiple of `divisor`: the two sizes (h, w) the image is resized to, in order."""
    factor = min(max(scale) / max(height, width), min(scale) / min(height, width))
    fitted = (int(height * factor + 0.5), int(width * factor + 0.5))
    return fitted, tuple(math.ceil(s / divisor) * divisor for s in fitted)


def transformers_predict(model, image: np.ndarray, laps: Laps | None = None) -> np.ndarray:
    """uint8 (H, W, 3) RGB -> int64 (H, W) classes with transformers' model under the ADE20K protocol."""
    lap = laps.lap if laps else (lambda name: None)
    height, width = image.shape[:2]
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float()  # (H, W, 3) -> (1, 3, H, W), 0..255
    for size in fit_and_align(height, width):
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False).round().clamp(0, 255)
    x = (x - MEAN) / STD
    lap("resize_normalise")
    with torch.inference_mode():
        logits = model(pixel_values=x).logits  # (1, K, h/4, w/4)
        lap("forward")
        logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)  # to the input
        logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)  # (1, K, H, W)
        lap("logits_resize")
        labels = logits.argmax(1)[0].numpy()
        lap("argmax")
    return labels


def transformers_pass(model, pairs: list, laps: Laps | None = None, keep: bool = False) -> dict:
    """Evaluate the (image, annotation) files: {"miou" (percent), "confusion" (K, K), "predictions" (if `keep`)}."""
    laps = laps or Laps()
    confusion = np.zeros(NUM_CLASSES * NUM_CLASSES, dtype=np.int64)  # rows ground truth, columns prediction
    predictions = []
    for image_path, mask_path in pairs:
        laps.lap("other")
        image = np.array(Image.open(image_path).convert("RGB"))
        gt = np.array(Image.open(mask_path), dtype=np.int64)
        gt[gt == 0] = 255  # mmseg's reduce_zero_label: "other" ignored, 1..150 -> 0..149
        gt = gt - 1
        gt[gt == 254] = 255
        laps.lap("decode")
        pred = transformers_predict(model, image, laps)
        valid = gt != 255
        confusion += np.bincount(gt[valid] * NUM_CLASSES + pred[valid], minlength=NUM_CLASSES ** 2)
        laps.lap("metrics")
        if keep:
            predictions.append(pred)
    cm = confusion.reshape(NUM_CLASSES, NUM_CLASSES).astype(np.float64)
    intersect = np.diag(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = intersect / (cm.sum(0) + cm.sum(1) - intersect)  # NaN for classes absent from both
    return {"miou": float(100 * np.nanmean(iou)), "confusion": confusion.reshape(NUM_CLASSES, NUM_CLASSES),
            "predictions": predictions}


# ---------------------------------------------------------------- ours, stage by stage


def our_stages(model, dataset, protocol) -> dict:
    """Seconds per stage, summed over the dataset, of `score`'s loop for a whole-image, one-ratio, no-flip protocol:
    the steps of `predict_labels` (protocols.predict_scores, evaluation.infer) written out so each is timed apart.
    Returns the stage times and the mIoU (which must equal `score`'s)."""
    laps, metrics = Laps(), SegMetrics(len(dataset.classes), dataset.ignore_index)
    for i in range(len(dataset)):
        laps.lap("other")
        image, mask = dataset.load(i)
        laps.lap("decode")
        x = protocol_input(image, protocol)
        laps.lap("resize_normalise")
        with torch.inference_mode():
            logits = model(x).contiguous(memory_format=torch.channels_last)  # (1, K, h/4, w/4), as evaluation.infer
            laps.lap("forward")
            scores = upsample_logits(upsample_logits(logits, x.shape[-2:]), image.shape[:2])[0]  # (K, H, W)
            laps.lap("logits_resize")
            labels = scores.max(0).indices  # as protocols.predict_labels
            laps.lap("argmax")
        metrics.update(labels, torch.from_numpy(mask))
        laps.lap("metrics")
    return {"seconds": dict(laps.seconds), "miou": metrics.compute()["miou"]}


# ---------------------------------------------------------------- the run


def nproc() -> int:
    """CPUs this process may run on (what `nproc` prints)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def timed(fn, *args, **kwargs) -> tuple:
    """fn(*args, **kwargs) -> (its result, wall seconds, this process's CPU seconds per wall second)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return out, wall, cpu / wall


def bench_variant(variant: str, root: Path, folder: Path, rounds: int) -> tuple:
    """Check agreement, time `rounds` alternating passes, split the time by stage: (the row's measured fields,
    {side: (seconds per stage over the images, cores busy)})."""
    from transformers import SegformerForSemanticSegmentation
    make_transformers_folder(folder, NUM_CLASSES, **SIZES[variant])
    theirs = SegformerForSemanticSegmentation.from_pretrained(folder).eval()
    ours, _ = load_source(folder)
    dataset, protocol = open_dataset("ade20k", root, "validation"), PROTOCOLS["ade20k"]
    pairs = ade20k_pairs(root)
    if [p[0] for p in pairs] != [p[0] for p in dataset.pairs]:
        raise SystemExit(f"{root}: the two sides would read different files")

    # Same predictions? (also the warm-up of both)
    reference = transformers_pass(theirs, pairs, keep=True)
    agree = total = 0
    for i, pred in enumerate(reference["predictions"]):
        labels = predict_labels(ours, dataset.load(i)[0], protocol, 1.0, NUM_CLASSES).numpy()
        agree, total = agree + int((labels == pred).sum()), total + pred.size
    agreement = agree / total
    if agreement < 0.999:
        raise SystemExit(f"{variant}: predictions disagree on {100 * (1 - agreement):.3f}% of the pixels")

    times, n = [], len(dataset)
    for i in range(rounds):
        (result, t_ours, busy_ours), (theirs_result, t_theirs, busy_theirs) = (
            timed(score, ours, dataset, protocol, Study(), progress=False), timed(transformers_pass, theirs, pairs))
        times.append((t_ours, t_theirs))
        # cores busy = this process's CPU seconds / wall seconds: well under --threads means other load took cores
        print(f"  round {i + 1}: ours {n / t_ours:.3f} images/s ({busy_ours:.2f} cores busy), transformers "
              f"{n / t_theirs:.3f} images/s ({busy_theirs:.2f} cores busy)")
    if agreement == 1.0 and not np.array_equal(result["confusion"].numpy(), theirs_result["confusion"]):
        raise SystemExit(f"{variant}: same predictions but different confusion matrices")

    stages, _, busy_ours = timed(our_stages, ours, dataset, protocol)
    if not math.isclose(stages["miou"], result["miou"], rel_tol=1e-9):
        raise SystemExit(f"{variant}: the stage split computes mIoU {stages['miou']}, score {result['miou']}")
    their_laps = Laps()
    _, _, busy_theirs = timed(transformers_pass, theirs, pairs, their_laps)
    ratios = [t_theirs / t_ours for t_ours, t_theirs in times]
    return {"ours_images_per_s": n / statistics.median(t for t, _ in times),
            "transformers_images_per_s": n / statistics.median(t for _, t in times),
            "ratio_ours_over_transformers": statistics.median(ratios), "ratio_min": min(ratios),
            "ratio_max": max(ratios), "pixel_agreement": agreement, "miou_ours": result["miou"],
            "miou_transformers": theirs_result["miou"]}, {"ours": (stages["seconds"], busy_ours),
                                                          "transformers": (dict(their_laps.seconds), busy_theirs)}


def parse_size(text: str) -> tuple:
    """'HxW' -> (H, W)."""
    h, _, w = text.partition("x")
    return int(h), int(w)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", choices=sorted(SIZES), default=["b0", "b2"],
                        help="SegFormer sizes (default b0 b2; tiny: a stand-in for the tests)")
    parser.add_argument("--images", type=int, default=8, help="images in the made-up ADE20K tree (default 8)")
    parser.add_argument("--image-sizes", nargs="+", type=parse_size, default=list(IMAGE_SIZES), metavar="HxW",
                        help="their sizes, cycled (default 512x683 683x512 375x500 480x640)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds, each a pass of each (default 3)")
    parser.add_argument("--threads", type=int, default=nproc(), help="torch threads (default: nproc)")
    parser.add_argument("--out", default="results/bench_evaluate.csv", help="CSV to append to")
    args = parser.parse_args(argv)

    import transformers
    torch.set_num_threads(args.threads)
    sizes = [args.image_sizes[i % len(args.image_sizes)] for i in range(args.images)]
    print(f"ADE20K protocol, {args.images} images ({', '.join(f'{h}x{w}' for h, w in args.image_sizes)}), "
          f"{args.rounds} rounds, {torch.get_num_threads()} threads on {cpu_model()} (nproc {nproc()}), "
          f"transformers {transformers.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        root = make_ade20k_tree(Path(tmp) / "ADEChallengeData2016", sizes=sizes)
        for variant in args.variants:
            measured, stages = bench_variant(variant, root, Path(tmp) / variant, args.rounds)
            row = {"benchmark": "evaluate_ade20k", "variant": f"segformer_{variant}", "images": args.images,
                   "rounds": args.rounds, "threads": torch.get_num_threads(), **measured,
                   "transformers_version": transformers.__version__, "cpu_model": cpu_model(), "nproc": nproc(),
                   **provenance("cpu")}
            print(f"SegFormer-{variant.upper()}: pixel agreement {row['pixel_agreement']:.6f}, mIoU ours "
                  f"{row['miou_ours']:.4f} / transformers {row['miou_transformers']:.4f}")
            print(f"  ours          {row['ours_images_per_s']:7.3f} images/s")
            print(f"  transformers  {row['transformers_images_per_s']:7.3f} images/s")
            print(f"  ours / transformers: median {row['ratio_ours_over_transformers']:.2f}x "
                  f"(min {row['ratio_min']:.2f}, max {row['ratio_max']:.2f}) over {args.rounds} rounds")
            print("  ms per image by stage (one more pass of each):")
            print(f"  {'':14s}" + "".join(f"{s:>17s}" for s in (*STAGES, "total", "cores busy")))
            for side, (seconds, busy) in stages.items():
                print(f"  {side:14s}" + "".join(f"{1e3 * seconds.get(s, 0.0) / args.images:17.1f}" for s in STAGES)
                      + f"{1e3 * sum(seconds.values()) / args.images:17.1f}{busy:17.2f}")
            append_csv(args.out, row, COLUMNS)
    print(f"appended to {args.out}")


if __name__ == "__main__":
    main()

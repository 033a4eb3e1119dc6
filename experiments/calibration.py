"""Calibration of the embedded benchmark: does it discriminate within the default budget of one run?

SegFormer-B0 at 128 px with the default TrainConfig (1000 iterations, AdamW 6e-5, head x10, from scratch),
3 seeds, beside the same model with its decoder on stage 4 only (Table 1d's S4): the seed spread against a
difference the paper's ablations look for. Learning curves every 100 iterations. One scene family per call
(`python experiments/calibration.py [aerial|street]`): aerial validates on 128x128 views, street on whole
256x512 frames with sliding 128 px windows (the paper's Cityscapes protocol at our scale). Writes one row per
run to results/calibration.csv (aerial) or results/calibration_street.csv, keeps each run directory under
runs/calibration[_street]/.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pandas as pd

from segformer_lab import plotting
from segformer_lab.ablation import Script
from segformer_lab.data.synthetic import SyntheticScenes
from segformer_lab.engine import TrainConfig, train
from segformer_lab.results import provenance, write_csv

BASE = TrainConfig(model="segformer_b0", eval_every=100)
FAMILY_FIELDS = {
    "aerial": {},
    "street": {"scene_family": "street", "val_canvas": (256, 512), "eval_mode": "slide", "eval_crop": 128,
               "eval_stride": 96},
}
VARIANTS = {"b0": {}, "b0_s4": {"decoder_stages": [4]}}
SEEDS = (0, 1, 2)
METRIC_COLUMNS = ["miou", "thing_miou", "stuff_miou", "macc", "aacc"]


def suffix(family: str) -> str:
    return "" if family == "aerial" else f"_{family}"


def columns(classes) -> list:
    return (["experiment", "variant", "seed", "iterations", *METRIC_COLUMNS] + [f"iou_{c}" for c in classes]
            + ["train_seconds", "git_commit", "torch_version", "device", "cpu_model", "date"])


def main(family: str = "aerial", runs_dir=None, out=None) -> list:
    runs_dir = Path(runs_dir or f"runs/calibration{suffix(family)}")
    out = out or f"results/calibration{suffix(family)}.csv"
    base = dataclasses.replace(BASE, **FAMILY_FIELDS[family])
    classes = SyntheticScenes("val", 1, family=family).classes
    rows = []
    for variant, overrides in VARIANTS.items():
        for seed in SEEDS:
            cfg = dataclasses.replace(base, model_overrides=overrides, seed=seed)
            run = runs_dir / f"{variant}_seed{seed}"
            done = run / "metrics.json"
            metrics = json.loads(done.read_text()) if done.is_file() else train(cfg, run)
            rows.append({"experiment": "calibration", "variant": variant, "seed": seed, "iterations": cfg.iterations,
                         **{k: metrics[k] for k in METRIC_COLUMNS},
                         **{f"iou_{c}": metrics["iou"][c] for c in classes},
                         "train_seconds": metrics["train_seconds"], **provenance("cpu")})
            write_csv(out, rows, columns(classes))
            print(f"{variant} seed {seed}: mIoU {metrics['miou']:.2f}, thing mIoU {metrics['thing_miou']:.2f}")
    figures(family, runs_dir, out)
    return rows


def figures(family: str = "aerial", runs_dir=None, csv_path=None, out_dir="results/figures") -> None:
    """Sample scenes, learning curves and per-class IoU of the calibration runs, as PNGs in out_dir."""
    runs_dir = Path(runs_dir or f"runs/calibration{suffix(family)}")
    csv_path = csv_path or f"results/calibration{suffix(family)}.csv"
    name = "embedded" if family == "aerial" else family
    train_crops = SyntheticScenes("train", 6, crop=128, family=family)
    classes, palette = train_crops.classes, train_crops.palette
    title = "128 px training crops" + (" of frames resized by 0.5-2.0" if family == "street" else "")
    plotting.save(plotting.sample_grid([train_crops.load(i) for i in range(6)], classes, palette,
                                       f"{family.capitalize()} scenes: {title}"), f"{out_dir}/{name}_samples.png")
    canvas = SyntheticScenes("val", 2, canvas=(256, 512), family=family)
    what = "whole 256x512 validation frames" if family == "street" else \
        "larger canvas at the same pixel scale: 256x512 validation views"
    plotting.save(plotting.sample_grid([canvas.load(i) for i in range(2)], classes, palette,
                                       f"{family.capitalize()} scenes: {what}"), f"{out_dir}/{name}_canvas.png")
    runs = {p: p.name.rsplit("_seed", 1)[0] for p in sorted(runs_dir.glob("*_seed*")) if (p / "curve.jsonl").is_file()}
    if runs:
        plotting.save(plotting.learning_curves(plotting.read_curves(runs)),
                      f"{out_dir}/calibration{suffix(family)}_curves.png")
    if Path(csv_path).is_file():
        plotting.save(plotting.per_class_iou(pd.read_csv(csv_path), classes),
                      f"{out_dir}/calibration{suffix(family)}_per_class.png")


def run(results, runs, preset, config, progress) -> Path:
    """`segformer-lab run calibration`: the aerial calibration runs under `runs`, their table in `results`."""
    main("aerial", Path(runs) / "calibration", Path(results) / "calibration.csv")
    return Path(results) / "calibration.csv"


SCRIPT = Script(name="calibration", run=run)  # its own loop of runs, one scene family per call

if __name__ == "__main__":
    main(*sys.argv[1:2])

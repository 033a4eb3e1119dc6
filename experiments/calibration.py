"""Calibration of the embedded benchmark: does it discriminate within the default budget of one run?

SegFormer-B0 at 128 px with the default TrainConfig (1000 iterations, AdamW 6e-5, head x10, from scratch),
3 seeds, beside the same model with its decoder on stage 4 only (Table 1d's S4): the seed spread against a
difference the paper's ablations look for. Learning curves every 100 iterations. Writes one row per run to
results/calibration.csv and keeps each run directory under runs/calibration/.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from segformer_lab import plotting
from segformer_lab.data.synthetic import CLASSES, PALETTE, SyntheticScenes
from segformer_lab.engine import TrainConfig, train
from segformer_lab.results import provenance, write_csv

EXPERIMENT = "calibration"
BASE = TrainConfig(model="segformer_b0", eval_every=100)
VARIANTS = {"b0": {}, "b0_s4": {"decoder_stages": [4]}}
SEEDS = (0, 1, 2)
COLUMNS = (["experiment", "variant", "seed", "iterations", "miou", "thing_miou", "stuff_miou", "macc", "aacc"]
           + [f"iou_{c}" for c in CLASSES] + ["train_seconds", "git_commit", "torch_version", "device", "date"])


def main(runs_dir="runs/calibration", out="results/calibration.csv") -> list:
    rows = []
    for variant, overrides in VARIANTS.items():
        for seed in SEEDS:
            cfg = TrainConfig(**{**BASE.to_dict(), "model_overrides": overrides, "seed": seed})
            run = Path(runs_dir) / f"{variant}_seed{seed}"
            done = run / "metrics.json"
            metrics = json.loads(done.read_text()) if done.is_file() else train(cfg, run)
            rows.append({"experiment": EXPERIMENT, "variant": variant, "seed": seed, "iterations": cfg.iterations,
                         **{k: metrics[k] for k in ("miou", "thing_miou", "stuff_miou", "macc", "aacc")},
                         **{f"iou_{c}": metrics["iou"][c] for c in CLASSES},
                         "train_seconds": metrics["train_seconds"], **provenance("cpu")})
            write_csv(out, rows, COLUMNS)
            print(f"{variant} seed {seed}: mIoU {metrics['miou']:.2f}, thing mIoU {metrics['thing_miou']:.2f}")
    figures(runs_dir, out)
    return rows


def figures(runs_dir="runs/calibration", csv_path="results/calibration.csv", out_dir="results/figures") -> None:
    """Sample scenes, learning curves and per-class IoU of the calibration runs, as PNGs in out_dir."""
    train_crops = SyntheticScenes("train", 6, crop=128)
    samples = [train_crops.load(i) for i in range(6)]
    plotting.save(plotting.sample_grid(samples, CLASSES, PALETTE, "Embedded benchmark: 128 px training crops"),
                  f"{out_dir}/embedded_samples.png")
    canvas = SyntheticScenes("val", 2, canvas=(256, 512))
    plotting.save(plotting.sample_grid([canvas.load(i) for i in range(2)], CLASSES, PALETTE,
                                       "Larger canvas at the same pixel scale: 256x512 validation views"),
                  f"{out_dir}/embedded_canvas.png")
    runs = {p: p.name.rsplit("_seed", 1)[0] for p in sorted(Path(runs_dir).glob("*_seed*")) if (p / "curve.jsonl").is_file()}
    plotting.save(plotting.learning_curves(plotting.read_curves(runs)), f"{out_dir}/calibration_curves.png")
    plotting.save(plotting.per_class_iou(pd.read_csv(csv_path), CLASSES), f"{out_dir}/calibration_per_class.png")


if __name__ == "__main__":
    main()

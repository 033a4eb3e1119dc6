"""Figure 3: effective receptive fields of SegFormer and a CNN, per encoder stage and for the decoder head.

The runs are those of experiments/decoder_vs_cnn.py for SegFormer-B0 and ResNet-18 + the same MLP decoder,
from scratch and pretrained (the same configs, so the runner reuses finished runs instead of training them
again). For each run the ERF of stages 1-4 and of the head is averaged over `ERF_IMAGES` validation crops, for
the trained model and for the same model at the start of its training (captum gradients, see
segformer_lab/erf.py). The trained model is measured again on whole validation views of 256 and 512 px at the
same scale (`CANVASES`): on the 128 px crop a square holding 99 % of the mass is clipped by the crop's edge, on a
larger canvas it has room (the paper's Figure 3 uses whole Cityscapes images). Maps are saved as .npy under
results/erf/, and the high-contribution area ratios (t = 0.2, 0.3, 0.5, 0.99; side of the square over the side
of the input it was measured on) go into the CSV row.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import torch

from segformer_lab import from_pretrained
from segformer_lab.repo import load_experiment
from segformer_lab.presets import powered_seeds
from segformer_lab.data.transforms import eval_pipeline
from segformer_lab.engine import TrainConfig, initial_model, open_datasets
from segformer_lab.erf import TARGETS, THRESHOLDS, area_ratios, erf_map

EXPERIMENT = "erf"
DECODER_VS_CNN = load_experiment("decoder_vs_cnn")
BASE = DECODER_VS_CNN.BASE
VARIANTS = {name: DECODER_VS_CNN.VARIANTS[name] for name in
            ("mit_b0_pretrained", "resnet18_mlp_pretrained", "mit_b0_scratch", "resnet18_mlp_scratch")}
PRESETS = DECODER_VS_CNN.PRESETS
# The gpu preset runs the seeds the inconclusive stage-4 claim needs at 80 % power on the default results (about
# 20) for the two models it compares, declared before they run: seeds 0-2 are decoder_vs_cnn's gpu runs (reused),
# the others trained here.
SEEDS, VARIANT_SEEDS = powered_seeds({"mit_b0_pretrained": 20, "resnet18_mlp_pretrained": 20}, VARIANTS)
ERF_IMAGES = 100  # at most this many validation crops (all of them when the split is smaller)
STATES = ("trained", "init")
CANVASES = (256, 512)  # whole validation views (px) the trained model is measured on again
SAVED_SIDE = 128  # their maps are saved at this side (block sums), to keep results/ small
EXTRA_COLUMNS = ([f"erf_{state}_{target}_t{t}" for state in STATES for target in TARGETS for t in THRESHOLDS]
                 + [f"erf_trained_c{canvas}_{target}_t{t}" for canvas in CANVASES for target in TARGETS
                    for t in THRESHOLDS])


def erf_images(cfg: TrainConfig, batch: int = 10, canvas: int | None = None) -> list:
    """Batches of normalised validation views: centre crops of the training crop size, or with `canvas` whole
    `canvas` x `canvas` views of the same world at the same scale, as many as hold the crops' pixel count (100
    crops of 128 px: 25 views of 256 px, 7 of 512 px)."""
    count = min(ERF_IMAGES, cfg.val_scenes)
    if canvas is not None:
        count = math.ceil(count * (cfg.crop_size / canvas) ** 2)
        cfg = dataclasses.replace(cfg, val_canvas=(canvas, canvas), val_scenes=count)
    _, val, _, _ = open_datasets(cfg)
    prepare, size = eval_pipeline(), canvas or cfg.crop_size
    images = []
    for i in range(min(count, len(val))):
        image, _ = prepare(*val.load(i))
        h, w = image.shape[-2:]
        top, left = (h - size) // 2, (w - size) // 2
        images.append(image[:, top:top + size, left:left + size])
    return [torch.stack(images[i:i + batch]) for i in range(0, len(images), batch)]


def extra_metrics(run_dir: Path, cfg: TrainConfig, results_dir="results") -> dict:
    """ERF maps of the trained model and of its initialisation on training-size crops, and of the trained model
    on each of CANVASES; saves .npy files, returns the area ratios."""
    images = erf_images(cfg)
    trained = from_pretrained(Path(run_dir) / "model.pt")
    init = initial_model(cfg, trained.config.num_classes, progress=False)
    out_dir = Path(results_dir) / "erf"
    out_dir.mkdir(parents=True, exist_ok=True)
    row = {}
    for state, model in (("trained", trained), ("init", init)):
        for target in TARGETS:
            erf = erf_map(model, images, target)
            np.save(out_dir / f"{Path(run_dir).name}_{state}_{target}.npy", erf.astype(np.float32))
            for t, (side, _) in area_ratios(erf).items():
                row[f"erf_{state}_{target}_t{t}"] = side
    for canvas in CANVASES:
        views = erf_images(cfg, batch=4, canvas=canvas)
        for target in TARGETS:
            erf = erf_map(trained, views, target)
            for t, (side, _) in area_ratios(erf).items():
                row[f"erf_trained_c{canvas}_{target}_t{t}"] = side
            k = canvas // SAVED_SIDE  # saved summed over k x k blocks: the mass kept, a 128 px file
            pooled = erf.reshape(SAVED_SIDE, k, SAVED_SIDE, k).sum(axis=(1, 3))
            np.save(out_dir / f"{Path(run_dir).name}_trained_c{canvas}_{target}.npy", pooled.astype(np.float32))
    return row

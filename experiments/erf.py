"""Figure 3: effective receptive fields of SegFormer and a CNN, per encoder stage and for the decoder head.

The runs are those of experiments/decoder_vs_cnn.py for SegFormer-B0 and ResNet-18 + the same MLP decoder,
from scratch and pretrained (the same configs, so the runner reuses finished runs instead of training them
again). For each run the ERF of stages 1-4 and of the head is averaged over `ERF_IMAGES` validation crops, for
the trained model and for the same model at the start of its training (captum gradients, see
segformer_lab/erf.py). Maps are saved as .npy under results/erf/, and the high-contribution area ratios
(t = 0.2, 0.3, 0.5, 0.99) go into the CSV row.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from segformer_lab import from_pretrained
from segformer_lab.repo import load_experiment
from segformer_lab.data.transforms import eval_pipeline
from segformer_lab.engine import TrainConfig, initial_model, open_datasets
from segformer_lab.erf import TARGETS, THRESHOLDS, area_ratios, erf_map

EXPERIMENT = "erf"
DECODER_VS_CNN = load_experiment("decoder_vs_cnn")
BASE = DECODER_VS_CNN.BASE
VARIANTS = {name: DECODER_VS_CNN.VARIANTS[name] for name in
            ("mit_b0_pretrained", "resnet18_mlp_pretrained", "mit_b0_scratch", "resnet18_mlp_scratch")}
PRESETS = DECODER_VS_CNN.PRESETS
ERF_IMAGES = 100  # at most this many validation crops (all of them when the split is smaller)
STATES = ("trained", "init")
EXTRA_COLUMNS = [f"erf_{state}_{target}_t{t}" for state in STATES for target in TARGETS for t in THRESHOLDS]


def erf_images(cfg: TrainConfig, batch: int = 10) -> list:
    """Batches of normalised validation crops of the training crop size (centre crops)."""
    _, val, _, _ = open_datasets(cfg)
    prepare, size = eval_pipeline(), cfg.crop_size
    images = []
    for i in range(min(ERF_IMAGES, len(val))):
        image, _ = prepare(*val.load(i))
        h, w = image.shape[-2:]
        top, left = (h - size) // 2, (w - size) // 2
        images.append(image[:, top:top + size, left:left + size])
    return [torch.stack(images[i:i + batch]) for i in range(0, len(images), batch)]


def extra_metrics(run_dir: Path, cfg: TrainConfig, results_dir="results") -> dict:
    """ERF maps of the trained model and of its initialisation; saves .npy files, returns the area ratios."""
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
    return row

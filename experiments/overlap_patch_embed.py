"""Section 3.1: overlapping patch merging (stage 1 K7/S4/P3, then K3/S2/P1, released) against non-overlapping
patches (K = S: 4/4/0, then 2/2/0) on MiT-B0, each from its own embedded pretraining (the same budget and
recipe), 3 seeds at decoder_vs_cnn's budget. The paper's argument is local continuity around patches, so each
row adds the boundary mIoU (the pixels within 3 px of a ground-truth class boundary, evaluation.boundary_band)
beside mIoU and thing mIoU. The overlapping runs are decoder_vs_cnn's mit_b0_pretrained (reused).

Validity: boundaries are where continuity can matter only if they hold errors: the released model's boundary
mIoU must lie below its overall mIoU beyond the seed spread.
"""
from __future__ import annotations

from segformer_lab.repo import load_experiment
from segformer_lab.engine import evaluate_run

EXPERIMENT = "overlap_patch_embed"
DECODER_VS_CNN = load_experiment("decoder_vs_cnn")
BASE = DECODER_VS_CNN.BASE
VARIANTS = {"overlap": {"model": "segformer_b0", "encoder_weights": "embedded"},
            "non_overlap": {"model": "segformer_b0", "encoder_weights": "embedded",
                            "model_overrides": {"overlap_patch_embed": False}}}
PRESETS = DECODER_VS_CNN.SHARED_PRESETS
EXTRA_COLUMNS = ["boundary_miou"]


def extra_metrics(run_dir, cfg, results_dir) -> dict:
    return {"boundary_miou": evaluate_run(run_dir)["boundary_miou"]}

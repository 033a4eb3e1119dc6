"""Table 1b: the width C of the All-MLP decoder, C in {64, 128, 256, 512, 768}, on the same MiT-B0 encoder
from the embedded pretraining (the paper sweeps MiT-B2 from 256 to 2048; B0's released width is 256, and on
128 px crops B0 is what 2 CPU cores train in minutes). The C = 256 runs are decoder_vs_cnn's mit_b0_pretrained
(the same config: reused). Each row: mIoU, params, GMACs (1 per multiply-accumulate) at the crop and at
512x512 (the paper's size), and the CPU latency at 512x512 (median of 5; timings taken beside other work are
noisy, so the claims use GMACs).

Validity: the sweep tests saturation only where the decoder's width matters at all: the narrowest decoder
(C = 64) must lose accuracy against C = 256 beyond the seed spread; otherwise every width is as good and
"saturates" says nothing about the decoder.

The `*_fine` runs (C = 64, 256, 768) exist because on the 9 aerial classes width did not matter (C = 64 within
the seed spread of C = 256), so saturation went untested; the paper sweeps on ADE20K's 150 classes. They train
on the "fine" world (data/synthetic.py): the same aerial scenes with every class split into 4 sub-classes that
only a tint tells apart (a local cue: the mean colour of a few pixels), 36 classes in all, so the decoder has
many more distinctions to carry. Their encoder starts from the same aerial pretraining as the 9-class runs
(engine.PRETRAIN_FAMILY). They run at the default and gpu presets only (smoke and quick stay one cheap run).
"""
from __future__ import annotations

from segformer_lab.repo import load_experiment
from segformer_lab.cost import count_flops, measure_latency
from segformer_lab.engine import run_model

EXPERIMENT = "decoder_width"
DECODER_VS_CNN = load_experiment("decoder_vs_cnn")
BASE = DECODER_VS_CNN.BASE
WIDTHS = (64, 128, 256, 512, 768)
FINE_WIDTHS = (64, 256, 768)  # on the 36-class fine world: the narrowest, B0's own and the widest


def width(c: int) -> dict:
    """The TrainConfig fields of MiT-B0 with decoder width C (C = 256 is B0's default: no override)."""
    fields = {"model": "segformer_b0", "encoder_weights": "embedded"}
    return fields if c == 256 else {**fields, "model_overrides": {"decoder_dim": c}}


VARIANTS = {**{f"c{c}": width(c) for c in WIDTHS},  # C = 256 is decoder_vs_cnn's run
            **{f"c{c}_fine": {**width(c), "scene_family": "fine"} for c in FINE_WIDTHS}}
PRESETS = DECODER_VS_CNN.SHARED_PRESETS
PRESET_VARIANTS = {"smoke": ["c64", "c256"], "quick": ["c64", "c256"]}  # quick: one run to train
# Behind the saturation claim, not tested while C = 256 does not beat C = 64 (the width does not matter yet):
# trained first under `run --time-budget`.
PRIORITY = ["c64", "c256"]
EXTRA_COLUMNS = ["decoder_dim", "gmacs", "gmacs_512", "latency_512_ms"]


def extra_metrics(run_dir, cfg, results_dir) -> dict:
    model = run_model(cfg)  # 9 classes, 36 on the fine world
    return {"decoder_dim": model.config.decoder_dim, "gmacs": count_flops(model, cfg.crop_size)["macs"] / 1e9,
            "gmacs_512": count_flops(model, 512)["macs"] / 1e9,
            "latency_512_ms": measure_latency(model, 512, repeats=5)["latency_ms"]}

"""Table 1b: the width C of the All-MLP decoder, C in {64, 128, 256, 512, 768}, on the same MiT-B0 encoder
from the embedded pretraining (the paper sweeps MiT-B2 from 256 to 2048; B0's released width is 256, and on
128 px crops B0 is what 2 CPU cores train in minutes). The C = 256 runs are decoder_vs_cnn's mit_b0_pretrained
(the same config: reused). Each row: mIoU, params, GMACs (1 per multiply-accumulate) at the crop and at
512x512 (the paper's size), and the CPU latency at 512x512 (median of 5; timings taken beside other work are
noisy, so the claims use GMACs).

Validity: the sweep tests saturation only where the decoder's width matters at all: the narrowest decoder
(C = 64) must lose accuracy against C = 256 beyond the seed spread; otherwise every width is as good and
"saturates" says nothing about the decoder.
"""
from __future__ import annotations

from segformer_lab.repo import load_experiment
from segformer_lab.cost import count_flops, measure_latency
from segformer_lab.registry import build_model

EXPERIMENT = "decoder_width"
DECODER_VS_CNN = load_experiment("decoder_vs_cnn")
BASE = DECODER_VS_CNN.BASE
WIDTHS = (64, 128, 256, 512, 768)
VARIANTS = {f"c{c}": ({"model": "segformer_b0", "encoder_weights": "embedded"} if c == 256 else
                      {"model": "segformer_b0", "encoder_weights": "embedded", "model_overrides": {"decoder_dim": c}})
            for c in WIDTHS}  # C = 256 is B0's default: no override, so the run is decoder_vs_cnn's
PRESETS = DECODER_VS_CNN.PRESETS
PRESET_VARIANTS = {"smoke": ["c64", "c256"], "quick": ["c64", "c256"]}  # quick: one run to train
EXTRA_COLUMNS = ["decoder_dim", "gmacs", "gmacs_512", "latency_512_ms"]


def extra_metrics(run_dir, cfg, results_dir) -> dict:
    model = build_model(cfg.model, 9, **cfg.model_overrides)
    return {"decoder_dim": model.config.decoder_dim, "gmacs": count_flops(model, cfg.crop_size)["macs"] / 1e9,
            "gmacs_512": count_flops(model, 512)["macs"] / 1e9,
            "latency_512_ms": measure_latency(model, 512, repeats=5)["latency_ms"]}

"""Table 1c: Mix-FFN against a positional encoding when the test resolution differs from the training one.

The same MiT-B0 encoder with Mix-FFN (released), a learned absolute PE made for the training crop (bilinearly
resized to other grids), or neither; trained on 128 px crops of the embedded world. Each trained run is
evaluated on 256x512 canvases at the same pixel scale (the paper's 768 crops vs whole 1024x2048 Cityscapes
images), with sliding 128 px windows and as whole images, on a square 384x384 canvas, and under zoom
(the same views at 0.5x and 2x the pixel density). `analysis` then asks whether the learned PE carries position
information at all (results/pe_vs_mixffn_pe.csv).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch

from segformer_lab import from_pretrained
from segformer_lab.data.transforms import eval_pipeline
from segformer_lab.engine import TrainConfig, evaluate_model, initial_model, open_datasets
from segformer_lab.results import provenance, write_csv
from segformer_lab.runner import standard_presets

EXPERIMENT = "pe_vs_mixffn"
BASE = TrainConfig(model="segformer_b0", crop_size=128)
VARIANTS = {
    "mixffn": {"model_overrides": {"pos_encoding": "mixffn"}},
    "learned_pe": {"model_overrides": {"pos_encoding": "learned", "pe_train_size": [128, 128]}},
    "no_pe": {"model_overrides": {"pos_encoding": "none"}},
}
EVALS = {
    "slide_256x512": {"canvas": (256, 512), "mode": "slide", "crop": 128, "stride": 96},
    "whole_256x512": {"canvas": (256, 512), "mode": "whole"},
    "whole_384x384": {"canvas": (384, 384), "mode": "whole"},
    "zoom_0.5": {"canvas": (128, 128), "zoom": 0.5},
    "zoom_2": {"canvas": (128, 128), "zoom": 2.0},
}
PRESETS = standard_presets(smoke={"model": "segformer_tiny"})
PE_COLUMNS = ["experiment", "variant", "seed", "preset", "run_id", "pe_change", "encoder_change", "pe_token_ratio",
              "miou", "miou_without_pe", "git_commit", "torch_version", "device", "date"]


def analysis(results_dir="results", preset: str = "quick", runs_dir="runs") -> None:
    """Does the learned PE carry position information? For each finished learned-PE run of the preset: how far
    the embeddings moved from initialisation (relative change, beside that of the other encoder weight matrices),
    their norm relative to the patch-embedding tokens they are added to, and the mIoU at the training size with
    the PE removed at test time. Writes results/pe_vs_mixffn_pe.csv."""
    table = Path(results_dir) / f"{EXPERIMENT}.csv"
    if not table.is_file():
        return
    rows = []
    for r in pd.read_csv(table).query("variant == 'learned_pe' and preset == @preset").itertuples():
        run_dir = Path(runs_dir) / EXPERIMENT / f"{r.variant}_s{r.seed}_{r.run_id}"
        if not (run_dir / "model.pt").is_file():
            continue  # the run directory is not at hand (e.g. a clone holding only the CSV)
        cfg = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()), str(run_dir / "config.json"))
        trained = from_pretrained(run_dir / "model.pt").eval()
        init = initial_model(cfg, trained.config.num_classes, progress=False)
        now, start = trained.backbone.state_dict(), init.backbone.state_dict()
        pe = [k for k in now if k.startswith("pos_embed")]
        rest = [k for k in now if k not in pe and now[k].ndim > 1]  # weight matrices and kernels (no norms, biases)
        change = {"pe_change": _relative_change(now, start, pe), "encoder_change": _relative_change(now, start, rest)}
        _, val, classes, things = open_datasets(cfg)
        with torch.no_grad():  # stage 1: the PE's norm over the norm of the tokens it is added to
            image, _ = eval_pipeline()(*val.load(0))
            tokens, h, w = trained.backbone.patch_embed1(image[None])  # (1, N, C)
            pos = trained.backbone.add_position(torch.zeros_like(tokens), 1, h, w)  # (1, N, C)
            change["pe_token_ratio"] = float(pos.norm() / tokens.norm())
        with_pe = evaluate_model(trained, val, cfg, classes, things)["miou"]
        with torch.no_grad():
            for k in pe:
                getattr(trained.backbone, k).zero_()
        without = evaluate_model(trained, val, cfg, classes, things)["miou"]
        rows.append({"experiment": EXPERIMENT, "variant": r.variant, "seed": r.seed, "preset": preset,
                     "run_id": r.run_id, **change, "miou": with_pe, "miou_without_pe": without, **provenance("cpu")})
    if rows:
        write_csv(Path(results_dir) / f"{EXPERIMENT}_pe.csv", rows, PE_COLUMNS)


def _relative_change(now: dict, start: dict, keys: list) -> float:
    """||w - w0|| / ||w0|| over the concatenation of the named tensors."""
    diff = torch.cat([(now[k] - start[k]).flatten() for k in keys])
    return float(diff.norm() / torch.cat([start[k].flatten() for k in keys]).norm())

"""Table 1c: Mix-FFN against a positional encoding when the test resolution differs from the training one.

The same MiT-B0 encoder with Mix-FFN (released), a learned absolute PE or a fixed 2-D sin-cos PE made for the
128 px training crop (both bilinearly resized to other grids), or neither; trained on 128 px crops, on both
scene families:
- street (the paper's setting at our scale): crops of 256x512 frames randomly resized by 0.5-2.0, tested on
  whole frames with sliding 128 px windows and whole (the paper's 768 windows vs whole 1024x2048 Cityscapes
  images), and on whole frames at half the pixel density;
- aerial: no layout, so absolute position carries nothing to learn; tested on 256x512 canvases at the same
  pixel scale, slide and whole, on 384x384 canvases and under zoom.
Every variant starts from the embedded pretraining with the region-presence pretext (same budget for each, with
MiT's recipe chosen by experiments/pretraining.py), which gives a PE positions to learn before segmentation, as
ImageNet does for the paper's (pretrain.py); the `*_street_shared` runs are the first version of the street
setting, pretrained with one recipe shared by every family.
The first version of this ablation (aerial, from scratch) stays as the `*_aerial_scratch` variants: there the
learned PE was never used.

Validity: an absolute PE is used when zeroing it at test time, at the training size, costs accuracy beyond the
seed spread (`extra_metrics`: the same evaluation with the PE zeroed, and with its positions shuffled, which
keeps its values and removes only where they are).
"""
from __future__ import annotations

from pathlib import Path

import torch

from segformer_lab import from_pretrained
from segformer_lab.repo import load_experiment
from segformer_lab.data.transforms import eval_pipeline
from segformer_lab.engine import TrainConfig, evaluate_model, open_datasets, pretrain_config
from segformer_lab.models.segformer import ABSOLUTE_PE
from segformer_lab.pretrain import pretrained_path
from segformer_lab.registry import build_model
from segformer_lab.results import provenance, read_rows, write_csv
from segformer_lab.runner import planned_runs, standard_presets

EXPERIMENT = "pe_vs_mixffn"
BASE = TrainConfig(model="segformer_b0", crop_size=128)  # pretrained with MiT's recipe
FAMILIES = {
    "street": {"scene_family": "street", "val_canvas": [256, 512], "eval_mode": "slide", "eval_stride": 96},
    "aerial": {},
}
POSITIONS = {
    "mixffn": {"pos_encoding": "mixffn"},
    "learned_pe": {"pos_encoding": "learned", "pe_train_size": [128, 128]},
    "sincos_pe": {"pos_encoding": "sincos", "pe_train_size": [128, 128]},
    "no_pe": {"pos_encoding": "none"},
    # The learned PE started from the sin-cos table (then learned): the trunc-normal one (std 0.02) stays unused.
    "learned_sincos_pe": {"pos_encoding": "learned", "pe_init": "sincos", "pe_train_size": [128, 128]},
}
FIRST = ("mixffn", "learned_pe", "sincos_pe", "no_pe")  # the position variants of the first version
PRETRAINED = {"encoder_weights": "embedded", "pretrain_pretext": "region_presence"}
VARIANTS = {f"{pe}_{family}": {"model_overrides": model, **fields, **PRETRAINED}
            for family, fields in FAMILIES.items() for pe, model in POSITIONS.items()}
VARIANTS.update({f"{pe}_aerial_scratch": {"model_overrides": POSITIONS[pe]} for pe in ("mixffn", "learned_pe", "no_pe")})
# The street runs as first made, pretrained with one recipe for every family (lr 1e-3, weight decay 0.05), kept at
# the default preset as a record.
VARIANTS.update({f"{pe}_street_shared": {**VARIANTS[f"{pe}_street"], "pretrain_recipe": "shared"} for pe in FIRST})
# smoke: every code path (both families, both absolute PEs); quick: the two runs the headline claims compare;
# default: the street setting and the kept aerial first version; gpu: the street setting (the pretrained aerial
# variants, 4 more pretrainings and 12 runs, are declared but planned by no preset: on a world without layout
# they are a side question, and the gpu preset's time goes to the setting that tests the claim).
PRESET_VARIANTS = {"smoke": [f"{pe}_street" for pe in FIRST] + ["learned_pe_aerial"],
                   "quick": ["mixffn_street", "learned_pe_street"],
                   "default": [v for v in VARIANTS if v.endswith(("_street", "_aerial_scratch", "_street_shared"))],
                   "gpu": [f"{pe}_street" for pe in POSITIONS]}
# Behind the resolution claims, not tested while the learned PE goes unused at the CPU budget (removing it costs
# no mIoU): trained first under `run --time-budget`.
PRIORITY = ["learned_pe_street", "mixffn_street", "no_pe_street"]
EVALS = {
    "slide_256x512": {"canvas": (256, 512), "mode": "slide", "crop": 128, "stride": 96},
    "whole_256x512": {"canvas": (256, 512), "mode": "whole"},
    "whole_384x384": {"canvas": (384, 384), "mode": "whole", "families": ("aerial",)},
    "zoom_0.5": {"canvas": (128, 128), "zoom": 0.5, "families": ("aerial",)},
    "zoom_2": {"canvas": (128, 128), "zoom": 2.0, "families": ("aerial",)},
    "whole_128x256_zoom_0.5": {"canvas": (128, 256), "zoom": 0.5, "mode": "whole", "families": ("street",)},
}
PRESETS = standard_presets(smoke={"model": "segformer_tiny", "pretrain_iterations": 2},
                           quick={"pretrain_iterations": 8}, default={"pretrain_iterations": 1000})
EXTRA_COLUMNS = ["pe_token_ratio", "miou_pe_zeroed", "miou_pe_shuffled"]
PRETRAINING_COLUMNS = ["experiment", "variant", "preset", "cache_key", "pretext", "pretrain_iterations", "final_loss",
                       "pe_token_ratio", "git_commit", "torch_version", "device", "cpu_model", "date"]


def extra_metrics(run_dir, cfg: TrainConfig, results_dir) -> dict:
    """For an absolute-PE run: the PE's norm over the norm of the stage-1 tokens it is added to, and the mIoU of
    the run's own evaluation (the training size) with every stage's PE zeroed, then with its grid positions
    shuffled (one fixed permutation per stage): what the model loses without the position signal."""
    if cfg.model_overrides.get("pos_encoding") not in ABSOLUTE_PE:
        return {}
    model = from_pretrained(run_dir / "model.pt").eval()
    _, val, classes, things = open_datasets(cfg)
    backbone = model.backbone
    tables = {i: getattr(backbone, f"pos_embed{i}") for i in range(1, 5)}  # (1, C, h, w) each
    saved = {i: t.detach().clone() for i, t in tables.items()}
    ratio = pe_token_ratio(backbone, eval_pipeline()(*val.load(0))[0])
    with torch.no_grad():
        for t in tables.values():
            t.zero_()
    zeroed = evaluate_model(model, val, cfg, classes, things)["miou"]
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for i, t in tables.items():
            flat = saved[i].flatten(2)  # (1, C, h*w)
            t.copy_(flat[:, :, torch.randperm(flat.shape[-1], generator=generator)].reshape(t.shape))
    shuffled = evaluate_model(model, val, cfg, classes, things)["miou"]
    return {"pe_token_ratio": ratio, "miou_pe_zeroed": zeroed, "miou_pe_shuffled": shuffled}


def pe_token_ratio(backbone, image: torch.Tensor) -> float:
    """||PE|| / ||tokens|| at stage 1 for one normalised image (3, H, W): the PE's size against what it is added to."""
    with torch.no_grad():
        tokens, h, w = backbone.patch_embed1(image[None])  # (1, N, C)
        return float(backbone.add_position(torch.zeros_like(tokens), 1, h, w).norm() / tokens.norm())


def analysis(results_dir="results", preset: str = "quick", runs_dir="runs") -> None:
    """What the embedded pretraining did to each position variant, from the cached pretrainings at hand (one per
    variant, shared by its seeds): the pretext's final loss and, for an absolute PE, its size against the tokens
    when segmentation starts. Writes results/pe_vs_mixffn_pretraining.csv, keeping the rows of variants whose
    pretraining is not in this machine's cache."""
    rows, seen = [], set()
    for variant, _, cfg in planned_runs(load_experiment(EXPERIMENT), preset):  # the configs the runner trains
        path = pretrained_path(pretrain_config(cfg)) if cfg.encoder_weights == "embedded" else None
        if path is None or variant in seen or not path.is_file():
            continue
        seen.add(variant)
        saved = torch.load(path, map_location="cpu", weights_only=False)
        ratio = float("nan")
        if cfg.model_overrides.get("pos_encoding") in ABSOLUTE_PE:
            _, val, classes, _ = open_datasets(cfg)
            model = build_model(cfg.model, len(classes), **cfg.model_overrides).eval()
            model.backbone.load_state_dict({k.removeprefix("backbone."): v for k, v in saved["state_dict"].items()},
                                           strict=False)  # a sin-cos table is not saved: it is rebuilt
            ratio = pe_token_ratio(model.backbone, eval_pipeline()(*val.load(0))[0])
        rows.append({"experiment": EXPERIMENT, "variant": variant, "preset": preset, "cache_key": path.stem,
                     "pretext": cfg.pretrain_pretext, "pretrain_iterations": cfg.pretrain_iterations,
                     "final_loss": saved["final_loss"], "pe_token_ratio": ratio, **provenance("cpu")})
    out = Path(results_dir) / f"{EXPERIMENT}_pretraining.csv"
    done = {(r["variant"], r["preset"]) for r in rows}
    kept = [r for r in read_rows(out) if (r["variant"], r["preset"]) not in done]
    if rows:  # the rows of variants whose pretraining is not at hand here stay as they were
        write_csv(out, kept + rows, PRETRAINING_COLUMNS)

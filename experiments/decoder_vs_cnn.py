"""Table 1d: the light All-MLP decoder on a CNN encoder and on the Mix Transformer.

MiT-B0 with the decoder on all four stages and on stage 4 only, MiT-B1 (13.7 M params, the size of ResNet-18 +
MLP's 11.7 M, as the paper pairs B2 with ResNet-50), ResNet-18 with the same MLP decoder (C = 256, as B0 and B1),
and DeepLabV3-R18 (output stride 16, pretrained) for reference; each MLP-decoder model from scratch and
from the embedded pretraining (the same budget for every encoder, each family's recipe chosen on a grid by
experiments/pretraining.py, one pretraining shared by all seeds: see segformer_lab/pretrain.py), to show what
pretraining does to the comparison. The `*_shared` runs are the first version, pretrained with one recipe for
every family, under which MiT did not gain from pretraining. Params and FLOPs sit beside mIoU
in each row. Validation uses 100 scenes, so that experiments/erf.py can reuse these runs for its maps.
`analysis` records how well each encoder learned the pretraining task (results/decoder_vs_cnn_pretraining.csv).
"""
from pathlib import Path

import torch

from segformer_lab.repo import load_experiment
from segformer_lab.engine import TrainConfig, pretrain_config
from segformer_lab.pretrain import SHARED_RECIPE, pretrained_path, recipe_for
from segformer_lab.results import provenance, write_csv
from segformer_lab.presets import standard_presets
from segformer_lab.runner import planned_runs

EXPERIMENT = "decoder_vs_cnn"
BASE = TrainConfig(model="segformer_b0", crop_size=128)  # pretrained: each encoder family's own recipe
ENCODERS = {
    "mit_b0": {"model": "segformer_b0"},
    "mit_b0_s4": {"model": "segformer_b0", "model_overrides": {"decoder_stages": [4]}},
    "mit_b1": {"model": "segformer_b1"},
    "resnet18_mlp": {"model": "resnet18_mlp", "model_overrides": {"decoder_dim": 256}},
    "deeplabv3_r18": {"model": "deeplabv3_r18", "model_overrides": {"output_stride": 16}},  # OS 8: 3.2x the MACs
}
# "shared": the first version, one pretraining recipe (lr 1e-3, weight decay 0.05) for every family, kept at the
# default preset as a record of what the fair recipe changed.
INITS = {"scratch": {"encoder_weights": ""}, "pretrained": {"encoder_weights": "embedded"},
         "shared": {"encoder_weights": "embedded", "pretrain_recipe": "shared"}}
VARIANTS = {f"{enc}_{init}": {**e, **i} for enc, e in ENCODERS.items() for init, i in INITS.items()
            if (enc, init) != ("deeplabv3_r18", "scratch")  # the reference is pretrained, as in the paper
            and not (init == "shared" and recipe_for(e["model"], e.get("model_overrides")) == SHARED_RECIPE)}
# (a family whose own recipe is the shared one has no "shared" variant: those runs are its "pretrained" ones)
SHARED_PRESETS = standard_presets(  # also those of the experiments beside it at 128 px (robustness, model_size, ...)
    smoke={"crop_size": 64, "val_canvas": [64, 64], "pretrain_iterations": 2, "val_scenes": 4},
    quick={"pretrain_iterations": 8, "val_scenes": 16}, default={"pretrain_iterations": 1000, "val_scenes": 100},
    gpu={"pretrain_iterations": 2000, "val_scenes": 100},
)
# gpu: 256 px crops (and views) from the 128 px pretraining, as the paper's 512 px training starts from 224 px
# ImageNet weights. The encoder claim tests the paper's mechanism only where the CNN's reach leaves context beyond
# it: ResNet-18 + MLP's 99 % stage-4 ERF square measures about 212 px, 1.7x the 128 px crop (results/report.md).
# The batch a quarter of the preset's: the same pixels per step.
CROP_256 = {"crop_size": 256, "val_canvas": [256, 256], "pretrain_crop": 128,
            "batch_size": SHARED_PRESETS["gpu"]["batch_size"] // 4}
PRESETS = {**SHARED_PRESETS, "gpu": {**SHARED_PRESETS["gpu"], **CROP_256}}
# quick: the runs the claims and their validity compare (DeepLabV3, a reference beside them, is left out); the
# shared-recipe record only at the default preset.
PRESET_VARIANTS = {"smoke": [v for v in VARIANTS if not v.endswith("_shared")],
                   "quick": [v for v in VARIANTS if not v.startswith("deeplabv3") and not v.endswith("_shared")],
                   "gpu": [v for v in VARIANTS if not v.endswith("_shared")]}
# Behind the encoder claim, not tested at 128 px: trained first under `run --time-budget`.
PRIORITY = ["mit_b1_pretrained", "resnet18_mlp_pretrained"]
PRETRAINING_COLUMNS = ["experiment", "encoder", "model", "cache_key", "pretrain_iterations", "final_loss",
                       "git_commit", "torch_version", "device", "cpu_model", "date"]


def analysis(results_dir="results", preset: str = "quick", runs_dir="runs") -> None:
    """How well each encoder learned the embedded pretraining task (the mean binary cross-entropy of its last
    20 steps; 0.69 for a constant 0.5): results/decoder_vs_cnn_pretraining.csv, from the cached pretrainings."""
    rows, seen = [], set()
    for variant, _, cfg in planned_runs(load_experiment(EXPERIMENT), preset):  # the configs the runner trains
        if cfg.encoder_weights != "embedded" or variant in seen:  # one pretraining serves every seed
            continue
        seen.add(variant)
        path = pretrained_path(pretrain_config(cfg))
        if path.is_file():
            saved = torch.load(path, map_location="cpu", weights_only=False)
            rows.append({"experiment": EXPERIMENT, "encoder": variant.removesuffix("_pretrained"), "model": cfg.model,
                         "cache_key": path.stem, "pretrain_iterations": cfg.pretrain_iterations,
                         "final_loss": saved["final_loss"], **provenance("cpu")})
    if rows:
        write_csv(Path(results_dir) / f"{EXPERIMENT}_pretraining.csv", rows, PRETRAINING_COLUMNS)

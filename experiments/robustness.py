"""Table 5: robustness to natural corruptions, on the trained runs of the other experiments.

Aerial runs: those of experiments/decoder_vs_cnn.py (MiT-B0, MiT-B1, ResNet-18 + MLP, pretrained and from
scratch, and DeepLabV3-R18; the same configs, so the runner reuses the finished runs instead of training them).
Street runs: MiT-B0 (Mix-FFN, as experiments/pe_vs_mixffn.py trains it), MiT-B1 and ResNet-18 + MLP, pretrained
on street scenes. Each run is evaluated on its validation scenes under each corruption and severity of the
preset (segformer_lab/corruptions.py); the corrupted images are the same for every run, computed once and
cached under `<runs>/robustness/corrupted/`. One row per run x corruption x severity: the clean metrics in
`miou` / `thing_miou`, the corrupted ones in `corrupted_miou` / `corrupted_thing_miou`, and the evaluation time
per image (corrupting included, cached images excluded).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from segformer_lab.repo import load_experiment
from segformer_lab.presets import powered_seeds
from segformer_lab.corruptions import CORRUPTIONS, GROUP_OF, TABLE5_SEVERITIES, parse_corruptions
from segformer_lab.engine import TrainConfig, evaluate_run

EXPERIMENT = "robustness"
DECODER_VS_CNN, PE_VS_MIXFFN = load_experiment("decoder_vs_cnn"), load_experiment("pe_vs_mixffn")
BASE = DECODER_VS_CNN.BASE
AERIAL = {name: fields for name, fields in DECODER_VS_CNN.VARIANTS.items()
          if not name.startswith("mit_b0_s4") and not name.endswith("_shared")}
# Street: pe_vs_mixffn's Mix-FFN run as it is (64 validation frames, its default), and MiT-B1 and ResNet-18 + MLP
# in the same setting.
STREET_B0 = {**PE_VS_MIXFFN.variants["mixffn_street"], "val_scenes": 64}
STREET = {"mit_b0_street": STREET_B0, "mit_b1_street": {**STREET_B0, "model": "segformer_b1", "model_overrides": {}},
          "resnet18_mlp_street": {**STREET_B0, **DECODER_VS_CNN.ENCODERS["resnet18_mlp"]}}
VARIANTS = {**AERIAL, **STREET}
PRESETS = DECODER_VS_CNN.SHARED_PRESETS
# The seeds the inconclusive family against DeepLabV3-R18 needs at 80 % power on the default results (about 4),
# for the models of Table 5's comparisons (aerial, pretrained), at the default and gpu presets; declared before
# they run. The rest keep 3.
POWERED = ("mit_b1_pretrained", "resnet18_mlp_pretrained", "deeplabv3_r18_pretrained")
SEEDS, VARIANT_SEEDS = powered_seeds({v: 4 for v in POWERED}, VARIANTS, presets=("default", "gpu"))
PRESET_VARIANTS = {"smoke": ["mit_b1_pretrained", "resnet18_mlp_pretrained"],
                   "quick": [v for v in AERIAL if not v.startswith("deeplabv3")]}
# How each family's runs are evaluated, clean and corrupted: aerial as trained (128 px views, whole); street on
# whole frames at half the pixel density (one 128x256 forward pass instead of pe_vs_mixffn's ten 128 px windows).
EVAL = {"aerial": {}, "street": {"canvas": (128, 256), "zoom": 0.5, "mode": "whole"}}
# (corruption, severity) pairs per preset; default and gpu: Table 5's (noise at 1-3, the rest at 1-5)
TABLE5 = tuple((c, s) for c in CORRUPTIONS for s in TABLE5_SEVERITIES[GROUP_OF[c]])
CONDITIONS = {
    "smoke": (("gaussian_noise", 3), ("fog", 3)),
    "quick": tuple((c, 3) for c in parse_corruptions(["gaussian_noise", "motion_blur", "contrast", "snow"])),
    "default": TABLE5,
    "gpu": TABLE5,
}
EXTRA_COLUMNS = ["corruption", "group", "severity", "corrupted_miou", "corrupted_thing_miou", "seconds_per_image",
                 "corrupt_seconds_per_image"]


def val_key(cfg: TrainConfig, setting: dict) -> str:
    """A short hash of the validation set's config fields and the evaluation's canvas and zoom, naming the folder
    of their corruption cache. The run's seed is left out, so the seeds share one folder: each cached image is
    named by a hash of its clean image (CorruptedSource), which tells the seeds' validation scenes apart."""
    fields = ("dataset", "data_root", "val_split", "scene_family", "val_scenes", "val_canvas", "val_zoom",
              "context_distance")
    values = {**{k: v for k, v in cfg.to_dict().items() if k in fields}, **setting}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


def condition_rows(run_dir: Path, cfg: TrainConfig, preset: str, runs_dir="runs") -> list:
    """The run evaluated clean (corruption "clean", severity 0) and under each (corruption, severity) of the
    preset, in its family's EVAL setting: one dict of EXTRA_COLUMNS each."""
    setting = EVAL[cfg.scene_family]
    cache = Path(runs_dir) / EXPERIMENT / "corrupted" / val_key(cfg, setting)
    rows = []
    for name, severity in (("clean", 0),) + CONDITIONS[preset]:
        corrupted = {"corruption": name, "severity": severity, "corruption_cache": cache} if severity else {}
        m = evaluate_run(run_dir, **setting, **corrupted)
        rows.append({"corruption": name, "group": GROUP_OF.get(name, "clean"), "severity": severity,
                     "corrupted_miou": m["miou"], "corrupted_thing_miou": m["thing_miou"],
                     "seconds_per_image": m["seconds_per_image"],
                     "corrupt_seconds_per_image": m["eval"].get("corrupt_seconds_per_image", 0.0)})
    return rows

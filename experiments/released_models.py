"""The released models a user holds: Table 1a's mIoU column, Table 5's rows, Figure 3 and the resolution curve,
measured on the user's own checkpoints and datasets (nothing is downloaded).

The user writes `released.toml` (segformer_lab/released.py documents it; docs/released_models.md shows an
example) naming the dataset roots and the checkpoints; `segformer-lab run released_models --config released.toml`
fills `results/released/`, and notebooks/10_released_models.ipynb renders it. Declared here: the studies each
model gets, the tolerance of "reproduces the paper's number", and the default settings.

CLAIMS (computed in the notebook):
- each B0-B5 checkpoint reaches the paper's single-scale mIoU (Table 1a) within TOLERANCE_MIOU points, tested only
  on the whole validation split under the paper's protocol (VALIDITY);
- Table 5 and Figure 3 are shown beside the paper's rows and figure, with the numbers, not judged.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from segformer_lab.ablation import Script
from segformer_lab.corruptions import GROUP_OF, TABLE5_SEVERITIES, parse_corruptions

# The paper's protocol run on the same weights gives numbers a few tenths away (resize library, rounding, mmseg
# version: mmseg issue #2804); one point is what "the same model under the same protocol" allows.
TOLERANCE_MIOU = 1.0
VALIDITY = "the whole validation split (ADE20K 2000, Cityscapes 500 images) under the paper's protocol"
RESOLUTIONS = (0.5, 0.75, 1.0, 1.5, 2.0)  # test-time factors of the protocol's size (the Mix-FFN study)
CORRUPTION_DATASETS = ("cityscapes",)  # Table 5 is Cityscapes-C
ERF_DATASETS = ("cityscapes",)  # Figure 3 is "ERF on Cityscapes (average over 100 images)"
SETTINGS = {
    "max_images": 0,  # 0: the whole split
    "erf_images": 100,  # Figure 3's count
    "erf_canvas": None,  # None: the whole 1024x2048 frame (segformer_lab.study.ERF_CANVAS)
    "corruptions": "all",  # Table 5's 16
    "resolutions": RESOLUTIONS,
    "severities": None,  # None: Table 5's (noise 1-3, the rest 1-5)
}


def corruption_severities(names, severities=None) -> list:
    """[(corruption names, severities)] to evaluate: Table 5's severities per group unless `severities` is set."""
    chosen = parse_corruptions(names)
    if severities:
        return [(chosen, tuple(severities))]
    groups = {}
    for name in chosen:
        groups.setdefault(TABLE5_SEVERITIES[GROUP_OF[name]], []).append(name)
    return [(tuple(group), levels) for levels, group in groups.items()]


def plan() -> SimpleNamespace:
    """What segformer_lab.released.run reads of this declaration."""
    return SimpleNamespace(SETTINGS=SETTINGS, CORRUPTION_DATASETS=CORRUPTION_DATASETS, ERF_DATASETS=ERF_DATASETS,
                           corruption_severities=corruption_severities)


def main(config="released.toml", results="results", progress: bool = True) -> Path:
    """Read `config`, run every study on every model it names, write `<results>/released/`."""
    from segformer_lab.released import read_config, run
    return run(read_config(config), Path(results) / "released", plan(), progress=progress)


def run(results, runs, preset, config, progress) -> Path:
    """`segformer-lab run released_models --config released.toml`: every study on every model it names."""
    return main(config, results, progress=progress)


SCRIPT = Script(name="released_models", run=run)  # nothing is trained

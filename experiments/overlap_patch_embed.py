"""Section 3.1: overlapping patch merging (stage 1 K7/S4/P3, then K3/S2/P1, released) against non-overlapping
patches (K = S: 4/4/0, then 2/2/0) on MiT-B0, each from its own embedded pretraining (the same budget and
recipe), 3 seeds at decoder_vs_cnn's budget. The paper's argument is local continuity around patches, so each
row adds the boundary mIoU (the pixels within 3 px of a ground-truth class boundary, evaluation.boundary_band)
beside mIoU and thing mIoU. The overlapping runs are decoder_vs_cnn's mit_b0_pretrained (reused).

The paper's claim, as judged here (`overlap_claims`): overlapping patch merging, which preserves local continuity
around patches, beats non-overlapping patches, overall and at class boundaries.

Validity: boundaries are where continuity can matter only if they hold errors: the released model's boundary
mIoU must lie below its overall mIoU beyond the seed spread.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from segformer_lab import figures, plotting
from segformer_lab.ablation import Ablation, Display
from segformer_lab.analysis import HEADLINE, per_seed, summarise
from segformer_lab.engine import evaluate_run
from segformer_lab.repo import load_experiment, load_module
from segformer_lab.verdicts import Claim, claim, condition, requiring

# The runs: MiT-B0 with and without overlapping patch merging, at decoder_vs_cnn's base config and presets.
BASE = load_experiment("decoder_vs_cnn").base
VARIANTS = {"overlap": {"model": "segformer_b0", "encoder_weights": "embedded"},
            "non_overlap": {"model": "segformer_b0", "encoder_weights": "embedded",
                            "model_overrides": {"overlap_patch_embed": False}}}
PRESETS = load_module("decoder_vs_cnn").SHARED_PRESETS
EXTRA_COLUMNS = ["boundary_miou"]


def extra_metrics(run_dir, cfg, results_dir) -> dict:
    """The mIoU of the pixels within 3 px of a ground-truth class boundary."""
    return {"boundary_miou": evaluate_run(run_dir)["boundary_miou"]}


# The claims: overlapping beats non-overlapping patches, overall and at class boundaries (where boundaries hold
# errors).
def overlap_claims(frame: pd.DataFrame) -> list[Claim]:
    """Section 3.1: overlapping patch merging beats non-overlapping patches (mIoU), and does so at class
    boundaries, where local continuity matters (boundary mIoU). The boundary claim requires that boundaries hold
    errors: the released model's boundary mIoU lies below its mIoU (a condition, judged by the same interval)."""
    def values(variant, metric):
        return per_seed(frame, variant, metric)
    hard = condition("Class boundaries hold errors: the overlapping model's mIoU exceeds its boundary mIoU",
                     values("overlap", "miou"), values("overlap", "boundary_miou"), since="Class boundaries hold errors")
    return [claim("Overlapping patch merging beats non-overlapping patches (mIoU)", values("overlap", "miou"),
                  values("non_overlap", "miou"), since="Overlapping patch merging beats non-overlapping patches"),
            *requiring([claim("Overlapping patch merging beats non-overlapping patches at class boundaries "
                              "(boundary mIoU)", values("overlap", "boundary_miou"),
                              values("non_overlap", "boundary_miou"), since="at class boundaries")], hard)]


def build(out, results_dir: Path, paper: pd.DataFrame) -> None:
    """Fill a report Section: the two claims and the headline and boundary mIoU per variant."""
    out.claims = overlap_claims(out.frame)
    out.table = summarise(out.frame, [*HEADLINE, "boundary_miou"])


# The figure: mIoU, thing mIoU and boundary mIoU of both variants.
def overlap(results_dir, preset=None):
    """mIoU, thing mIoU and boundary mIoU of overlapping and non-overlapping patch merging, one panel."""
    frame = figures.rows(results_dir, "overlap_patch_embed", preset)
    plt = plotting.pyplot()
    metrics = ("miou", "thing_miou", "boundary_miou")
    long = frame.melt(id_vars=["variant", "seed"], value_vars=list(metrics), var_name="metric")
    fig, ax = plt.subplots(figsize=(plotting.SINGLE + 0.6, 3.2))
    plotting.dots(ax, long, "metric", "variant")
    ax.set(xlabel="", ylabel="IoU (%)")
    plotting.not_from_zero(ax)
    plotting.legend_below(fig, *ax.get_legend_handles_labels())
    return plotting.finish(fig)


ABLATION = Ablation(
    name="overlap_patch_embed", title="Overlapping vs non-overlapping patch merging (Section 3.1)", order=9,
    base=BASE, variants=VARIANTS, presets=PRESETS, extra_columns=EXTRA_COLUMNS, extra_metrics=extra_metrics,
    claims=build, figures={"": overlap},
    display=Display(parts={"overlap": "overlapping patches", "non_overlap": "non-overlapping patches"}),
)

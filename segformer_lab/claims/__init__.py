"""The paper's claims, one module per ablation, named as its experiment (experiments/<name>.py): its claims as
computed comparisons of our per-seed results (segformer_lab.verdicts), their validity conditions, the tables that
put our numbers beside the paper's, and `build(section, results_dir, paper)`, which fills the ablation's section of
the report. A reader follows one ablation from its declared runs to its verdict in two files.

The claims a verdict is computed from are the paper's, in the paper's setting (pretrained encoders where it used
them); comparisons beside the paper go into the section's context, outside the verdict.
"""
from __future__ import annotations

from . import (decoder_vs_cnn, decoder_width, erf, model_size, overlap_patch_embed, pe_vs_mixffn, reduction_ratio,
               robustness, setr_vs_segformer)

MODULES = {m.__name__.rsplit(".", 1)[1]: m for m in (
    decoder_vs_cnn, decoder_width, erf, model_size, overlap_patch_embed, pe_vs_mixffn, reduction_ratio, robustness,
    setr_vs_segformer)}


def for_experiment(experiment: str):
    """The claims module of an experiment, e.g. segformer_lab.claims.erf for "erf"."""
    if experiment not in MODULES:
        raise ValueError(f"no claims module for experiment {experiment!r} (segformer_lab/claims/{experiment}.py)")
    return MODULES[experiment]

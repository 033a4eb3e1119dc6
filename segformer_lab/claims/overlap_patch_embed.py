"""Section 3.1: overlapping against non-overlapping patch merging (experiments/overlap_patch_embed.py).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..analysis import HEADLINE, per_seed, summarise
from ..verdicts import Claim, claim, condition, requiring


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

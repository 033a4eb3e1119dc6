"""The paper's claims for each ablation, as computed comparisons of our per-seed results (see verdicts.py).

Each function takes the experiment's CSV as a DataFrame and returns its list of Claims.
"""
from __future__ import annotations

import pandas as pd

from .verdicts import Claim, claim


def per_seed(frame: pd.DataFrame, variant: str, column: str) -> list:
    """Per-seed values of `column` for `variant`, in seed order."""
    rows = frame[frame["variant"] == variant].sort_values("seed")
    if rows.empty:
        raise ValueError(f"no rows for variant {variant!r}; variants present: {sorted(frame['variant'].unique())}")
    return rows[column].astype(float).tolist()


def pe_vs_mixffn_claims(frame: pd.DataFrame, canvas: str = "256x512") -> list[Claim]:
    """Table 1c: Mix-FFN beats a learned PE at the training size, and loses less on whole larger canvases.

    The drop of a run is its mIoU with sliding training-size windows minus its mIoU on whole canvases,
    both on the same larger views (the paper: 768 windows vs whole 1024x2048 images)."""
    slide, whole = f"slide_{canvas}_miou", f"whole_{canvas}_miou"
    drop = {v: [s - w for s, w in zip(per_seed(frame, v, slide), per_seed(frame, v, whole))]
            for v in ("mixffn", "learned_pe")}
    return [
        claim("Mix-FFN scores higher than a learned PE with training-size sliding windows",
              per_seed(frame, "mixffn", slide), per_seed(frame, "learned_pe", slide)),
        claim(f"A learned PE drops more than Mix-FFN on whole {canvas} canvases", drop["learned_pe"], drop["mixffn"]),
    ]

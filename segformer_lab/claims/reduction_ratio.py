"""Efficient self-attention: the reduction-ratio sweep (experiments/reduction_ratio.py).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..declared import Deviation, outcomes
from ..analysis import HEADLINE, per_seed, summarise
from ..verdicts import FACT, Claim, below, matches, no_worse, requiring
from .decoder_width import NEGLIGIBLE_MIOU
from ..results import read_table


def reduction_ratio_claims(frame: pd.DataFrame, costs: pd.DataFrame) -> list[Claim]:
    """Efficient self-attention: the released reduction costs no accuracy against full attention (no worse within
    NEGLIGIBLE_MIOU), where it cuts attention's MACs; that its attention cost is the paper's O(N^2 / R) at every
    input size (measured MACs equal the analytic count) is a fact of arithmetic, shown and not counted."""
    measured = costs["attention_gmacs_measured"].astype(float).sum()
    analytic = costs["attention_gmacs_analytic"].astype(float).sum()
    crop = int(frame["crop_size"].iloc[0])
    at_crop = costs[costs["size"] == crop].set_index("variant")["attention_gmacs_measured"].astype(float)
    if not {"sr_8421", "sr_1111"} <= set(at_crop.index):
        raise ValueError(f"reduction_ratio costs hold no sr_8421 and sr_1111 rows at the {crop} px training crop")
    reduces = below(f"The released ratios cut attention at the {crop} px training crop (their attention MACs over "
                    "full attention's)", [at_crop["sr_8421"] / at_crop["sr_1111"]], 0.5, role=FACT,
                    since="The released ratios cut attention")
    return [
        *requiring([no_worse("Released reduction (8, 4, 2, 1) is no worse than full attention (1, 1, 1, 1)",
                             per_seed(frame, "sr_8421", "miou"), per_seed(frame, "sr_1111", "miou"), *NEGLIGIBLE_MIOU,
                             since="Released reduction (8, 4, 2, 1) is no worse")], reduces),
        matches(f"Measured attention GMACs (all settings, {costs['size'].min()}-{costs['size'].max()} px) equal "
                "the analytic sum of L * 2 * N * (N / R) * C", measured, analytic, since="Measured attention GMACs"),
    ]


def reduction_ratio_table(frame: pd.DataFrame, costs: pd.DataFrame, size: int = 512) -> pd.DataFrame:
    """Per setting: mIoU with seed range, and at `size` px the attention and total GMACs, latency and memory."""
    ours = summarise(frame, list(HEADLINE))
    at = costs[costs["size"] == size].set_index("variant")
    cols = ["attention_gmacs_measured", "attention_gmacs_analytic", "total_gmacs", "latency_ms", "peak_mem_mb"]
    return ours.join(at[cols].add_suffix(f"@{size}"))


def build(out, results_dir: Path, paper: pd.DataFrame) -> None:
    """Fill a report Section: the claims on the runs and the attention-cost sweep (reduction_ratio_costs.csv)."""
    costs = read_table(results_dir / "reduction_ratio_costs.csv")
    out.claims, out.table = reduction_ratio_claims(out.frame, costs), reduction_ratio_table(out.frame, costs)


DEVIATIONS = [
    Deviation("NEGLIGIBLE_MIOU", "the \"no worse\" claim's margin (0.5 mIoU) declared",
              "\"no worse\" had no margin: it held unless the reduction fell below full attention by more than the "
              "seed range.", lambda s: "; ".join(f"{c.text}: {c.unpaired_outcome()}" for c in s.claims
                                                 if "no worse" in c.text) + "."),
    Deviation('measured, analytic, since="Measured attention GMACs"', "the counted-vs-formula MACs reclassified as a "
              "fact of arithmetic", "the count equals the formula by construction: it cannot fail, so it is not "
              "evidence.", lambda s: "counted as a claim that holds."),
]

"""Table 1b: the width C of the MLP decoder (experiments/decoder_width.py).

The verdict is judged on the 36-class fine world where its runs are there (on the 9 aerial classes width did not
matter, so saturation could not be tested); the aerial sweep stays beside it.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..analysis import HEADLINE, paper_table, per_seed, summarise
from ..verdicts import Claim, above, claim, claim_no_worse, requiring


FINE = "fine"  # the 36-class world where width can matter (experiments/decoder_width.py)


def headline_family(frame: pd.DataFrame) -> str:
    """The world Table 1b's claims are judged on: the fine one where its runs are there (the paper sweeps on 150
    classes; on the 9 aerial classes width did not matter, so saturation went untested), else aerial. A rule
    declared, not chosen by outcome: the other world's claims stay beside the verdict."""
    return FINE if FINE in set(frame.get("scene_family", pd.Series(dtype=str))) else "aerial"


def decoder_width_claims(frame: pd.DataFrame, metric: str = "miou", family: str | None = None) -> list[Claim]:
    """Table 1b on one scene family (`headline_family` by default): accuracy saturates (the widest decoder is no
    better than C = 256 beyond the seed spread, as the paper keeps 256 for B0 and B1) while the cost keeps rising
    (GMACs at 512x512 grow at every step of C). The saturation claim requires that width matter at all: C = 256
    beats the narrowest width."""
    family = family or headline_family(frame)
    if "scene_family" in frame:
        frame = frame[frame["scene_family"] == family]
    widths = sorted(frame.drop_duplicates("variant").set_index("variant")["decoder_dim"].items(), key=lambda x: x[1])
    if not widths:
        raise ValueError(f"decoder_width has no rows on the {family} world")
    by_width = {int(c): v for v, c in widths}
    if 256 not in by_width:
        raise ValueError(f"decoder_width has no C = 256 run on the {family} world; widths: {sorted(by_width)}")
    narrowest, widest, base = widths[0][0], widths[-1][0], by_width[256]
    matters = claim(f"The decoder's width matters: C = 256 beats {narrowest} ({metric}, {family})",
                    per_seed(frame, base, metric), per_seed(frame, narrowest, metric))
    claims = []
    if widths[-1][1] > 256:
        claims += requiring([claim_no_worse(f"Accuracy saturates: C = 256 is no worse than {widest} ({metric}, "
                                            f"{family})", per_seed(frame, base, metric),
                                            per_seed(frame, widest, metric))], matters)
    gmacs = [frame.loc[frame["variant"] == v, "gmacs_512"].iloc[0] for v, _ in widths]
    steps = [b / a for a, b in zip(gmacs, gmacs[1:])]
    claims.append(above(f"The cost keeps rising: GMACs at 512x512 grow at every step of C (smallest ratio of one "
                        f"width's to the next narrower's, {widths[0][1]}-{widths[-1][1]}, {family})",
                        [min(steps)], 1.0))
    return claims


def decoder_width_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per width, narrowest first (the 9-class runs, then the fine ones): params (M), GMACs at the crop and at
    512x512, CPU latency at 512x512 and the headline metrics."""
    frame = frame.sort_values(["scene_family", "decoder_dim"] if "scene_family" in frame else "decoder_dim",
                              kind="stable").assign(params_m=frame["params"] / 1e6)
    return summarise(frame, ["decoder_dim", "params_m", "gmacs", "gmacs_512", "latency_512_ms", *HEADLINE])


def build(out, results_dir: Path, paper: pd.DataFrame) -> None:
    """Fill a report Section: the width claims on the headline world, the other world's beside, the table and the
    paper's Table 1b."""
    out.claims, out.table = decoder_width_claims(out.frame), decoder_width_table(out.frame)
    if headline_family(out.frame) == FINE:
        out.context = decoder_width_claims(out.frame, family="aerial")
    out.paper = paper_table(paper, "1b")

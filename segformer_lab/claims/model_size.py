"""Table 1a: model size, MiT-B0 to B5 (experiments/model_size.py).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..declared import Deviation, outcomes
from ..analysis import HEADLINE, per_seed, summarise
from ..verdicts import FACT, Claim, below, claim, no_worse, requiring, unmeasured


MIT_SIZES = ("mit_b0", "mit_b1", "mit_b2", "mit_b3", "mit_b4", "mit_b5")
CONVERGED_MARGIN = (0.10, "a tenth of the end loss: the largest model still shedding 10 % more of its loss over the "
                          "second half than the smallest was stopped short of where the smallest got")


def model_size_claims(frame: pd.DataFrame, metric: str = "miou") -> list[Claim]:
    """Table 1a: each larger MiT beats the next smaller one, and at the same decoder width the decoder's share of
    the parameters falls as the encoder grows. The accuracy claims require that the budget let the largest model
    converge as far as the smallest (its training loss drops no more over the second half of training, within
    CONVERGED_MARGIN). The decoder's share is a fact of construction, shown and not counted."""
    sizes = [v for v in MIT_SIZES if v in set(frame["variant"])]
    if len(sizes) < 2:
        raise ValueError(f"model_size needs two MiT sizes or more, got {sizes}")
    smallest, largest = sizes[0], sizes[-1]
    text = (f"{largest} converges as far as {smallest} within the budget (relative drop of the training loss over "
            f"the second half of training, {smallest} vs {largest}; lower is more converged)")
    drops = [per_seed(frame, v, "late_loss_drop") for v in (smallest, largest)]
    # supported when the largest model's drop is not above the smallest's by more than the margin
    converged = (unmeasured(text) if (drops[0].isna().any() or drops[1].isna().any()) else
                 no_worse(text, *drops, *CONVERGED_MARGIN, role="condition", since="CONVERGED_MARGIN"))
    claims = requiring([claim(f"{b} beats {a} ({metric})", per_seed(frame, b, metric), per_seed(frame, a, metric),
                              since="def model_size_claims")
                        for a, b in zip(sizes, sizes[1:])], converged)
    first = frame.drop_duplicates("variant").set_index("variant")
    share = first["decoder_params"] / first["params"]
    for a, b in zip(sizes, sizes[1:]):
        if first.loc[a, "decoder_dim"] == first.loc[b, "decoder_dim"]:
            claims.append(below(f"The decoder's share of the parameters falls from {a} ({share[a]:.1%}) to {b} at "
                                f"the same decoder width", [share[b]], share[a], role=FACT, since="The decoder's share of the parameters"))
    return claims


def model_size_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per size: params (M), encoder and decoder params (M), decoder share, GMACs at the crop, the late loss drop
    and the headline metrics, with seed ranges."""
    frame = frame.assign(params_m=frame["params"] / 1e6, encoder_params_m=frame["encoder_params"] / 1e6,
                         decoder_params_m=frame["decoder_params"] / 1e6,
                         decoder_share=frame["decoder_params"] / frame["params"])
    return summarise(frame, ["encoder_params_m", "decoder_params_m", "decoder_share", "gmacs", "late_loss_drop",
                             *HEADLINE])


def model_size_paper(paper: pd.DataFrame) -> pd.DataFrame:
    """Table 1a: encoder and decoder params (M), ADE20K GMACs at 512x512 and single-scale mIoU on ADE20K and
    Cityscapes."""
    rows = paper[(paper["table"] == "1a") & paper["metric"].isin(["encoder_params", "decoder_params", "gmacs",
                                                                   "miou_ss"])]
    rows = rows[~((rows["metric"] == "gmacs") & ~rows["setting"].str.startswith("ADE20K"))]
    rows = rows[rows["setting"].isin(["ADE20K", "ADE20K 512x512", "Cityscapes"])]
    return rows.assign(column=rows["metric"] + " " + rows["setting"]).pivot_table(
        index="model", columns="column", values="value", sort=False)


def build(out, results_dir: Path, paper: pd.DataFrame) -> None:
    """Fill a report Section: the size claims, the table and the paper's Table 1a."""
    out.claims, out.table, out.paper = model_size_claims(out.frame), model_size_table(out.frame), model_size_paper(paper)


DEVIATIONS = [
    Deviation("CONVERGED_MARGIN", "the convergence condition's margin (0.10 of the end loss) declared",
              "\"converges as far as\" had no margin: it held unless the largest model's drop exceeded the smallest's "
              "by more than the seed range.",
              lambda s: "; ".join(f"{r.text}: {r.unpaired_outcome()}" for r in s.validity) + "."),
    Deviation('role=FACT, since="The decoder\'s share', "the decoder's share of the parameters reclassified as a "
              "fact of construction", "the share falls by the architecture's arithmetic: it cannot fail, so it is "
              "not evidence.", lambda s: "counted as a claim that holds."),
]

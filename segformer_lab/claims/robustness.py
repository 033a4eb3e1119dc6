"""Table 5: robustness to natural corruptions (experiments/robustness.py).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..declared import Deviation
from ..analysis import summarise
from ..verdicts import Claim, claim, condition, holm_family, requiring, seed_range


ROBUSTNESS_ENCODERS = {"mit_b0": "MiT-B0 + MLP", "mit_b1": "MiT-B1 + MLP", "resnet18_mlp": "ResNet-18 + MLP",
                       "deeplabv3_r18": "DeepLabV3-R18"}
ROBUSTNESS_CNNS = ("deeplabv3_r18", "resnet18_mlp")  # the paper's CNN has a context module: DeepLabV3 first


def robustness_variant(encoder: str, family: str = "aerial", init: str = "pretrained") -> str:
    """The robustness experiment's variant name: `<encoder>_<init>` on aerial scenes, `<encoder>_street` (always
    pretrained) on street scenes."""
    return f"{encoder}_street" if family == "street" else f"{encoder}_{init}"


def corrupted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The corrupted rows of robustness.csv within Table 5's severities (noise 1-3, the rest 1-5), with `clean`
    (the mIoU of the same run's clean row, the same evaluation) and `relative` = corrupted_miou / clean."""
    from ..corruptions import TABLE5_SEVERITIES
    clean = frame[frame["corruption"] == "clean"].set_index("run_id")["corrupted_miou"]
    rows = frame[frame["corruption"] != "clean"]
    rows = rows[[int(s) in TABLE5_SEVERITIES[g] for g, s in zip(rows["group"], rows["severity"])]]
    rows = rows.assign(clean=rows["run_id"].map(clean))
    return rows.assign(relative=rows["corrupted_miou"] / rows["clean"])


def relative_robustness(frame: pd.DataFrame, variant: str, group: str | None = None) -> pd.Series:
    """Per seed: the mean over corruptions (of `group`, or all) of each corruption's mean over its severities of
    corrupted / clean mIoU; 1 keeps all clean accuracy."""
    rows = corrupted_rows(frame)
    rows = rows[(rows["variant"] == variant) & ((rows["group"] == group) if group else True)]
    if rows.empty:
        raise ValueError(f"no corrupted rows for variant {variant!r}" + (f", group {group!r}" if group else ""))
    per_corruption = rows.groupby(["seed", "corruption"])["relative"].mean()
    return per_corruption.groupby(level="seed").mean()


def corruption_cost(frame: pd.DataFrame, variant: str) -> Claim:
    """The condition that the corruptions exercise a model: its clean mIoU beats its mean corrupted mIoU, each run
    paired with itself."""
    rows = corrupted_rows(frame)
    rows = rows[rows["variant"] == variant]
    corrupted = rows.groupby(["seed", "corruption"])["corrupted_miou"].mean().groupby(level="seed").mean()
    clean = rows.groupby("seed")["clean"].first()  # one clean row per run, hence per seed
    return condition(f"The corruptions cost {variant} accuracy (clean vs mean corrupted mIoU)",
                     clean.loc[corrupted.index], corrupted, since="The corruptions cost")


def robustness_claims(frame: pd.DataFrame, family: str = "aerial", init: str = "pretrained",
                      groups: bool = True) -> list[Claim]:
    """Table 5: the Transformer encoder (MiT-B1, the size of ResNet-18 + MLP) keeps more of its clean accuracy
    under corruption than each CNN (relative robustness, so that a difference in clean accuracy does not decide
    it), over all 16 corruptions and, with `groups`, per group; each claim requires that the corruptions cost
    both models accuracy. The claims against one CNN move together (the groups make up the whole): they are one
    family, counted once, each member judged with Holm's correction across it."""
    present = set(frame["variant"])
    mit = robustness_variant("mit_b1", family, init)
    present_groups = list(dict.fromkeys(corrupted_rows(frame)["group"])) if groups else []
    claims = []
    for cnn in ROBUSTNESS_CNNS:
        other = robustness_variant(cnn, family, init)
        if other not in present or mit not in present:
            continue
        conditions = (corruption_cost(frame, mit), corruption_cost(frame, other))
        names = f"MiT-B1 + MLP keeps more of its clean mIoU than {ROBUSTNESS_ENCODERS[cnn]} ({family}, {init})"
        members = [claim(f"{names}: all corruptions", relative_robustness(frame, mit),
                         relative_robustness(frame, other), since="keeps more of its clean mIoU than")]
        members += [claim(f"{names}: {g}", relative_robustness(frame, mit, g), relative_robustness(frame, other, g),
                          since="keeps more of its clean mIoU than") for g in present_groups]
        claims += holm_family(requiring(members, *conditions), names)
    return claims


def robustness_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Table 5's layout: per variant the clean mIoU and, per corruption (Table 5's names), the mean over its
    severities and over seeds of the corrupted mIoU."""
    from ..corruptions import CORRUPTIONS, PAPER_NAMES
    rows = corrupted_rows(frame)
    table = rows.pivot_table(index="variant", columns="corruption", values="corrupted_miou", aggfunc="mean",
                             sort=False)
    table = table[[c for c in CORRUPTIONS if c in table.columns]].rename(columns=PAPER_NAMES)
    clean = frame[frame["corruption"] == "clean"].groupby("variant", sort=False)["corrupted_miou"].mean()
    return pd.concat([clean.rename("clean"), table], axis=1).loc[list(dict.fromkeys(frame["variant"]))]


def robustness_paper(paper: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 5 in `robustness_table`'s layout (results/paper_reference.csv)."""
    rows = paper[paper["table"] == "5"]
    table = rows.assign(column=rows["setting"].str.removeprefix("Cityscapes-C ")).pivot_table(
        index="model", columns="column", values="value", sort=False)
    from ..corruptions import CORRUPTIONS, PAPER_NAMES
    return table[["clean"] + [PAPER_NAMES[c] for c in CORRUPTIONS]]


def relative_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per variant: relative robustness (corrupted / clean mIoU) over all corruptions and per group, with seed
    ranges (a `summarise` frame)."""
    from ..corruptions import GROUPS
    records = []
    for variant in dict.fromkeys(frame["variant"]):
        groups = [g for g in GROUPS if g in set(corrupted_rows(frame[frame["variant"] == variant])["group"])]
        values = {"all": relative_robustness(frame, variant), **{g: relative_robustness(frame, variant, g)
                                                                  for g in groups}}
        for i in range(len(values["all"])):
            records.append({"variant": variant, **{k: v[i] for k, v in values.items()}})
    out = pd.DataFrame(records)
    return summarise(out, [c for c in out.columns if c != "variant"])


def relative_paper(paper: pd.DataFrame) -> pd.DataFrame:
    """The paper's relative robustness per model, over all corruptions and per group, from its Table 5."""
    from ..corruptions import CORRUPTIONS, GROUPS, PAPER_NAMES
    table = robustness_paper(paper)
    out = pd.DataFrame(index=table.index)
    out["all"] = table[[PAPER_NAMES[c] for c in CORRUPTIONS]].mean(axis=1) / table["clean"]
    for group, names in GROUPS.items():
        out[group] = table[[PAPER_NAMES[c] for c in names]].mean(axis=1) / table["clean"]
    return out


def robustness_note(frame: pd.DataFrame, family: str = "aerial", init: str = "pretrained") -> str:
    """What the comparison tests: the clean mIoU of the compared models, and whether they lie within the seed
    spread (then absolute and relative robustness say the same) or not (then only relative robustness is fair)."""
    variants = [robustness_variant(e, family, init) for e in ("mit_b1", *ROBUSTNESS_CNNS)]
    variants = [v for v in variants if v in set(frame["variant"])]
    clean = frame[frame["corruption"] == "clean"]
    values = {v: clean.loc[clean["variant"] == v, "corrupted_miou"].tolist() for v in variants}
    means = {v: sum(x) / len(x) for v, x in values.items()}
    parts = [f"{v} {means[v]:.1f} (range {seed_range(x):.1f})" for v, x in values.items()]
    gap = max(means.values()) - min(means.values()) if means else 0.0
    spread = max((seed_range(x) for x in values.values()), default=0.0)
    kind = ("within the seed spread, so absolute and relative robustness compare alike" if gap <= spread else
            f"{gap:.1f} apart, beyond the seed spread ({spread:.1f}), so the claims compare relative robustness "
            "(corrupted / clean mIoU), which asks what share of its own clean accuracy each model keeps")
    return f"Clean mIoU of the compared models ({family}, {init}): {', '.join(parts)}: {kind}."


def build(out, results_dir: Path, paper: pd.DataFrame) -> None:
    """Fill a report Section: relative robustness of MiT-B1 against each CNN on aerial scenes, pretrained (the
    paper's setting), in the verdict; from scratch and on street scenes beside it; Table 5's layout with relative
    robustness."""
    frame = out.frame
    out.claims = robustness_claims(frame)
    out.context = robustness_claims(frame, "aerial", "scratch", groups=False)
    street = robustness_variant("mit_b1", "street") in set(frame["variant"])
    out.context += robustness_claims(frame, "street", groups=False) if street else []
    out.notes = [robustness_note(frame)] + ([robustness_note(frame, "street")] if street else [])
    relative = relative_table(frame)
    out.table = robustness_table(frame).assign(relative=relative["all"], relative_range=relative["all_range"],
                                               seeds=relative["seeds"])
    out.paper = robustness_paper(paper).assign(relative=relative_paper(paper)["all"])


DEVIATIONS = [
    Deviation("holm_family(requiring(members", "the claims against one CNN (all corruptions and each group) made one "
              "family, counted once, its members judged with Holm's correction",
              "the groups make up the whole, so the five claims against one CNN move together; counted apart they "
              "were 10 of the report's 25 \"holds\".", lambda s: f"{sum(c.role == 'claim' for c in s.claims)} claims "
              "counted apart: " + ", ".join(f"{o} {n}" for o, n in pd.Series(
                  [c.unpaired_outcome() for c in s.claims if c.role == "claim"]).value_counts().items()) + "."),
]

"""Table 5: robustness to natural corruptions, on the trained runs of the other experiments.

The paper's claim: SegFormer keeps far more of its accuracy under corruption than CNN-based models (Cityscapes-C:
16 corruptions in 4 groups). Here the Transformer encoder of the size of ResNet-18 + MLP (MiT-B1 + MLP) against
each CNN, in relative robustness (corrupted / clean mIoU, so that a difference in clean accuracy does not decide
it), over all corruptions and per group.

Aerial runs: those of experiments/decoder_vs_cnn.py (MiT-B0, MiT-B1, ResNet-18 + MLP, pretrained and from
scratch, and DeepLabV3-R18; the same configs, so the runner reuses the finished runs instead of training them).
Street runs: MiT-B0 (Mix-FFN, as experiments/pe_vs_mixffn.py trains it), MiT-B1 and ResNet-18 + MLP, pretrained
on street scenes. Each run is evaluated on its validation scenes under each corruption and severity of the
preset (segformer_lab/corruptions.py); the corrupted images are the same for every run, computed once and
cached under `<runs>/robustness/corrupted/`. One row per run x corruption x severity: the clean metrics in
`miou` / `thing_miou`, the corrupted ones in `corrupted_miou` / `corrupted_thing_miou`, and the evaluation time
per image (corrupting included, cached images excluded).

Validity: each claim requires that the corruptions cost both compared models accuracy (clean against mean
corrupted mIoU, each run paired with itself).
"""
from __future__ import annotations

import hashlib
import json
from functools import partial
from pathlib import Path

import pandas as pd

from segformer_lab import figures, plotting
from segformer_lab.ablation import Ablation
from segformer_lab.analysis import summarise
from segformer_lab.corruptions import (CORRUPTIONS, GROUP_OF, GROUPS, PAPER_NAMES, TABLE5_SEVERITIES,
                                       parse_corruptions)
from segformer_lab.declared import Deviation
from segformer_lab.engine import TrainConfig, evaluate_run
from segformer_lab.presets import powered_seeds
from segformer_lab.repo import load_experiment, load_module
from segformer_lab.verdicts import Claim, claim, condition, holm_family, requiring, seed_range

DECODER_VS_CNN, PE_VS_MIXFFN = load_experiment("decoder_vs_cnn"), load_experiment("pe_vs_mixffn")
BASE = DECODER_VS_CNN.base
AERIAL = {name: fields for name, fields in DECODER_VS_CNN.variants.items()
          if not name.startswith("mit_b0_s4") and not name.endswith("_shared")}
# Street: pe_vs_mixffn's Mix-FFN run as it is (64 validation frames, its default), and MiT-B1 and ResNet-18 + MLP
# in the same setting.
STREET_B0 = {**PE_VS_MIXFFN.variants["mixffn_street"], "val_scenes": 64}
STREET = {"mit_b0_street": STREET_B0, "mit_b1_street": {**STREET_B0, "model": "segformer_b1", "model_overrides": {}},
          "resnet18_mlp_street": {**STREET_B0, **load_module("decoder_vs_cnn").ENCODERS["resnet18_mlp"]}}
VARIANTS = {**AERIAL, **STREET}
PRESETS = load_module("decoder_vs_cnn").SHARED_PRESETS
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
    cache = Path(runs_dir) / "robustness" / "corrupted" / val_key(cfg, setting)
    rows = []
    for name, severity in (("clean", 0),) + CONDITIONS[preset]:
        corrupted = {"corruption": name, "severity": severity, "corruption_cache": cache} if severity else {}
        m = evaluate_run(run_dir, **setting, **corrupted)
        rows.append({"corruption": name, "group": GROUP_OF.get(name, "clean"), "severity": severity,
                     "corrupted_miou": m["miou"], "corrupted_thing_miou": m["thing_miou"],
                     "seconds_per_image": m["seconds_per_image"],
                     "corrupt_seconds_per_image": m["eval"].get("corrupt_seconds_per_image", 0.0)})
    return rows


# The claims: relative robustness of MiT-B1 against each CNN, one Holm family per CNN, each requiring that the
# corruptions cost both models accuracy.
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
    return table[["clean"] + [PAPER_NAMES[c] for c in CORRUPTIONS]]


def relative_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per variant: relative robustness (corrupted / clean mIoU) over all corruptions and per group, with seed
    ranges (a `summarise` frame)."""
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


# The figures: each model's relative robustness (or corrupted mIoU) against severity, one panel per corruption
# group, with the paper's Table 5 means over severities as dashed lines.
def robustness_paper_groups() -> dict:
    """{model display name: {corruption group: corrupted / clean mIoU}} of the paper's Table 5 (Cityscapes-C)."""
    relative = relative_paper(figures.paper())
    groups = [c for c in relative.columns if c != "all"]
    return {f"{plotting.name(m)} (Cityscapes-C)": relative.loc[m, groups].to_dict() for m in relative.index}


def robustness(results_dir, preset=None, family: str = "aerial", init: str = "pretrained", y: str = "relative"):
    rows = corrupted_rows(figures.rows(results_dir, "robustness", preset))
    variants = [robustness_variant(e, family, init) for e in ROBUSTNESS_ENCODERS]
    variants = [v for v in variants if v in set(rows["variant"])]
    if not variants:
        return None
    return plotting.severity_curves(rows, {v: plotting.name(v) for v in variants}, y=y,
                                    paper=robustness_paper_groups() if y == "relative" else None)


ABLATION = Ablation(
    name="robustness", title="Robustness to natural corruptions (Table 5)", order=5,
    base=BASE, variants=VARIANTS, presets=PRESETS, preset_variants=PRESET_VARIANTS, seeds=SEEDS,
    variant_seeds=VARIANT_SEEDS, extra_columns=EXTRA_COLUMNS, condition_rows=condition_rows,
    claims=build, deviations=DEVIATIONS,
    figures={"": robustness, "scratch": partial(robustness, init="scratch"),
             "street": partial(robustness, family="street"), "corrupted": partial(robustness, y="corrupted_miou")},
    caption="mIoU per corruption averaged over its severities (noise 1-3, the rest 1-5, as Table 5); relative "
            "= corrupted / clean mIoU over all corruptions, seed range in brackets",
)

"""Table 1d: the light All-MLP decoder on a CNN encoder and on the Mix Transformer.

The paper's claim (Table 1d): with the same light MLP decoder, a Transformer encoder (MiT-B2) beats a CNN encoder
of its size (ResNet-50), and the decoder gains from fusing all four stages over stage 4 alone; its explanation is
that a CNN's effective receptive field is limited, so a decoder with no context module of its own starves.

MiT-B0 with the decoder on all four stages and on stage 4 only, MiT-B1 (13.7 M params, the size of ResNet-18 +
MLP's 11.7 M, as the paper pairs B2 with ResNet-50), ResNet-18 with the same MLP decoder (C = 256, as B0 and B1),
and DeepLabV3-R18 (output stride 16, pretrained) for reference; each MLP-decoder model from scratch and
from the embedded pretraining (the same budget for every encoder, each family's recipe chosen on a grid by
experiments/pretraining.py, one pretraining shared by all seeds: see segformer_lab/pretrain.py), to show what
pretraining does to the comparison. The `*_shared` runs are the first version, pretrained with one recipe for
every family, under which MiT did not gain from pretraining. Params and FLOPs sit beside mIoU
in each row. Validation uses 100 scenes, so that experiments/erf.py can reuse these runs for its maps.
`analysis` records how well each encoder learned the pretraining task (results/decoder_vs_cnn_pretraining.csv).

The mechanism the paper names is measured beside it: how far each encoder reaches (experiments/context_distance.py)
and how the gap moves with the training budget (experiments/budget_sweep.py). The verdict: MiT-B1 + MLP against
ResNet-18 + MLP at a similar size, where the CNN's measured ERF leaves context beyond its reach (results/erf.csv,
the same runs), and the context-distance claims past the CNN's reach; beside it, the scratch runs, DeepLabV3, the
pretraining checks and the budget sweep.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import torch

from segformer_lab import figures, names, plotting
from segformer_lab.ablation import Ablation, Display
from segformer_lab.analysis import HEADLINE, companion_rows, per_seed, summarise
from segformer_lab.declared import Deviation, outcomes
from segformer_lab.engine import TrainConfig, pretrain_config
from segformer_lab.presets import standard_presets
from segformer_lab.pretrain import SHARED_RECIPE, pretrained_path, recipe_for
from segformer_lab.repo import load_experiment, load_module
from segformer_lab.results import provenance, read_table, result_id, write_csv
from segformer_lab.runner import planned_runs
from segformer_lab.verdicts import Claim, above, below, claim, condition, requiring, seed_range, unmeasured

BASE = TrainConfig(model="segformer_b0", crop_size=128)  # pretrained: each encoder family's own recipe
ENCODERS = {
    "mit_b0": {"model": "segformer_b0"},
    "mit_b0_s4": {"model": "segformer_b0", "model_overrides": {"decoder_stages": [4]}},
    "mit_b1": {"model": "segformer_b1"},
    "resnet18_mlp": {"model": "resnet18_mlp", "model_overrides": {"decoder_dim": 256}},
    "deeplabv3_r18": {"model": "deeplabv3_r18", "model_overrides": {"output_stride": 16}},  # OS 8: 3.2x the MACs
}
# "shared": the first version, one pretraining recipe (lr 1e-3, weight decay 0.05) for every family, kept at the
# default preset as a record of what the fair recipe changed.
INITS = {"scratch": {"encoder_weights": ""}, "pretrained": {"encoder_weights": "embedded"},
         "shared": {"encoder_weights": "embedded", "pretrain_recipe": "shared"}}
VARIANTS = {f"{enc}_{init}": {**e, **i} for enc, e in ENCODERS.items() for init, i in INITS.items()
            if (enc, init) != ("deeplabv3_r18", "scratch")  # the reference is pretrained, as in the paper
            and not (init == "shared" and recipe_for(e["model"], e.get("model_overrides")) == SHARED_RECIPE)}
# (a family whose own recipe is the shared one has no "shared" variant: those runs are its "pretrained" ones)
SHARED_PRESETS = standard_presets(  # also those of the experiments beside it at 128 px (robustness, model_size, ...)
    smoke={"crop_size": 64, "val_canvas": [64, 64], "pretrain_iterations": 2, "val_scenes": 4},
    quick={"pretrain_iterations": 8, "val_scenes": 16}, default={"pretrain_iterations": 1000, "val_scenes": 100},
    gpu={"pretrain_iterations": 2000, "val_scenes": 100},
)
# gpu: 256 px crops (and views) from the 128 px pretraining, as the paper's 512 px training starts from 224 px
# ImageNet weights. The encoder claim tests the paper's mechanism only where the CNN's reach leaves context beyond
# it: ResNet-18 + MLP's 99 % stage-4 ERF square measures about 212 px, 1.7x the 128 px crop (results/report.md).
# The batch a quarter of the preset's: the same pixels per step.
CROP_256 = {"crop_size": 256, "val_canvas": [256, 256], "pretrain_crop": 128,
            "batch_size": SHARED_PRESETS["gpu"]["batch_size"] // 4}
PRESETS = {**SHARED_PRESETS, "gpu": {**SHARED_PRESETS["gpu"], **CROP_256}}
# quick: the runs the claims and their validity compare (DeepLabV3, a reference beside them, is left out); the
# shared-recipe record only at the default preset.
PRESET_VARIANTS = {"smoke": [v for v in VARIANTS if not v.endswith("_shared")],
                   "quick": [v for v in VARIANTS if not v.startswith("deeplabv3") and not v.endswith("_shared")],
                   "gpu": [v for v in VARIANTS if not v.endswith("_shared")]}
# Behind the encoder claim, not tested at 128 px: trained first under `run --time-budget`.
PRIORITY = ["mit_b1_pretrained", "resnet18_mlp_pretrained"]
PRETRAINING_COLUMNS = ["experiment", "encoder", "model", "cache_key", "pretrain_iterations", "final_loss",
                       "git_commit", "torch_version", "device", "cpu_model", "date"]


def analysis(results_dir="results", preset: str = "quick", runs_dir="runs") -> None:
    """How well each encoder learned the embedded pretraining task (the mean binary cross-entropy of its last
    20 steps; 0.69 for a constant 0.5): results/decoder_vs_cnn_pretraining.csv, from the cached pretrainings."""
    rows, seen = [], set()
    for variant, _, cfg in planned_runs(load_experiment("decoder_vs_cnn"), preset):  # the configs the runner trains
        if cfg.encoder_weights != "embedded" or variant in seen:  # one pretraining serves every seed
            continue
        seen.add(variant)
        path = pretrained_path(pretrain_config(cfg))
        if path.is_file():
            saved = torch.load(path, map_location="cpu", weights_only=False)
            rows.append({"experiment": "decoder_vs_cnn", "encoder": variant.removesuffix("_pretrained"), "model": cfg.model,
                         "cache_key": path.stem, "pretrain_iterations": cfg.pretrain_iterations,
                         "final_loss": saved["final_loss"], **provenance("cpu")})
    if rows:
        write_csv(Path(results_dir) / "decoder_vs_cnn_pretraining.csv", rows, PRETRAINING_COLUMNS)


# An encoder's reach, one definition for every claim of Table 1d it gates: how far from an output pixel half of the
# mass of the model head's ERF lies (the head's: what the prediction depends on; half: the measure the
# context-distance claims were declared with). erf.csv measures it as the side of the centred square holding that
# mass on whole views, context_distance.csv as the radius of the disc holding it: the measurements each CSV has.
# The other definition (the square holding 99 % of the stage-4 mass) is shown beside, in the report's sensitivity.
REACH = ("head", 0.5)
OTHER_REACH = ("stage4", 0.99)


def erf_measures() -> tuple:
    """(ERF_CLIP, erf_canvases, erf_column) of experiments/erf.py, which the reach is read with on erf.csv's rows;
    loaded when a claim is computed, not with this file: erf.py declares its runs from this file's."""
    erf = load_module("erf")
    return erf.ERF_CLIP, erf.erf_canvases, erf.erf_column


def decoder_vs_cnn_claims(frame: pd.DataFrame, init: str = "pretrained", metric: str = "miou",
                          erf: pd.DataFrame | None = None, reach: tuple = REACH) -> list[Claim]:
    """Table 1d: with the same light MLP decoder, the Transformer encoder beats a CNN encoder of its size (the
    paper: MiT-B2 vs ResNet-50; here MiT-B1 vs ResNet-18), and the decoder gains from fusing all four stages over
    stage 4 alone (the paper's setting: pretrained encoders). The encoder claim tests the paper's mechanism only
    where the pretraining helps both encoders and the task's context can lie beyond the CNN's reach (`cnn_reach`
    on `erf`, the rows of results/erf.csv; without them the reach is not measured and the claim not tested)."""
    def values(encoder):
        return per_seed(frame, f"{encoder}_{init}", metric)
    conditions = [pretraining_validity(frame, e, metric) for e in ("mit_b1", "resnet18_mlp")] \
        if init == "pretrained" else []
    encoders = requiring([claim(f"MiT-B1 + MLP decoder beats ResNet-18 + the same decoder at a similar size ({init})",
                                values("mit_b1"), values("resnet18_mlp"), since="beats ResNet-18 + the same decoder")],
                         *conditions, cnn_reach(frame, erf, init, *reach))
    return encoders + [claim(f"The MLP decoder on stages 1-4 beats stage 4 only (MiT-B0, {init})", values("mit_b0"),
                             values("mit_b0_s4"), since="The MLP decoder on stages 1-4 beats stage 4")]


def cnn_erf_rows(frame: pd.DataFrame, erf: pd.DataFrame | None, variant: str) -> pd.DataFrame | None:
    """The results/erf.csv rows of `variant` measured on runs of the configs of `frame` (the same run ids; their
    own trainings where the `rerun` numbers differ: `runs_note`), or None when either side has no run ids."""
    if erf is None or "run_id" not in erf or "run_id" not in frame:
        return None
    return erf[erf["run_id"].isin(frame["run_id"]) & (erf["variant"] == variant)]


def cnn_reach(frame: pd.DataFrame, erf: pd.DataFrame | None, init: str = "pretrained", target: str = REACH[0],
              t: float = REACH[1]) -> Claim:
    """The condition under which Table 1d's encoder claim can show the paper's mechanism (a CNN's limited ERF
    starving a decoder with no context module): ResNet-18 + MLP's reach (REACH: the square holding half of its
    head's ERF mass) does not already cover the training crop, i.e. that square, measured on the same runs
    (results/erf.csv rows whose run_id is in `frame`) on the largest whole views they have (where the square has
    room; else on the crop, where it is clipped), has a side below ERF_CLIP of the crop's."""
    ERF_CLIP, erf_canvases, erf_column = erf_measures()
    variant = f"resnet18_mlp_{init}"
    same_runs = cnn_erf_rows(frame, erf, variant)
    canvas = (erf_canvases(same_runs) or [None])[-1] if same_runs is not None and len(same_runs) else None
    where = "" if canvas is None else f", measured on {canvas} px views{runs_note(frame, same_runs, variant)}"
    text = (f"The task's context can lie beyond ResNet-18 + MLP's reach on the training crop (side of the square "
            f"holding {t:.0%} of its {target.replace('stage4', 'stage-4')} ERF mass{where}, as a fraction of the crop, "
            f"{init})")
    column = erf_column("trained", target, t, canvas)
    if same_runs is None or same_runs.empty or column not in same_runs:  # erf.csv without this measure: not measured
        return unmeasured(text)
    sides = per_seed(same_runs, variant, column)
    if canvas is not None:  # a share of the view: in pixels, then over the crop
        sides = sides * canvas / int(same_runs["crop_size"].iloc[0])
    return below(text, sides, ERF_CLIP, since="REACH = (")


def runs_note(frame: pd.DataFrame, measured: pd.DataFrame, variant: str) -> str:
    """Which runs a condition was measured on, when they are not this table's own: "of erf.csv's own trainings of
    these configs (<result ids>), whose mIoU differs from this table's by up to <d>"."""
    if "rerun" not in measured or "rerun" not in frame:
        return ""
    ours = frame[frame["variant"] == variant].set_index("run_id")
    theirs = measured.drop_duplicates("run_id").set_index("run_id")
    common = theirs.index.intersection(ours.index)
    if common.empty or (theirs.loc[common, "rerun"] == ours.loc[common, "rerun"]).all():
        return ""
    gap = (theirs.loc[common, "miou"] - ours.loc[common, "miou"]).abs().max()
    ids = ", ".join(result_id(r, theirs.loc[r, "rerun"]) for r in common)
    return f", on erf.csv's own trainings of these configs ({ids}), whose mIoU differs from this table's by up to {gap:.2f}"


def reach_note(frame: pd.DataFrame, erf: pd.DataFrame | None, budget: pd.DataFrame | None,
               init: str = "pretrained", target: str = REACH[0], t: float = REACH[1]) -> str:
    """Where the CNN's reach covers the training crop (`cnn_reach` contradicted): how large that reach measures on
    each view, the crop that would leave context beyond it, and what of the budget sweep trains at such a crop."""
    ERF_CLIP, erf_canvases, erf_column = erf_measures()
    variant = f"resnet18_mlp_{init}"
    runs = cnn_erf_rows(frame, erf, variant)
    if runs is None or runs.empty or not erf_canvases(runs) or cnn_reach(frame, erf, init, target, t).outcome != "contradicted":
        return ""
    canvases = erf_canvases(runs)
    crop = int(runs["crop_size"].iloc[0])
    sizes = {c: [side * c for side in per_seed(runs, variant, erf_column("trained", target, t, c))] for c in canvases}
    largest = sizes[canvases[-1]]
    needed = max(largest) / ERF_CLIP
    text = (f"ResNet-18 + MLP's reach ({init}): the square holding {t:.0%} of its {target.replace('stage4', 'stage-4')} "
            "ERF mass measures "
            + ", ".join(f"{sum(v) / len(v):.0f} px on {c} px views" for c, v in sizes.items())
            + f" (seeds {min(largest):.0f}-{max(largest):.0f} px on the largest), {sum(largest) / len(largest) / crop:.1f}"
            f" times the {crop} px training crop: on this crop every pixel of context is within its reach, so the "
            f"encoder claim cannot show the paper's mechanism. A crop of at least {needed:.0f} px would leave "
            "context beyond it")
    if budget is not None and len(budget):
        wide = budget[(budget["crop_size"] >= needed) & budget["variant"].str.startswith(("mit_b1", "resnet18_mlp"))]
        for crop_size, rows in wide.groupby("crop_size"):
            seeds = rows.groupby("variant")["seed"].nunique()
            minutes = rows.groupby("variant")["train_seconds"].mean() / 60
            text += (f"; the budget sweep trains both encoders at {crop_size} px crops ({seeds.min()} seed(s) so far; "
                     + ", ".join(f"{v} {m:.0f} min per run on the CPU" for v, m in minutes.items())
                     + "), and the claim needs 3 seeds of each there with their ERF measured on the same runs: "
                     f"{2 * max(0, 3 - int(seeds.min()))} more runs, " + GPU_RUN_TIME)
    return text + "."


# measured in the first gpu-preset sitting (docs/ablations.md, "On a GPU"): what a missing run costs there
GPU_RUN_TIME = ("about 2-2.6 min each four at a time on one H100 (the gpu preset's measured runs; a 256 px crop cost "
                "MiT-B0 no more time than 128 px there)")


def pretraining_validity(frame: pd.DataFrame, encoder: str, metric: str = "miou") -> Claim:
    """The condition under which a pretrained encoder stands for the paper's ImageNet-pretrained one: the
    embedded pretraining helps it, i.e. pretrained beats scratch (paired by seed)."""
    return condition(f"The embedded pretraining helps {encoder} (pretrained vs scratch)",
                     per_seed(frame, f"{encoder}_pretrained", metric), per_seed(frame, f"{encoder}_scratch", metric),
                     since="The embedded pretraining helps")


def recipe_claims(frame: pd.DataFrame, metric: str = "miou") -> list[Claim]:
    """For each encoder with runs of both: its family's pretraining recipe beats the shared first-version recipe
    (the `*_pretrained` against the `*_shared` rows)."""
    present = set(frame["variant"])
    return [claim(f"{e}: its family's pretraining recipe beats the shared one (pretrained vs shared)",
                  per_seed(frame, f"{e}_pretrained", metric), per_seed(frame, f"{e}_shared", metric))
            for e in dict.fromkeys(v.rsplit("_", 1)[0] for v in frame["variant"])
            if {f"{e}_pretrained", f"{e}_shared"} <= present]


def decoder_vs_cnn_context(frame: pd.DataFrame, init: str = "pretrained", metric: str = "miou") -> list[Claim]:
    """Comparisons beside the paper's claims: the smaller MiT-B0 against ResNet-18, and a CNN with a heavy
    decoder (DeepLabV3) against the MLP decoder."""
    def values(encoder):
        return per_seed(frame, f"{encoder}_{init}", metric)
    claims = [claim(f"MiT-B0 + MLP decoder (3.7 M params) beats ResNet-18 + the same decoder ({init})",
                    values("mit_b0"), values("resnet18_mlp"))]
    if f"deeplabv3_r18_{init}" in set(frame["variant"]):  # the reference, left out of the quick preset
        claims += [claim(f"DeepLabV3-R18 beats ResNet-18 + MLP decoder ({init})", values("deeplabv3_r18"),
                         values("resnet18_mlp")),
                   claim(f"MiT-B1 + MLP decoder beats DeepLabV3-R18 ({init})", values("mit_b1"),
                         values("deeplabv3_r18"))]
    return claims


def split_variant(frame: pd.DataFrame) -> pd.DataFrame:
    """decoder_vs_cnn rows with the variant split into `encoder` and `init` (scratch | pretrained)."""
    parts = frame["variant"].str.rsplit("_", n=1, expand=True)
    return frame.assign(encoder=parts[0], init=parts[1])


def decoder_vs_cnn_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per variant: params (M), GFLOPs at the crop (2 per MAC), mIoU and thing mIoU with seed ranges."""
    frame = frame.assign(params_m=frame["params"] / 1e6)
    return summarise(frame, ["params_m", "gflops", *HEADLINE])


def pretraining_note(pretraining: pd.DataFrame) -> str:
    """One sentence from results/decoder_vs_cnn_pretraining.csv: how well each encoder learned the pretraining."""
    losses = pretraining.drop_duplicates("cache_key").set_index("encoder")["final_loss"]
    listed = ", ".join(f"{encoder} {loss:.3f}" for encoder, loss in losses.items())
    return (f"Final loss of the embedded pretraining (binary cross-entropy, lower is better; 0.69 for a constant "
            f"0.5): {listed}.")


def recipe_note(pretraining: pd.DataFrame) -> str:
    """One sentence from results/pretraining.csv (one preset): each family's chosen recipe, its held-out pretext
    loss and linear-probe mIoU beside the probe of a randomly initialised encoder, or how far its grid got."""
    parts = []
    for encoder, rows in pretraining.groupby("encoder", sort=False):
        tried = rows[rows["init"] == "pretrained"]
        floor = rows.loc[rows["init"] == "random", "probe_miou"]
        floor_text = f"{floor.iloc[0]:.1f} for a random encoder" if len(floor) else "no random-encoder probe yet"
        chosen = tried[tried["chosen"].astype(str) == "True"]
        if chosen.empty:
            parts.append(f"{encoder}: grid incomplete ({len(tried)} recipes tried; {floor_text})")
            continue
        c = chosen.iloc[0]
        parts.append(f"{encoder} ({c['family']}) chose lr {c['lr']:g}, weight decay {c['weight_decay']:g} of "
                     f"{len(tried)} recipes: held-out loss {c['heldout_loss']:.3f}, linear probe {c['probe_miou']:.1f} "
                     f"mIoU against {floor_text} (probes of the grid {tried['probe_miou'].min():.1f}-"
                     f"{tried['probe_miou'].max():.1f})")
    return ("Pretraining recipes, chosen per family on the held-out pretext loss (results/pretraining.csv): "
            + "; ".join(parts) + ".")


def decoder_vs_cnn_paper(paper: pd.DataFrame) -> pd.DataFrame:
    """Table 1d as rows (encoder, decoder stages) with GMACs at 512x512 ("FLOPs" in the paper), params and mIoU."""
    rows = paper[paper["table"] == "1d"]
    return rows.pivot_table(index=["model", "setting"], columns="metric", values="value", sort=False)


# How far each encoder reaches (experiments/context_distance.py, the mechanism behind Table 1d) ---------------

CONTEXT_LEARNT = 0.9  # validity: where the ring is nearest, each encoder names the tokens right this often
CONTEXT_METRIC = "context_choice_accuracy"  # the forced choice between the two token classes on every token pixel


CONTEXT_CONTROLS = (8.0, 24.0)  # distances inside ResNet-18's reach by design (its head's ERF holds half its mass
# within ~23 px): both encoders should name the tokens there, so they are controls beside the verdict, not tests


def context_claims(frame: pd.DataFrame, conditions: tuple = (), controls: bool = False,
                   reach: tuple = REACH) -> list[Claim]:
    """At each context distance d: MiT-B1 + MLP decoder names the tokens (whose class only the ring d pixels away
    decides) more accurately than ResNet-18 + the same decoder, in the forced choice between the two token
    classes on every token pixel (CONTEXT_METRIC: whether the model calls the pixel a token at all does not enter
    it, and 0.5 is a coin flip). A claim tests the paper's mechanism at d only where the context lies beyond the
    CNN's reach (the radius holding half of its head's ERF mass, measured on the same runs, is below d for every
    seed) and both encoders learnt the task where the ring is nearest (forced-choice accuracy above
    CONTEXT_LEARNT at the smallest d); `conditions` adds more (e.g. the pretraining check of both encoders).
    A distance is compared once both encoders have it measured on every run (a sweep in progress). The distances
    in CONTEXT_CONTROLS are left out, or with `controls` are the only ones given (the same comparison, beside the
    verdict: a claim that the CNN cannot reach a ring it reaches by design cannot be tested)."""
    if CONTEXT_METRIC not in frame:
        return []
    present = set(frame["variant"]) - set(frame[frame[CONTEXT_METRIC].isna()]["variant"])  # measured on every run
    distances = [d for d in sorted(frame["context_distance"].astype(float).unique())
                 if {f"mit_b1_d{d:g}", f"resnet18_mlp_d{d:g}"} <= present]
    if not distances:
        return []
    nearest = distances[0]

    def values(encoder, d, column=CONTEXT_METRIC):
        return per_seed(frame, f"{encoder}_d{d:g}", column)
    learnt = [above(f"{name} names the tokens by their nearest ring (forced-choice accuracy at d = {nearest:g} px)",
                    values(encoder, nearest), CONTEXT_LEARNT)
              for encoder, name in (("mit_b1", "MiT-B1 + MLP"), ("resnet18_mlp", "ResNet-18 + MLP"))]
    claims = []
    target, t = reach
    column = f"erf_{target}_r{t * 100:g}"  # the radius holding t of the mass (context_distance.csv has t = 0.5)
    for d in (d for d in distances if (d in CONTEXT_CONTROLS) == controls):
        text = (f"The context at d = {d:g} px lies beyond ResNet-18 + MLP's reach (radius holding {t:.0%} of its "
                f"{target.replace('stage4', 'stage-4')} ERF mass, px)")
        radii = values("resnet18_mlp", d, column) if column in frame else None
        beyond = (unmeasured(text) if radii is None or radii.isna().any() else
                  below(text, radii, d, since="REACH = ("))
        claims += requiring([claim(f"MiT-B1 + MLP names context tokens more accurately than ResNet-18 + MLP at "
                                   f"d = {d:g} px (forced-choice accuracy)", values("mit_b1", d),
                                   values("resnet18_mlp", d), since="names context tokens more accurately")],
                            beyond, *learnt, *conditions)
    return claims


def context_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per variant: forced-choice accuracy (where measured), context accuracy, token recall, the head's ERF
    radius holding half its mass and the share of its mass within d, with seed ranges."""
    return summarise(frame, [c for c in (CONTEXT_METRIC, "context_accuracy", "token_recall") if c in frame]
                     + ["erf_head_r50", "erf_head_within_d", "erf_stage4_r50", *HEADLINE])


# Budget sweep (experiments/budget_sweep.py: how the Table 1d gap moves with the training budget) -------------

def budget_table(frame: pd.DataFrame, a: str = "mit_b1", b: str = "resnet18_mlp", metric: str = "miou") -> pd.DataFrame:
    """Per budget point (the variant suffix after the encoder, e.g. "i1000"): iterations, crop, the mean of
    `metric` for encoders a and b, the gap a - b, its seed spread (the larger range of either side) and seeds."""
    rows, present = [], set(frame["variant"])
    for budget in dict.fromkeys(v.removeprefix(f"{a}_") for v in frame["variant"] if v.startswith(f"{a}_")):
        if f"{b}_{budget}" not in present:  # a sweep in progress: a point is compared once both encoders have it
            continue
        va, vb = per_seed(frame, f"{a}_{budget}", metric), per_seed(frame, f"{b}_{budget}", metric)
        first = frame[frame["variant"] == f"{a}_{budget}"].iloc[0]
        rows.append({"budget": budget, "iterations": int(first["iterations"]), "crop_size": int(first["crop_size"]),
                     a: va.mean(), b: vb.mean(), "gap": va.mean() - vb.mean(),
                     "spread": max(seed_range(va), seed_range(vb)), "seeds": min(len(va), len(vb))})
    columns = ["budget", "iterations", "crop_size", a, b, "gap", "spread", "seeds"]
    return pd.DataFrame(rows, columns=columns).set_index("budget")


def budget_claims(frame: pd.DataFrame, reference: str = "i1000", a: str = "mit_b1", b: str = "resnet18_mlp",
                  metric: str = "miou") -> list[Claim]:
    """For each budget point beyond the reference (more iterations at the same crop, or a larger crop): the
    MiT-B1 minus ResNet-18 gap is larger (the Transformer closes in) than at the reference budget, the per-seed
    gaps paired by seed (a point with one seed is not judged)."""
    table = budget_table(frame, a, b, metric)
    if reference not in table.index:
        return []
    ref = table.loc[reference]

    def gaps(budget):
        return per_seed(frame, f"{a}_{budget}", metric) - per_seed(frame, f"{b}_{budget}", metric)
    claims = []
    for budget, row in table.iterrows():
        if budget == reference or (row["iterations"] <= ref["iterations"] and row["crop_size"] <= ref["crop_size"]):
            continue
        claims.append(claim(f"The {a} - {b} gap is larger at {budget} ({row['iterations']} iterations, "
                            f"{row['crop_size']} px) than at {reference} ({metric})", gaps(budget), gaps(reference),
                            since="def budget_claims"))
    return claims


def build(out, results_dir: Path, paper: pd.DataFrame) -> None:
    """Fill a report Section: the encoder claim gated by the pretraining check and the CNN's measured reach (erf.csv,
    the same runs), the context-distance claims (context_distance.csv, gated by the same pretraining check) in the
    verdict; the scratch comparisons, the control distances, every encoder's pretraining check and the budget sweep
    beside it."""
    frame, preset = out.frame, out.preset
    erf = companion_rows(results_dir, "erf", preset)
    out.claims = decoder_vs_cnn_claims(frame, erf=erf)
    other = decoder_vs_cnn_claims(frame, erf=erf, reach=OTHER_REACH)  # the sensitivity to the reach's definition
    checks = tuple(pretraining_validity(frame, e) for e in ("mit_b1", "resnet18_mlp"))
    context = companion_rows(results_dir, "context_distance", preset)
    if context is not None:
        distance_claims = context_claims(context, checks)
        out.claims += distance_claims
        other += context_claims(context, checks, reach=OTHER_REACH)
        if not distance_claims:
            out.notes.append(f"The context-distance sweep is in progress ({len(context)} runs at the {preset} "
                             f"preset): no distance past the CNN's reach has runs of both MiT-B1 and ResNet-18 + MLP "
                             "yet.")
    else:
        out.notes.append(f"The context-distance sweep has no rows at the {preset} preset (segformer-lab run "
                         f"context_distance --preset {preset}): the mechanism was not measured.")
    out.other_reach = {c.text: c.outcome for c in other}
    out.context = decoder_vs_cnn_claims(frame, "scratch", erf=erf) + decoder_vs_cnn_context(frame)
    if context is not None:  # the distances inside the CNN's reach by design: controls
        out.context += context_claims(context, checks, controls=True)
    out.context += [pretraining_validity(frame, e) for e in ("mit_b0", "mit_b0_s4")]
    out.context += recipe_claims(frame)
    budget = companion_rows(results_dir, "budget_sweep", preset)
    if budget is not None and "mit_b1_i1000" in set(budget["variant"]):
        out.context += budget_claims(budget)
    out.notes += [n for n in [reach_note(frame, erf, budget)] if n]
    out.table, out.paper = decoder_vs_cnn_table(frame), decoder_vs_cnn_paper(paper)
    recipes = companion_rows(results_dir, "pretraining", preset)
    if recipes is not None:
        out.notes.append(recipe_note(recipes))
    if (results_dir / "decoder_vs_cnn_pretraining.csv").is_file():
        out.notes.append(pretraining_note(read_table(results_dir / "decoder_vs_cnn_pretraining.csv")))


DEVIATIONS = [
    Deviation("CONTEXT_CONTROLS", "the context distances d = 8 and 24 px turned into controls beside the verdict",
              "both lie inside ResNet-18's measured reach by design, so the claim that it cannot reach them cannot "
              "be tested there.", lambda s: outcomes([c for c in s.context if "names context tokens" in c.text])),
    Deviation("REACH = (", "one definition of an encoder's reach (half of the head's ERF mass) for every claim it "
              "gates; the encoder claim was gated by the square holding 99 % of the stage-4 mass",
              "two definitions inside one table let each claim be gated by a different measure.",
              lambda s: "; ".join(f"{t}: {o}" for t, o in s.other_reach.items() if "beats ResNet-18" in t) + "."),
]


# The figures: our encoders beside Table 1d's, and the two sweeps beside it (context distance, budget).
PAPER_DATASET = "ADE20K"  # the dataset of the paper's numbers drawn beside ours (Table 1d)


def decoder_vs_cnn(results_dir, preset=None):
    """Our encoders (hue) pretrained and from scratch (x); Table 1d's encoders below."""
    split = split_variant(figures.rows(results_dir, "decoder_vs_cnn", preset))
    paper = decoder_vs_cnn_paper(figures.paper()).reset_index()
    paper = paper.assign(label=[f"{plotting.name(m)}, decoder on {s}" for m, s in zip(paper["model"], paper["setting"])])
    plt = plotting.pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(plotting.DOUBLE, 5.0), gridspec_kw={"height_ratios": [3, 2]})
    long = split.assign(value=split["miou"].astype(float))
    plotting.dots(axes[0], long, "init", "encoder")
    axes[0].set(xlabel=plotting.name("init"), ylabel=plotting.name("miou"), title="ours: embedded scenes")
    plotting.not_from_zero(axes[0])
    plotting.paper_panel(axes[1], paper, x="label", y="miou_ss", label=f"paper: {plotting.name('miou')}",
                         horizontal=True)
    axes[1].set(title=f"paper (Table 1d): {PAPER_DATASET}")
    plotting.legend_below(fig, *axes[0].get_legend_handles_labels())
    return plotting.finish(fig)


def decoder_vs_cnn_thing(results_dir, preset=None):
    split = split_variant(figures.rows(results_dir, "decoder_vs_cnn", preset))
    return plotting.grouped_dots(split, x="init", hue="encoder", metrics=("thing_miou", "stuff_miou"))


def decoder_vs_cnn_cost(results_dir, preset=None):
    split = split_variant(figures.rows(results_dir, "decoder_vs_cnn", preset))
    return plotting.metric_vs_cost(split, x="gflops", y="miou", hue="encoder", style="init")


def context_reach(results_dir, preset=None):
    context = figures.companion(results_dir, "context_distance", "decoder_vs_cnn", preset)
    return None if context is None else plotting.context_reach(context)


def budget(results_dir, preset=None):
    rows = figures.companion(results_dir, "budget_sweep", "decoder_vs_cnn", preset)
    table = None if rows is None else budget_table(rows)
    return None if table is None or not len(table) else plotting.gap_vs_budget(table)


ABLATION = Ablation(
    name="decoder_vs_cnn", title="MLP decoder on CNN vs Transformer encoders (Table 1d)", order=2,
    base=BASE, variants=VARIANTS, presets=PRESETS, preset_variants=PRESET_VARIANTS, priority=PRIORITY,
    analysis=analysis, claims=build, deviations=DEVIATIONS,
    figures={"": decoder_vs_cnn, "thing": decoder_vs_cnn_thing, "cost": decoder_vs_cnn_cost,
             "context": context_reach, "budget": budget},
    display=Display(
        parts={"mit_b0_s4": "MiT-B0, stage 4 only"},
        settings={"pretrained": "pretrained", "scratch": "from scratch", "shared": "one shared recipe"},
        patterns=[  # the ids of the sweeps beside it: experiments/context_distance.py, experiments/budget_sweep.py
            (re.compile(r"^(.+)_d(\d+)$"), lambda m: f"{names.name(m[1])}, d = {m[2]} px"),
            (re.compile(r"^(.+)_i(\d+)(?:_(\d+)px)?$"),
             lambda m: f"{names.name(m[1])}, {m[2]} iterations" + (f" at {m[3]} px" if m[3] else "")),
        ]),
)

"""The paper's claims for each ablation, as computed comparisons of our per-seed results (see verdicts.py),
and the tables that put our numbers beside the paper's.

Each `*_claims` function takes the experiment's CSV as a DataFrame and returns its list of Claims; the claims
a verdict is computed from are the paper's, in the paper's setting (pretrained encoders where it used them).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .verdicts import Claim, above, below, claim, claim_no_worse, matches, requiring, seed_range, unmeasured

HEADLINE = ("miou", "thing_miou")  # the headline metrics of every ablation


def per_seed(frame: pd.DataFrame, variant: str, column: str) -> list:
    """Per-seed values of `column` for `variant`, in seed order."""
    rows = frame[frame["variant"] == variant].sort_values("seed")
    if rows.empty:
        raise ValueError(f"no rows for variant {variant!r}; variants present: {sorted(frame['variant'].unique())}")
    return rows[column].astype(float).tolist()


def summarise(frame: pd.DataFrame, columns, by: str = "variant") -> pd.DataFrame:
    """Mean, seed range (max - min) and seed count of `columns` per `by` value, in first-appearance order:
    columns <column>, <column>_range and seeds."""
    columns = list(columns)
    grouped = frame.groupby(by, sort=False)[columns]
    means, spread = grouped.mean(), grouped.max() - grouped.min()
    out = pd.concat([means, spread.add_suffix("_range")], axis=1)
    out["seeds"] = frame.groupby(by, sort=False).size()
    return out[[c for col in columns for c in (col, f"{col}_range")] + ["seeds"]]


def compact(summary: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """A `summarise` frame as text for reading: each column with its `_range` becomes "mean (range)"."""
    out = pd.DataFrame(index=summary.index)
    for col in summary.columns:
        if col.endswith("_range") or col == "seeds":
            continue
        rng = summary.get(f"{col}_range")
        out[col] = [f"{m:.{digits}f}" + (f" ({r:.{digits}f})" if rng is not None and n > 1 else "")
                    for m, r, n in zip(summary[col], rng if rng is not None else summary[col], summary["seeds"])]
    out["seeds"] = summary["seeds"].astype(int)
    return out


def paper_table(paper: pd.DataFrame, table: str) -> pd.DataFrame:
    """One table of results/paper_reference.csv as model x (setting, metric) values."""
    rows = paper[paper["table"] == table]
    if rows.empty:
        tables = sorted(paper["table"].unique())
        raise ValueError(f"no rows for table {table!r} in the paper reference; tables: {tables}")
    return rows.pivot_table(index="model", columns=["setting", "metric"], values="value", sort=False)


def read_paper(results_dir="results") -> pd.DataFrame:
    """results/paper_reference.csv as a DataFrame."""
    return pd.read_csv(Path(results_dir) / "paper_reference.csv")


# Table 1c ---------------------------------------------------------------------------------------------------

PE_VARIANTS = {"mixffn": "Mix-FFN", "learned_pe": "a learned PE", "sincos_pe": "a fixed sin-cos PE", "no_pe": "no PE",
               "learned_sincos_pe": "a learned PE started from the sin-cos table"}
ABSOLUTE_PES = ("learned_pe", "sincos_pe", "learned_sincos_pe")  # the variants whose PE can be zeroed at test time


def pe_variant(pe: str, family: str, init: str = "pretrained") -> str:
    """The pe_vs_mixffn variant name of a position variant on a scene family; init "pretrained", "scratch" or
    "shared" (pretrained with the first, shared recipe)."""
    return f"{pe}_{family}" + {"scratch": "_scratch", "shared": "_shared"}.get(init, "")


def pe_validity(frame: pd.DataFrame, pe: str, family: str, init: str = "pretrained") -> Claim:
    """The condition under which a PE variant tests the paper's mechanism: the model uses the PE, i.e. removing it
    at test time at the training size (zeroed, `miou_pe_zeroed`) costs accuracy beyond the seed spread."""
    variant = pe_variant(pe, family, init)
    return claim(f"The model uses {PE_VARIANTS[pe]} ({family}, {init}): removing it at test time at the training "
                 "size costs mIoU", per_seed(frame, variant, "miou"), per_seed(frame, variant, "miou_pe_zeroed"))


def headline_learned_pe(frame: pd.DataFrame, family: str = "street", init: str = "pretrained") -> str:
    """The learned PE Table 1c's claims are judged on: the one started from the sin-cos table where it ran, else
    the trunc-normal one. The rule is declared, not chosen by outcome: a learned PE started as ViT's (std 0.02)
    is not used by the model at this scale (zeroing it costs nothing, see `pe_diagnosis`), so it cannot test a
    claim about what a PE does; its claims stay in the report beside the verdict (`learned_pe_claims`)."""
    started = pe_variant("learned_sincos_pe", family, init) in set(frame["variant"])
    return "learned_sincos_pe" if started else "learned_pe"


def learned_pe_claims(frame: pd.DataFrame, pe: str = "learned_pe", family: str = "street", init: str = "pretrained",
                      canvas: str = "256x512") -> list[Claim]:
    """Table 1c for one learned PE: Mix-FFN beats it at the training size, and it drops more than Mix-FFN on
    whole larger canvases; both require that the model uses the PE (`pe_validity`), else "not tested".

    The drop of a run is its mIoU with sliding training-size windows minus its mIoU on whole canvases, both on
    the same larger views (the paper: 768 windows vs whole 1024x2048 images)."""
    slide, mixffn, learned = f"slide_{canvas}_miou", pe_variant("mixffn", family, init), pe_variant(pe, family, init)
    what = PE_VARIANTS[pe][2:]  # without its article
    return requiring([
        claim(f"Mix-FFN scores higher than {PE_VARIANTS[pe]} with training-size sliding windows ({family})",
              per_seed(frame, mixffn, slide), per_seed(frame, learned, slide)),
        claim(f"A {what} drops more than Mix-FFN on whole {canvas} canvases ({family})",
              pe_drop(frame, learned, canvas), pe_drop(frame, mixffn, canvas)),
    ], pe_validity(frame, pe, family, init))


def pe_drop(frame: pd.DataFrame, variant: str, canvas: str = "256x512") -> list:
    """Per seed: mIoU with sliding training-size windows minus mIoU on whole `canvas` canvases."""
    return [s - w for s, w in zip(per_seed(frame, variant, f"slide_{canvas}_miou"),
                                  per_seed(frame, variant, f"whole_{canvas}_miou"))]


def pe_vs_mixffn_claims(frame: pd.DataFrame, family: str = "street", init: str = "pretrained",
                        canvas: str = "256x512") -> list[Claim]:
    """Table 1c on one scene family: the learned PE's two claims (`learned_pe_claims`, on `headline_learned_pe`)
    and, where it ran, a fixed sin-cos PE drops more than Mix-FFN on whole larger canvases. Each claim involving
    a PE requires that the model uses that PE (`pe_validity`); otherwise it is "not tested"."""
    claims = learned_pe_claims(frame, headline_learned_pe(frame, family, init), family, init, canvas)
    if pe_variant("sincos_pe", family, init) in set(frame["variant"]):
        claims += requiring([claim(f"A fixed sin-cos PE drops more than Mix-FFN on whole {canvas} canvases "
                                   f"({family})", pe_drop(frame, pe_variant("sincos_pe", family, init), canvas),
                                   pe_drop(frame, pe_variant("mixffn", family, init), canvas))],
                            pe_validity(frame, "sincos_pe", family, init))
    return claims


def pe_isolation_claims(frame: pd.DataFrame, family: str = "street", init: str = "pretrained",
                        canvas: str = "256x512") -> list[Claim]:
    """Beside the paper: does the PE itself cause its variant's drop? The same encoder without the depthwise
    convolution and without any PE (no_pe) separates the PE's part of the drop from the missing convolution's.
    Each claim requires that the model uses that PE."""
    present, none = set(frame["variant"]), pe_variant("no_pe", family, init)
    if none not in present:
        return []
    return [requiring([claim(f"{PE_VARIANTS[pe][0].upper()}{PE_VARIANTS[pe][1:]} drops more than the same encoder "
                             f"with no PE on whole {canvas} canvases ({family})",
                             pe_drop(frame, pe_variant(pe, family, init), canvas), pe_drop(frame, none, canvas))],
                      pe_validity(frame, pe, family, init))[0]
            for pe in ABSOLUTE_PES if pe_variant(pe, family, init) in present]


def pe_separation_note(frame: pd.DataFrame, family: str = "street", init: str = "pretrained",
                       canvas: str = "256x512") -> str:
    """One sentence splitting the headline learned PE's drop on whole canvases into what the same encoder with no
    PE (and no 3x3 depthwise convolution) also loses, and the rest, the PE's own part, against the seed spread."""
    learned, none = pe_variant(headline_learned_pe(frame, family, init), family, init), pe_variant("no_pe", family, init)
    if not {learned, none, pe_variant("mixffn", family, init)} <= set(frame["variant"]):
        return ""
    pe, control = pe_drop(frame, learned, canvas), pe_drop(frame, none, canvas)
    mixffn = pe_drop(frame, pe_variant("mixffn", family, init), canvas)

    def mean(values):
        return sum(values) / len(values)
    own, spread = mean(pe) - mean(control), max(seed_range(pe), seed_range(control))
    share = "beyond" if abs(own) > spread else "within"
    return (f"What the PE breaks, and what the missing convolution breaks ({family}, {init}, whole {canvas} canvases): "
            f"{PE_VARIANTS[headline_learned_pe(frame, family, init)]} drops {mean(pe):.2f} mIoU; the same encoder with "
            f"no PE, which lacks only Mix-FFN's 3x3 depthwise convolution, drops {mean(control):.2f}, and Mix-FFN "
            f"{mean(mixffn):.2f}. The PE's own part is {own:+.2f}, {share} the seed spread {spread:.2f}"
            + (": most of the learned PE's drop is the missing convolution's, not the resized PE's." if share == "within"
               and mean(control) > own else "."))


def pe_vs_mixffn_table(frame: pd.DataFrame, family: str = "street", canvas: str = "256x512") -> pd.DataFrame:
    """Per variant of one family: mIoU at the training size, with the PE zeroed and shuffled, with sliding
    windows and on whole canvases, and the drop, with seed ranges."""
    frame = frame[frame["scene_family"] == family]
    frame = frame.assign(drop=frame[f"slide_{canvas}_miou"] - frame[f"whole_{canvas}_miou"])
    extra = ["zoom_0.5_miou", "zoom_2_miou"] if family == "aerial" else ["whole_128x256_zoom_0.5_miou"]
    columns = ["miou", "miou_pe_zeroed", "miou_pe_shuffled", f"slide_{canvas}_miou", f"whole_{canvas}_miou", "drop",
               *extra]
    return summarise(frame, [c for c in columns if c in frame and frame[c].notna().any()])


PE_PAPER_NAMES = {"mixffn": "mixffn", "learned_pe": "pe", "learned_sincos_pe": "pe"}  # ours -> Table 1c's model


def pe_vs_mixffn_beside_paper(frame: pd.DataFrame, paper: pd.DataFrame, family: str = "street",
                              canvas: str = "256x512") -> pd.DataFrame:
    """Ours (128 windows vs whole canvases) beside Table 1c (Cityscapes: 768 windows vs whole 1024x2048), per
    variant of one family: slide, whole and drop means."""
    ours = pe_vs_mixffn_table(frame, family, canvas)
    rows = paper[paper["table"] == "1c"].set_index(["model", "metric"])
    out = pd.DataFrame({"ours: sliding windows": ours[f"slide_{canvas}_miou"],
                        "ours: whole canvas": ours[f"whole_{canvas}_miou"], "ours: drop": ours["drop"]})
    slide = rows[rows["setting"].str.contains("sliding")]["value"]
    whole = rows[rows["setting"].str.contains("whole")]["value"]
    drop = rows[rows["setting"] == "drop"]["value"]
    position = {v: next((pe for pe in PE_VARIANTS if v.startswith(pe + "_")), "") for v in out.index}
    for label, values in (("paper: sliding windows", slide), ("paper: whole image", whole), ("paper: drop", drop)):
        out[label] = [values.droplevel("metric").get(PE_PAPER_NAMES.get(position[v]), float("nan"))
                      for v in out.index]
    return out


def pe_diagnosis(frame: pd.DataFrame, family: str, init: str = "pretrained") -> str:
    """One sentence per absolute-PE variant of a family: its size against the tokens and what removing it costs."""
    parts = []
    for pe in ABSOLUTE_PES:
        rows = frame[frame["variant"] == pe_variant(pe, family, init)]
        if rows.empty or rows["miou_pe_zeroed"].isna().all():
            continue
        zeroed, shuffled = rows["miou_pe_zeroed"] - rows["miou"], rows["miou_pe_shuffled"] - rows["miou"]
        text = (f"{PE_VARIANTS[pe]} ({family}, {init}, {len(rows)} run(s)): at stage 1 its norm is "
                f"{rows['pe_token_ratio'].mean():.2f} of the tokens it is added to; zeroing it at test time changes "
                f"mIoU by {zeroed.mean():+.2f} (per seed {zeroed.min():+.2f} to {zeroed.max():+.2f})")
        if shuffled.notna().any():
            text += f", shuffling its positions by {shuffled.mean():+.2f} ({shuffled.min():+.2f} to {shuffled.max():+.2f})"
        parts.append(text[0].upper() + text[1:] + ".")
    return " ".join(parts)


def pe_pretraining_note(pretraining: pd.DataFrame) -> str:
    """One sentence from results/pe_vs_mixffn_pretraining.csv: the pretext's final loss per position variant and,
    for an absolute PE, its size against the tokens when segmentation starts."""
    parts = []
    for r in pretraining.itertuples():
        size = f", PE at {r.pe_token_ratio:.3f} of the tokens" if pd.notna(r.pe_token_ratio) else ""
        parts.append(f"{r.variant} {r.final_loss:.3f}{size}")
    return (f"After the embedded pretraining ({pretraining['pretext'].iloc[0]} pretext, binary cross-entropy of its "
            f"last 20 steps; a learned PE starts at about 0.02 of the tokens): {'; '.join(parts)}.")


# Table 1d ---------------------------------------------------------------------------------------------------

def decoder_vs_cnn_claims(frame: pd.DataFrame, init: str = "pretrained", metric: str = "miou",
                          erf: pd.DataFrame | None = None) -> list[Claim]:
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
                                values("mit_b1"), values("resnet18_mlp"))], *conditions, cnn_reach(frame, erf, init))
    return encoders + [claim(f"The MLP decoder on stages 1-4 beats stage 4 only (MiT-B0, {init})", values("mit_b0"),
                             values("mit_b0_s4"))]


def cnn_reach(frame: pd.DataFrame, erf: pd.DataFrame | None, init: str = "pretrained", t: float = 0.99) -> Claim:
    """The condition under which Table 1d's encoder claim can show the paper's mechanism (a CNN's limited ERF
    starving a decoder with no context module): ResNet-18 + MLP's stage-4 ERF does not already cover the training
    crop, i.e. the centred square holding t of its mass, measured on the same runs (results/erf.csv rows whose
    run_id is in `frame`) on the largest whole views they have (where the square has room; else on the crop,
    where it is clipped), has a side below ERF_CLIP of the crop's."""
    variant = f"resnet18_mlp_{init}"
    same_runs = None if erf is None or "run_id" not in erf or "run_id" not in frame else \
        erf[erf["run_id"].isin(frame["run_id"]) & (erf["variant"] == variant)]
    canvas = (erf_canvases(same_runs) or [None])[-1] if same_runs is not None and len(same_runs) else None
    where = "" if canvas is None else f", measured on {canvas} px views"
    text = (f"The task's context can lie beyond ResNet-18 + MLP's reach on the training crop (side of the square "
            f"holding {t:.0%} of its stage-4 ERF mass{where}, as a fraction of the crop, {init})")
    if same_runs is None or same_runs.empty:
        return unmeasured(text)
    crop = int(same_runs["crop_size"].iloc[0])
    sides = per_seed(same_runs, variant, erf_column("trained", "stage4", t, canvas))
    return below(text, [side * (canvas or crop) / crop for side in sides], ERF_CLIP)


def pretraining_validity(frame: pd.DataFrame, encoder: str, metric: str = "miou") -> Claim:
    """The condition under which a pretrained encoder stands for the paper's ImageNet-pretrained one: the
    embedded pretraining helps it, i.e. pretrained beats scratch beyond the seed spread."""
    return claim(f"The embedded pretraining helps {encoder} (pretrained vs scratch)",
                 per_seed(frame, f"{encoder}_pretrained", metric), per_seed(frame, f"{encoder}_scratch", metric))


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


# How far each encoder reaches (context_distance, the mechanism behind Table 1d) -----------------------------

CONTEXT_LEARNT = 0.9  # validity: where the ring is nearest, each encoder names the tokens right this often
CONTEXT_METRIC = "context_choice_accuracy"  # the forced choice between the two token classes on every token pixel


CONTEXT_CONTROLS = (8.0, 24.0)  # distances inside ResNet-18's reach by design (its head's ERF holds half its mass
# within ~23 px): both encoders should name the tokens there, so they are controls beside the verdict, not tests


def context_claims(frame: pd.DataFrame, conditions: tuple = (), controls: bool = False) -> list[Claim]:
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
    for d in (d for d in distances if (d in CONTEXT_CONTROLS) == controls):
        beyond = below(f"The context at d = {d:g} px lies beyond ResNet-18 + MLP's reach (radius holding half of "
                       f"its head's ERF mass, px)", values("resnet18_mlp", d, "erf_head_r50"), d)
        claims += requiring([claim(f"MiT-B1 + MLP names context tokens more accurately than ResNet-18 + MLP at "
                                   f"d = {d:g} px (forced-choice accuracy)", values("mit_b1", d),
                                   values("resnet18_mlp", d))], beyond, *learnt, *conditions)
    return claims


def context_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per variant: forced-choice accuracy (where measured), context accuracy, token recall, the head's ERF
    radius holding half its mass and the share of its mass within d, with seed ranges."""
    return summarise(frame, [c for c in (CONTEXT_METRIC, "context_accuracy", "token_recall") if c in frame]
                     + ["erf_head_r50", "erf_head_within_d", "erf_stage4_r50", *HEADLINE])


# Budget sweep (how the Table 1d gap moves with the training budget) -----------------------------------------

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
                     a: sum(va) / len(va), b: sum(vb) / len(vb), "gap": sum(va) / len(va) - sum(vb) / len(vb),
                     "spread": max(seed_range(va), seed_range(vb)), "seeds": min(len(va), len(vb))})
    columns = ["budget", "iterations", "crop_size", a, b, "gap", "spread", "seeds"]
    return pd.DataFrame(rows, columns=columns).set_index("budget")


def budget_claims(frame: pd.DataFrame, reference: str = "i1000", a: str = "mit_b1", b: str = "resnet18_mlp",
                  metric: str = "miou") -> list[Claim]:
    """For each budget point beyond the reference (more iterations at the same crop, or a larger crop): the
    MiT-B1 minus ResNet-18 gap is larger (the Transformer closes in) than at the reference budget. Points run
    with one seed are judged against the seed spread of the reference runs, as are the others."""
    table = budget_table(frame, a, b, metric)
    if reference not in table.index:
        return []
    ref = table.loc[reference]
    claims = []
    for budget, row in table.iterrows():
        if budget == reference or (row["iterations"] <= ref["iterations"] and row["crop_size"] <= ref["crop_size"]):
            continue
        claims.append(Claim(f"The {a} - {b} gap is larger at {budget} ({row['iterations']} iterations, "
                            f"{row['crop_size']} px) than at {reference} ({metric})", float(row["gap"]),
                            float(ref["gap"]), max(float(ref["spread"]), float(row["spread"])),
                            int(min(row["seeds"], ref["seeds"]))))
    return claims


# Reduction ratio --------------------------------------------------------------------------------------------

def reduction_ratio_claims(frame: pd.DataFrame, costs: pd.DataFrame) -> list[Claim]:
    """Efficient self-attention: the released reduction costs no accuracy against full attention, and its
    attention cost is the paper's O(N^2 / R) at every input size (measured MACs equal the analytic count)."""
    measured = costs["attention_gmacs_measured"].astype(float).sum()
    analytic = costs["attention_gmacs_analytic"].astype(float).sum()
    crop = int(frame["crop_size"].iloc[0])
    at_crop = costs[costs["size"] == crop].set_index("variant")["attention_gmacs_measured"].astype(float)
    if not {"sr_8421", "sr_1111"} <= set(at_crop.index):
        raise ValueError(f"reduction_ratio costs hold no sr_8421 and sr_1111 rows at the {crop} px training crop")
    reduces = below(f"The released ratios cut attention at the {crop} px training crop (their attention MACs over "
                    "full attention's)", [at_crop["sr_8421"] / at_crop["sr_1111"]], 0.5)
    return [
        *requiring([claim_no_worse("Released reduction (8, 4, 2, 1) is no worse than full attention (1, 1, 1, 1)",
                                   per_seed(frame, "sr_8421", "miou"), per_seed(frame, "sr_1111", "miou"))], reduces),
        matches(f"Measured attention GMACs (all settings, {costs['size'].min()}-{costs['size'].max()} px) equal "
                "the analytic sum of L * 2 * N * (N / R) * C", measured, analytic),
    ]


def reduction_ratio_table(frame: pd.DataFrame, costs: pd.DataFrame, size: int = 512) -> pd.DataFrame:
    """Per setting: mIoU with seed range, and at `size` px the attention and total GMACs, latency and memory."""
    ours = summarise(frame, list(HEADLINE))
    at = costs[costs["size"] == size].set_index("variant")
    cols = ["attention_gmacs_measured", "attention_gmacs_analytic", "total_gmacs", "latency_ms", "peak_mem_mb"]
    return ours.join(at[cols].add_suffix(f"@{size}"))


# Figure 3 ---------------------------------------------------------------------------------------------------

def erf_column(state: str, target: str, t: float, canvas: int | None = None) -> str:
    """The results/erf.csv column of the side ratio holding t of the mass: on the training crop (canvas None,
    both states) or on whole `canvas` px views (the trained model)."""
    return f"erf_{state}_{target}_t{t}" if canvas is None else f"erf_{state}_c{canvas}_{target}_t{t}"


def erf_canvases(frame: pd.DataFrame) -> list:
    """The view sides (px) beyond the training crop that every row of `frame` has measured, smallest first."""
    found = {int(c.split("_")[2][1:]) for c in frame.columns if c.startswith("erf_trained_c")}
    return sorted(c for c in found if frame[erf_column("trained", "head", 0.99, c)].notna().all())


def erf_claims(frame: pd.DataFrame, init: str = "pretrained") -> list[Claim]:
    """Figure 3: SegFormer's stage-4 ERF is far wider than the CNN's; its head keeps a sharper local centre
    than its stage 4 plus non-local context. Sizes are the side of the centred square holding t of the mass,
    measured on the largest whole views the runs have (the paper uses whole Cityscapes images; on the training
    crop a square holding 99 % is clipped by the crop's edge), else on the crop; the paper's models were
    pretrained, so its claims are judged on the pretrained runs."""
    segformer, cnn = f"mit_b0_{init}", f"resnet18_mlp_{init}"
    canvas = (erf_canvases(frame) or [None])[-1]
    where = "training crop" if canvas is None else f"{canvas} px views"

    def side(variant, target, t):
        return per_seed(frame, variant, erf_column("trained", target, t, canvas))

    def inside(target, t):  # validity: a square clipped by the view's edge cannot show which ERF is wider
        return below(f"The squares holding {t:.0%} of the {target} ERF stay inside the {where} ({init}, side ratio)",
                     side(segformer, target, t) + side(cnn, target, t), ERF_CLIP)
    return [
        *requiring([claim(f"SegFormer's stage-4 ERF is wider than the CNN's (side holding 50% of the mass, {init}, "
                          f"{where})", side(segformer, "stage4", 0.5), side(cnn, "stage4", 0.5))],
                   inside("stage4", 0.5)),
        claim(f"SegFormer's head is more local at the centre than its stage 4 (side holding 20%, {init}, {where})",
              side(segformer, "stage4", 0.2), side(segformer, "head", 0.2)),
        *requiring([claim(f"SegFormer's head keeps more non-local context than the CNN's head (side holding 99%, "
                          f"{init}, {where})", side(segformer, "head", 0.99), side(cnn, "head", 0.99))],
                   inside("head", 0.99)),
    ]


ERF_CLIP = 0.95  # a square side above this fraction of the view is taken as clipped by the view's edge


def erf_table(frame: pd.DataFrame, state: str = "trained", t: float = 0.5, canvas: int | None = None) -> pd.DataFrame:
    """Variant x target: mean side ratio of the square holding t of the ERF mass (on the crop, or on `canvas`)."""
    from .erf import TARGETS
    cols = {target: erf_column(state, target, t, canvas) for target in TARGETS}
    means = frame.groupby("variant", sort=False)[list(cols.values())].mean()
    return means.rename(columns={v: k for k, v in cols.items()})


def erf_sizes_table(frame: pd.DataFrame, targets=("stage4", "head"), thresholds=(0.5, 0.99)) -> pd.DataFrame:
    """(variant, view) x (target, t): the trained model's square holding t of the mass, as "side ratio (side in
    px)", mean over seeds, on the training crop and on every larger view measured."""
    crop = int(frame["crop_size"].iloc[0])
    rows = []
    for variant, runs in frame.groupby("variant", sort=False):
        for canvas in [None, *erf_canvases(frame)]:
            side = canvas or crop
            row = {"variant": variant, "view": f"{side} px" + (" (training crop)" if canvas is None else "")}
            for target in targets:
                for t in thresholds:
                    ratio = runs[erf_column("trained", target, t, canvas)].mean()
                    row[f"{target}, {t:.0%}"] = f"{ratio:.2f} ({ratio * side:.0f} px)"
            rows.append(row)
    return pd.DataFrame(rows).set_index(["variant", "view"])


# Table 5 ----------------------------------------------------------------------------------------------------

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
    from .corruptions import TABLE5_SEVERITIES
    clean = frame[frame["corruption"] == "clean"].set_index("run_id")["corrupted_miou"]
    rows = frame[frame["corruption"] != "clean"]
    rows = rows[[int(s) in TABLE5_SEVERITIES[g] for g, s in zip(rows["group"], rows["severity"])]]
    rows = rows.assign(clean=rows["run_id"].map(clean))
    return rows.assign(relative=rows["corrupted_miou"] / rows["clean"])


def relative_robustness(frame: pd.DataFrame, variant: str, group: str | None = None) -> list:
    """Per seed: the mean over corruptions (of `group`, or all) of each corruption's mean over its severities of
    corrupted / clean mIoU; 1 keeps all clean accuracy."""
    rows = corrupted_rows(frame)
    rows = rows[(rows["variant"] == variant) & ((rows["group"] == group) if group else True)]
    if rows.empty:
        raise ValueError(f"no corrupted rows for variant {variant!r}" + (f", group {group!r}" if group else ""))
    per_corruption = rows.groupby(["seed", "corruption"])["relative"].mean()
    return per_corruption.groupby(level="seed").mean().tolist()


def corruption_cost(frame: pd.DataFrame, variant: str) -> Claim:
    """The condition that the corruptions exercise a model: its clean mIoU beats its mean corrupted mIoU beyond
    the seed spread."""
    rows = corrupted_rows(frame)
    rows = rows[rows["variant"] == variant]
    corrupted = rows.groupby(["seed", "corruption"])["corrupted_miou"].mean().groupby(level="seed").mean()
    clean = rows.groupby("seed")["clean"].first()  # one clean row per run, hence per seed
    return claim(f"The corruptions cost {variant} accuracy (clean vs mean corrupted mIoU)",
                 clean.loc[corrupted.index].tolist(), corrupted.tolist())


def robustness_claims(frame: pd.DataFrame, family: str = "aerial", init: str = "pretrained",
                      groups: bool = True) -> list[Claim]:
    """Table 5: the Transformer encoder (MiT-B1, the size of ResNet-18 + MLP) keeps more of its clean accuracy
    under corruption than each CNN (relative robustness, so that a difference in clean accuracy does not decide
    it), over all 16 corruptions and, with `groups`, per group; each claim requires that the corruptions cost
    both models accuracy beyond the seed spread."""
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
        claims += requiring([claim(f"{names}: all corruptions", relative_robustness(frame, mit),
                                   relative_robustness(frame, other))], *conditions)
        claims += requiring([claim(f"{names}: {g}", relative_robustness(frame, mit, g),
                                   relative_robustness(frame, other, g)) for g in present_groups], *conditions)
    return claims


def robustness_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Table 5's layout: per variant the clean mIoU and, per corruption (Table 5's names), the mean over its
    severities and over seeds of the corrupted mIoU."""
    from .corruptions import CORRUPTIONS, PAPER_NAMES
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
    from .corruptions import CORRUPTIONS, PAPER_NAMES
    return table[["clean"] + [PAPER_NAMES[c] for c in CORRUPTIONS]]


def relative_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per variant: relative robustness (corrupted / clean mIoU) over all corruptions and per group, with seed
    ranges (a `summarise` frame)."""
    from .corruptions import GROUPS
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
    from .corruptions import CORRUPTIONS, GROUPS, PAPER_NAMES
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


# Table 1a, Table 1b, overlapping patch merging -------------------------------------------------------------

MIT_SIZES = ("mit_b0", "mit_b1", "mit_b2", "mit_b3", "mit_b4", "mit_b5")


def model_size_claims(frame: pd.DataFrame, metric: str = "miou") -> list[Claim]:
    """Table 1a: each larger MiT beats the next smaller one, and at the same decoder width the decoder's share of
    the parameters falls as the encoder grows. The accuracy claims require that the budget let the largest model
    converge as far as the smallest (its training loss drops no more over the second half of training)."""
    sizes = [v for v in MIT_SIZES if v in set(frame["variant"])]
    if len(sizes) < 2:
        raise ValueError(f"model_size needs two MiT sizes or more, got {sizes}")
    smallest, largest = sizes[0], sizes[-1]
    text = (f"{largest} converges as far as {smallest} within the budget (relative drop of the training loss over "
            f"the second half of training, {smallest} vs {largest}; lower is more converged)")
    drops = [per_seed(frame, v, "late_loss_drop") for v in (smallest, largest)]
    # holds when the largest model's drop is not above the smallest's beyond the spread
    converged = unmeasured(text) if pd.isna(drops[0] + drops[1]).any() else claim_no_worse(text, *drops)
    claims = requiring([claim(f"{b} beats {a} ({metric})", per_seed(frame, b, metric), per_seed(frame, a, metric))
                        for a, b in zip(sizes, sizes[1:])], converged)
    first = frame.drop_duplicates("variant").set_index("variant")
    share = first["decoder_params"] / first["params"]
    for a, b in zip(sizes, sizes[1:]):
        if first.loc[a, "decoder_dim"] == first.loc[b, "decoder_dim"]:
            claims.append(below(f"The decoder's share of the parameters falls from {a} ({share[a]:.1%}) to {b} at "
                                f"the same decoder width", [share[b]], share[a]))
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


def decoder_width_claims(frame: pd.DataFrame, metric: str = "miou") -> list[Claim]:
    """Table 1b: accuracy saturates (the widest decoder is no better than C = 256 beyond the seed spread, as the
    paper keeps 256 for B0 and B1) while the cost keeps rising (GMACs at 512x512 grow at every step of C). The
    saturation claim requires that width matter at all: C = 256 beats the narrowest width."""
    widths = sorted(frame.drop_duplicates("variant").set_index("variant")["decoder_dim"].items(), key=lambda x: x[1])
    narrowest, widest = widths[0][0], widths[-1][0]
    matters = claim(f"The decoder's width matters: C = 256 beats {narrowest} ({metric})",
                    per_seed(frame, "c256", metric), per_seed(frame, narrowest, metric))
    claims = []
    if widths[-1][1] > 256:
        claims += requiring([claim_no_worse(f"Accuracy saturates: C = 256 is no worse than {widest} ({metric})",
                                            per_seed(frame, "c256", metric), per_seed(frame, widest, metric))], matters)
    gmacs = [frame.loc[frame["variant"] == v, "gmacs_512"].iloc[0] for v, _ in widths]
    steps = [b / a for a, b in zip(gmacs, gmacs[1:])]
    claims.append(above(f"The cost keeps rising: GMACs at 512x512 grow at every step of C (smallest ratio of one "
                        f"width's to the next narrower's, {widths[0][1]}-{widths[-1][1]})", [min(steps)], 1.0))
    return claims


def decoder_width_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per width, narrowest first: params (M), GMACs at the crop and at 512x512, CPU latency at 512x512 and the
    headline metrics."""
    frame = frame.sort_values("decoder_dim", kind="stable").assign(params_m=frame["params"] / 1e6)
    return summarise(frame, ["decoder_dim", "params_m", "gmacs", "gmacs_512", "latency_512_ms", *HEADLINE])


def overlap_claims(frame: pd.DataFrame) -> list[Claim]:
    """Section 3.1: overlapping patch merging beats non-overlapping patches (mIoU), and does so at class
    boundaries, where local continuity matters (boundary mIoU). The boundary claim requires that boundaries hold
    errors: the released model's boundary mIoU lies below its mIoU beyond the seed spread."""
    def values(variant, metric):
        return per_seed(frame, variant, metric)
    hard = claim("Class boundaries hold errors: the overlapping model's mIoU exceeds its boundary mIoU",
                 values("overlap", "miou"), values("overlap", "boundary_miou"))
    return [claim("Overlapping patch merging beats non-overlapping patches (mIoU)", values("overlap", "miou"),
                  values("non_overlap", "miou")),
            *requiring([claim("Overlapping patch merging beats non-overlapping patches at class boundaries "
                              "(boundary mIoU)", values("overlap", "boundary_miou"),
                              values("non_overlap", "boundary_miou"))], hard)]


# SETR beside SegFormer ---------------------------------------------------------------------------------------

SETR_DECODERS = ("setr_naive", "setr_pup", "setr_mla")
SETR_SINCOS = "_sincos"  # the suffix of the SETR runs whose PE starts from the 2-D sin-cos table


def setr_segformer(frame: pd.DataFrame, segformer: str = "segformer_b1") -> str:
    """The SegFormer variant SETR is compared with: `segformer` where it ran, else B1, else B0."""
    present = set(frame["variant"])
    found = next((v for v in (segformer, "segformer_b1", "segformer_b0") if v in present), None)
    if found is None or not any(v in present for v in SETR_DECODERS):
        raise ValueError(f"setr_vs_segformer needs a SegFormer and a SETR variant, got {sorted(present)}")
    return found


def setr_claims(frame: pd.DataFrame, segformer: str = "segformer_b1") -> list[Claim]:
    """SegFormer against each SETR decoder on ViT-S: more accurate per GMAC (mIoU over GMACs at 512x512, SETR as
    ViT starts it), and degrades less from the training size to whole 256x512 canvases (mIoU lost). The resolution
    claim requires that SETR's learned PE carry something (`setr_resolution_claims`); it is judged on the SETR
    runs whose PE starts from the sin-cos table where all three ran (a rule declared, not chosen by outcome: the
    trunc-normal start is not used at this scale), else on the first runs."""
    segformer = setr_segformer(frame, segformer)
    present = set(frame["variant"])

    def per_gmac(variant):
        rows = frame[frame["variant"] == variant].sort_values("seed")
        return (rows["miou"] / rows["gmacs_512"]).tolist()
    started = all(v + SETR_SINCOS in present for v in SETR_DECODERS if v in present)
    claims = []
    for setr in (v for v in SETR_DECODERS if v in present):
        claims.append(claim(f"{segformer} is more accurate per GMAC than {setr} (mIoU / GMACs at 512x512)",
                            per_gmac(segformer), per_gmac(setr)))
        claims += setr_resolution_claims(frame, setr + (SETR_SINCOS if started else ""), segformer)
    return claims


def setr_resolution_claims(frame: pd.DataFrame, setr: str, segformer: str = "segformer_b1") -> list[Claim]:
    """A SETR variant loses more mIoU than SegFormer from the training size to whole 256x512 canvases, where the
    model uses its PE: zeroing it at the training size costs accuracy beyond the spread (else "not tested")."""
    segformer = setr_segformer(frame, segformer)

    def drop(variant):
        rows = frame[frame["variant"] == variant].sort_values("seed")
        return (rows["miou"] - rows["whole_256x512_miou"]).tolist()
    uses_pe = claim(f"{setr} uses its PE: zeroing it at the training size costs mIoU",
                    per_seed(frame, setr, "miou"), per_seed(frame, setr, "miou_pe_zeroed"))
    return requiring([claim(f"{setr} loses more mIoU than {segformer} from the training size to whole 256x512 "
                            "canvases", drop(setr), drop(segformer))], uses_pe)


def setr_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per variant: params (M), GMACs and CPU latency at 128 and 512 px, mIoU at the training size and on whole
    and slid 256x512 canvases, and with SETR's PE zeroed, with seed ranges."""
    frame = frame.assign(params_m=frame["params"] / 1e6)
    return summarise(frame, ["params_m", "gmacs_128", "gmacs_512", "latency_128_ms", "latency_512_ms", *HEADLINE,
                             "whole_256x512_miou", "slide_256x512_miou", "miou_pe_zeroed"])

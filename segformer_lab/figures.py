"""Every figure of the report and the notebooks, by name, drawn from a results folder.

`FIGURES` maps a figure's name ("<experiment>" for an ablation's key figure, "<experiment>.<view>" for the
others) to a function `(results_dir, preset) -> Figure | None` (None: the results hold nothing to draw, e.g. a
companion sweep not run at that preset). `draw(name, results_dir)` calls one; the report saves the key figures,
the notebooks show them all, and the tests render each from the committed results. The data for a figure is
chosen here, its look in `segformer_lab.plotting`, its words in `segformer_lab.names`.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import pandas as pd

from . import analysis, claims, plotting
from .repo import ablation, ablations
from .results import read_table

# Table 1c's test settings (display names in segformer_lab.names.SETTINGS): {setting: column prefix}
PE_SETTINGS = {"training size": "", "256x512 slide": "slide_256x512_", "256x512 whole": "whole_256x512_",
               "frame at zoom 0.5": "whole_128x256_zoom_0.5_"}
PE_SETTINGS_AERIAL = {"128 whole": "", "256x512 slide": "slide_256x512_", "256x512 whole": "whole_256x512_",
                      "384x384 whole": "whole_384x384_", "zoom 0.5": "zoom_0.5_", "zoom 2": "zoom_2_"}
SETR_SETTINGS = {"128 px views": "", "256x512 whole": "whole_256x512_", "256x512 slide": "slide_256x512_"}
ERF_ROWS = {"trained": ("resnet18_mlp_pretrained", "mit_b0_pretrained"),  # Figure 3's layout: the CNN on top
            "scratch": ("resnet18_mlp_scratch", "mit_b0_scratch")}
PAPER_DATASET = "ADE20K"  # the dataset of the paper's numbers drawn beside ours (Tables 1a, 1b, 1d)


def rows(results_dir, experiment: str, preset: str | None = None) -> pd.DataFrame:
    """The rows of `<results_dir>/<experiment>.csv` at `preset` (the largest present unless given)."""
    frame, _ = analysis.read_results(results_dir, experiment, preset)
    return frame


def paper() -> pd.DataFrame:
    """The paper's numbers (results/paper_reference.csv)."""
    return analysis.read_paper()


def companion(results_dir, experiment: str, of: str, preset: str | None = None):
    """The rows of `experiment` at the preset of `of`'s reported rows, or None (not run at that preset)."""
    _, preset = analysis.read_results(results_dir, of, preset)
    return analysis.companion_rows(Path(results_dir), experiment, preset)


def pepaper() -> pd.DataFrame:
    """Table 1c's mIoU as rows (model, setting, value)."""
    paper = paper()
    rows = paper[(paper["table"] == "1c") & (paper["metric"] == "miou_ss")]
    return rows.assign(setting=rows["setting"].str.removeprefix("test "))[["model", "setting", "value"]]


def pe_settings(results_dir, preset=None, family: str = "street", init: str = "pretrained", metric: str = "miou"):
    """Each position variant's metric per test setting, on one scene family and encoder initialisation; Table 1c
    beside it for the mIoU."""
    frame = rows(results_dir, "pe_vs_mixffn", preset)
    variants = [claims.pe_vs_mixffn.pe_variant(pe, family, init) for pe in claims.pe_vs_mixffn.PE_VARIANTS]
    rows = frame[frame["variant"].isin(variants)]
    rows = rows.iloc[rows["variant"].map(variants.index).argsort(kind="stable")]  # the declared order
    if rows.empty:
        return None
    settings = PE_SETTINGS if family == "street" else PE_SETTINGS_AERIAL
    paper = pepaper() if metric == "miou" and family == "street" else None
    return plotting.metric_by_setting(rows, settings, metric, paper=paper,
                                      paper_label="paper (Table 1c): Cityscapes, 768x768 crops")


def pe_headline(results_dir, preset=None):
    """The street scenes with pretrained encoders (the paper's setting), else the first setting with runs."""
    from .claims.pe_vs_mixffn import SETTINGS_ORDER
    for family, init in SETTINGS_ORDER:
        fig = pe_settings(results_dir, preset, family, init)
        if fig is not None:
            return fig
    return None


def decoder_vs_cnn(results_dir, preset=None):
    """Our encoders (hue) pretrained and from scratch (x); Table 1d's encoders below."""
    split = claims.decoder_vs_cnn.split_variant(rows(results_dir, "decoder_vs_cnn", preset))
    paper = claims.decoder_vs_cnn.decoder_vs_cnn_paper(paper()).reset_index()
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
    split = claims.decoder_vs_cnn.split_variant(rows(results_dir, "decoder_vs_cnn", preset))
    return plotting.grouped_dots(split, x="init", hue="encoder", metrics=("thing_miou", "stuff_miou"))


def decoder_vs_cnn_cost(results_dir, preset=None):
    split = claims.decoder_vs_cnn.split_variant(rows(results_dir, "decoder_vs_cnn", preset))
    return plotting.metric_vs_cost(split, x="gflops", y="miou", hue="encoder", style="init")


def context_reach(results_dir, preset=None):
    context = companion(results_dir, "context_distance", "decoder_vs_cnn", preset)
    return None if context is None else plotting.context_reach(context)


def budget(results_dir, preset=None):
    rows = companion(results_dir, "budget_sweep", "decoder_vs_cnn", preset)
    table = None if rows is None else claims.decoder_vs_cnn.budget_table(rows)
    return None if table is None or not len(table) else plotting.gap_vs_budget(table)


def reduction_ratio(results_dir, preset=None):
    return plotting.cost_vs_size(read_table(Path(results_dir) / "reduction_ratio_costs.csv"))


def reduction_ratio_miou(results_dir, preset=None):
    frame = rows(results_dir, "reduction_ratio", preset)
    costs = read_table(Path(results_dir) / "reduction_ratio_costs.csv")
    at512 = costs[costs["size"] == 512].set_index("variant")["attention_gmacs_measured"]
    return plotting.metric_vs_cost(frame.assign(attention_gmacs_512=frame["variant"].map(at512)),
                                   x="attention_gmacs_512")


def erf(results_dir, preset=None, rows: str = "trained", state: str = "trained", view: str = "largest"):
    """Figure 3's maps: on the largest whole views the runs were measured on (view "largest", where Figure 3's
    claims are judged; the trained model only), or on the training crop (view "crop")."""
    from .claims.erf import erf_canvases
    from .erf import load_maps
    frame = rows(results_dir, "erf", preset)
    frame = frame[frame["variant"].isin(ERF_ROWS[rows])] if rows in ERF_ROWS else frame
    if frame.empty:
        return None
    canvases = erf_canvases(frame) if view == "largest" and state == "trained" else []
    side = canvases[-1] if canvases else int(frame["crop_size"].iloc[0])
    maps = load_maps(Path(results_dir) / "erf", frame, f"{state}_c{side}" if canvases else state)
    where = f"whole {side} px views" if canvases else f"the {side} px training crop"
    thresholds = (0.5, 0.99) if canvases else (0.2, 0.5)  # on whole views the 99 % square has room: draw it
    return plotting.erf_figure({v: maps[v] for v in ERF_ROWS.get(rows, maps) if v in maps}, thresholds=thresholds,
                               view_px=side, where=where)


def robustnesspaper() -> dict:
    """{model display name: {corruption group: corrupted / clean mIoU}} of the paper's Table 5 (Cityscapes-C)."""
    relative = claims.robustness.relative_paper(paper())
    groups = [c for c in relative.columns if c != "all"]
    return {f"{plotting.name(m)} (Cityscapes-C)": relative.loc[m, groups].to_dict() for m in relative.index}


def robustness(results_dir, preset=None, family: str = "aerial", init: str = "pretrained", y: str = "relative"):
    rows = claims.robustness.corrupted_rows(rows(results_dir, "robustness", preset))
    variants = [claims.robustness.robustness_variant(e, family, init) for e in claims.robustness.ROBUSTNESS_ENCODERS]
    variants = [v for v in variants if v in set(rows["variant"])]
    if not variants:
        return None
    return plotting.severity_curves(rows, {v: plotting.name(v) for v in variants}, y=y,
                                    paper=robustnesspaper() if y == "relative" else None)


def model_size(results_dir, preset=None):
    paper = paper()
    rows = paper[paper["table"] == "1a"]
    miou = rows[(rows["metric"] == "miou_ss") & (rows["setting"] == PAPER_DATASET)].set_index("model")["value"]
    gmacs = rows[(rows["metric"] == "gmacs") & (rows["setting"] == f"{PAPER_DATASET} 512x512")].set_index("model")
    points = pd.DataFrame({"model": "segformer", "gmacs_512": gmacs["value"], "miou": miou}).dropna()
    return plotting.metric_vs_cost(rows(results_dir, "model_size", preset), x="gmacs", paper=points,
                                   paper_x="gmacs_512", paper_label=f"paper (Table 1a): B0-B5, {PAPER_DATASET}")


def model_size_loss(results_dir, preset=None):
    frame = rows(results_dir, "model_size", preset)
    path = Path(results_dir) / "model_size_curves.csv"
    if not path.is_file():
        return None
    curves = read_table(path)
    curves = curves[curves["run_id"].isin(frame["run_id"])]
    return plotting.loss_curves(curves) if len(curves) else None


def decoder_width(results_dir, preset=None):
    paper = paper()
    rows = paper[paper["table"] == "1b"].pivot_table(index="setting", columns="metric", values="value", sort=False)
    points = pd.DataFrame({"model": "segformer_b2", "gmacs_512": rows["gmacs"], "miou": rows["miou_ss"]})
    return plotting.metric_vs_cost(rows(results_dir, "decoder_width", preset), x="gmacs_512", paper=points,
                                   paper_x="gmacs_512", paper_label="paper (Table 1b): MiT-B2, C = 256-2048")


def setr(results_dir, preset=None):
    return plotting.metric_vs_cost(rows(results_dir, "setr_vs_segformer", preset), x="gmacs_512")


def setr_settings(results_dir, preset=None):
    paper = paper()
    rows = paper[(paper["table"] == "setr") & (paper["metric"] == "miou_ss")]
    rows = rows.assign(setting="768x768 crops")[["model", "setting", "value"]]
    return plotting.metric_by_setting(rows(results_dir, "setr_vs_segformer", preset), SETR_SETTINGS, paper=rows,
                                      paper_label="paper (SETR): Cityscapes val")


def overlap(results_dir, preset=None):
    """mIoU, thing mIoU and boundary mIoU of overlapping and non-overlapping patch merging, one panel."""
    frame = rows(results_dir, "overlap_patch_embed", preset)
    plt = plotting.pyplot()
    metrics = ("miou", "thing_miou", "boundary_miou")
    long = frame.melt(id_vars=["variant", "seed"], value_vars=list(metrics), var_name="metric")
    fig, ax = plt.subplots(figsize=(plotting.SINGLE + 0.6, 3.2))
    plotting.dots(ax, long, "metric", "variant")
    ax.set(xlabel="", ylabel="IoU (%)")
    plotting.not_from_zero(ax)
    plotting.legend_below(fig, *ax.get_legend_handles_labels())
    return plotting.finish(fig)


FIGURES = {
    "pe_vs_mixffn": pe_headline,
    "pe_vs_mixffn.thing": partial(pe_settings, metric="thing_miou"),
    "pe_vs_mixffn.shared": partial(pe_settings, init="shared"),
    "pe_vs_mixffn.aerial": partial(pe_settings, family="aerial"),
    "pe_vs_mixffn.aerial_scratch": partial(pe_settings, family="aerial", init="scratch"),
    "decoder_vs_cnn": decoder_vs_cnn,
    "decoder_vs_cnn.thing": decoder_vs_cnn_thing,
    "decoder_vs_cnn.cost": decoder_vs_cnn_cost,
    "decoder_vs_cnn.context": context_reach,
    "decoder_vs_cnn.budget": budget,
    "reduction_ratio": reduction_ratio,
    "reduction_ratio.miou": reduction_ratio_miou,
    "erf": erf,
    "erf.crop": partial(erf, view="crop"),
    "erf.scratch": partial(erf, rows="scratch"),
    "erf.init": partial(erf, rows="all", state="init"),
    "robustness": robustness,
    "robustness.scratch": partial(robustness, init="scratch"),
    "robustness.street": partial(robustness, family="street"),
    "robustness.corrupted": partial(robustness, y="corrupted_miou"),
    "model_size": model_size,
    "model_size.loss": model_size_loss,
    "decoder_width": decoder_width,
    "setr_vs_segformer": setr,
    "setr_vs_segformer.settings": setr_settings,
    "overlap_patch_embed": overlap,
}


def figure_names() -> list:
    """Every figure's name: "<ablation>" for its key figure, "<ablation>.<view>" for the others, in report order."""
    declared = [f"{a.name}.{view}" if view else a.name for a in ablations() for view in a.figures]
    return declared + [n for n in FIGURES if n not in declared]


def draw(figure: str, results_dir="results", preset: str | None = None):
    """The named figure from `results_dir` (the reported preset unless `preset`), or None if there is nothing to
    draw; an unknown name raises KeyError listing the names."""
    experiment, _, view = figure.partition(".")
    if experiment in {a.name for a in ablations()} and view in ablation(experiment).figures:
        return ablation(experiment).figures[view](Path(results_dir), preset)
    if figure not in FIGURES:
        raise KeyError(f"no figure {figure!r}; figures: {', '.join(figure_names())}")
    return FIGURES[figure](Path(results_dir), preset)

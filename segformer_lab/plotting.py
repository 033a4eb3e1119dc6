"""Figures from results: one style for every figure, display names from `segformer_lab.names`, seed spread as
error bars, the paper's values beside ours where it has them. Nothing runs at import time.

Every function takes data (arrays, DataFrames, run directories) and returns a matplotlib Figure sized for a
single (`SINGLE`, 3.5 in) or double (`DOUBLE`, 7 in) column, with every text at `FONT` pt or more; saving is
the caller's choice (`save(fig, path)`, PNG by default, PDF or SVG by the suffix). Legends sit below the axes,
in the order the caller gives (the experiment's declared order), and a figure with one entry has none.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np

from .names import colour, colours, name

SINGLE, DOUBLE = 3.5, 7.0  # figure widths in inches: one or two columns of a paper, and a notebook column
FONT = 9  # pt: the smallest text of any figure
PAPER_MARKER = dict(marker="D", mfc="none", ms=6, mew=1.2, ls="none")  # the paper's values: hollow diamonds
_STYLED = []
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "<", ">")  # one per hue, beside its colour


def style() -> None:
    """The lab's figure style: seaborn's paper theme with a white grid, the colour-blind palette and `FONT` pt
    text everywhere; constrained layout, so that legends outside the axes get their room."""
    import seaborn as sns
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", rc={
        "font.size": FONT, "axes.titlesize": FONT, "axes.labelsize": FONT, "xtick.labelsize": FONT,
        "ytick.labelsize": FONT, "legend.fontsize": FONT, "legend.title_fontsize": FONT, "figure.titlesize": FONT + 1,
        "figure.dpi": 100, "savefig.dpi": 200, "figure.constrained_layout.use": True, "grid.alpha": 0.5})


def pyplot():
    import matplotlib
    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    if not _STYLED:
        style()
        _STYLED.append(True)
    return plt


def _wrap(text: str, chars: int) -> str:
    """`text` on lines of at most `chars` characters (at least 8)."""
    return textwrap.fill(str(text), max(8, int(chars)), break_long_words=False)


CHAR_IN = 0.65 * FONT / 72  # inches: a generous average width of one character of `FONT` pt text


def _chars(width_in: float, n: int) -> int:
    """How many characters of `FONT` pt text fit beside each other in one of `n` slots across `width_in`."""
    return int(0.85 * width_in / max(n, 1) / CHAR_IN)


def finish(fig):
    """Fit a figure's words to its axes: y labels wrapped to the axes' height, titles to their width."""
    for ax in fig.axes:
        if not ax.get_visible() or ax.get_label() == "<colorbar>":
            continue
        box = ax.get_position()
        height, width = box.height * fig.get_figheight(), box.width * fig.get_figwidth()
        if ax.get_ylabel():
            ax.set_ylabel(_wrap(ax.get_ylabel().replace("\n", " "), _chars(height, 1)))
        if ax.get_title():
            ax.set_title(_wrap(ax.get_title(), _chars(width, 1)))
    return fig


def legend_below(fig, handles, labels, title: str | None = None, ncol: int | None = None):
    """The figure's legend centred below its axes, entries in the given order, duplicates dropped; none for fewer
    than two entries (the axis label or title says what one line is)."""
    seen = dict(zip(labels, handles))
    seen = {k: v for k, v in seen.items() if k and not k.startswith("_")}
    if len(seen) < 2:
        return None
    longest = max(len(k) for k in seen)
    ncol = ncol or max(1, min(len(seen), int(0.9 * fig.get_figwidth() / (longest * CHAR_IN + 0.45))))
    rows = -(-len(seen) // ncol)
    fig.set_figheight(fig.get_figheight() + rows * 0.2 + 0.1)  # the legend's room, not the axes'
    return fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncol=ncol, frameon=False,
                      title=title)


def axis_label(column: str, frame=None) -> str:
    """A column's display name; for costs counted at the training crop, that crop's size where it is one."""
    label = name(column)
    if column in ("gflops", "gmacs") and frame is not None and "crop_size" in frame and frame["crop_size"].nunique() == 1:
        side = int(frame["crop_size"].iloc[0])
        label = {"gflops": f"GFLOPs at {side}x{side} (2 per MAC)", "gmacs": f"GMACs at {side}x{side}"}[column]
    return label


def not_from_zero(ax) -> None:
    """Say on the y axis that it does not start at zero (the claims are differences)."""
    ax.set_ylabel(ax.get_ylabel() + " (axis\u00a0not\u00a0from\u00a00)")  # kept on one line when wrapped


def _seed_stats(values) -> tuple:
    """Mean and the distances down to the smallest and up to the largest seed."""
    values = np.asarray(values, float)
    values = values[~np.isnan(values)]
    if not len(values):
        return np.nan, 0.0, 0.0
    mean = values.mean()
    return mean, max(mean - values.min(), 0.0), max(values.max() - mean, 0.0)


def dots(ax, long, x: str, hue: str, y: str = "value", x_order=None, hue_order=None, width: float = 0.7):
    """Mean over seeds of `y` per `x` category and `hue` as a dot, the seed range (min to max) as an error bar,
    hues side by side within a category; x ticks are the display names, wrapped to the room they have."""
    x_order = list(x_order if x_order is not None else dict.fromkeys(long[x]))
    hue_order = list(hue_order if hue_order is not None else dict.fromkeys(long[hue]))
    palette = colours(hue_order)
    n = len(hue_order)
    for j, h in enumerate(hue_order):
        offset = (j - (n - 1) / 2) * width / max(n, 1)
        stats = [_seed_stats(long.loc[(long[x] == c) & (long[hue] == h), y]) for c in x_order]
        mean, low, high = (np.array(v) for v in zip(*stats))
        ax.errorbar(np.arange(len(x_order)) + offset, mean, yerr=[low, high], fmt=MARKERS[j % len(MARKERS)], ms=5,
                    capsize=2.5, color=palette[h], label=name(h))
    category_axis(ax, x_order)


def category_axis(ax, categories) -> None:
    """Categories along the x axis at 0, 1, ...: their display names as ticks, wrapped to the room each has."""
    width = ax.get_figure().get_figwidth() * ax.get_position().width
    ax.set_xticks(range(len(categories)), [_wrap(name(c), _chars(width, len(categories))) for c in categories])
    ax.set_xlim(-0.5, len(categories) - 0.5)
    ax.grid(axis="x", visible=False)


def colorize(mask: np.ndarray, palette) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) uint8 colours; the ignore index (255) is white."""
    lut = np.full((256, 3), 255, np.uint8)
    lut[:len(palette)] = np.asarray(palette, np.uint8)
    return lut[mask.astype(np.int64).clip(0, 255)]


def class_legend(fig, classes, palette):
    """A legend of the class colours below the axes (white: ignored)."""
    from matplotlib.patches import Patch
    handles = [Patch(color=np.asarray(c) / 255, label=str(k)) for k, c in zip(classes, palette)]
    return legend_below(fig, handles, [h.get_label() for h in handles], ncol=min(len(handles), 5))


def sample_grid(samples: list, classes, palette, title: str = ""):
    """Images above their masks, one column per (image, mask) pair, with a class legend."""
    plt = pyplot()
    n = len(samples)
    aspect = samples[0][0].shape[1] / samples[0][0].shape[0]  # width / height of the images
    height = 2 * DOUBLE / n / aspect + 1.2
    fig, axes = plt.subplots(2, n, figsize=(DOUBLE, height), squeeze=False)
    for j, (image, mask) in enumerate(samples):
        axes[0, j].imshow(image)
        axes[1, j].imshow(colorize(mask, palette), interpolation="nearest")
        for ax in axes[:, j]:
            ax.set_xticks([]), ax.set_yticks([])
    axes[0, 0].set_ylabel("image")
    axes[1, 0].set_ylabel("mask")
    class_legend(fig, classes, palette)
    if title:
        fig.suptitle(title)
    return finish(fig)


def read_curves(run_dirs: dict) -> "pandas.DataFrame":  # noqa: F821
    """Learning curves of runs as a tidy frame: columns run, group, iteration, miou, thing_miou, ...;
    `run_dirs` maps a run directory to its group label."""
    import pandas as pd
    rows = []
    for run, group in run_dirs.items():
        for line in (Path(run) / "curve.jsonl").read_text().splitlines():
            rows.append({"run": Path(run).name, "group": group, **json.loads(line)})
    return pd.DataFrame(rows).drop_duplicates(["run", "iteration"], keep="last")


def learning_curves(curves, metrics=("miou", "thing_miou")):
    """Validation metric against iteration, one line per group (mean over seeds) with the seed range as a band."""
    plt = pyplot()
    groups = list(dict.fromkeys(curves["group"]))
    palette = colours(groups)
    fig, axes = plt.subplots(1, len(metrics), figsize=(DOUBLE if len(metrics) > 1 else SINGLE, 2.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for group in groups:
            table = curves[curves["group"] == group].pivot_table(index="iteration", columns="run", values=metric)
            line, = ax.plot(table.index, table.mean(axis=1), "-o", ms=3, color=palette[group], label=name(group))
            ax.fill_between(table.index, table.min(axis=1), table.max(axis=1), color=line.get_color(), alpha=0.2)
        ax.set(xlabel=name("iteration"), ylabel=name(metric))
    legend_below(fig, *axes[0, 0].get_legend_handles_labels())
    return finish(fig)


def per_class_iou(frame, classes, group_col: str = "variant"):
    """Per-class IoU: mean over seeds as a dot per variant, the seed range as an error bar."""
    plt = pyplot()
    long = frame.melt(id_vars=[group_col, "seed"], value_vars=[f"iou_{c}" for c in classes],
                      var_name="class", value_name="IoU")
    long["class"] = long["class"].str.removeprefix("iou_")
    fig, ax = plt.subplots(figsize=(DOUBLE, 3.0))
    dots(ax, long, "class", group_col, "IoU", x_order=list(classes))
    ax.set(xlabel="class", ylabel=name("IoU"))
    legend_below(fig, *ax.get_legend_handles_labels())
    return finish(fig)


def paper_panel(ax, paper, x: str = "setting", y: str = "value", hue: str = "model", label: str = "", order=None,
                horizontal: bool = False):
    """The paper's values as hollow diamonds, one colour per model family, on an axis of their own (the paper's
    datasets are not ours); with `horizontal` the categories run down the y axis (room for long names).
    `paper`: rows with `x`, `y` and `hue` columns; `label`: the value axis' label."""
    cats = list(order if order is not None else dict.fromkeys(paper[x]))
    hues = list(dict.fromkeys(paper[hue]))
    palette, n = colours(hues), len(hues)
    for j, h in enumerate(hues):
        rows = paper[paper[hue] == h].set_index(x).reindex(cats)
        offset = (j - (n - 1) / 2) * 0.5 / max(n, 1) if not horizontal else 0.0
        at = np.arange(len(cats)) + offset
        xy = (rows[y], at) if horizontal else (at, rows[y])
        ax.plot(*xy, color=palette[h], label=f"paper: {name(h)}", **PAPER_MARKER)
    if horizontal:
        ax.set_yticks(range(len(cats)), [name(c) for c in cats])
        ax.set_ylim(len(cats) - 0.5, -0.5)
        ax.set_xlabel(label)
        ax.grid(axis="y", visible=False)
    else:
        category_axis(ax, cats)
        ax.set_ylabel(label)


def metric_by_setting(frame, settings: dict, metric: str = "miou", group_col: str = "variant", paper=None,
                      paper_label: str = ""):
    """A metric per test setting and variant: mean over seeds as a dot, the seed range as an error bar, the axis
    not from zero (the claims are differences between settings); with `paper` (rows setting, model, value) the
    paper's values in a panel beside it.

    settings: {setting id or label: column prefix}, e.g. {"training size": "", "256x512 whole": "whole_256x512_"}."""
    plt = pyplot()
    import pandas as pd
    parts = [frame[[group_col, "seed"]].assign(setting=label, value=frame[f"{prefix}{metric}"].astype(float))
             for label, prefix in settings.items()]
    long = pd.concat(parts, ignore_index=True)
    panels = 2 if paper is not None and len(paper) else 1
    fig, axes = plt.subplots(1, panels, figsize=(DOUBLE, 3.2), squeeze=False,
                             gridspec_kw={"width_ratios": [len(settings), 2][:panels]})
    ax = axes[0, 0]
    dots(ax, long, "setting", group_col, x_order=list(settings))
    ax.set(xlabel="test setting", ylabel=name(metric), title="ours: embedded scenes")
    not_from_zero(ax)
    handles, labels = ax.get_legend_handles_labels()
    if panels == 2:
        paper_panel(axes[0, 1], paper, label=f"paper: {name(metric)}")
        axes[0, 1].set(xlabel="test setting", title=paper_label or "paper")
        more = axes[0, 1].get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    legend_below(fig, handles, labels)
    return finish(fig)


def save(fig, path, *more, dpi: int = 200) -> Path:
    """Save a figure to `path` and to each of `more` (the format from the suffix: .png at `dpi`, .pdf or .svg),
    then close it; returns `path`."""
    for target in (Path(path), *map(Path, more)):
        target.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(target, dpi=dpi)
    pyplot().close(fig)
    return Path(path)


def erf_figure(maps: dict, labels: dict | None = None, thresholds=(0.2, 0.5), view_px: int | None = None,
               where: str = ""):
    """Figure 3's layout: one row per model, one column per target (stage1..4, head), each map rendered as
    log10(x + 1) / max with a colour bar; the centred squares holding 20% (dashed) and 50% (dotted) of the mass
    are drawn, and their sides printed under each map: as a share of the map's side, or in pixels of the input
    where its side `view_px` is given.

    maps: {row: {target: (H, W) array}} (segformer_lab.erf.load_maps); labels: {row: display name}; where: the
    input the maps were measured on, said in the title."""
    plt = pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    from .erf import area_ratios, normalise_for_display
    rows = list(maps)
    targets = list(maps[rows[0]])
    side = (DOUBLE - 1.5) / len(targets)
    fig, axes = plt.subplots(len(rows), len(targets), figsize=(DOUBLE, side * len(rows) + 1.4), squeeze=False)
    styles = ("--", ":")
    image = None
    for i, row in enumerate(rows):
        for j, target in enumerate(targets):
            erf, ax = maps[row][target], axes[i, j]
            h, w = erf.shape
            image = ax.imshow(normalise_for_display(erf), cmap="viridis", vmin=0, vmax=1)
            ratios = area_ratios(erf, thresholds)
            for t, ls in zip(thresholds, styles):
                s = ratios[t][0] * h
                ax.add_patch(Rectangle((w // 2 - s / 2, h // 2 - s / 2), s, s, fill=False, edgecolor="white",
                                       linestyle=ls, linewidth=1))
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_xlabel("\n".join(f"{t:.0%}: {ratios[t][0] * view_px:.0f} px" if view_px else
                                    f"{t:.0%}: {ratios[t][0]:.2f}" for t in thresholds))
            if i == 0:
                ax.set_title(target.replace("stage", "stage "))
        label = (labels or {}).get(row) or name(row)
        axes[i, 0].set_ylabel(_wrap(label, 14))
    fig.colorbar(image, ax=axes, shrink=0.8, label="log10(ERF + 1) / max")
    if where:
        fig.suptitle(f"Effective receptive fields on {where}")
    unit = f" (px of the {view_px} px input)" if view_px else " (share of the input's side)"
    handles = [Line2D([], [], color="black", linestyle=ls, label=f"side of the centred square holding {t:.0%} of "
                      f"the mass{unit}") for t, ls in zip(thresholds, styles)]
    legend_below(fig, handles, [h.get_label() for h in handles], ncol=1)
    return finish(fig)


def resolution_curve(curves):
    """mIoU at each test size, as a share of the mIoU at the protocol's own size, one line per model: the Mix-FFN
    resolution study on released models. curves: segformer_lab.released.resolution_curves()."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(SINGLE, 3.4))
    models = list(dict.fromkeys(curves["name"]))
    for i, (label, group) in enumerate(curves.groupby("name", sort=False)):
        ax.plot(group["resolution"], 100 * group["relative"], marker=MARKERS[i % len(MARKERS)], ms=4,
                color=colours(models)[label], label=label)
    ax.axhline(100, color="grey", linewidth=0.8, linestyle=":")
    ax.axvline(1.0, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(curves["resolution"].unique()))
    ax.set_xticklabels([f"{r:g}x" for r in sorted(curves["resolution"].unique())])
    ax.minorticks_off()
    ax.set_xlabel("test size / the protocol's size")
    ax.set_ylabel("mIoU (% of that at the protocol's size)")
    legend_below(fig, *ax.get_legend_handles_labels(), ncol=1)
    return finish(fig)


COST_PANELS = (("attention_gmacs_measured", "attention GMACs", "attention_gmacs_analytic", "dashed: analytic count"),
               ("total_gmacs", "total GMACs", None, ""),
               ("peak_mem_mb", "peak memory (MiB)", "peak_mem_explicit_mb", "dashed: explicit attention"),
               ("latency_ms", "CPU latency (ms)", "latency_explicit_ms", "dashed: explicit attention"))


def cost_vs_size(costs):
    """Efficient-attention cost against the input side, one colour per reduction setting, on a 2x2 grid: attention
    GMACs measured (solid) and analytic (dashed), total GMACs, and peak memory and latency where measured with
    the fused attention kernel (solid) and with explicit attention (dashed); log scales."""
    plt = pyplot()
    variants = list(dict.fromkeys(costs["variant"]))
    palette = colours(variants)
    panels = [p for p in COST_PANELS if p[0] in costs and costs[p[0]].notna().any()]  # smoke: no timings
    rows_n = (len(panels) + 1) // 2
    fig, axes = plt.subplots(rows_n, 2, figsize=(DOUBLE, 2.6 * rows_n + 0.9), squeeze=False)
    sizes = sorted(costs["size"].unique())
    for ax, (column, label, second, note) in zip(axes.ravel(), panels):
        for i, variant in enumerate(variants):
            rows = costs[costs["variant"] == variant].dropna(subset=[column]).sort_values("size")
            ax.plot(rows["size"], rows[column], "-", marker=MARKERS[i % len(MARKERS)], ms=4, color=palette[variant],
                    label=name(variant))
            if second and second in rows:
                ax.plot(rows["size"], rows[second], "--", color=palette[variant], alpha=0.7)
        ax.set(xscale="log", yscale="log", xlabel="input side (px)", ylabel=label)
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.minorticks_off()
        if note:
            ax.set_title(note)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    legend_below(fig, *axes[0, 0].get_legend_handles_labels(), ncol=2)
    return finish(fig)


def metric_vs_cost(frame, x: str = "gflops", y: str = "miou", hue: str = "variant", style: str | None = None,
                   paper=None, paper_x: str = "gmacs", paper_label: str = ""):
    """A metric against a cost: each run (seed) as a faint marker, the mean per group as a large one with the seed
    range as error bars; with `paper` (rows model, <paper_x>, miou) the paper's points in a panel beside it, on
    their own axes (their cost is counted at their input size, on their dataset)."""
    plt = pyplot()
    panels = 2 if paper is not None and len(paper) else 1
    fig, axes = plt.subplots(1, panels, figsize=(DOUBLE if panels == 2 else SINGLE + 0.6, 3.2), squeeze=False)
    ax = axes[0, 0]
    from matplotlib.lines import Line2D
    keys = [hue] + ([style] if style else [])
    hues = list(frame.groupby(hue, sort=False)[x].mean().sort_values(kind="stable").index)  # by cost: sorted legend
    styles = list(dict.fromkeys(frame[style])) if style else [None]
    groups = sorted(dict.fromkeys(zip(*(frame[k] for k in keys))),
                    key=lambda g: (hues.index(g[0]), styles.index(g[1]) if style else 0))
    palette = colours(hues)
    for key in groups:
        sel = frame[np.logical_and.reduce([frame[k] == v for k, v in zip(keys, key)])]
        c = palette[key[0]]
        marker = MARKERS[styles.index(key[1]) % len(MARKERS)] if style else MARKERS[hues.index(key[0]) % len(MARKERS)]
        ax.scatter(sel[x], sel[y], color=c, marker=marker, s=14, alpha=0.4, linewidths=0)
        my, ylo, yhi = _seed_stats(sel[y])
        mx, xlo, xhi = _seed_stats(sel[x])
        label = ", ".join(name(v) for v in key)
        ax.errorbar([mx], [my], yerr=[[ylo], [yhi]], xerr=[[xlo], [xhi]], fmt=marker, ms=7, capsize=2.5, color=c,
                    label=label)
    ax.set(xlabel=axis_label(x, frame), ylabel=name(y))
    not_from_zero(ax)
    if panels == 2:
        ax.set_title("ours: embedded scenes")
    handles, labels = ax.get_legend_handles_labels()
    if style:  # colour: the hue; marker: the style, each said once
        handles = [Line2D([], [], color=palette[h], marker="o", ls="none", label=name(h)) for h in hues]
        handles += [Line2D([], [], color="grey", marker=MARKERS[i % len(MARKERS)], ls="none", label=name(v))
                    for i, v in enumerate(styles)]
        labels = [h.get_label() for h in handles]
    if panels == 2:
        pax = axes[0, 1]
        models = list(dict.fromkeys(paper["model"]))
        for model, c in colours(models).items():
            rows = paper[paper["model"] == model]
            pax.plot(rows[paper_x], rows["miou"], color=c, label=f"paper: {name(model)}", **PAPER_MARKER)
        pax.set(xlabel=f"paper: {name(paper_x)}", ylabel=f"paper: {name('miou')}", title=paper_label or "paper")
        not_from_zero(pax)
        more = pax.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    legend_below(fig, handles, labels)
    return finish(fig)


def grouped_dots(frame, x: str, hue: str, metrics=("miou", "thing_miou"), x_order=None, hue_order=None):
    """Each metric by `x` and `hue`, one panel per metric: mean over seeds as a dot, the seed range as an error
    bar; the axes do not start at zero (the claims are differences)."""
    plt = pyplot()
    width = DOUBLE if len(metrics) > 1 else SINGLE + 0.6
    fig, axes = plt.subplots(1, len(metrics), figsize=(width, 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        dots(ax, frame, x, hue, y=metric, x_order=x_order, hue_order=hue_order)
        ax.set(xlabel=name(x), ylabel=name(metric))
    not_from_zero(axes[0, 0])
    legend_below(fig, *axes[0, 0].get_legend_handles_labels())
    return finish(fig)


def context_reach(frame, encoders: dict | None = None):
    """Two panels against the context distance d: the forced-choice accuracy between the token classes of each
    encoder (the context accuracy where that is not measured; mean line, a dot per seed; 0.5 is a coin flip)
    with a dashed line at the radius holding half of its head's ERF mass, and the share of that ERF's mass
    within d. `frame`: context_distance rows; `encoders`: {variant prefix: label}."""
    plt = pyplot()
    from matplotlib.lines import Line2D
    prefixes = list(dict.fromkeys(v.rsplit("_d", 1)[0] for v in frame["variant"]))
    encoders = encoders or {p: name(p) for p in prefixes}
    # the forced choice between the token classes where measured, else the older context accuracy
    forced = "context_choice_accuracy" in frame and frame["context_choice_accuracy"].notna().any()
    accuracy = "context_choice_accuracy" if forced else "context_accuracy"
    fig, axes = plt.subplots(1, 2, figsize=(DOUBLE, 3.2))
    palette = colours(list(encoders))
    for prefix, label in encoders.items():
        rows = frame[frame["variant"].str.rsplit("_d", n=1).str[0] == prefix]
        if rows.empty:
            continue
        for ax, column in zip(axes, (accuracy, "erf_head_within_d")):
            means = rows.groupby("context_distance")[column].mean()
            ax.plot(means.index, means.values, "-o", ms=4, color=palette[prefix], label=label)
            ax.scatter(rows["context_distance"], rows[column], color="black", s=8, zorder=3)
        axes[0].axvline(rows["erf_head_r50"].mean(), color=palette[prefix], ls="--", lw=1)
    axes[0].axhline(0.5, color="grey", lw=1, ls=":")
    axes[0].set_ylabel(_wrap("forced-choice accuracy (token a vs b)" if forced else
                             "context accuracy (right token class)", 30))
    axes[1].set_ylabel("share of the head's ERF mass within d")
    for ax in axes:
        ax.set_xlabel("context distance d (px)")
    handles, labels = axes[0].get_legend_handles_labels()
    extra = [Line2D([], [], color="black", marker="o", ls="none", ms=3, label="one seed"),
             Line2D([], [], color="grey", ls="--", label="radius holding half of the head's ERF mass"),
             Line2D([], [], color="grey", ls=":", label="coin flip (0.5)")]
    legend_below(fig, handles + extra, labels + [h.get_label() for h in extra], ncol=2)
    return finish(fig)


def gap_vs_budget(table):
    """The gap (e.g. MiT-B1 minus ResNet-18 mIoU) at each budget point of `budget_table` of experiments/decoder_vs_cnn.py, with its seed
    spread as an error bar; iterations on a log axis, points at another crop size marked apart."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(SINGLE + 0.6, 3.0))
    for i, (crop, rows) in enumerate(table.groupby("crop_size")):
        rows = rows.sort_values("iterations")
        ax.errorbar(rows["iterations"], rows["gap"], yerr=rows["spread"] / 2, fmt="-o" if len(rows) > 1 else "s",
                    capsize=3, color=colour("mit", i, table["crop_size"].nunique()), label=f"{crop} px crops")
    ax.axhline(0.0, color="grey", lw=1, ls=":")
    ax.set_xscale("log")
    ticks = sorted(table["iterations"].unique())
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("training iterations")
    ax.set_ylabel("gap (mIoU points)")
    legend_below(fig, *ax.get_legend_handles_labels())
    return finish(fig)


def severity_curves(rows, variants: dict | None = None, y: str = "relative", paper: dict | None = None):
    """Table 5 by severity: one panel per corruption group, `y` (e.g. "relative" = corrupted / clean mIoU, or
    "corrupted_miou") against severity, the mean over the group's corruptions and seeds as a line per variant,
    with the min-max over seeds as a band; `paper`: {label: {group: value}} drawn as dashed lines (the paper's
    mean over severities). `rows`: `corrupted_rows` of experiments/robustness.py; `variants`: {variant: label}."""
    plt = pyplot()
    variants = variants or {v: name(v) for v in dict.fromkeys(rows["variant"])}
    groups = list(dict.fromkeys(rows["group"]))
    fig, axes = plt.subplots(1, len(groups), figsize=(DOUBLE, 2.9), squeeze=False, sharey=True)
    palette = colours(list(variants))
    for ax, group in zip(axes[0], groups):
        for i, (variant, label) in enumerate(variants.items()):
            sel = rows[(rows["group"] == group) & (rows["variant"] == variant)]
            if sel.empty:
                continue
            per_seed = sel.groupby(["severity", "seed"])[y].mean().unstack("seed")  # severity x seed
            ax.plot(per_seed.index, per_seed.mean(axis=1), "-", marker=MARKERS[i % len(MARKERS)],
                    color=palette[variant], label=label, ms=4)
            ax.fill_between(per_seed.index, per_seed.min(axis=1), per_seed.max(axis=1), color=palette[variant],
                            alpha=0.2)
        for label, values in (paper or {}).items():
            if group in values:
                ax.axhline(values[group], color=colours(paper)[label], ls="--", lw=1.2,
                           label=f"paper: {label}, mean over severities")
        ax.set_title(group)
        ax.set_xlabel("severity")
        ax.set_xticks(sorted(rows.loc[rows["group"] == group, "severity"].unique()))
    axes[0, 0].set_ylabel(name(y))
    handles, labels = [], []
    for ax in axes[0]:
        more = ax.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    legend_below(fig, handles, labels)
    return finish(fig)


def corruption_examples(images: dict, names, severities, dpi: int = 100):
    """One mosaic of corrupted images at their native pixel size: a row per corruption in `names`, a column per
    severity; `images`: {(name, severity): uint8 (H, W, 3)}, with ("clean", 0) shown first in every row if
    present. (One image rather than a grid of axes keeps the saved figure small.)"""
    plt = pyplot()
    columns = ([0] if ("clean", 0) in images else []) + list(severities)
    h, w = next(iter(images.values())).shape[:2]
    gap = 4
    mosaic = np.full((len(names) * (h + gap) - gap, len(columns) * (w + gap) - gap, 3), 255, np.uint8)
    for i, corruption in enumerate(names):
        for j, severity in enumerate(columns):
            tile = images[("clean", 0)] if severity == 0 else images[(corruption, severity)]
            mosaic[i * (h + gap):i * (h + gap) + h, j * (w + gap):j * (w + gap) + w] = tile
    left, top = 1.3, 0.4  # inches for the row and column labels
    width, height = mosaic.shape[1] / dpi, mosaic.shape[0] / dpi
    fig = plt.figure(figsize=(width + left, height + top), dpi=dpi, layout="none")
    ax = fig.add_axes((left / (width + left), 0.0, width / (width + left), height / (height + top)))
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_xticks([j * (w + gap) + w / 2 for j in range(len(columns))],
                  ["clean" if v == 0 else f"severity {v}" for v in columns])
    ax.xaxis.tick_top()
    ax.set_yticks([i * (h + gap) + h / 2 for i in range(len(names))], [n.replace("_", " ") for n in names])
    ax.tick_params(length=0)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return finish(fig)


def explore_figure(scene, prediction: np.ndarray, erf: np.ndarray, attention: np.ndarray, pixel, title: str = ""):
    """Six panels of one scene: image, ground truth, prediction, errors (wrong pixels in red), the chosen pixel's
    ERF (log scale) and one head's attention at the token holding the pixel (resized to the image), each map with
    its colour bar, and the class colours below. `scene`: explore.Scene; `attention`: (h_kv, w_kv) weights;
    `pixel`: (y, x), marked with a cross."""
    plt = pyplot()
    h, w = scene.mask.shape
    fig, axes = plt.subplots(2, 3, figsize=(DOUBLE, 2 * (DOUBLE / 3 - 0.2) * h / w + 2.4), squeeze=False)
    errors = np.where((prediction != scene.mask)[..., None], np.array([220, 30, 30], np.uint8), scene.image // 3)
    log_erf = np.log10(erf + 1)
    panels = [(scene.image, "image"), (colorize(scene.mask, scene.palette), "ground truth"),
              (colorize(prediction, scene.palette), "prediction"),
              (errors, f"errors: {(prediction != scene.mask).mean():.1%} of pixels"),
              (log_erf / max(log_erf.max(), 1e-12), "the pixel's ERF"),
              (attention, "attention of its token")]
    for i, (ax, (data, label)) in enumerate(zip(axes.ravel(), panels)):
        if i == 5:
            shown = ax.imshow(data, cmap="magma", extent=(0, w, h, 0), interpolation="nearest")
            fig.colorbar(shown, ax=ax, location="bottom", shrink=0.9, label="attention weight")
        elif i == 4:
            shown = ax.imshow(data, cmap="magma", vmin=0, vmax=1)
            fig.colorbar(shown, ax=ax, location="bottom", shrink=0.9, label="log10(ERF + 1) / max")
        else:
            ax.imshow(data, interpolation="nearest")
        ax.plot(pixel[1], pixel[0], "c+", ms=12, mew=2)
        ax.set_title(label)
        ax.set_xticks([]), ax.set_yticks([])
        ax.grid(False)
    class_legend(fig, scene.classes, scene.palette)
    if title:
        fig.suptitle(_wrap(title, _chars(DOUBLE, 1)))
    return finish(fig)


def loss_curves(curves, window: int = 5):
    """Training loss against iteration, one line per variant (mean over seeds, a running mean over `window`
    logged points) with the min-max over seeds as a band. `curves`: rows (variant, seed, iteration, loss)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(SINGLE + 0.6, 3.0))
    variants = list(dict.fromkeys(curves["variant"]))
    palette = colours(variants)
    for variant, rows in curves.groupby("variant", sort=False):
        table = rows.pivot_table(index="iteration", columns="seed", values="loss")  # iteration x seed
        smooth = table.rolling(window, min_periods=1).mean()
        ax.plot(smooth.index, smooth.mean(axis=1), color=palette[variant], label=name(variant))
        ax.fill_between(smooth.index, smooth.min(axis=1), smooth.max(axis=1), color=palette[variant], alpha=0.2)
    ax.set_yscale("log")
    ax.set_xlabel(name("iteration"))
    ax.set_ylabel(f"{name('loss')} (log scale)")
    legend_below(fig, *ax.get_legend_handles_labels())
    return finish(fig)

"""Figures from results: sample scenes, learning curves, per-class IoU. Nothing runs at import time.

Every function takes data (arrays, DataFrames, run directories) and returns a matplotlib Figure; saving is
the caller's choice (`save(fig, path)`).
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib
    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def colorize(mask: np.ndarray, palette) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) uint8 colours; the ignore index (255) is white."""
    lut = np.full((256, 3), 255, np.uint8)
    lut[:len(palette)] = np.asarray(palette, np.uint8)
    return lut[mask.astype(np.int64).clip(0, 255)]


def sample_grid(samples: list, classes, palette, title: str = ""):
    """Images above their masks, one column per (image, mask) pair, with a class legend."""
    plt = _plt()
    from matplotlib.patches import Patch
    n = len(samples)
    aspect = samples[0][0].shape[1] / samples[0][0].shape[0]  # width / height of the images
    col = 2.2 * max(1.0, aspect)  # column width in inches: wide frames get wide columns
    fig, axes = plt.subplots(2, n, figsize=(max(col * n, 8.0), 2 * col / aspect + 1.0), squeeze=False)
    for j, (image, mask) in enumerate(samples):
        axes[0, j].imshow(image)
        axes[1, j].imshow(colorize(mask, palette), interpolation="nearest")
        for ax in axes[:, j]:
            ax.set_xticks([]), ax.set_yticks([])
    handles = [Patch(color=np.asarray(c) / 255, label=name) for name, c in zip(classes, palette)]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(classes), 9), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95 if title else 1))
    return fig


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
    """Validation metric against iteration, one line per group with its seed band (min-max)."""
    plt = _plt()
    import seaborn as sns
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        sns.lineplot(data=curves, x="iteration", y=metric, hue="group", hue_order=sorted(curves["group"].unique()),
                     errorbar=("pi", 100), marker="o", ax=ax)
        ax.set_ylabel(f"{metric} (%)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def per_class_iou(frame, classes, group_col: str = "variant"):
    """Per-class IoU bars (mean over seeds, black ticks at each seed) from rows with iou_<class> columns."""
    plt = _plt()
    import seaborn as sns
    long = frame.melt(id_vars=[group_col, "seed"], value_vars=[f"iou_{c}" for c in classes],
                      var_name="class", value_name="IoU")
    long["class"] = long["class"].str.removeprefix("iou_")
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(classes)), 3.6))
    order = sorted(long[group_col].unique())
    sns.barplot(data=long, x="class", y="IoU", hue=group_col, hue_order=order, errorbar=None, ax=ax, alpha=0.8)
    sns.stripplot(data=long, x="class", y="IoU", hue=group_col, hue_order=order, dodge=True, palette="dark:black",
                  size=3, ax=ax, legend=False)
    ax.set_ylabel("IoU (%)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def metric_by_setting(frame, settings: dict, metric: str = "miou", group_col: str = "variant"):
    """Bars of a metric per test setting and variant (mean over seeds, black ticks at each seed).

    settings: {label: column prefix}, e.g. {"128 whole": "", "256x512 whole": "whole_256x512_"}."""
    plt = _plt()
    import pandas as pd
    import seaborn as sns
    parts = [frame[[group_col, "seed"]].assign(setting=label, value=frame[f"{prefix}{metric}"].astype(float))
             for label, prefix in settings.items()]
    long = pd.concat(parts, ignore_index=True)
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(settings)), 3.6))
    order = list(dict.fromkeys(frame[group_col]))
    sns.barplot(data=long, x="setting", y="value", hue=group_col, hue_order=order, errorbar=None, alpha=0.8, ax=ax)
    sns.stripplot(data=long, x="setting", y="value", hue=group_col, hue_order=order, dodge=True,
                  palette="dark:black", size=3, ax=ax, legend=False)
    ax.set_xlabel("test setting")
    ax.set_ylabel(f"{metric} (%)")
    ax.grid(axis="y", alpha=0.3)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    return fig


def save(fig, path) -> Path:
    """Save a figure (PNG at 120 dpi) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    _plt().close(fig)
    return path


def erf_figure(maps: dict, labels: dict | None = None, thresholds=(0.2, 0.5)):
    """Figure 3's layout: one row per model, one column per target (stage1..4, head), each map rendered as
    log10(x + 1) / max; the sides of the centred squares holding t of the mass are drawn and printed.

    maps: {row: {target: (H, W) array}} (segformer_lab.erf.load_maps); labels: {row: display name}."""
    plt = _plt()
    from matplotlib.patches import Rectangle

    from .erf import area_ratios, normalise_for_display
    rows = list(maps)
    targets = list(maps[rows[0]])
    fig, axes = plt.subplots(len(rows), len(targets), figsize=(2.3 * len(targets), 2.5 * len(rows)), squeeze=False)
    styles = ("w--", "w:")
    for i, row in enumerate(rows):
        for j, target in enumerate(targets):
            erf, ax = maps[row][target], axes[i, j]
            h, w = erf.shape
            ax.imshow(normalise_for_display(erf), cmap="viridis", vmin=0, vmax=1)
            ratios = area_ratios(erf, thresholds)
            for t, style in zip(thresholds, styles):
                side = ratios[t][0] * h
                ax.add_patch(Rectangle((w // 2 - side / 2, h // 2 - side / 2), side, side, fill=False,
                                       edgecolor="white", linestyle=style[1:], linewidth=1))
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_xlabel("  ".join(f"t={t}: {ratios[t][0]:.2f}" for t in thresholds), fontsize=7)
            if i == 0:
                ax.set_title(target)
        axes[i, 0].set_ylabel(textwrap.fill((labels or {}).get(row, row), 20))  # long names on two lines
    fig.tight_layout()
    return fig


def resolution_curve(curves):
    """mIoU at each test size, as a share of the mIoU at the protocol's own size, one line per model: the Mix-FFN
    resolution study on released models. curves: segformer_lab.released.resolution_curves()."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    for name, group in curves.groupby("name", sort=False):
        ax.plot(group["resolution"], 100 * group["relative"], marker="o", label=name)
    ax.axhline(100, color="grey", linewidth=0.8, linestyle=":")
    ax.axvline(1.0, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(curves["resolution"].unique()))
    ax.set_xticklabels([f"{r:g}x" for r in sorted(curves["resolution"].unique())])
    ax.set_xlabel("test size / the protocol's size")
    ax.set_ylabel("mIoU, % of that at the protocol's size")
    ax.legend(fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)  # below the axes
    fig.tight_layout()
    return fig

def cost_vs_size(costs):
    """Efficient-attention cost against input side, one colour per reduction setting: attention GMACs measured
    (markers) and analytic (dashed), total GMACs, and peak memory and latency where measured, with the fused
    attention kernel (solid) and with explicit attention (dashed, columns *_explicit_*); log scales."""
    plt = _plt()
    import seaborn as sns
    variants = list(dict.fromkeys(costs["variant"]))
    colours = dict(zip(variants, sns.color_palette(n_colors=len(variants))))
    panels = [("attention_gmacs_measured", "attention GMACs"), ("total_gmacs", "total GMACs"),
              ("peak_mem_mb", "peak memory (MiB)"), ("latency_ms", "latency (ms)")]
    panels = [(c, label) for c, label in panels if c in costs and costs[c].notna().any()]  # smoke: no timings
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (column, label) in zip(axes[0], panels):
        for variant in variants:
            rows = costs[costs["variant"] == variant].dropna(subset=[column]).sort_values("size")
            ax.plot(rows["size"], rows[column], "o-", color=colours[variant], label=variant)
            second = {"attention_gmacs_measured": "attention_gmacs_analytic", "peak_mem_mb": "peak_mem_explicit_mb",
                      "latency_ms": "latency_explicit_ms"}.get(column)
            if second in rows:
                ax.plot(rows["size"], rows[second], "--", color=colours[variant], alpha=0.6)
        ax.set(xscale="log", yscale="log", xlabel="input side (px)", ylabel=label)
        ax.set_xticks(sorted(costs["size"].unique()), [str(s) for s in sorted(costs["size"].unique())])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, title="sr_ratios (dashed: analytic)", title_fontsize=8)
    if len(axes[0]) > 2:
        axes[0, 2].set_title("solid: fused kernel, dashed: explicit", fontsize=8)
    fig.tight_layout()
    return fig


def metric_vs_cost(frame, x: str = "gflops", y: str = "miou", hue: str = "variant", style: str | None = None):
    """One marker per run (seed) of a metric against a cost column, and the mean per group as a large marker."""
    plt = _plt()
    import seaborn as sns
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    order = list(dict.fromkeys(frame[hue]))
    sns.scatterplot(data=frame, x=x, y=y, hue=hue, hue_order=order, style=style, alpha=0.45, ax=ax, legend=False)
    keys = [hue] + ([style] if style else [])
    means = frame.groupby(keys, sort=False)[[x, y]].mean().reset_index()
    sns.scatterplot(data=means, x=x, y=y, hue=hue, hue_order=order, style=style, s=120, ax=ax)
    ax.set_ylabel(f"{y} (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def grouped_bars(frame, x: str, hue: str, metrics=("miou", "thing_miou")):
    """Bars of each metric by `x` and `hue` (mean over seeds, black ticks at each seed), one panel per metric."""
    plt = _plt()
    import seaborn as sns
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 3.8), squeeze=False)
    order, hue_order = list(dict.fromkeys(frame[x])), list(dict.fromkeys(frame[hue]))
    for ax, metric in zip(axes[0], metrics):
        sns.barplot(data=frame, x=x, y=metric, hue=hue, order=order, hue_order=hue_order, errorbar=None,
                    alpha=0.8, ax=ax)
        sns.stripplot(data=frame, x=x, y=metric, hue=hue, order=order, hue_order=hue_order, dodge=True,
                      palette="dark:black", size=3, ax=ax, legend=False)
        ax.set_ylabel(f"{metric} (%)")
        ax.tick_params(axis="x", labelrotation=15)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, title=hue, title_fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def context_reach(frame, encoders: dict | None = None):
    """Two panels against the context distance d: the forced-choice accuracy between the token classes of each
    encoder (the context accuracy where that is not measured; mean line, a dot per seed; 0.5 is a coin flip)
    with a dashed line at the radius holding half of its head's ERF mass, and the share of that ERF's mass
    within d. `frame`: context_distance rows; `encoders`: {variant prefix: label}."""
    plt = _plt()
    encoders = encoders or {p: p for p in dict.fromkeys(v.rsplit("_d", 1)[0] for v in frame["variant"])}
    # the forced choice between the token classes where measured, else the older context accuracy
    forced = "context_choice_accuracy" in frame and frame["context_choice_accuracy"].notna().any()
    accuracy = "context_choice_accuracy" if forced else "context_accuracy"
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for (prefix, label), colour in zip(encoders.items(), colours):
        rows = frame[frame["variant"].str.rsplit("_d", n=1).str[0] == prefix]
        if rows.empty:
            continue
        for ax, column in zip(axes, (accuracy, "erf_head_within_d")):
            means = rows.groupby("context_distance")[column].mean()
            ax.plot(means.index, means.values, "-o", color=colour, label=label)
            ax.scatter(rows["context_distance"], rows[column], color="black", s=8, zorder=3)
        axes[0].axvline(rows["erf_head_r50"].mean(), color=colour, ls="--", lw=1)
    axes[0].axhline(0.5, color="grey", lw=1, ls=":")
    axes[0].set_ylabel("forced-choice accuracy (token a vs b)" if forced else "context accuracy (right token class)")
    axes[1].set_ylabel("head ERF mass within d")
    for ax in axes:
        ax.set_xlabel("context distance d (px at the training scale)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower left")
    axes[0].set_title("dashed: radius holding half of the head's ERF mass", fontsize=9)
    fig.tight_layout()
    return fig


def gap_vs_budget(table):
    """The gap (e.g. MiT-B1 minus ResNet-18 mIoU) at each budget point of `analysis.budget_table`, with its seed
    spread as an error bar; iterations on a log axis, points at another crop size marked apart."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for crop, rows in table.groupby("crop_size"):
        rows = rows.sort_values("iterations")
        ax.errorbar(rows["iterations"], rows["gap"], yerr=rows["spread"] / 2, fmt="-o" if len(rows) > 1 else "s",
                    capsize=3, label=f"{crop} px crops")
    ax.axhline(0.0, color="grey", lw=1, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("training iterations")
    ax.set_ylabel("gap (mIoU points)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def severity_curves(rows, variants: dict | None = None, y: str = "relative"):
    """Table 5 by severity: one panel per corruption group, `y` (e.g. "relative" = corrupted / clean mIoU, or
    "corrupted_miou") against severity, the mean over the group's corruptions and seeds as a line per variant,
    with the min-max over seeds as a band. `rows`: `analysis.corrupted_rows`; `variants`: {variant: label}."""
    plt = _plt()
    variants = variants or {v: v for v in dict.fromkeys(rows["variant"])}
    groups = list(dict.fromkeys(rows["group"]))
    fig, axes = plt.subplots(1, len(groups), figsize=(3.4 * len(groups), 3.6), squeeze=False, sharey=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, group in zip(axes[0], groups):
        for (variant, label), colour in zip(variants.items(), colours):
            sel = rows[(rows["group"] == group) & (rows["variant"] == variant)]
            if sel.empty:
                continue
            per_seed = sel.groupby(["severity", "seed"])[y].mean().unstack("seed")  # severity x seed
            ax.plot(per_seed.index, per_seed.mean(axis=1), "-o", color=colour, label=label, ms=4)
            ax.fill_between(per_seed.index, per_seed.min(axis=1), per_seed.max(axis=1), color=colour, alpha=0.2)
        ax.set_title(group)
        ax.set_xlabel("severity")
        ax.set_xticks(sorted(rows.loc[rows["group"] == group, "severity"].unique()))
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel({"relative": "corrupted / clean mIoU"}.get(y, y))
    axes[0, -1].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def corruption_examples(images: dict, names, severities, dpi: int = 100):
    """One mosaic of corrupted images at their native pixel size: a row per corruption in `names`, a column per
    severity; `images`: {(name, severity): uint8 (H, W, 3)}, with ("clean", 0) shown first in every row if
    present. (One image rather than a grid of axes keeps the saved figure small.)"""
    plt = _plt()
    columns = ([0] if ("clean", 0) in images else []) + list(severities)
    h, w = next(iter(images.values())).shape[:2]
    gap = 4
    mosaic = np.full((len(names) * (h + gap) - gap, len(columns) * (w + gap) - gap, 3), 255, np.uint8)
    for i, name in enumerate(names):
        for j, severity in enumerate(columns):
            tile = images[("clean", 0)] if severity == 0 else images[(name, severity)]
            mosaic[i * (h + gap):i * (h + gap) + h, j * (w + gap):j * (w + gap) + w] = tile
    fig = plt.figure(figsize=(mosaic.shape[1] / dpi + 1.3, mosaic.shape[0] / dpi + 0.4), dpi=dpi)
    ax = fig.add_axes((1.2 / (mosaic.shape[1] / dpi + 1.3), 0.0, mosaic.shape[1] / dpi / (mosaic.shape[1] / dpi + 1.3),
                       mosaic.shape[0] / dpi / (mosaic.shape[0] / dpi + 0.4)))
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_xticks([j * (w + gap) + w / 2 for j in range(len(columns))],
                  ["clean" if v == 0 else f"severity {v}" for v in columns], fontsize=8)
    ax.xaxis.tick_top()
    ax.set_yticks([i * (h + gap) + h / 2 for i in range(len(names))], [n.replace("_", " ") for n in names], fontsize=8)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return fig


def explore_figure(scene, prediction: np.ndarray, erf: np.ndarray, attention: np.ndarray, pixel, title: str = ""):
    """Six panels of one scene: image, ground truth, prediction, errors (wrong pixels in red), the chosen pixel's
    ERF (log scale) and one head's attention at the token holding the pixel (resized to the image). `scene`:
    explore.Scene; `attention`: (h_kv, w_kv) weights; `pixel`: (y, x), marked with a cross."""
    plt = _plt()
    h, w = scene.mask.shape
    fig, axes = plt.subplots(2, 3, figsize=(11, 2 * 3.6 * h / w + 1.4), squeeze=False)
    errors = np.where((prediction != scene.mask)[..., None], np.array([220, 30, 30], np.uint8), scene.image // 3)
    panels = [(scene.image, "image"), (colorize(scene.mask, scene.palette), "ground truth"),
              (colorize(prediction, scene.palette), "prediction"),
              (errors, f"errors ({(prediction != scene.mask).mean():.1%} of pixels)"),
              (np.log10(erf + 1) / max(np.log10(erf + 1).max(), 1e-12), "the pixel's ERF (log scale)"),
              (attention, "attention of the pixel's token")]
    for ax, (data, label) in zip(axes.ravel(), panels):
        if data.ndim == 2 and data is attention:
            ax.imshow(data, cmap="magma", extent=(0, w, h, 0), interpolation="nearest")
        elif data.ndim == 2:
            ax.imshow(data, cmap="magma")
        else:
            ax.imshow(data, interpolation="nearest")
        ax.plot(pixel[1], pixel[0], "c+", ms=12, mew=2)
        ax.set_title(label, fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def loss_curves(curves, window: int = 5):
    """Training loss against iteration, one line per variant (mean over seeds, a running mean over `window`
    logged points) with the min-max over seeds as a band. `curves`: rows (variant, seed, iteration, loss)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for variant, rows in curves.groupby("variant", sort=False):
        table = rows.pivot_table(index="iteration", columns="seed", values="loss")  # iteration x seed
        smooth = table.rolling(window, min_periods=1).mean()
        line, = ax.plot(smooth.index, smooth.mean(axis=1), label=variant)
        ax.fill_between(smooth.index, smooth.min(axis=1), smooth.max(axis=1), color=line.get_color(), alpha=0.2)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig

"""Figures from results: sample scenes, learning curves, per-class IoU. Nothing runs at import time.

Every function takes data (arrays, DataFrames, run directories) and returns a matplotlib Figure; saving is
the caller's choice (`save(fig, path)`).
"""
from __future__ import annotations

import json
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
    fig, axes = plt.subplots(2, n, figsize=(2.2 * n, 4.8), squeeze=False)
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
    fig.tight_layout()
    return fig


def save(fig, path) -> Path:
    """Save a figure (PNG at 120 dpi) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    _plt().close(fig)
    return path

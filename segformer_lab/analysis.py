"""Helpers shared by the ablations' claims (each declared in its file in experiments/): reading results and the
paper's numbers, per-seed values, summaries with seed ranges. The comparisons themselves are
segformer_lab.verdicts.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .repo import repo_root
from .results import read_table

HEADLINE = ("miou", "thing_miou")  # the headline metrics of every ablation


def per_seed(frame: pd.DataFrame, variant: str, column: str) -> pd.Series:
    """Per-seed values of `column` for `variant`, indexed by seed (so that two variants pair by seed)."""
    rows = frame[frame["variant"] == variant].sort_values("seed")
    if rows.empty:
        raise ValueError(f"no rows for variant {variant!r}; variants present: {sorted(frame['variant'].unique())}")
    return pd.Series(rows[column].astype(float).to_numpy(), index=rows["seed"].astype(int).to_numpy(), name=variant)


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


def read_paper(results_dir=None) -> pd.DataFrame:
    """The paper's numbers, results/paper_reference.csv of the repository (or of `results_dir`), as a DataFrame."""
    return pd.read_csv(Path(paper_dir() if results_dir is None else results_dir) / "paper_reference.csv")


def paper_dir() -> Path:
    """The folder of paper_reference.csv: the repository's results/."""
    return repo_root() / "results"


PRESET_ORDER = ("gpu", "default", "quick", "smoke")  # the largest budget present is reported


def read_results(results_dir, experiment: str, preset: str | None = None) -> tuple[pd.DataFrame, str]:
    """The rows of `<results_dir>/<experiment>.csv` of one preset (the given one, else the largest present)."""
    path = Path(results_dir) / f"{experiment}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no results yet (segformer-lab run {experiment} --results {results_dir})")
    frame = read_table(path)
    present = [p for p in PRESET_ORDER if p in set(frame["preset"])]
    if preset is None:
        if not present:
            raise ValueError(f"{path}: no rows with a known preset {PRESET_ORDER}")
        preset = present[0]
    return frame[frame["preset"] == preset].reset_index(drop=True), preset


def companion_rows(results_dir, experiment: str, preset: str) -> pd.DataFrame | None:
    """The rows of another experiment's CSV at `preset`, or None when it has none (not run at that preset)."""
    try:
        frame, _ = read_results(results_dir, experiment, preset)
    except FileNotFoundError:
        return None
    return frame if len(frame) else None

"""Every figure of the report and the notebooks, by name, drawn from a results folder.

Each ablation declares its figures beside its claims (`Ablation.figures`: {view: function}); a figure's name is
"<ablation>" for its key figure and "<ablation>.<view>" for the others. A figure function takes
`(results_dir, preset)` and returns a Figure, or None when the results hold nothing to draw (e.g. a companion
sweep not run at that preset). `draw(name, results_dir)` calls one; the report saves the key figures, the
notebooks show them all, and the tests render each from the committed results. The rows a figure draws come from
`rows`, `paper` and `companion` here, its look from `segformer_lab.plotting`, its words from `segformer_lab.names`.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import analysis
from .repo import ablations


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


def figure_names() -> list:
    """Every figure's name: "<ablation>" for its key figure, "<ablation>.<view>" for the others, in report order."""
    return [f"{a.name}.{view}" if view else a.name for a in ablations() for view in a.figures]


def draw(figure: str, results_dir="results", preset: str | None = None):
    """The named figure from `results_dir` (the reported preset unless `preset`), or None if there is nothing to
    draw; an unknown name raises KeyError listing the names."""
    experiment, _, view = figure.partition(".")
    declared = {a.name: a for a in ablations()}
    if experiment not in declared or view not in declared[experiment].figures:
        raise KeyError(f"no figure {figure!r}; figures: {', '.join(figure_names())}")
    return declared[experiment].figures[view](Path(results_dir), preset)

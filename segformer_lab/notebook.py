"""What every notebook does first: choose the results to read, and say the ablation's computed verdict.

`results_folder()` is the notebooks' results selector: `$SEGFORMER_LAB_RESULTS` when set (the report's
`--notebooks` sets it), else the newest results folder with CSVs among the README's quick results
(`results/quick/`), any other folder under `results/`, and the committed results (`results/`).
`verdict(experiment, results)` computes the ablation's section and shows its verdict and claims as Markdown,
`conditions(section)` its validity conditions; `figure(name, results)` draws one of `figures.figure_names()` or says why there is nothing to
draw; `table(frame)` shows a table with display names and two decimals; `notes(section)` lists its computed notes.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

from .repo import ablations, repo_root


def candidates(root: Path | None = None) -> list[Path]:
    """Results folders with at least one CSV: the committed `results/` and each folder under it, newest first
    (by their newest CSV)."""
    base = (root or repo_root()) / "results"
    folders = [base] + sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    dated = [(max(f.stat().st_mtime for f in d.glob("*.csv")), d) for d in folders if any(d.glob("*.csv"))]
    return [d for _, d in sorted(dated, key=lambda x: -x[0])]


def results_folder(root: Path | None = None) -> Path:
    """$SEGFORMER_LAB_RESULTS, else the README's quick results (`results/quick/`) if they exist, else the newest
    results folder under `results/` with CSVs, else the committed `results/`; relative to the working directory
    where it can be (no machine's path in a saved notebook). Prints which, and the others to choose from. Loads
    the ablations of experiments/ too, so that their display names are known to every table and figure."""
    ablations()
    chosen = os.environ.get("SEGFORMER_LAB_RESULTS")
    base = (root or repo_root()) / "results"
    found = [d for d in candidates(root) if d.name not in ("released", "gpu")]
    if chosen:
        chosen, why = Path(chosen), "$SEGFORMER_LAB_RESULTS"
    elif base / "quick" in found:
        chosen, why = base / "quick", "your quick results (the README's first command)"
    else:
        chosen = found[0] if found else base
        why = "the committed results" if chosen.resolve() == base.resolve() else "the newest results"
    shown = _relative(chosen)
    # Chosen by the environment (as the report's --notebooks does): no list that depends on the machine's folders.
    others = [] if why.startswith("$") else [str(_relative(d)) for d in found if d.resolve() != chosen.resolve()]
    print(f"Reading {shown}: {why}." + (f" Others: {', '.join(others)} (set RESULTS to one of them)."
                                        if others else ""))
    return shown


def _relative(path: Path) -> Path:
    try:
        return Path(os.path.relpath(Path(path).resolve(), Path.cwd()))
    except ValueError:  # another drive
        return Path(path)


def verdict(experiment: str, results) -> "segformer_lab.report.Section":  # noqa: F821
    """The ablation's computed section (no figures saved); its verdict and claims displayed as Markdown (the
    validity conditions and the comparisons beside the paper's claims: `conditions`)."""
    from IPython.display import Markdown, display

    from .report import claim_lines, section
    from .verdicts import FACT, RULE
    s = section(Path(results), experiment, figures=False)
    if s.problem:
        display(Markdown(f"**No verdict:** {s.problem}"))
        return s
    lines = [f"**Verdict: {s.verdict}.** ({Path(results) / (experiment + '.csv')}: {s.preset} preset, {s.runs} of "
             f"{s.planned} planned runs)", ""]
    lines += claim_lines([c for c in s.claims if c.role != FACT])
    lines += ["", f"*How a claim is judged: {RULE}*"]
    if s.preset in ("quick", "smoke"):
        lines += ["", f"*The {s.preset} preset shows that everything runs and draws every figure; its runs are too "
                      "short for the verdict to test the paper's claim (the committed default results do).*"]
    display(Markdown("\n".join(lines)))
    return s


def conditions(s) -> None:
    """The section's validity conditions, and the comparisons beside the paper's claims, as Markdown lists."""
    from IPython.display import Markdown, display

    from .report import stamped
    lines = []
    if s.validity:
        lines += ["Validity (a claim tests the paper's mechanism only where its conditions are supported):", ""]
        lines += [f"- {stamped(c)}" for c in s.validity]
    if s.facts:
        lines += ["", "Facts of arithmetic or construction (shown, never counted as evidence):", ""]
        lines += [f"- {stamped(c)}" for c in s.facts]
    if s.context:
        lines += ["", "Beside the paper's claims (not in the verdict):", ""]
        lines += [f"- {stamped(c)}" for c in s.context]
    display(Markdown("\n".join(lines) or "*No validity conditions: every claim is a test as it stands.*"))


def figure(name: str, results, preset: str | None = None):
    """`figures.draw(name, results, preset)`, or a line saying there is nothing to draw (and None)."""
    from IPython.display import Markdown, display

    from .figures import draw
    fig = draw(name, results, preset)
    if fig is None:
        display(Markdown(f"*No rows for the figure `{name}` in {results}"
                         + (f" at the {preset} preset" if preset else "") + ".*"))
    return fig


def table(frame, precision: int = 2):
    """A table for reading: ids in the index and columns shown by their display names, numbers to `precision`
    decimals."""
    from .names import name
    text = [name(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    # Text left, numbers right; an id from the content (each table its own styles, and the saved HTML stays the
    # same from run to run).
    uuid = hashlib.sha1(frame.to_csv().encode()).hexdigest()[:8]
    styler = frame.rename(index=name, columns=name).style.format(precision=precision).set_uuid(uuid)
    styler.set_table_styles([{"selector": "th.row_heading", "props": "text-align: left"}])
    if text and frame.index.is_unique and frame.columns.is_unique:  # Styler styles only unique cells
        styler.set_properties(subset=text, **{"text-align": "left"})
    return styler


def notes(s) -> None:
    """The section's computed notes as a Markdown list."""
    from IPython.display import Markdown, display
    display(Markdown("\n".join(f"- {n}" for n in s.notes) or "*No notes.*"))

"""The results report: a verdict table and the key figure of each ablation, generated from the CSVs.

`build_report(results_dir)` reads `<results_dir>/<experiment>.csv` (and the ERF arrays and cost sweep), computes
each ablation's claims and verdict (the `claims` its file in experiments/ declares), saves the key figures under
`<results_dir>/figures/` and writes `<results_dir>/report.md`. An ablation whose CSV is missing or holds fewer
runs than its preset plans is reported as such, with the claims computed on what is there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import analysis, plotting
from .analysis import read_results
from . import repo
from .repo import ablation, ablations, load_experiment, repo_root
from .figures import draw
from .runner import planned_runs, run_id
from .declared import Deviation, declared, first_seen
from .verdicts import (CONTRADICTED, FACT, INCONCLUSIVE, NOT_JUDGED, NOT_MEASURED, NOT_TESTED, RULE, SUPPORTED,
                       counted, family_outcome, validity, verdict)
from .results import check_run_ids, checked_lines, read_table

@dataclass
class Section:
    """One ablation's computed outcome."""

    experiment: str
    preset: str = ""
    runs: int = 0
    planned: int = 0
    claims: list = field(default_factory=list)
    context: list = field(default_factory=list)  # comparisons beside the paper's claims, not in the verdict
    frame: pd.DataFrame | None = None  # the CSV rows of the reported preset
    table: pd.DataFrame | None = None  # ours (a `summarise` frame, or plain values)
    paper: pd.DataFrame | None = None  # the paper's numbers beside ours
    notes: list = field(default_factory=list)  # computed diagnostics, one sentence each
    figure: str = ""  # path relative to the results folder
    problem: str = ""  # why no verdict could be computed
    other_reach: dict = field(default_factory=dict)  # claim text -> outcome under the other reach definition
    deviations: list = field(default_factory=list)  # the changes made after rows it judges existed (Deviation)

    @property
    def validity(self) -> list:
        """The validity conditions of the claims (the verdict's, then the context's), each a Claim."""
        return validity(self.claims + self.context)

    @property
    def verdict(self) -> str:
        if self.problem or not self.claims:
            return "not available"
        label = verdict(self.claims)
        units = [o for _, o, _ in counted(self.claims)]
        untested = sum(o in (NOT_TESTED, NOT_MEASURED) for o in units)
        unjudged = sum(o == NOT_JUDGED for o in units)
        if label == NOT_TESTED:
            failed = [r.text for r in validity(self.claims) if r.outcome not in (SUPPORTED, "holds")]
            label += (f" ({'; '.join(failed)}: not supported)" if failed
                      else " (its claims not measured at this preset)")
        elif untested and label != NOT_JUDGED:
            label += f" ({untested} of {len(units)} claims not tested)"
        if unjudged and label != NOT_JUDGED:
            label += f" ({unjudged} of {len(units)} claims not judged: fewer than 2 seeds)"
        if self.runs < self.planned:
            label += f" (incomplete: {self.runs}/{self.planned} runs)"
        return label

    @property
    def facts(self) -> list:
        """The facts of arithmetic or construction among the claims (shown, never counted)."""
        return [c for c in self.claims if c.role == FACT]


def ablation_names() -> list:
    """The ablations of experiments/, in report order."""
    return [a.name for a in ablations()]


def title(experiment: str) -> str:
    """An ablation's heading in the report."""
    return ablation(experiment).title


def caption(experiment: str) -> str:
    """What an ablation's table holds, where it is not "mean over seeds (seed range)" alone."""
    return ablation(experiment).caption or "seed range in brackets"


def planned_count(experiment: str, preset: str, present=()) -> int:
    """How many runs the experiment's preset plans, counting too those of `present` (run ids) that are declared
    variants the preset no longer trains (kept rows); 0 when experiments/ is not at hand."""
    declared = current_ids(experiment, preset)
    if declared is None:
        return 0
    return len({run_id(cfg) for _, _, cfg in planned_runs(load_experiment(experiment), preset)}
               | (declared & set(present)))


def current_ids(experiment: str, preset: str) -> set | None:
    """The run ids of every variant the experiment declares, at the preset's present settings; None when
    experiments/ is not at hand."""
    if not (repo.experiments_dir() / f"{experiment}.py").is_file():
        return None
    return {run_id(cfg) for _, _, cfg in planned_runs(load_experiment(experiment), preset, declared=True)}


def section(results_dir, experiment: str, preset: str | None = None, figures: bool = True,
            formats=("png",), current_only: bool = False) -> Section:
    """Claims, tables and (with figures=True) the key figure of one ablation, saved in each of `formats`; with
    current_only, of the rows of runs the preset plans as it now stands (not those of an earlier version of it)."""
    results_dir = Path(results_dir)
    out = Section(experiment)
    try:
        out.frame, out.preset = read_results(results_dir, experiment, preset)
        ids = current_ids(experiment, out.preset) if current_only else None
        if ids is not None:
            out.frame = out.frame[out.frame["run_id"].isin(ids)].reset_index(drop=True)
        out.runs = out.frame["run_id"].nunique()
        out.planned = planned_count(experiment, out.preset, out.frame["run_id"])
        declaration = ablation(experiment)  # `declared` is the function dating a claim's declaration
        declaration.claims(out, results_dir, analysis.read_paper())
        out.deviations = list(declaration.deviations)
        fig = draw(experiment, results_dir, out.preset) if figures else None
        if fig is not None:
            paths = [results_dir / "figures" / f"{experiment}.{suffix}" for suffix in formats]
            out.figure = plotting.save(fig, *paths).relative_to(results_dir).as_posix()  # the report shows the first
    except FileNotFoundError as e:  # a results file not written yet: the message says which and by what
        text = error_text(e)
        out.problem = text if "no results yet" in text else f"no results yet: {text}"
    except (ValueError, KeyError) as e:  # rows that do not make this ablation's comparisons
        out.problem = error_text(e)
    return out


def error_text(e: BaseException) -> str:
    """A problem in words: the message of `e` on one line, without the quotes a KeyError's str() adds."""
    text = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    return " ".join(str(text).split())


def check_results(results_dir: Path) -> None:
    """Check every CSV of `results_dir` and its gpu/ folder before a report is written (`results.checked_lines`):
    the first defect raises ResultsError naming the file, line and column, and no report.md is written; so do two
    rows with one run id (and rerun number) and different mIoU (`results.check_run_ids`)."""
    for path in sorted(results_dir.glob("*.csv")) + sorted((results_dir / "gpu").glob("*.csv")):
        checked_lines(path)
    for folder in (results_dir, results_dir / "gpu"):
        check_run_ids(folder)  # one run id and rerun number, one result


def _markdown_table(table: pd.DataFrame) -> str:
    if _has_ranges(table):
        table = analysis.compact(table)  # "mean (seed range)"
    return table.to_markdown(floatfmt=".2f")


def _has_ranges(table: pd.DataFrame) -> bool:
    return any(str(c).endswith("_range") for c in table.columns) and "seeds" in table.columns


FORMATS = ("png", "pdf", "svg")


def build_report(results_dir="results", preset: str | None = None, formats=("png",)) -> Path:
    """Compute every ablation's section, save the key figures (in each of `formats`, a subset of FORMATS) and
    write `<results_dir>/report.md`."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ValueError(f"figure format(s) {', '.join(unknown) or '(none)'}; expected some of {', '.join(FORMATS)}")
    results_dir = Path(results_dir)
    check_results(results_dir)
    sections = [section(results_dir, name, preset, formats=tuple(formats)) for name in ablation_names()]
    lines = ["# Ablation report", ""] + purpose_lines({s.preset for s in sections}) + [
             f"Generated by `segformer-lab report {results_dir}` from the CSVs in this folder. {RULE} See "
             "`experiments/<experiment>.py` for each ablation's claims, validity conditions and margins; "
             "each line gives the date and commit at which it was declared (from git history).", "",
             "A fragile count is of claims whose outcome changes under the earlier, unpaired rule or the other "
             "definition of an encoder's reach ([sensitivity](#sensitivity)).", "",
             "| " + " | ".join(["ablation", "preset", "runs", "verdict", *OUTCOME_COLUMNS, "fragile"]) + " |",
             "|---" * (5 + len(OUTCOME_COLUMNS)) + "|"]
    for s in sections:
        counts = outcome_counts(s.claims)
        fragile = sum(r["fragile"] for r in sensitivity_rows(s))
        lines.append(f"| {title(s.experiment)} | {s.preset or '-'} | {s.runs}/{s.planned or '?'} | {s.verdict} | "
                     + " | ".join(map(str, counts)) + f" | {fragile} |")
    for s in sections:
        lines += ["", f"## {title(s.experiment)}", ""]
        if s.problem:
            lines += [f"Not available: {s.problem}"]
            continue
        lines += [f"**Verdict: {s.verdict}.**", ""] + claim_lines([c for c in s.claims if c.role != FACT])
        if s.validity:
            lines += ["", "Validity (the conditions under which a claim tests the paper's mechanism; never counted):", ""]
            lines += [f"- {stamped(c)}" for c in s.validity]
        if s.facts:
            lines += ["", "Facts of arithmetic or construction (shown with their numbers, never counted as evidence):",
                      ""] + [f"- {stamped(c)}" for c in s.facts]
        if s.context:
            lines += ["", "Beside the paper's claims:", ""] + [f"- {stamped(c)}" for c in s.context]
        lines += [line for note in s.notes for line in ("", note)]
        if s.table is not None:
            lines += ["", f"Ours (mean over seeds; {caption(s.experiment)}):", "", _markdown_table(s.table)]
        if s.paper is not None:
            lines += ["", "Beside the paper's numbers (results/paper_reference.csv):", "", _markdown_table(s.paper)]
        if s.figure:
            lines += ["", f"![{s.experiment}]({s.figure})"]
    lines += gpu_lines(results_dir)
    lines += changed_lines(sections) + sensitivity_lines(sections)
    out = results_dir / "report.md"
    out.write_text("\n".join(lines) + "\n")
    return out


# The verdict table's counts of the paper's claims (a family counted once; conditions and facts never).
OUTCOME_COLUMNS = {SUPPORTED: (SUPPORTED,), CONTRADICTED: (CONTRADICTED,), INCONCLUSIVE: (INCONCLUSIVE,),
                   NOT_TESTED: (NOT_TESTED, NOT_MEASURED), NOT_JUDGED: (NOT_JUDGED,)}


def outcome_counts(claims) -> list[int]:
    """How many of the counted claims (`verdicts.counted`) fall under each of OUTCOME_COLUMNS, in its order."""
    units = [o for _, o, _ in counted(claims)]
    return [sum(o in outcomes for o in units) for outcomes in OUTCOME_COLUMNS.values()]


def findings_lines(results_dir="results") -> list[str]:
    """The README's findings table, computed: per ablation its verdict, the counted claims under each outcome and
    the headline comparison (its first counted claim) with its paired interval, and its notebook."""
    results_dir = Path(results_dir)
    lines = ["| ablation | headline comparison | its paired difference | supported | contradicted | inconclusive | "
             "not tested | not judged | verdict | notebook |", "|---" * 10 + "|"]
    for name in ablation_names():
        s = section(results_dir, name, figures=False)
        units = counted(s.claims)
        head = units[0][2][0] if units else None
        numbers = f"{head.numbers().replace(f' ({head.margin_reason})', '')}: {head.outcome}" if head else "-"
        label = verdict(s.claims) if s.claims and not s.problem else "not available"
        label += f" ({s.runs}/{s.planned} runs)" if s.planned and s.runs < s.planned else ""
        book = next(iter(sorted((repo_root() / "notebooks").glob(f"[0-9][0-9]_{name}.ipynb"))), None)
        link = f"[{book.stem}](notebooks/{book.name})" if book else "-"
        lines.append(f"| {title(name)} | {units[0][0] if units else '-'} | {numbers} | "
                     + " | ".join(map(str, outcome_counts(s.claims))) + f" | **{label}** | {link} |")
    return lines


def findings_summary(results_dir="results") -> str:
    """The README's one sentence of counts over the nine ablations' counted claims."""
    totals = [0] * len(OUTCOME_COLUMNS)
    for name in ablation_names():
        for i, n in enumerate(outcome_counts(section(Path(results_dir), name, figures=False).claims)):
            totals[i] += n
    return (f"Of the {sum(totals)} paper claims the report counts (Table 5's claims against each CNN as one family), "
            + ", ".join(f"{n} {o}" for n, o in zip(totals, OUTCOME_COLUMNS) if n) + ".")


def stamped(c) -> str:
    """A claim's sentence with the date and commit of its declaration (`declared.declared` of its `since`)."""
    when = declared(c.since)
    return c.sentence() + (f" (declared {when})" if when else " (declaration not in the git history)")


def claim_lines(claims) -> list[str]:
    """One line per claim; a family as one line with its outcome and its members below it."""
    lines = []
    for text, outcome, members in counted(claims):
        if members[0].family:
            lines.append(f"- {text}: one family of {len(members)} claims, each judged with Holm's correction "
                         f"across it: {outcome}")
            lines += [f"  - {stamped(c)}" for c in members]
        else:
            lines.append(f"- {stamped(members[0])}")
    return lines


def sensitivity_rows(s: Section) -> list[dict]:
    """Per counted claim of a section: its outcome under the declared rule, under the earlier unpaired rule and
    under the other definition of an encoder's reach (where the section has one), and whether any differs."""
    rows = []
    for text, outcome, members in counted(s.claims):
        unpaired = family_outcome([_Unpaired(c) for c in members]) if members[0].family else members[0].unpaired_outcome()
        other = s.other_reach.get(text, outcome) if s.other_reach and not members[0].family else "-"
        rows.append({"claim": text, "declared rule": outcome, "unpaired rule": unpaired, "other reach": other,
                     "fragile": outcome != NOT_JUDGED and (unpaired != outcome or other not in ("-", outcome))})
    return rows


class _Unpaired:
    """A claim seen through the earlier rule (for a family's outcome under it)."""

    def __init__(self, c):
        self.outcome = c.unpaired_outcome()


def sensitivity_lines(sections) -> list[str]:
    """The report's sensitivity section: every counted claim's outcome under the declared rule and the others."""
    rows = [{"ablation": title(s.experiment), **r} for s in sections if not s.problem for r in sensitivity_rows(s)]
    if not rows:
        return []
    table = pd.DataFrame(rows)
    table["fragile"] = table["fragile"].map({True: "**fragile**", False: ""})
    return ["", "## Sensitivity", "",
            "Each counted claim's outcome under the declared rule (paired 95 % intervals, declared margins), under "
            "the earlier rule (the mean difference against the larger max-min seed range of the two groups, \"no "
            "worse\" as a >= b - range, every claim counted) and under the other definition of an encoder's reach "
            "in Table 1d (the square holding 99 % of the stage-4 ERF mass, against the declared half of the head's). "
            "An outcome that changes marks the claim fragile.", "", table.to_markdown(index=False)]


def first_row_date(s: Section) -> str:
    """When a section's results were first seen: the earlier of its earliest row's date (its CSV at the reported
    preset) and the first commit of its CSV (rows since replaced were seen too)."""
    dates = [first_seen(s.experiment)]
    if s.frame is not None and "date" in s.frame and s.frame["date"].notna().any():
        dates.append(str(s.frame["date"].dropna().astype(str).min()))
    dates = [d for d in dates if d]
    return min(dates, key=lambda d: pd.Timestamp(d)) if dates else ""


def changed_lines(sections) -> list[str]:
    """"Changed after the results were seen": each deviation declared (first commit of its literal) after the
    first rows it judges existed, with its reason and the outcome the earlier rule gave; then every claim,
    condition or margin of the report declared after its ablation's first rows, with no deviation recorded."""
    lines, listed = [], set()
    for s in sections:
        if s.problem:
            continue
        first = first_row_date(s)
        for d in [*GLOBAL_DEVIATIONS, *s.deviations]:
            when = declared(d.since)
            if d.since in listed:  # a rule of every ablation: listed once
                continue
            if first and (when is None or _later(when.date, first)):
                listed.add(d.since)
                lines.append(f"- {title(s.experiment) if d not in GLOBAL_DEVIATIONS else 'Every ablation'}: "
                             f"{d.what} (declared {when or 'in uncommitted code'}; first rows {first[:10]}). "
                             f"Why: {d.reason} Earlier rule: {d.earlier(s)}")
        late = [c for c in [*s.claims, *s.validity] if c.since and c.since not in listed
                and first and ((w := declared(c.since)) is None or _later(w.date, first))]
        for c in {c.since: c for c in late}.values():
            lines.append(f"- {title(s.experiment)}: \"{c.text}\" declared {declared(c.since) or 'in uncommitted code'}, "
                         f"after its ablation's first rows ({first[:10]}); no reason recorded beyond its declaration. "
                         f"Under the earlier, unpaired rule: {c.unpaired_outcome()}.")
    if not lines:
        return []
    return ["", "## Changed after the results were seen", "",
            "Each claim, condition, margin, variant or world declared (the first commit of its declaring line, from "
            "git history) after rows it judges existed, with its reason and the outcome the earlier rule gave. "
            "Nothing here is hidden from the verdicts above: they are computed under the rules as they now stand.",
            "", *lines]


def _later(a: str, b: str) -> bool:
    return pd.Timestamp(a) > pd.Timestamp(b)


GLOBAL_DEVIATIONS = [
    Deviation("RULE = (", "the judging rule itself: paired 95 % t intervals, declared margins, fewer than 2 seeds "
              "not judged, facts and conditions not counted, correlated claims one family (Holm)",
              "the earlier rule (the mean difference against the larger seed range, \"no worse\" within the range, "
              "one seed judged against a spread of 0) leant towards \"holds\": it was replaced after every "
              "committed row existed.", lambda s: "each claim's outcome under it is in the sensitivity table."),
    Deviation("RERUN_TOLERANCE = ", "a `rerun` number beside each run id (results.py): a config trained or evaluated "
              "again with other numbers gets its own, and `report` refuses two results under one id; erf.csv's "
              "models are its own trainings of Table 1d's configs, and the reach condition now says so",
              "21 run ids carried two or more different results across the CSVs (retrained after code changes with "
              "the run directories gone), and the reach condition called erf.csv's models \"the same runs\"",
              lambda s: "the same outcomes (each comparison pairs rows of one CSV); only the condition's wording "
              "changed."),
]
PURPOSES = {  # what a report of the small presets shows, said before anything else
    "smoke": "every code path runs (a few iterations per run)",
    "quick": "everything runs and draws every figure; its runs train for seconds, one seed each, so the verdicts "
             "below do not test the paper's claims (the default preset's do: `--preset default`)",
}


def purpose_lines(presets) -> list[str]:
    """A bold first paragraph for a report of the smoke or quick preset: what it shows, and what it does not."""
    small = [p for p in ("quick", "smoke") if p in presets]
    return [f"**This report is of the {p} preset: it shows that {PURPOSES[p]}.**" for p in small] + ([""] if small else [])


def _mean_range(values: pd.Series) -> str:
    return f"{values.mean():.2f} ({values.min():.2f}-{values.max():.2f})" if len(values) > 1 else f"{values.mean():.2f}"


def gpu_table(gpu_csv: Path, cpu_csv: Path) -> pd.DataFrame:
    """Per variant of a results/gpu/ CSV: its budget, seeds and mIoU (mean and seed range) on the GPU, beside the
    same variant's seeds and mIoU at the CPU default preset (from `cpu_csv`, if it has them)."""
    gpu = read_table(gpu_csv)
    cpu = read_table(cpu_csv) if cpu_csv.is_file() else pd.DataFrame(columns=["variant", "preset", "miou"])
    cpu = cpu[cpu["preset"] == "default"]
    rows = []
    gpu["budget"] = [f"{r.iterations} x {r.batch_size}" + (f" at {r.crop_size} px" if int(r.crop_size) != 128 else "")
                     for r in gpu.itertuples()]
    for (variant, budget), runs in gpu.groupby(["variant", "budget"], sort=False):  # an earlier preset's apart
        same = cpu[cpu["variant"] == variant]["miou"].astype(float)
        rows.append({"variant": variant, "device": runs["device"].iloc[0], "budget": budget,
                     "gpu seeds": len(runs), "gpu mIoU": _mean_range(runs["miou"].astype(float)),
                     "default seeds": len(same), "default mIoU": _mean_range(same) if len(same) else "-"})
    return pd.DataFrame(rows).set_index("variant")


def gpu_lines(results_dir: Path) -> list[str]:
    """The report's section on the gpu preset's runs in `<results_dir>/gpu/`, if any, beside the CPU ones."""
    files = sorted((results_dir / "gpu").glob("*.csv")) if (results_dir / "gpu").is_dir() else []
    if not files:
        return []
    lines = ["", "## On a GPU (gpu/)", "",
             "The gpu preset's runs so far (iterations x batch), beside the same variants at the CPU default preset "
             "(1000 x 8). The verdicts above are computed from the CPU runs; the gpu preset's claims join them once "
             "an experiment's gpu runs are complete. mIoU: mean (seed range)."]
    for path in files:
        if path.stem not in ablation_names():  # a benchmark's rows, not an experiment's
            continue
        lines += ["", f"### {title(path.stem)}", "", gpu_holds(path), "",
                  gpu_table(path, results_dir / path.name).to_markdown()]
        gpu = section(results_dir / "gpu", path.stem, "gpu", figures=False, current_only=True)
        if not gpu.problem and gpu.planned and gpu.runs >= gpu.planned:  # complete: its own verdict
            lines += ["", f"**Verdict on the GPU: {gpu.verdict}.**", ""] + [f"- {c.sentence()}" for c in gpu.claims]
    return lines


def gpu_holds(path: Path) -> str:
    """What a results/gpu CSV holds: its runs (variants and seeds), the GPU, the dates, and how many of the gpu
    preset's planned runs they are; runs that the gpu preset no longer plans (made under an earlier gpu preset:
    another budget, crop or loader) are named as such."""
    rows = read_table(path)
    variants = ", ".join(f"{v} ({len(r)} seed{'s' if len(r) > 1 else ''})" for v, r in rows.groupby("variant", sort=False))
    dates = sorted({str(d)[:10] for d in rows["date"]}) if "date" in rows else ["date not recorded"]
    planned = planned_count(path.stem, "gpu", rows["run_id"])
    ids = current_ids(path.stem, "gpu")
    where = f"trained on {', '.join(sorted(set(rows['device'])))} ({', '.join(dates)})"
    earlier = rows if ids is None else rows[~rows["run_id"].isin(ids)]
    if ids is None or earlier.empty:
        return (f"`gpu/{path.name}` holds {len(rows)} run(s) of the gpu preset, {planned or '?'} planned: "
                f"{variants}; {where}.")
    current = len(rows) - len(earlier)
    budgets = ", ".join(sorted({f"{r.iterations} x {r.batch_size} at {r.crop_size} px" for r in earlier.itertuples()}))
    return (f"`gpu/{path.name}` holds {len(rows)} run(s): {variants}; {where}. {current} of them are runs of the "
            f"gpu preset as it now stands ({planned} planned); {len(earlier)} {'was' if len(earlier) == 1 else 'were'} "
            f"made under an earlier gpu preset ({budgets}), kept as a record beside the CPU runs below but not counted "
            "as its runs.")



WIDGET = "application/vnd.jupyter.widget-view+json"


def _drop_widgets(book) -> None:
    """Widgets (progress bars, controls) live only beside a kernel: a saved notebook keeps neither their outputs
    nor their state, which would otherwise fill it with hundreds of kilobytes of progress-bar models."""
    book.metadata.pop("widgets", None)
    for cell in book.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if WIDGET not in o.get("data", {})]


def execute_notebooks(notebook_dir, results_dir, names=()) -> list:
    """Run every notebook of `notebook_dir` (with `names`, those whose stems are named) top to bottom against
    `results_dir` and save it with its outputs."""
    import os

    import nbformat
    from nbclient import NotebookClient
    done, saved = [], os.environ.get("SEGFORMER_LAB_RESULTS")
    # The kernels inherit it; relative to the notebooks, so that no machine's path lands in a saved output.
    os.environ["SEGFORMER_LAB_RESULTS"] = os.path.relpath(Path(results_dir).resolve(), Path(notebook_dir).resolve())
    try:
        for path in sorted(Path(notebook_dir).glob("*.ipynb")):
            if names and path.stem not in names:
                continue
            book = nbformat.read(path, as_version=4)
            NotebookClient(book, timeout=600, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
            _drop_widgets(book)
            nbformat.write(book, path)
            done.append(path)
    finally:
        if saved is None:
            os.environ.pop("SEGFORMER_LAB_RESULTS")
        else:
            os.environ["SEGFORMER_LAB_RESULTS"] = saved
    return done

"""Tidy result files: provenance columns, atomic CSV writes, and checked reads (`read_table`)."""
from __future__ import annotations

import csv
import datetime
import io
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import torch


def git_commit(cwd=None) -> str:
    """The checkout's commit hash (with '+dirty' if it has uncommitted changes), or '' outside git.
    $SEGFORMER_LAB_COMMIT, if set, names it instead: for a copy of the tree run where its git history is not."""
    if os.environ.get("SEGFORMER_LAB_COMMIT"):
        return os.environ["SEGFORMER_LAB_COMMIT"]
    cwd = cwd or Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return commit + ("+dirty" if dirty else "")


def cpu_model() -> str:
    """The CPU's model name ("model name" of /proc/cpuinfo on Linux, else what the platform says), or ""."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor()


def provenance(device: str = "cpu") -> dict:
    """Provenance columns: git commit (with "+dirty" for uncommitted changes), torch version, device (a GPU by its
    name; "auto" as it resolves), the CPU model, date (UTC, ISO 8601)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and torch.cuda.is_available():
        device = torch.cuda.get_device_name(device)
    return {"git_commit": git_commit(), "torch_version": torch.__version__, "device": device, "cpu_model": cpu_model(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def write_csv(path, rows: list, columns: list) -> Path:
    """Write `rows` (dicts) with exactly `columns`, via a temporary file and a rename (never half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for row in rows:
        extra = set(row) - set(columns)
        if extra:
            raise ValueError(f"{path}: row has columns {sorted(extra)} outside the schema {columns}")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def read_rows(path) -> list:
    """The rows of a CSV as dicts of strings ([] if the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def append_csv(path, row: dict, columns: list) -> Path:
    """Append one row to a CSV (created if missing), rewriting it atomically with `write_csv`."""
    return write_csv(path, read_rows(path) + [row], columns)


class ResultsError(ValueError):
    """A results CSV that cannot be read as the table it should be; the message names the file, line and column."""


# A run table (a CSV with run_id and preset columns): the columns it must have, those that must hold numbers (or be
# empty) where present, besides every column named *_miou, and those that tell a run's rows apart where a run has
# several (one per corruption and severity).
ROW_KEYS = ("corruption", "severity")
_WARNED = set()  # (file, line) of the cut last lines already reported
RUN_REQUIRED = ("experiment", "variant", "seed", "preset", "run_id", "miou")
RUN_NUMERIC = ("seed", "iterations", "batch_size", "crop_size", "lr", "miou", "thing_miou", "stuff_miou", "macc",
               "aacc", "params", "gflops", "train_seconds", "peak_mem_mb")


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return text.strip() == ""


def checked_lines(path) -> tuple[list, list]:
    """(header, data rows) of a CSV, checked: a readable text file with a header, every row as wide as the
    header; in a run table, the required columns, numbers where numbers belong and each run id once. A last row
    cut short (no newline at its end: what a kill during a write leaves) is dropped with a warning on stderr.
    Raises FileNotFoundError for a missing file, ResultsError naming the file, line and column of a defect."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ResultsError(f"{path}: not a text CSV (byte {e.start} is not UTF-8)") from None
    if "\x00" in text:
        raise ResultsError(f"{path}: not a text CSV (it holds NUL bytes)")
    try:
        lines = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        raise ResultsError(f"{path}: not a readable CSV ({e})") from None
    if not lines or not any(lines[0]):
        raise ResultsError(f"{path}: empty (no header line)")
    header, rows = lines[0], lines[1:]
    if len(set(header)) != len(header):
        twice = sorted({c for c in header if header.count(c) > 1})
        raise ResultsError(f"{path}, line 1: column(s) {twice} named twice")
    if rows and len(rows[-1]) != len(header) and not text.endswith("\n"):
        if (str(path), len(rows) + 1) not in _WARNED:  # once per file and line, however often it is read
            _WARNED.add((str(path), len(rows) + 1))
            print(f"segformer-lab: warning: {path}, line {len(rows) + 1}: cut short (a write stopped midway); "
                  "skipped", file=sys.stderr)
        rows = rows[:-1]
    for n, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ResultsError(f"{path}, line {n}: {len(row)} fields where the header has {len(header)}")
    if {"run_id", "preset"} <= set(header):
        missing = [c for c in RUN_REQUIRED if c not in header]
        if missing:
            raise ResultsError(f"{path}, line 1: a run table without the column(s) {missing}")
        numeric = [header.index(c) for c in header if c in RUN_NUMERIC or c.endswith("_miou")]
        keys = [header.index(c) for c in ("run_id", "preset", *ROW_KEYS) if c in header]
        seen = {}
        for n, row in enumerate(rows, start=2):
            for i in numeric:
                if not _is_number(row[i]):
                    raise ResultsError(f"{path}, line {n}, column {header[i]}: {row[i]!r} is not a number")
            key = tuple(row[i] for i in keys)
            if key in seen:
                raise ResultsError(f"{path}, lines {seen[key]} and {n}: run id {key[0]} appears twice at preset "
                                   f"{key[1]} (one row per run"
                                   + (f" and {', '.join(c for c in ROW_KEYS if c in header)})" if len(key) > 2 else ")"))
            seen[key] = n
    return header, rows


def read_table(path) -> pd.DataFrame:
    """A results CSV as a DataFrame, after `checked_lines`' checks (numbers parsed as pandas does)."""
    return pd.read_csv(path, nrows=len(checked_lines(path)[1]))  # a cut last line left out


# One run id is one training config; a config trained (or evaluated) again can give other numbers (the code changed
# between the two, or the run directory was lost). Each such result carries its own number in the `rerun` column
# (0 for the first result of a config in a results folder), so that a row's (run_id, rerun) names one model.
RERUN_TOLERANCE = 1e-9  # mIoU differences below this are the same result (a float written and read back)


def result_id(run_id: str, rerun=0) -> str:
    """A result's own id: the run id, with ".r<n>" for the n-th re-run of its config."""
    rerun = int(float(rerun)) if str(rerun) not in ("", "nan") else 0
    return f"{run_id}.r{rerun}" if rerun else str(run_id)


def _run_results(results_dir) -> list[tuple]:
    """(file, line, run_id, rerun, miou) of every run row in the CSVs of `results_dir` (its own folder only)."""
    found = []
    for path in sorted(Path(results_dir).glob("*.csv")):
        header, rows = checked_lines(path)
        if not {"run_id", "preset", "miou"} <= set(header):
            continue
        i, j, k = header.index("run_id"), header.index("miou"), header.index("rerun") if "rerun" in header else None
        found += [(path, n, row[i], int(float(row[k] or 0)) if k is not None else 0, float(row[j]))
                  for n, row in enumerate(rows, start=2) if row[j].strip()]  # numbers: checked_lines
    return found


def rerun_number(results_dir, run_id: str, miou: float) -> int:
    """The `rerun` number of a new row of run `run_id` with this mIoU: that of the rows of the folder with the same
    result, or the next free one when the config's rows hold other results (0 for a config not seen yet)."""
    same = [r for r in _run_results(results_dir) if r[2] == run_id]
    match = [r[3] for r in same if abs(r[4] - float(miou)) <= RERUN_TOLERANCE]
    return match[0] if match else (max(r[3] for r in same) + 1 if same else 0)


def check_run_ids(results_dir) -> None:
    """Raise ResultsError when two rows of the CSVs of `results_dir` with one run id and one rerun number hold
    different mIoU (two results under one id), naming both files and lines, the run id and both values."""
    first = {}
    for path, n, rid, rerun, miou in _run_results(results_dir):
        key = (rid, rerun)
        if key not in first:
            first[key] = (path, n, miou)
            continue
        other, m, value = first[key]
        if abs(value - miou) > RERUN_TOLERANCE:
            raise ResultsError(f"{path}, line {n}: run id {result_id(rid, rerun)} has miou {miou!r} where {other}, "
                               f"line {m} has {value!r} for the same id (two results under one id; a re-run needs "
                               "its own number in the rerun column)")


def number_reruns(results_dir) -> list[Path]:
    """Give every run row of `results_dir` its `rerun` number (added after the first results were committed): per
    run id, its distinct mIoU values in the order of their first row's date are re-runs 0, 1, 2 ... Rewrites the
    CSVs that change (atomically) and returns them."""
    tables = {}  # path -> (header, rows as dicts, their rerun numbers as read) of each run table
    for path in sorted(Path(results_dir).glob("*.csv")):
        header, rows = checked_lines(path)
        if {"run_id", "preset", "miou"} <= set(header):
            rows = [dict(zip(header, row)) for row in rows]
            tables[path] = (header, rows, [row.get("rerun") for row in rows])
    measured = sorted((row.get("date", ""), str(path), n, row) for path, (_, rows, _) in tables.items()
                      for n, row in enumerate(rows) if row["miou"].strip())

    def number(values: list, miou: float) -> int:  # the index of this result among the run id's, added if new
        for k, value in enumerate(values):
            if abs(value - miou) <= RERUN_TOLERANCE:
                return k
        values.append(miou)
        return len(values) - 1
    results = {}  # run id -> its distinct mIoU values, in date order
    for *_, row in measured:
        row["rerun"] = str(number(results.setdefault(row["run_id"], []), float(row["miou"])))
    changed = []
    for path, (header, rows, old) in tables.items():
        if old != [row.setdefault("rerun", "0") for row in rows]:
            i = header.index("run_id")
            write_csv(path, rows, header if "rerun" in header else header[:i + 1] + ["rerun"] + header[i + 1:])
            changed.append(path)
    return changed

"""Tidy result files: provenance columns and atomic CSV writes."""
from __future__ import annotations

import csv
import datetime
import os
import subprocess
import tempfile
from pathlib import Path

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


def provenance(device: str = "cpu") -> dict:
    """Provenance columns: git commit, torch version, device (a GPU by its name; "auto" as it resolves), date
    (UTC, ISO 8601)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and torch.cuda.is_available():
        device = torch.cuda.get_device_name(device)
    return {"git_commit": git_commit(), "torch_version": torch.__version__, "device": device,
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


def read_paper_reference(path=None) -> list:
    """The paper's numbers (results/paper_reference.csv) as a list of dicts with float values."""
    path = Path(path or Path(__file__).resolve().parents[1] / "results" / "paper_reference.csv")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["value"] = float(row["value"])
    return rows

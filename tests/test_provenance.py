"""Provenance a reader can trust: every row names its code (with a dirty flag), CPU and torch; one run id and rerun
number hold one result, and two results under one id stop `report` with a line naming the file, run id and both
values."""
import csv
import subprocess
from pathlib import Path

import pandas as pd

from segformer_lab.report import repo_root
from segformer_lab.results import (check_run_ids, git_commit, number_reruns, provenance, read_rows, rerun_number,
                                   result_id)
from segformer_lab.runner import columns
from segformer_lab.repo import load_experiment

HEADER = ["experiment", "variant", "seed", "preset", "run_id", "miou", "date"]


def write(path: Path, rows: list, header=HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_rows_record_commit_with_dirty_flag_cpu_model_and_torch_version(tmp_path):
    row = provenance("cpu")
    assert row["cpu_model"] and row["torch_version"] and row["device"] == "cpu"
    assert set(columns(load_experiment("decoder_vs_cnn"))) >= {"run_id", "rerun", "git_commit", "cpu_model",
                                                               "torch_version", "device", "date"}
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "a.txt").write_text("one\n")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git + ["add", "a.txt"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "a"], check=True)
    clean = git_commit(tmp_path)
    assert len(clean) == 40 and not clean.endswith("+dirty")
    (tmp_path / "a.txt").write_text("two\n")
    assert git_commit(tmp_path) == clean + "+dirty"


def test_a_rerun_gets_its_own_number_and_the_same_result_keeps_its_number(tmp_path):
    write(tmp_path / "a.csv", [["a", "v", 0, "default", "abc", 50.0, "2026-01-01"]])
    assert rerun_number(tmp_path, "abc", 50.0) == 0  # the same result (reused from its run directory)
    assert rerun_number(tmp_path, "abc", 50.5) == 1  # another training of the same config
    assert rerun_number(tmp_path, "xyz", 50.5) == 0  # a config not seen yet
    assert result_id("abc", 0) == "abc" and result_id("abc", "2") == "abc.r2"


def test_report_names_two_results_under_one_id_and_writes_nothing(tmp_path, cli_error):
    write(tmp_path / "one.csv", [["one", "v", 0, "default", "abc", 67.53, "2026-01-01"]])
    write(tmp_path / "two.csv", [["two", "v", 0, "default", "abc", 68.72, "2026-02-01"]])
    err = cli_error(["report", tmp_path])
    assert "two.csv, line 2" in err and "run id abc" in err and "67.53" in err and "68.72" in err \
        and "one.csv" in err, err
    assert not (tmp_path / "report.md").exists()


def test_numbering_the_reruns_orders_results_by_date_and_clears_the_conflict(tmp_path):
    write(tmp_path / "one.csv", [["one", "v", 0, "default", "abc", 68.72, "2026-02-01"],
                                 ["one", "v", 1, "default", "def", 40.0, "2026-02-01"]])
    write(tmp_path / "two.csv", [["two", "v", 0, "default", "abc", 67.53, "2026-01-01"],
                                 ["two", "v", 1, "default", "def", 40.0, "2026-01-01"]])
    assert sorted(p.name for p in number_reruns(tmp_path)) == ["one.csv", "two.csv"]
    check_run_ids(tmp_path)
    one, two = read_rows(tmp_path / "one.csv"), read_rows(tmp_path / "two.csv")
    assert [r["rerun"] for r in two] == ["0", "0"] and [r["rerun"] for r in one] == ["1", "0"]
    assert list(one[0])[:6] == ["experiment", "variant", "seed", "preset", "run_id", "rerun"]
    assert number_reruns(tmp_path) == []  # numbered once


def test_the_committed_results_hold_one_result_per_id():
    for folder in (repo_root() / "results", repo_root() / "results" / "gpu"):
        check_run_ids(folder)
    erf = pd.read_csv(repo_root() / "results" / "erf.csv")
    table = pd.read_csv(repo_root() / "results" / "decoder_vs_cnn.csv")
    shared = erf.merge(table, on="run_id", suffixes=("_erf", ""))
    # erf.csv's models are its own trainings of Table 1d's configs: their own numbers, their own mIoU
    assert len(shared) and (shared["rerun_erf"] != shared["rerun"]).all()

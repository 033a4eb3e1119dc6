"""The notebooks' first cell: which results folder they read, and how their tables show."""
import os

import pandas as pd

from segformer_lab import notebook


def _results(root, *folders):
    for i, folder in enumerate(folders):
        path = root / "results" / folder
        path.mkdir(parents=True, exist_ok=True)
        (path / "erf.csv").write_text("variant\nx\n")
        os.utime(path / "erf.csv", (1000 + i, 1000 + i))  # later folders are newer
    return root / "results"


def test_results_folder_prefers_the_environment_then_quick_then_the_newest(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEGFORMER_LAB_RESULTS", raising=False)
    base = _results(tmp_path, ".", "mine", "released")
    assert notebook.results_folder(tmp_path) == base.relative_to(tmp_path) / "mine"  # newest; released/ is not one
    assert "the newest results" in capsys.readouterr().out
    _results(tmp_path, "quick")
    (base / "mine" / "erf.csv").touch()  # newer than quick/, still quick/ first
    assert notebook.results_folder(tmp_path) == base.relative_to(tmp_path) / "quick"
    out = capsys.readouterr().out
    assert "your quick results" in out and "Others: results/mine, results" in out
    monkeypatch.setenv("SEGFORMER_LAB_RESULTS", str(base / "mine"))
    assert notebook.results_folder(tmp_path) == base.relative_to(tmp_path) / "mine"
    out = capsys.readouterr().out
    assert "$SEGFORMER_LAB_RESULTS" in out and "Others" not in out  # the same line whatever folders exist


def test_results_folder_falls_back_to_the_committed_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEGFORMER_LAB_RESULTS", raising=False)
    assert notebook.results_folder(tmp_path) == tmp_path.relative_to(tmp_path) / "results"
    assert "the committed results" in capsys.readouterr().out


def test_table_shows_display_names_and_two_decimals():
    frame = pd.DataFrame({"miou": [53.456, 28.1], "gmacs_512": [8.4, 1.0]}, index=["mit_b0", "learned_pe_street"])
    html = notebook.table(frame).to_html()
    assert "MiT-B0" in html and "learned PE, street" in html and "mIoU (%)" in html
    assert "53.46" in html and "53.456" not in html
    assert notebook.table(frame).to_html() == html  # the same HTML each time, so saved notebooks do not churn


def test_table_aligns_text_left_and_accepts_a_repeated_index():
    frame = pd.DataFrame({"verdict": ["partly", "holds"], "runs": [3, 4]}, index=["a", "b"])
    html = notebook.table(frame).to_html()
    assert html.count("text-align: left") == 2  # the index, and the one text column
    repeated = pd.DataFrame({"lr": [1e-3, 3e-4], "loss": [0.5, 0.4]}, index=["mit_b1", "mit_b1"])
    assert notebook.table(repeated, precision=4).to_html().count("0.4000") == 1

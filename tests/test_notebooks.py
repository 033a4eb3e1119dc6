"""Every notebook runs headlessly, top to bottom, against the committed results and against fresh smoke results;
the committed notebooks carry their outputs, and their verdicts are those the committed results give today."""
from pathlib import Path

import pytest

from segformer_lab.repo import load_module
from segformer_lab.report import ablation_names

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
RESULT_NOTEBOOKS = [p for p in NOTEBOOKS if p.stem != "explore"]  # the ones that read results/ and give verdicts
ABLATION_NOTEBOOKS = [p for p in RESULT_NOTEBOOKS if p.stem != "10_released_models"]  # the ones smoke runs fill
MARKERS = {"00_index": "section(RESULTS, name", "10_released_models": "released.verdict_lines("}
VERDICT = "notebook.verdict("  # the cell of an ablation notebook that computes and shows its verdict


def execute(path: Path, results: Path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient
    monkeypatch.setenv("SEGFORMER_LAB_RESULTS", str(results))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    book = nbformat.read(path, as_version=4)
    client = NotebookClient(book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return book


def outputs_text(book, marker: str) -> list:
    """The text, markdown and HTML (tables) outputs of the code cells whose source contains `marker`."""
    texts = []
    for cell in book.cells:
        if cell.cell_type == "code" and marker in cell.source:
            for out in cell.outputs:
                if out.output_type == "stream":
                    texts.append(out.text)
                elif "data" in out:
                    data = out["data"]
                    texts.append(data.get("text/markdown") or data.get("text/html") or data.get("text/plain", ""))
    return texts


def test_the_notebooks_exist_and_are_committed_executed():
    assert [p.name for p in NOTEBOOKS] == ["00_index.ipynb", "01_erf.ipynb", "02_decoder_vs_cnn.ipynb",
                                           "03_pe_vs_mixffn.ipynb", "04_reduction_ratio.ipynb", "05_robustness.ipynb",
                                           "06_model_size.ipynb", "07_decoder_width.ipynb",
                                           "08_setr_vs_segformer.ipynb", "09_overlap_patch_embed.ipynb",
                                           "10_released_models.ipynb", "explore.ipynb"]
    import nbformat
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        code = [c for c in book.cells if c.cell_type == "code"]
        assert code and all(c.execution_count for c in code), f"{path.name} is not committed executed"
        assert not [o for c in code for o in c.outputs if o.output_type == "error"], f"{path.name} holds an error"


@pytest.mark.parametrize("path", RESULT_NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_committed_results(path, monkeypatch):
    import nbformat
    book = execute(path, ROOT / "results", monkeypatch)
    committed = nbformat.read(path, as_version=4)
    marker = MARKERS.get(path.stem, VERDICT)
    fresh = outputs_text(book, marker)
    assert fresh and fresh == outputs_text(committed, marker), \
        f"{path.name}: its committed verdicts differ from what the committed results give; re-execute it"


@pytest.mark.parametrize("path", ABLATION_NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_fresh_smoke_results(path, smoke_results, monkeypatch):
    book = execute(path, smoke_results, monkeypatch)
    if path.stem == "00_index":
        table = "\n".join(outputs_text(book, "section(RESULTS, name"))
        assert table.count(">smoke<") == len(ablation_names()) and "not available" not in table  # the preset column
    else:
        verdict = "\n".join(outputs_text(book, VERDICT))
        assert "smoke preset" in verdict and "**Verdict:" in verdict and "not available" not in verdict
        assert "everything runs" in verdict  # the quick and smoke presets say what they are for


def test_released_notebook_renders_a_released_folder(tmp_path, monkeypatch):
    """With results/released/ present, notebook 10 renders it (no stand-in banner), tables, verdict and figures."""
    from segformer_lab.released import standin_results
    folder = standin_results(tmp_path, load_module("released_models").plan(), log=lambda *_: None)
    book = execute(ROOT / "notebooks" / "10_released_models.ipynb", folder.parent, monkeypatch)
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    text = "\n".join(o.get("text", "") or o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert "mean nothing" not in text and "3 model(s)" in text and "**Verdict: not tested.**" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2
    assert "stand-in B0 (ADE20K)" in "\n".join(outputs_text(book, "released.verdict_lines("))

def test_explore_notebook_runs_headless_on_a_finished_run(smoke_results, monkeypatch):
    """explore.ipynb picks the first finished run (here the smoke runs) and draws its two views; its controls
    display without a frontend."""
    monkeypatch.setenv("SEGFORMER_LAB_RUNS", str(smoke_results.parent / "runs"))
    book = execute(ROOT / "notebooks" / "explore.ipynb", smoke_results, monkeypatch)
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2
    assert "segformer_b0" in "".join(o.get("text", "") for o in outputs if o.output_type == "stream")


def test_execute_notebooks_saves_outputs_with_a_relative_results_path(tmp_path):
    import nbformat

    from segformer_lab.report import execute_notebooks
    (tmp_path / "nb").mkdir()
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell("import os\nprint(os.environ['SEGFORMER_LAB_RESULTS'])"),
                  nbformat.v4.new_code_cell("import ipywidgets\ndisplay(ipywidgets.IntSlider())")]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(book, tmp_path / "nb" / "probe.ipynb")
    assert execute_notebooks(tmp_path / "nb", tmp_path / "results") == [tmp_path / "nb" / "probe.ipynb"]
    saved = nbformat.read(tmp_path / "nb" / "probe.ipynb", as_version=4)
    assert saved.cells[0].outputs[0].text.strip() == "../results"
    assert saved.cells[1].outputs == [] and "widgets" not in saved.metadata  # widgets are not saved

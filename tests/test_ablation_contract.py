"""The contract of an ablation file, proved end to end: a made-up ablation in a temporary experiments folder is
found by the loader, run at the smoke preset (runs, CSV), judged (claims with a validity condition), drawn (its
figure, its display names) and reported (its section of report.md); a mistyped or missing field fails when the
file is loaded, naming the file and the field."""
import textwrap

import pytest

from segformer_lab import names, repo

MADE_UP = '''
"""Does a wider MLP decoder help SegFormer-tiny? (a made-up ablation: the test of the contract)"""
from segformer_lab import figures, plotting
from segformer_lab.ablation import Ablation, Display
from segformer_lab.analysis import per_seed, summarise
from segformer_lab.engine import TrainConfig
from segformer_lab.presets import standard_presets
from segformer_lab.verdicts import claim, condition, requiring

BASE = TrainConfig(model="segformer_tiny", crop_size=64, val_canvas=(64, 64))
VARIANTS = {"dec16": {"model_overrides": {"decoder_dim": 16}}, "dec64": {"model_overrides": {"decoder_dim": 64}}}
PRESETS = standard_presets(smoke={"iterations": 2})


def build(out, results_dir, paper) -> None:
    frame = out.frame
    wider = condition("The wider decoder has more parameters", per_seed(frame, "dec64", "params"),
                      per_seed(frame, "dec16", "params"), since="The wider decoder has more parameters")
    out.claims = requiring([claim("A wider decoder scores higher", per_seed(frame, "dec64", "miou"),
                                  per_seed(frame, "dec16", "miou"), since="A wider decoder scores higher")], wider)
    out.table = summarise(frame, ["miou"])


def key_figure(results_dir, preset=None):
    return plotting.metric_vs_cost(figures.rows(results_dir, "made_up", preset), x="params")


ABLATION = Ablation(
    name="made_up", title="A made-up decoder sweep", order=1, base=BASE, variants=VARIANTS, presets=PRESETS,
    seeds={"smoke": (0, 1), "quick": (0,), "default": (0, 1, 2), "gpu": (0, 1, 2)},
    claims=build, figures={"": key_figure},
    display=Display(parts={"dec16": "decoder C = 16 (made up)", "dec64": "decoder C = 64 (made up)"}))
'''


@pytest.fixture
def made_up(tmp_path, monkeypatch):
    folder = tmp_path / "experiments"
    folder.mkdir()
    (folder / "made_up.py").write_text(MADE_UP)
    monkeypatch.setattr(repo, "experiments_dir", lambda: folder)
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(tmp_path / "cache"))
    return folder


def test_a_made_up_ablation_runs_end_to_end(made_up, tmp_path):
    from segformer_lab.figures import draw, figure_names
    from segformer_lab.report import build_report, section
    from segformer_lab.results import read_rows
    from segformer_lab.runner import run_experiment

    ablation = repo.load_experiment("made_up")
    assert [a.name for a in repo.ablations()] == ["made_up"] and figure_names() == ["made_up"]
    out = run_experiment(ablation, "smoke", tmp_path / "results", tmp_path / "runs", progress=False)
    rows = read_rows(out)
    assert [(r["variant"], r["seed"]) for r in rows] == [("dec16", "0"), ("dec64", "0"), ("dec16", "1"), ("dec64", "1")]
    s = section(tmp_path / "results", "made_up", "smoke")
    assert [c.text for c in s.claims] == ["A wider decoder scores higher"]
    assert s.claims[0].requires[0].outcome == "supported"  # 2 seeds: judged; more parameters on both
    assert s.claims[0].outcome in ("supported", "contradicted", "inconclusive")
    assert s.figure == "figures/made_up.png" and (tmp_path / "results" / s.figure).stat().st_size > 1000
    assert draw("made_up", tmp_path / "results") is not None
    assert names.name("dec64") == "decoder C = 64 (made up)"
    report = build_report(tmp_path / "results").read_text()
    assert "## A made-up decoder sweep" in report and "A wider decoder scores higher" in report
    assert "| A made-up decoder sweep | smoke | 2/4 |" not in report and "| A made-up decoder sweep | smoke | 4/4 |" in report


@pytest.mark.parametrize("change, message", [
    ('claims=build, figures', r"made_up\.py: .*unexpected keyword argument 'claimz'"),
    ('order=1, base', r"made_up\.py: field order: expected int, got str"),
    ('title="A made-up decoder sweep", ', r"made_up\.py: .*missing 1 required keyword-only argument: 'title'"),
    ('figures={"": key_figure}', r"made_up\.py: figures: no key figure"),
    ('presets=PRESETS', r"made_up\.py: presets: no entry for default, gpu, quick, smoke"),
])
def test_a_wrong_declaration_fails_on_load_naming_the_file_and_field(made_up, change, message):
    wrong = {"claims=build, figures": "claimz=build, figures", "order=1, base": 'order="1", base',
             'title="A made-up decoder sweep", ': "", 'figures={"": key_figure}': 'figures={"main": key_figure}',
             "presets=PRESETS": "presets={}"}[change]
    (made_up / "made_up.py").write_text(MADE_UP.replace(change, wrong))
    with pytest.raises(ValueError, match=message):
        repo.load_experiment("made_up")


def test_a_file_declaring_nothing_is_named(made_up):
    (made_up / "empty.py").write_text(textwrap.dedent('"""Nothing declared."""\nX = 1\n'))
    with pytest.raises(ValueError, match=r"empty\.py: expected one declaration .* named 'empty', found 0"):
        repo.load_experiment("empty")


def test_run_plan_names_a_script_and_counts_nothing_for_it(capsys):
    from segformer_lab.cli import main
    assert main(["run", "pretraining", "--plan"]) == 0
    assert "pretraining: not a sweep of trained runs" in capsys.readouterr().out

"""The command line fails cleanly: every user error prints one line `segformer-lab: error: ...` naming the
thing (and the valid choices), exits with status 2 and writes nothing; `--debug` shows the traceback."""
import json

import pytest
import torch

from segformer_lab.cli import main

TINY = ["--model", "segformer_tiny", "--crop-size", "64", "--batch-size", "2", "--train-scenes", "4",
        "--val-scenes", "2", "--val-canvas", "64", "64", "--warmup-iters", "1", "--quiet"]


def test_fix_the_typo_and_rerun_the_same_command_in_the_same_directory(tmp_path, cli_error):
    run = tmp_path / "a"
    assert "unknown override(s) ['nonsense']" in cli_error(["train", run, *TINY, "--set", "nonsense=3"])
    assert not run.exists()
    assert "unknown model variant 'segformer_b9'; valid variants: deeplabv3_r101" in cli_error(
        ["train", run, *TINY, "--model", "segformer_b9"])
    assert not run.exists()
    assert main(["train", str(run), *TINY, "--iterations", "2"]) == 0
    assert json.loads((run / "config.json").read_text())["iterations"] == 2 and (run / "model.pt").is_file()


@pytest.mark.parametrize("argv, expected", [
    (["run", "decoder_vs_cnn", "--preset", "fast"], "invalid choice: 'fast' (choose from 'smoke', 'quick'"),
    (["run", "no_such_experiment"], "no experiment 'no_such_experiment'"),
    (["train", "{run}", "--dataset", "imagenet"], "dataset='imagenet'; expected one of ('synthetic', 'ade20k'"),
    (["train", "{run}", "--iterations", "0"], "TrainConfig.iterations=0; expected a positive integer"),
    (["train", "{run}", "--crop-size", "large"], "argument --crop-size: invalid int value: 'large'"),
    (["train", "{run}", "--dataset", "cityscapes", "--data-root", "{run}_missing"], "_missing"),
    (["evaluate", "{run}", "--corruptions", "haze"], "unknown corruption(s) ['haze']; valid: all, blur"),
    (["evaluate", "{run}"], "config.json: missing"),
    (["profile", "segformer_b0", "--size", "1", "2", "3"], "--size takes one side or H W"),
    (["prune", "decoder_vs_cnn", "--results", "{run}"], "decoder_vs_cnn.csv: no results to prune"),
])
def test_user_errors_are_one_line_with_status_2_and_write_nothing(tmp_path, cli_error, argv, expected):
    run = tmp_path / "run"
    err = cli_error([a.replace("{run}", str(run)) for a in argv])
    assert expected in err
    assert not run.exists() and list(tmp_path.iterdir()) == []


def test_unreadable_files_and_a_checkpoint_that_does_not_fit(tmp_path, cli_error):
    run = tmp_path / "run"
    assert main(["train", str(run), *TINY, "--iterations", "1"]) == 0
    saved = (run / "config.json").read_text()
    (run / "config.json").write_text("{not json")
    assert f"{run / 'config.json'}: not a readable config.json" in cli_error(["evaluate", run])
    (run / "config.json").write_text(saved)
    state = torch.load(run / "model.pt", weights_only=False)
    weights = state["state_dict"]
    missing = next(k for k in weights if k.endswith("linear_pred.weight"))
    state["state_dict"] = {k: v for k, v in weights.items() if k != missing}
    torch.save(state, run / "model.pt")
    err = cli_error(["evaluate", run])
    assert "model.pt" in err and missing in err
    (run / "model.pt").write_bytes(b"garbage")
    assert "model.pt" in cli_error(["evaluate", run])


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ValueError, match="unknown model variant 'segformer_b9'"):
        main(["--debug", "train", str(tmp_path / "a"), "--model", "segformer_b9"])
    assert not (tmp_path / "a").exists()


def test_without_the_cluster_extra_executor_is_one_clear_line(tmp_path, cli_error, monkeypatch):
    """submitit is an optional extra: without it `--executor` says how to install it, and nothing else changes."""
    import sys
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit now raises ImportError
    text = cli_error(["run", "model_size", "--preset", "smoke", "--executor", "local", "--results", tmp_path / "r",
                      "--runs", tmp_path / "runs"])
    assert "--executor needs submitit: pip install -e '.[cluster]'" in text
    assert not (tmp_path / "r").exists() and not (tmp_path / "runs").exists()
    assert main(["run", "model_size", "--preset", "smoke", "--plan", "--results", str(tmp_path / "r")]) == 0

"""The released_models experiment: released.toml parsing and its errors, the whole path on stand-ins, and the
tables and verdicts computed from results/released/."""
import math

import numpy as np
import pandas as pd
import pytest

from segformer_lab import released as R
from segformer_lab.cli import main
from segformer_lab.corruptions import TABLE5_SEVERITIES
from segformer_lab.repo import load_module, repo_root

@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """The stand-in path (released.standin_results: two SegFormer-B0s and a DeepLabV3+ in released layouts)."""
    return R.standin_results(tmp_path_factory.mktemp("released"), load_module("released_models").plan(),
                             log=lambda *_: None)


@pytest.fixture
def held(results):
    """The folder holding released.toml, the checkpoints and the trees."""
    return results.parents[1]


def paper():
    return pd.read_csv(repo_root() / "results" / "paper_reference.csv")


ADE, CITY, CNN = "stand-in B0 (ADE20K)", "stand-in B0 (Cityscapes)", "stand-in DeepLabV3+ (Cityscapes)"


def test_whole_path_on_stand_ins_writes_every_study(results):
    data = R.load(results)
    assert list(data["models"]["name"]) == [ADE, CNN, CITY]
    assert list(data["models"]["format"]) == ["mmseg", "mmseg_deeplabv3plus", "mmseg"]
    ev = data["evaluations"]
    ade, city = ev[ev["name"] == ADE], ev[ev["name"] == CITY]
    assert sorted(ade["resolution"]) == [0.5, 0.75, 1.0, 1.5, 2.0] and set(ade["corruption"]) == {""}
    corrupted = city[city["corruption"] != ""]
    assert sorted(zip(corrupted["corruption"], corrupted["severity"])) == \
        [("brightness", s) for s in range(1, 6)] + [("fog", s) for s in range(1, 6)] + \
        [("gaussian_noise", s) for s in range(1, 4)]  # Table 5's severities: noise 1-3, the rest 1-5
    assert len(city) == 5 + 13
    assert [(e.canvas_h, e.canvas_w, e.images) for e in data["erf"].itertuples()] == [(64, 128, 2)] * 2
    maps = R.erf_maps(results, data)
    assert list(maps) == [CNN, CITY] and maps[CITY]["head"].shape == (64, 128)


def test_tables_from_the_results(results):
    data = R.load(results)
    table, claims = R.table1a(data, paper(), 1.0)
    assert list(table["paper model"]) == ["segformer_b0", "segformer_b5"]  # DeepLabV3+ is not in Table 1a
    assert list(table["mIoU (paper)"]) == [37.4, 82.4]
    assert all(c.outcome == "not tested" for c in claims)  # 3 and 2 images, not the whole splits
    t5 = R.table5(data, paper(), TABLE5_SEVERITIES).set_index(["model", "source"])
    ours, theirs = t5.loc[(CITY, "ours")], t5.loc[("segformer_b5 (paper)", "paper")]
    ev = data["evaluations"]
    bright = ev[(ev["name"] == CITY) & (ev["corruption"] == "brightness")]["miou"].mean()
    assert math.isclose(ours["bright"], bright) and pd.isna(ours["frost"])  # frost was not run
    assert theirs["bright"] == 81.0 and theirs["clean"] == 82.4
    assert t5.loc[("deeplabv3plus_r101 (paper)", "paper"), "clean"] == 77.1
    curves = R.resolution_curves(data)
    assert set(curves.loc[curves["resolution"] == 1.0, "relative"]) == {1.0}


def test_a_second_run_evaluates_nothing_again(held, results, capsys):
    before = R.load(results)["evaluations"]
    capsys.readouterr()
    assert main(["run", "released_models", "--config", str(held / "released.toml"), "--results",
                 str(results.parent), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.count("done before") >= len(before)
    pd.testing.assert_frame_equal(R.load(results)["evaluations"], before)


def test_table1a_verdict_on_the_whole_split_under_the_paper_protocol():
    base = {"source": "b0.pth", "dataset": "ade20k", "protocol": "ade20k", "mode": "whole", "scale": "2048x512",
            "crop": np.nan, "stride": np.nan, "ratios": "1", "flip": False, "resolution": 1.0, "corruption": "",
            "images": 2000}
    models = pd.DataFrame([{"path": "b0.pth", "name": "B0", "paper": "segformer_b0"}])
    for miou, outcome in ((37.0, "holds"), (35.0, "fails")):
        ev = pd.DataFrame([{**base, "miou": miou}]).merge(models, left_on="source", right_on="path")
        _, (c,) = R.table1a({"evaluations": ev, "models": models}, paper(), 1.0)
        assert c.outcome == outcome, c.sentence()
    ev = pd.DataFrame([{**base, "miou": 37.0, "scale": "1024x256"}]).merge(models, left_on="source", right_on="path")
    _, (c,) = R.table1a({"evaluations": ev, "models": models}, paper(), 1.0)
    assert c.outcome == "not tested" and "the paper's protocol" in c.sentence()


@pytest.mark.parametrize("edit, expected", [
    (lambda s: s.replace("[settings]", "[setting]"), "unknown table(s) ['setting']"),
    (lambda s: s.replace("erf_images", "erf_imgs"), "unknown [settings] key(s) ['erf_imgs']"),
    (lambda s: s.replace(f'name = "{ADE}"', f'nmae = "{ADE}"'), "[[models]] #1: unknown key(s) ['nmae']"),
    (lambda s: s.replace('cityscapes = "cityscapes"\n', ""), "dataset 'cityscapes' has no root in [datasets]"),
    (lambda s: s.replace("segformer.b0.512x512", "segformer.b9.512x512"), "segformer.b9.512x512.ade.160k.pth does "
                                                                          "not exist"),
    (lambda s: s.replace('path = "segformer.b0.512x512.ade.160k.pth"\n', ""), "[[models]] #1: missing key 'path'"),
    (lambda s: s + "\n[oops", "not valid TOML"),
])
def test_config_errors_name_the_file_and_key(held, tmp_path, cli_error, edit, expected):
    config = held / f"bad_{abs(hash(expected))}.toml"
    config.write_text(edit(R.STANDIN_CONFIG))
    err = cli_error(["run", "released_models", "--config", config, "--results", tmp_path / "r"])
    assert expected in err and str(config) in err
    assert not (tmp_path / "r").exists()


def test_without_the_file_it_says_what_to_write(tmp_path, cli_error):
    err = cli_error(["run", "released_models", "--config", tmp_path / "released.toml", "--results", tmp_path / "r"])
    assert "no such file; write it" in err and "[[models]]" in err
    assert list(tmp_path.iterdir()) == []

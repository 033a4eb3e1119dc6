"""Table 5's robustness experiment: one row per run x condition from the finished runs, relative robustness and
its found, computed on rows whose answer is known."""
import pandas as pd
import pytest

from segformer_lab import analysis, claims
from segformer_lab.repo import load_experiment
from segformer_lab.report import paper_dir
from segformer_lab.runner import columns


def test_smoke_rows_one_per_run_and_condition(smoke_results, tmp_path):
    module = load_experiment("robustness")
    frame = pd.read_csv(smoke_results / "robustness.csv")
    assert list(frame.columns) == columns(module)
    conditions = [("clean", 0), *module.CONDITIONS["smoke"]]
    assert frame.groupby("run_id").size().tolist() == [len(conditions)] * 2
    assert list(zip(frame["corruption"], frame["severity"]))[:len(conditions)] == conditions
    clean = frame[frame["corruption"] == "clean"]
    assert (clean["corrupted_miou"] - clean["miou"]).abs().max() < 1e-9  # the clean row repeats the run's evaluation
    corrupted = frame[frame["corruption"] != "clean"]
    assert (corrupted["seconds_per_image"] > 0).all() and set(corrupted["group"]) == {"noise", "weather"}
    decoder = pd.read_csv(smoke_results / "decoder_vs_cnn.csv")
    assert set(frame["run_id"]) <= set(decoder["run_id"])  # the same runs as decoder_vs_cnn: nothing retrained


def rows(values: dict) -> pd.DataFrame:
    """robustness rows from {(variant, seed): (clean, {(corruption, group, severity): corrupted})}."""
    out = []
    for (variant, seed), (clean, corrupted) in values.items():
        run = f"{variant}{seed}"
        out.append({"variant": variant, "seed": seed, "run_id": run, "miou": clean, "corruption": "clean",
                    "group": "clean", "severity": 0, "corrupted_miou": clean})
        out += [{"variant": variant, "seed": seed, "run_id": run, "miou": clean, "corruption": c, "group": g,
                 "severity": s, "corrupted_miou": v} for (c, g, s), v in corrupted.items()]
    return pd.DataFrame(out)


def test_relative_robustness_follows_table5_severities():
    frame = rows({("mit_b1_pretrained", 0): (50.0, {("gaussian_noise", "noise", 1): 40.0,
                                                    ("gaussian_noise", "noise", 3): 20.0,
                                                    ("gaussian_noise", "noise", 5): 0.0,  # beyond Table 5's 1-3
                                                    ("fog", "weather", 5): 45.0})})
    assert claims.robustness.relative_robustness(frame, "mit_b1_pretrained") == [pytest.approx((0.6 + 0.9) / 2)]
    assert claims.robustness.relative_robustness(frame, "mit_b1_pretrained", "noise") == [pytest.approx(0.6)]
    table = claims.robustness.robustness_table(frame)
    assert table.loc["mit_b1_pretrained", ["clean", "gauss_noise", "fog"]].tolist() == [50.0, 30.0, 45.0]
    with pytest.raises(ValueError, match="no corrupted rows for variant 'resnet18_mlp_pretrained'"):
        claims.robustness.relative_robustness(frame, "resnet18_mlp_pretrained")


def test_claims_compare_relative_robustness_with_validity():
    noise = ("gaussian_noise", "noise", 2)
    frame = rows({**{("mit_b1_pretrained", s): (60.0 + s, {noise: 48.0 + s}) for s in range(3)},  # keeps 0.8
                  **{("resnet18_mlp_pretrained", s): (70.0 + s, {noise: 35.0 + s}) for s in range(3)},  # 0.5
                  **{("deeplabv3_r18_pretrained", s): (40.0, {noise: 40.0}) for s in range(3)}})  # never hurt
    found = claims.robustness.robustness_claims(frame)
    assert [c.text.rsplit(": ", 1)[1] for c in found] == ["all corruptions", "noise"] * 2
    deeplab, resnet = found[0], found[2]
    assert deeplab.outcome == "not tested" and "deeplabv3_r18_pretrained" in deeplab.sentence()
    assert resnet.outcome == "holds" and resnet.mean_a == pytest.approx(0.8, abs=0.01)
    assert resnet.mean_b == pytest.approx(0.5, abs=0.01)
    note = claims.robustness.robustness_note(frame)
    assert "beyond the seed spread" in note and "relative robustness" in note


def test_paper_relative_robustness_from_table5():
    paper = claims.robustness.relative_paper(analysis.read_paper(paper_dir()))
    # SegFormer-B5 keeps 0.80 of its clean mIoU, DeepLabV3+ 0.51 (Table 5's means over the 16 over clean)
    assert paper.loc["segformer_b5", "all"] == pytest.approx(0.7987, abs=1e-3)
    assert paper.loc["deeplabv3plus_r101", "noise"] == pytest.approx((13.2 + 13.9 + 16.3 + 36.9) / 4 / 77.1)

"""Table 5's robustness experiment: one row per run x condition from the finished runs, relative robustness and
its found, computed on rows whose answer is known."""
import pandas as pd
import pytest
from scipy import stats

from segformer_lab import analysis
from segformer_lab.repo import load_experiment, load_module
from segformer_lab.analysis import paper_dir
from segformer_lab.runner import columns
from segformer_lab.verdicts import counted, holm


def test_smoke_rows_one_per_run_and_condition(smoke_results, tmp_path):
    frame = pd.read_csv(smoke_results / "robustness.csv")
    assert list(frame.columns) == columns(load_experiment("robustness"))
    conditions = [("clean", 0), *load_module("robustness").CONDITIONS["smoke"]]
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
    robustness = load_module("robustness")
    frame = rows({("mit_b1_pretrained", 0): (50.0, {("gaussian_noise", "noise", 1): 40.0,
                                                    ("gaussian_noise", "noise", 3): 20.0,
                                                    ("gaussian_noise", "noise", 5): 0.0,  # beyond Table 5's 1-3
                                                    ("fog", "weather", 5): 45.0})})
    overall = robustness.relative_robustness(frame, "mit_b1_pretrained")
    assert isinstance(overall, pd.Series) and list(overall.index) == [0]  # per seed, indexed by seed
    assert overall.tolist() == [pytest.approx((0.6 + 0.9) / 2)]
    assert robustness.relative_robustness(frame, "mit_b1_pretrained", "noise").tolist() == [pytest.approx(0.6)]
    later = frame.assign(seed=3)  # the index is the seed itself, not a position
    assert list(robustness.relative_robustness(later, "mit_b1_pretrained").index) == [3]
    table = robustness.robustness_table(frame)
    assert table.loc["mit_b1_pretrained", ["clean", "gauss_noise", "fog"]].tolist() == [50.0, 30.0, 45.0]
    with pytest.raises(ValueError, match="no corrupted rows for variant 'resnet18_mlp_pretrained'"):
        robustness.relative_robustness(frame, "resnet18_mlp_pretrained")


def test_claims_compare_relative_robustness_with_validity():
    robustness = load_module("robustness")
    noise, fog = ("gaussian_noise", "noise", 2), ("fog", "weather", 2)
    frame = rows({**{("mit_b1_pretrained", s): (60.0 + s, {noise: 48.0 + s, fog: 54.0 + s})  # keeps 0.8 and 0.9
                     for s in range(3)},
                  **{("resnet18_mlp_pretrained", s): (70.0 + s, {noise: 35.0 + s, fog: f})  # 0.5; 0.89-0.92
                     for s, f in zip(range(3), (63.5, 63.0, 66.0))},
                  **{("deeplabv3_r18_pretrained", s): (40.0, {noise: 40.0, fog: 40.0}) for s in range(3)}})  # never hurt
    found = robustness.robustness_claims(frame)
    assert [c.text.rsplit(": ", 1)[1] for c in found] == ["all corruptions", "noise", "weather"] * 2
    deeplab, resnet = found[:3], found[3:]
    assert [c.outcome for c in deeplab] == ["not tested"] * 3 and "deeplabv3_r18_pretrained" in deeplab[0].sentence()
    # against ResNet-18 per seed: noise +0.30 on every seed, weather -0.007, +0.014, -0.013 (mixed signs)
    assert [c.outcome for c in resnet] == ["supported", "supported", "inconclusive"]
    assert resnet[1].mean_a == pytest.approx(0.8, abs=0.01) and resnet[1].mean_b == pytest.approx(0.5, abs=0.01)
    # one Holm family per CNN: each member judged on its p adjusted across the family, the family counted once
    mit = {g: [v / (60.0 + s) for s, v in enumerate(x)] for g, x in (("noise", (48, 49, 50)), ("weather", (54, 55, 56)))}
    cnn = {g: [v / (70.0 + s) for s, v in enumerate(x)] for g, x in (("noise", (35, 36, 37)),
                                                                      ("weather", (63.5, 63.0, 66.0)))}
    mit["all"], cnn["all"] = ([(a + b) / 2 for a, b in zip(d["noise"], d["weather"])] for d in (mit, cnn))
    raw = [stats.ttest_rel(mit[g], cnn[g]).pvalue for g in ("all", "noise", "weather")]
    assert [c.p_value for c in resnet] == pytest.approx(raw)
    assert [c.p_adjusted for c in resnet] == pytest.approx(holm(raw))
    assert resnet[0].p_adjusted == pytest.approx(2 * raw[0])  # the second smallest p of three, times 2
    assert {c.family for c in resnet} == {"MiT-B1 + MLP keeps more of its clean mIoU than ResNet-18 + MLP (aerial, "
                                           "pretrained)"}
    assert [(text.split(" than ")[1], outcome) for text, outcome, _ in counted(found)] == [
        ("DeepLabV3-R18 (aerial, pretrained)", "not tested"), ("ResNet-18 + MLP (aerial, pretrained)", "inconclusive")]
    note = robustness.robustness_note(frame)
    assert "beyond the seed spread" in note and "relative robustness" in note


def test_paper_relative_robustness_from_table5():
    robustness = load_module("robustness")
    paper = robustness.relative_paper(analysis.read_paper(paper_dir()))
    # SegFormer-B5 keeps 0.80 of its clean mIoU, DeepLabV3+ 0.51 (Table 5's means over the 16 over clean)
    assert paper.loc["segformer_b5", "all"] == pytest.approx(0.7987, abs=1e-3)
    assert paper.loc["deeplabv3plus_r101", "noise"] == pytest.approx((13.2 + 13.9 + 16.3 + 36.9) / 4 / 77.1)

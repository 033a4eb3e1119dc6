"""Claims of every ablation, the tables beside the paper, the figures and the generated report."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from segformer_lab import analysis, plotting
from segformer_lab.erf import TARGETS, THRESHOLDS, load_maps
from segformer_lab.repo import load_module
from segformer_lab.report import ablation_names, build_report, section


def rows(values: dict, column: str = "miou") -> pd.DataFrame:
    """{variant: per-seed values} -> CSV-like rows."""
    return pd.DataFrame([{"variant": v, "seed": i, column: x} for v, xs in values.items() for i, x in enumerate(xs)])


def test_decoder_vs_cnn_claims_use_the_init_asked_for():
    decoder_vs_cnn = load_module("decoder_vs_cnn")
    frame = rows({"mit_b1_pretrained": [50, 51, 52], "resnet18_mlp_pretrained": [40, 41.5, 42],
                  "mit_b0_pretrained": [51, 52, 50], "mit_b0_s4_pretrained": [51.5, 51, 49.5],
                  "deeplabv3_r18_pretrained": [45, 45, 45], "mit_b1_scratch": [30, 30.5, 31],
                  "resnet18_mlp_scratch": [35, 35, 36], "mit_b0_scratch": [30, 31, 30], "mit_b0_s4_scratch": [20, 20.5, 21]})
    frame = frame.assign(run_id=[f"r{i}" for i in range(len(frame))])
    # The ERF of the same ResNet-18 runs: half of its head's ERF mass inside 0.6 of the crop side (REACH: it does
    # not see all), while 99% of its stage-4 mass needs 0.98 of it (OTHER_REACH: it would cover the crop).
    resnet = frame[frame["variant"].str.startswith("resnet18_mlp")]
    erf = resnet[["variant", "seed", "run_id"]].assign(**{"erf_trained_head_t0.5": 0.6, "erf_trained_stage4_t0.99": 0.98})
    found = decoder_vs_cnn.decoder_vs_cnn_claims(frame, erf=erf)
    # MiT-B1 - ResNet-18 per seed: +10, +9.5, +10; MiT-B0 stages 1-4 - stage 4: -0.5, +1, +0.5 (mixed signs)
    assert [c.outcome for c in found] == ["supported", "inconclusive"]
    expected = stats.ttest_rel([50, 51, 52], [40, 41.5, 42]).confidence_interval(0.95)
    assert found[0].difference == pytest.approx(29.5 / 3) and found[0].seeds == 3
    assert found[0].interval() == pytest.approx((expected.low, expected.high))
    assert found[1].interval()[0] < 0 < found[1].interval()[1]
    assert [r.outcome for r in found[0].requires] == ["supported"] * 3
    assert "holding 50% of its head ERF mass" in found[0].requires[-1].text
    # The reach by the other definition (stage 4, 99%) covers the crop: there, the encoder claim is not tested.
    other = decoder_vs_cnn.decoder_vs_cnn_claims(frame, erf=erf, reach=decoder_vs_cnn.OTHER_REACH)
    assert other[0].outcome == "not tested" and other[0].requires[-1].outcome == "contradicted"
    assert "holding 99% of its stage-4 ERF mass" in other[0].requires[-1].text
    scratch = decoder_vs_cnn.decoder_vs_cnn_claims(frame, "scratch", erf=erf)  # -5, -4.5, -5; +10, +10.5, +9
    assert [c.outcome for c in scratch] == ["contradicted", "supported"]
    assert [c.outcome for c in decoder_vs_cnn.decoder_vs_cnn_context(frame)] == ["supported"] * 3
    unhelpful = frame.assign(miou=np.where(frame["variant"] == "mit_b1_scratch", 55.0, frame["miou"]))
    found = decoder_vs_cnn.decoder_vs_cnn_claims(unhelpful, erf=erf)  # pretraining does not help MiT-B1: not tested
    assert [c.outcome for c in found] == ["not tested", "inconclusive"]
    assert found[0].requires[0].outcome == "contradicted"
    assert "(condition not met: The embedded pretraining helps mit_b1" in found[0].sentence()
    # A CNN whose reach already covers the crop, ERF rows of other runs, or none: the mechanism is not tested.
    covering = decoder_vs_cnn.decoder_vs_cnn_claims(
        frame, erf=erf.assign(**{"erf_trained_head_t0.5": 0.98 + 0.01 * (erf["seed"] - 1)}))  # 0.97, 0.98, 0.99
    assert covering[0].outcome == "not tested" and covering[0].requires[-1].outcome == "contradicted"
    assert "mean 0.98 vs limit 0.95" in covering[0].requires[-1].sentence()
    for other in (erf.assign(run_id="old"), None, erf.drop(columns="erf_trained_head_t0.5")):
        found = decoder_vs_cnn.decoder_vs_cnn_claims(frame, erf=other)
        assert found[0].outcome == "not tested" and found[0].requires[-1].outcome == "not measured"
        assert "beyond ResNet-18 + MLP's reach on the training crop (side of the square holding 50% of its " \
               "head ERF mass, as a fraction of the crop, pretrained): not measured" in found[0].requires[-1].sentence()
    split = decoder_vs_cnn.split_variant(frame)
    assert split.loc[0, "encoder"] == "mit_b1" and set(split["init"]) == {"pretrained", "scratch"}
    assert split[split["variant"] == "mit_b0_s4_scratch"]["encoder"].iloc[0] == "mit_b0_s4"


def test_reduction_ratio_claims():
    reduction_ratio, NEGLIGIBLE_MIOU = load_module("reduction_ratio"), load_module("decoder_width").NEGLIGIBLE_MIOU
    costs = pd.DataFrame({"variant": ["sr_1111", "sr_8421"] * 2, "size": [64, 64, 128, 128],
                          "attention_gmacs_measured": [1.0, 0.1, 4.0, 0.2],
                          "attention_gmacs_analytic": [1.0, 0.1, 4.0, 0.2]})
    # per seed the reduction loses 0.1, gains 0.1, loses 0.1: the 90% interval lies above -0.5 (NEGLIGIBLE_MIOU)
    close = rows({"sr_1111": [50, 52, 51], "sr_8421": [49.9, 52.1, 50.9]}).assign(crop_size=128)
    found = reduction_ratio.reduction_ratio_claims(close, costs)
    assert [c.outcome for c in found] == ["supported", "holds"]  # the no-worse claim; the MACs fact
    assert found[0].margin == NEGLIGIBLE_MIOU[0] == 0.5 and [c.role for c in found] == ["claim", "fact"]
    lo, _ = stats.ttest_rel([49.9, 52.1, 50.9], [50, 52, 51]).confidence_interval(0.90)
    assert found[0].interval(0.90)[0] == pytest.approx(lo) and lo > -0.5
    assert found[0].requires[0].mean_a == pytest.approx(0.05)  # attention MACs at the 128 px crop: 0.2 / 4.0
    assert found[0].requires[0].outcome == "holds"
    # -0.5, -1.5, 0: within the seed range (the earlier rule held it), but the 90% interval reaches below -0.5
    spread = rows({"sr_1111": [50, 52, 51], "sr_8421": [49.5, 50.5, 51]}).assign(crop_size=128)
    found = reduction_ratio.reduction_ratio_claims(spread, costs)
    assert found[0].outcome == "inconclusive" and found[0].unpaired_outcome() == "supported"
    worse = reduction_ratio.reduction_ratio_claims(rows({"sr_1111": [60, 60.5], "sr_8421": [50, 50.7]}).assign(crop_size=128),
                                                   costs.assign(attention_gmacs_analytic=[1.0, 0.1, 5.0, 0.2]))
    assert [c.outcome for c in worse] == ["contradicted", "fails"]  # -10, -9.8: wholly below -0.5; 5.3 vs 6.3 MACs
    assert "tolerance" in worse[1].sentence()
    no_reduction = costs.assign(attention_gmacs_measured=[1.0, 1.0, 4.0, 4.0])
    assert reduction_ratio.reduction_ratio_claims(close, no_reduction)[0].outcome == "not tested"


def test_erf_claims_read_side_ratios():
    erf = load_module("erf")
    cols = {f"erf_trained_{t}_t{x}": 0.1 for t in TARGETS for x in THRESHOLDS}
    wide = {**cols, "erf_trained_stage4_t0.5": 0.8, "erf_trained_stage4_t0.2": 0.5, "erf_trained_head_t0.2": 0.1,
            "erf_trained_head_t0.99": 0.9}

    def jitter(values, s):  # per-seed values a little apart, so that each interval has a width
        return {k: v + 0.01 * s for k, v in values.items()}
    frame = pd.DataFrame([{"variant": "mit_b0_pretrained", "seed": s, **jitter(wide, s)} for s in range(3)]
                         + [{"variant": "resnet18_mlp_pretrained", "seed": s, **jitter(cols, (s * 2) % 3)}
                            for s in range(3)]
                         + [{"variant": v, "seed": 0, **cols} for v in ("mit_b0_scratch", "resnet18_mlp_scratch")])
    found = erf.erf_claims(frame)
    assert [c.outcome for c in found] == ["supported", "supported", "supported"]
    assert [c.outcome for c in found[0].requires + found[2].requires] == ["supported", "supported"]
    a, b = [0.80, 0.81, 0.82], [0.10, 0.12, 0.11]  # stage 4, 50%: SegFormer's and the CNN's per seed
    expected = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert found[0].interval() == pytest.approx((expected.low, expected.high))
    scratch = erf.erf_claims(frame, "scratch")  # one seed each: nothing to judge
    assert [c.outcome for c in scratch] == ["not judged"] * 3 and "fewer than 2 seeds" in scratch[1].sentence()
    clipped = frame.assign(**{"erf_trained_head_t0.99": 0.99})  # the crop clips the 99% squares
    assert [c.outcome for c in erf.erf_claims(clipped)] == ["supported", "supported", "not tested"]
    global_mit = frame.copy()  # only SegFormer's square fills the crop: a lower bound of a lead, still judged
    global_mit.loc[global_mit["variant"] == "mit_b0_pretrained", "erf_trained_head_t0.99"] = 0.99
    found = erf.erf_claims(global_mit)
    assert found[2].outcome == "supported" and "The CNN's square holding 99% of its head ERF stays inside" in \
        found[2].requires[0].text
    table = erf.erf_table(frame)
    assert list(table.columns) == list(TARGETS) and table.loc["mit_b0_pretrained", "stage4"] == pytest.approx(0.81)


def test_erf_claims_move_to_the_largest_view_measured_and_the_table_gives_pixels():
    erf = load_module("erf")
    decoder_vs_cnn = load_module("decoder_vs_cnn")
    crop_cols = {f"erf_trained_{t}_t{x}": 0.99 for t in TARGETS for x in THRESHOLDS}  # clipped on the crop
    view = {f"erf_trained_c512_{t}_t{x}": 0.1 for t in TARGETS for x in THRESHOLDS}
    wide = {**view, "erf_trained_c512_stage4_t0.5": 0.5, "erf_trained_c512_stage4_t0.2": 0.3,
            "erf_trained_c512_head_t0.99": 0.6}
    frame = pd.DataFrame([{"variant": "mit_b0_pretrained", "seed": s, "crop_size": 128, **crop_cols, **wide}
                          for s in range(3)]
                         + [{"variant": "resnet18_mlp_pretrained", "seed": s, "crop_size": 128, **crop_cols, **view}
                            for s in range(3)])
    assert erf.erf_canvases(frame) == [512]
    found = erf.erf_claims(frame)
    assert [c.outcome for c in found] == ["supported", "supported", "supported"] and "512 px views" in found[2].text
    on_crop = erf.erf_claims(frame.drop(columns=list(view)))  # on the crop alone the squares are clipped
    assert [c.outcome for c in on_crop] == ["not tested", "inconclusive", "not tested"]
    assert on_crop[1].difference == 0.0  # 0.99 against 0.99 on every seed
    table = erf.erf_sizes_table(frame)
    assert table.loc[("mit_b0_pretrained", "512 px"), "head, 99%"] == "0.60 (307 px)"
    assert table.loc[("resnet18_mlp_pretrained", "128 px (training crop)"), "stage4, 50%"] == "0.99 (127 px)"
    # Table 1d's condition (REACH: the CNN's square holding half of its head's ERF mass) measured on 512 px views,
    # over the 128 px crop
    runs = frame.assign(run_id=[f"r{i}" for i in range(6)])
    reach = decoder_vs_cnn.cnn_reach(runs, runs)
    assert decoder_vs_cnn.REACH == ("head", 0.5)
    assert reach.outcome == "supported" and reach.mean_a == pytest.approx(0.4)  # 0.1 x 512 px / 128 px
    far = runs.assign(**{"erf_trained_c512_head_t0.5": 0.25})  # 128 px: the whole crop
    assert decoder_vs_cnn.cnn_reach(far, far).outcome == "contradicted"
    # the other definition (99% of the stage-4 mass) reads its own column, still 0.1 of the view here
    assert decoder_vs_cnn.cnn_reach(far, far, "pretrained", *decoder_vs_cnn.OTHER_REACH).outcome \
        == "supported"
    assert decoder_vs_cnn.reach_note(runs, runs, None) == ""  # the reach leaves room: nothing to explain
    budget = pd.DataFrame([{"variant": f"{e}_i1000_256px", "seed": 0, "crop_size": 256, "train_seconds": 1800.0}
                           for e in ("mit_b1", "resnet18_mlp")])
    note = decoder_vs_cnn.reach_note(far, far, budget)
    assert "the square holding 50% of its head ERF mass measures 128 px on 512 px views" in note
    assert "1.0 times the 128 px training crop" in note
    assert "A crop of at least 135 px" in note and "(1 seed(s) so far" in note and ": 4 more runs" in note


def test_pretraining_note_lists_each_pretraining_once():
    decoder_vs_cnn = load_module("decoder_vs_cnn")
    frame = pd.DataFrame({"encoder": ["mit_b0", "mit_b0_s4", "resnet18_mlp", "deeplabv3_r18"],
                          "cache_key": ["a", "a", "r", "r"], "final_loss": [0.3, 0.3, 0.2, 0.2]})
    assert decoder_vs_cnn.pretraining_note(frame).endswith("0.5): mit_b0 0.300, resnet18_mlp 0.200.")


def test_recipe_note_names_each_choice_beside_its_random_floor():
    decoder_vs_cnn = load_module("decoder_vs_cnn")
    frame = pd.DataFrame([
        {"encoder": "mit_b1", "family": "MiT", "init": "random", "lr": np.nan, "weight_decay": np.nan,
         "heldout_loss": np.nan, "probe_miou": 41.0, "chosen": False},
        {"encoder": "mit_b1", "family": "MiT", "init": "pretrained", "lr": 3e-4, "weight_decay": 0.5,
         "heldout_loss": 0.2367, "probe_miou": 49.0, "chosen": True},
        {"encoder": "mit_b1", "family": "MiT", "init": "pretrained", "lr": 1e-3, "weight_decay": 0.05,
         "heldout_loss": 0.31, "probe_miou": 39.4, "chosen": False},
        {"encoder": "resnet18", "family": "ResNet", "init": "pretrained", "lr": 1e-3, "weight_decay": 0.05,
         "heldout_loss": 0.2, "probe_miou": 60.0, "chosen": False}])
    note = decoder_vs_cnn.recipe_note(frame)
    assert ("mit_b1 (MiT) chose lr 0.0003, weight decay 0.5 of 2 recipes: held-out loss 0.237, linear probe 49.0 "
            "mIoU against 41.0 for a random encoder (probes of the grid 39.4-49.0)") in note
    assert "resnet18: grid incomplete (1 recipes tried; no random-encoder probe yet)" in note


def test_summarise_and_compact():
    summary = analysis.summarise(rows({"a": [1.0, 3.0], "b": [5.0]}), ["miou"])
    assert summary.loc["a", "miou"] == 2.0 and summary.loc["a", "miou_range"] == 2.0 and summary.loc["b", "seeds"] == 1
    text = analysis.compact(summary)
    assert text.loc["a", "miou"] == "2.00 (2.00)" and text.loc["b", "miou"] == "5.00"


def test_paper_tables_come_from_the_reference_file():
    decoder_vs_cnn = load_module("decoder_vs_cnn")
    paper = analysis.read_paper("results")
    table = decoder_vs_cnn.decoder_vs_cnn_paper(paper)
    assert table.loc[("segformer_b2", "S1-4"), "miou_ss"] == 45.4
    beside = load_module("pe_vs_mixffn").pe_vs_mixffn_beside_paper(
        pd.DataFrame({"variant": ["mixffn_street", "learned_pe_street", "sincos_pe_street"], "seed": [0, 0, 0],
                      "scene_family": "street", "miou": [50.0, 40.0, 41.0], "slide_256x512_miou": [50.0, 40.0, 41.0],
                      "whole_256x512_miou": [49.0, 30.0, 40.0], "whole_128x256_zoom_0.5_miou": [1.0, 1.0, 1.0]}),
        paper)
    assert beside.loc["learned_pe_street", "ours: drop"] == 10.0
    assert beside.loc["learned_pe_street", "paper: drop"] == 3.3 and beside.loc["mixffn_street", "paper: drop"] == 0.7
    assert np.isnan(beside.loc["sincos_pe_street", "paper: drop"])
    with pytest.raises(ValueError, match="no rows for table '9z'"):
        analysis.paper_table(paper, "9z")


def test_erf_maps_average_seeds_and_name_missing_files(tmp_path):
    frame = pd.DataFrame({"variant": ["m", "m"], "seed": [0, 1], "run_id": ["aa", "bb"]})
    for seed, rid, value in ((0, "aa", 1.0), (1, "bb", 3.0)):
        for target in TARGETS:
            np.save(tmp_path / f"m_s{seed}_{rid}_trained_{target}.npy", np.full((4, 4), value, np.float32))
    maps = load_maps(tmp_path, frame)
    assert maps["m"]["head"].shape == (4, 4) and np.allclose(maps["m"]["stage1"], 2.0)
    with pytest.raises(FileNotFoundError, match="m_s0_aa_init_stage1.npy"):
        load_maps(tmp_path, frame, "init")


def test_ablation_figures(tmp_path):
    decoder_vs_cnn = load_module("decoder_vs_cnn")
    point = np.zeros((9, 9))
    point[4, 4] = 1.0
    maps = {"cnn": {"stage1": point, "head": np.ones((9, 9))}, "mit": {"stage1": point, "head": point}}
    fig = plotting.erf_figure(maps)
    assert len(fig.axes) == 5 and fig.axes[0].get_title() == "stage 1" and "20%: 0.11" in fig.axes[0].get_xlabel()
    assert fig.axes[-1].get_label() == "<colorbar>"  # one shared colour bar
    plotting.save(fig, tmp_path / "erf.png")
    costs = pd.DataFrame({"variant": ["a", "a", "b", "b"], "size": [64, 128, 64, 128],
                          "attention_gmacs_measured": [1.0, 16.0, 0.5, 8.0], "attention_gmacs_analytic": [1, 16, .5, 8],
                          "total_gmacs": [2.0, 8.0, 1.5, 6.0], "peak_mem_mb": [10.0, 40.0, 9.0, 30.0],
                          "latency_ms": [1.0, 4.0, 1.0, 3.0]})
    fig = plotting.cost_vs_size(costs)
    assert len(fig.axes) == 4 and len(fig.axes[0].lines) == 4  # measured and analytic per variant
    plotting.save(fig, tmp_path / "cost.png")
    frame = rows({"a_scratch": [1.0, 2.0], "a_pretrained": [3.0, 4.0]}).assign(gflops=1.0, thing_miou=0.5)
    split = decoder_vs_cnn.split_variant(frame)
    assert plotting.save(plotting.grouped_dots(split, "encoder", "init"), tmp_path / "b.png").stat().st_size > 1000
    assert plotting.save(plotting.metric_vs_cost(split, hue="encoder", style="init"), tmp_path / "c.png").is_file()


def test_report_from_smoke_results(smoke_results):
    out = build_report(smoke_results)
    text = out.read_text()
    for name in ablation_names():
        assert (smoke_results / "figures" / f"{name}.png").stat().st_size > 1000
        assert f"![{name}](figures/{name}.png)" in text
    table = [line for line in text.splitlines() if line.startswith("| ") and "smoke" in line]
    assert len(table) == len(ablation_names()) and all("not available" not in line for line in table)
    assert "Not available" not in text


def test_report_marks_missing_and_incomplete_results(tmp_path, smoke_results):
    frame = pd.read_csv(smoke_results / "pe_vs_mixffn.csv")
    assert list(frame["variant"]) == ["mixffn_street", "learned_pe_street", "sincos_pe_street", "no_pe_street",
                                      "learned_pe_aerial"]
    assert frame["miou_pe_zeroed"].notna().tolist() == [False, True, True, False, True]
    frame.iloc[:2].to_csv(tmp_path / "pe_vs_mixffn.csv", index=False)  # 2 of the 5 planned smoke runs
    s = section(tmp_path, "pe_vs_mixffn", figures=False)
    assert (s.runs, s.planned, len(s.claims)) == (2, 5, 2)
    assert s.verdict == "not judged (incomplete: 2/5 runs)"  # one seed of each: no comparison is judged
    assert all(c.outcome == "not judged" for c in s.claims + s.validity)
    assert "1 seed: not judged (fewer than 2 seeds)" in s.claims[0].sentence()
    assert len(s.validity) == 1 and "learned PE (street, pretrained)" in s.validity[0].text
    frame.iloc[:1].to_csv(tmp_path / "pe_vs_mixffn.csv", index=False)
    s = section(tmp_path, "pe_vs_mixffn", figures=False)
    assert s.verdict == "not available" and "no rows for variant 'learned_pe_street'" in s.problem
    text = build_report(tmp_path).read_text()
    assert "no results yet (segformer-lab run erf" in text and "Not available: no rows for variant" in text
    assert "Error" not in text  # a problem in words, no exception's name


def test_report_picks_the_largest_preset_present(tmp_path, smoke_results):
    frame = pd.read_csv(smoke_results / "pe_vs_mixffn.csv")
    pd.concat([frame, frame.assign(preset="quick", miou=frame["miou"] + 1)]).to_csv(tmp_path / "pe_vs_mixffn.csv",
                                                                                    index=False)
    quick, smoke = section(tmp_path, "pe_vs_mixffn", figures=False), section(tmp_path, "pe_vs_mixffn", "smoke", False)
    assert (quick.preset, smoke.preset, quick.runs) == ("quick", "smoke", 5)
    assert quick.frame["miou"].tolist() == pytest.approx((frame["miou"] + 1).tolist())


def test_cli_report(tmp_path, capsys, cli_error):
    from segformer_lab.cli import main
    assert "no results folder" in cli_error(["report", tmp_path / "absent"])
    main(["report", str(tmp_path)])
    assert (tmp_path / "report.md").is_file() and "report:" in capsys.readouterr().out


def test_pe_notes_say_what_the_pe_weighs_and_what_removing_it_costs():
    frame = pd.DataFrame([{"variant": "learned_pe_street", "seed": s, "miou": 80.0 + s, "miou_pe_zeroed": 79.8 + s,
                           "miou_pe_shuffled": 79.5 + s, "pe_token_ratio": 0.02} for s in range(3)])
    note = load_module("pe_vs_mixffn").pe_diagnosis(frame, "street")
    assert note == ("A learned PE (street, pretrained, 3 run(s)): at stage 1 its norm is 0.02 of the tokens it is added "
                    "to; zeroing it at test time changes mIoU by -0.20 (per seed -0.20 to -0.20), shuffling its "
                    "positions by -0.50 (-0.50 to -0.50).")
    assert load_module("pe_vs_mixffn").pe_diagnosis(frame, "aerial") == ""
    pretraining = pd.DataFrame({"variant": ["mixffn_street", "learned_pe_street"], "pretext": "region_presence",
                                "final_loss": [0.141, 0.189], "pe_token_ratio": [float("nan"), 0.0223]})
    assert load_module("pe_vs_mixffn").pe_pretraining_note(pretraining).endswith(
        "mixffn_street 0.141; learned_pe_street 0.189, PE at 0.022 of the tokens.")


def test_gpu_runs_are_reported_beside_the_cpu_default_ones(tmp_path):
    """Rows of the gpu preset as it stands are counted towards its plan; rows made under an earlier version of it
    (another budget or crop: another run id) are named as such and kept apart in the table."""
    import pandas as pd

    from segformer_lab.repo import load_experiment
    from segformer_lab.report import gpu_lines
    from segformer_lab.runner import planned_runs, run_id
    assert gpu_lines(tmp_path) == []  # no gpu/ folder: no section
    ids = {(v, s): run_id(cfg) for v, s, cfg in planned_runs(load_experiment("decoder_vs_cnn"), "gpu")}
    now = {"experiment": "decoder_vs_cnn", "iterations": 1000, "batch_size": 16, "crop_size": 256,
           "device": "NVIDIA H100"}
    (tmp_path / "gpu").mkdir()
    pd.DataFrame([{**now, "variant": "mit_b1_pretrained", "seed": s, "preset": "gpu",
                   "run_id": ids["mit_b1_pretrained", s], "miou": 60.0 + s} for s in range(3)]
                 + [{**now, "iterations": 2000, "batch_size": 32, "crop_size": 128, "variant": "mit_b1_pretrained",
                     "seed": 0, "preset": "gpu", "run_id": "earlier", "miou": 50.0}]).to_csv(
        tmp_path / "gpu" / "decoder_vs_cnn.csv", index=False)
    pd.DataFrame([{"variant": "mit_b1_pretrained", "seed": s, "preset": p, "miou": m}
                  for s, p, m in [(0, "default", 55.0), (1, "default", 57.0), (0, "quick", 10.0)]]).to_csv(
        tmp_path / "decoder_vs_cnn.csv", index=False)
    text = "\n".join(gpu_lines(tmp_path))
    assert "## On a GPU" in text and "MLP decoder on CNN vs Transformer encoders (Table 1d)" in text
    assert ("`gpu/decoder_vs_cnn.csv` holds 4 run(s): mit_b1_pretrained (4 seeds); trained on NVIDIA H100 (date not "
            "recorded). 3 of them are runs of the gpu preset as it now stands (27 planned); 1 was made under an "
            "earlier gpu preset (2000 x 32 at 128 px), kept as a record") in text
    assert "Verdict on the GPU" not in text  # 3 of 27 runs: no verdict of its own yet
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| mit_b1_pretrained")]
    assert rows == [
        ["mit_b1_pretrained", "NVIDIA H100", "1000 x 16 at 256 px", "3", "61.00 (60.00-62.00)", "2",
         "56.00 (55.00-57.00)"],
        ["mit_b1_pretrained", "NVIDIA H100", "2000 x 32", "1", "50.00", "2", "56.00 (55.00-57.00)"]]


def test_the_one_seed_note_concerns_only_claims_judged_against_the_seed_spread():
    """One seed leaves a comparison of seeds not judged; a single measurement against a limit (a fact of
    arithmetic, no seeds involved) is shown as it stands and does not make the section "not judged"."""
    from segformer_lab.report import Section
    from segformer_lab.verdicts import FACT, above, claim
    s = Section("decoder_width", runs=3, planned=3)
    s.claims = [claim("c256 beats c64", [52.0, 52.5, 53.0], [50.0, 50.5, 51.0]),
                above("the cost keeps rising", [1.25], 1.0, role=FACT)]  # one measurement against a limit
    assert [c.outcome for c in s.claims] == ["supported", "holds"] and s.verdict == "reproduces"
    s.claims[0] = claim("c256 beats c64", [52.0], [50.0])
    assert s.claims[0].outcome == "not judged" and "1 seed: not judged (fewer than 2 seeds)" in s.claims[0].sentence()
    assert s.claims[1].outcome == "holds" and s.verdict == "not judged"


def test_report_saves_each_key_figure_in_every_format_asked(smoke_results, tmp_path):
    import shutil
    results = shutil.copytree(smoke_results, tmp_path / "results", ignore=shutil.ignore_patterns("figures"))
    text = build_report(results, formats=("svg", "png")).read_text()
    for name in ablation_names():
        assert (results / "figures" / f"{name}.svg").read_text().lstrip().startswith("<?xml")
        assert (results / "figures" / f"{name}.png").stat().st_size > 1000
        assert f"![{name}](figures/{name}.svg)" in text  # the report shows the first format
    with pytest.raises(ValueError, match="figure format.s. eps; expected some of png, pdf, svg"):
        build_report(results, formats=("png", "eps"))

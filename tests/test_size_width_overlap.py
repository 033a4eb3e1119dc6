"""Table 1a (model size), Table 1b (decoder width) and overlapping patch merging: the experiments reuse
decoder_vs_cnn's runs, and their found are computed right on rows whose answer is known."""
import pandas as pd
import pytest
from scipy import stats

from segformer_lab.repo import load_experiment, load_module
from segformer_lab.runner import planned_runs, run_id
from segformer_lab.verdicts import signed


def ids(experiment: str, preset: str = "default") -> dict:
    return {run_id(cfg): variant for variant, _, cfg in planned_runs(load_experiment(experiment), preset)}


def test_runs_shared_with_decoder_vs_cnn():
    decoder = ids("decoder_vs_cnn")
    size, width, overlap = ids("model_size"), ids("decoder_width"), ids("overlap_patch_embed")
    assert sorted({size[i] for i in size if i in decoder}) == ["mit_b0", "mit_b1"]
    assert {width[i] for i in width if i in decoder} == {"c256"}
    assert {overlap[i] for i in overlap if i in decoder} == {"overlap"}
    assert len(width) == 24 and len(overlap) == 6
    # model_size's declared plan: B0 on 3 seeds (settled there), B1 and B2 on 5 (VARIANT_SEEDS: B2 vs B1 needed
    # them); decoder_vs_cnn's B0 and B1 runs of seeds 0-2 are shared, B1's seeds 3 and 4 are model_size's own
    plan = [(v, s) for v, s, _ in planned_runs(load_experiment("model_size"), "default")]
    assert len(size) == len(plan) == 13
    assert {v: sorted(s for w, s in plan if w == v) for v, _ in plan} == {
        "mit_b0": [0, 1, 2], "mit_b1": [0, 1, 2, 3, 4], "mit_b2": [0, 1, 2, 3, 4]}
    shared = [(v, s) for (v, s, cfg) in planned_runs(load_experiment("model_size"), "default") if run_id(cfg) in decoder]
    assert sorted(shared) == [(v, s) for v in ("mit_b0", "mit_b1") for s in range(3)]


def test_late_loss_drop():
    module = load_module("model_size")
    flat = [(i, 1.0) for i in range(10, 1001, 10)]
    assert module.late_loss_drop(flat) == 0.0
    falling = [(i, 2.0 if i <= 600 else 1.0) for i in range(10, 1001, 10)]
    assert module.late_loss_drop(falling) == pytest.approx(1.0)  # (2 - 1) / 1
    assert pd.isna(module.late_loss_drop([(2, 5.0)]))


def size_rows(drops: dict, miou: dict) -> pd.DataFrame:
    dims = {"mit_b0": 256, "mit_b1": 256, "mit_b2": 768}
    params = {"mit_b0": (3.3e6, 0.4e6), "mit_b1": (13.1e6, 0.5e6), "mit_b2": (24.2e6, 3.3e6)}
    return pd.DataFrame([{"variant": v, "seed": s, "miou": miou[v][s], "late_loss_drop": drops[v][s],
                          "decoder_dim": dims[v], "encoder_params": params[v][0], "decoder_params": params[v][1],
                          "params": sum(params[v])} for v in miou for s in range(3)])


def test_model_size_claims_and_convergence_check():
    model_size, CONVERGED_MARGIN = load_module("model_size"), load_module("model_size").CONVERGED_MARGIN
    # B1 - B0 is +5 on every seed; B2 - B1 is +1, -0.5, +0.5 (mixed signs)
    miou = {"mit_b0": [50, 51, 52], "mit_b1": [55, 56, 57], "mit_b2": [56, 55.5, 57.5]}
    converged = size_rows({v: [0.10, 0.11, 0.12] for v in miou}, miou)
    found = model_size.model_size_claims(converged)
    assert [c.outcome for c in found] == ["supported", "inconclusive", "holds"]  # b1 > b0, b2 ~ b1, share b0 > b1 (a fact)
    assert [c.role for c in found] == ["claim", "claim", "fact"]
    expected = stats.ttest_rel([56, 55.5, 57.5], [55, 56, 57]).confidence_interval(0.95)
    assert found[1].interval() == pytest.approx((expected.low, expected.high)) and expected.low < 0 < expected.high
    assert "at the same decoder width" in found[2].text and len(found) == 3  # b1 -> b2 change width: no claim
    convergence = found[0].requires[0]
    assert convergence.role == "condition" and convergence.outcome == "supported"
    assert convergence.margin == CONVERGED_MARGIN[0] == 0.10
    # B2 still sheds 0.04 more of its loss than B0 (0.14-0.16 against 0.10-0.12): inside the 0.10 margin
    near = size_rows({"mit_b0": [0.10, 0.11, 0.12], "mit_b1": [0.10] * 3, "mit_b2": [0.14, 0.16, 0.15]}, miou)
    assert model_size.model_size_claims(near)[0].requires[0].outcome == "supported"
    # 0.20 more on every seed: beyond the margin; a noisy drop (-0.05, +0.24, +0.03): neither
    still_learning = size_rows({"mit_b0": [0.10] * 3, "mit_b1": [0.10] * 3, "mit_b2": [0.30] * 3}, miou)
    found = model_size.model_size_claims(still_learning)
    assert [c.outcome for c in found][:2] == ["not tested", "not tested"]
    assert found[0].requires[0].outcome == "contradicted"
    noisy = size_rows({"mit_b0": [0.10, 0.11, 0.12], "mit_b1": [0.10] * 3, "mit_b2": [0.05, 0.35, 0.15]}, miou)
    found = model_size.model_size_claims(noisy)
    assert found[0].requires[0].outcome == "inconclusive" and found[0].outcome == "not tested"


def test_decoder_width_claims():
    decoder_width, NEGLIGIBLE_MIOU = load_module("decoder_width"), load_module("decoder_width").NEGLIGIBLE_MIOU
    dims, gmacs = {"c64": 64, "c256": 256, "c768": 768}, {"c64": 1.0, "c256": 2.0, "c768": 6.0}
    def rows(miou):
        return pd.DataFrame([{"variant": v, "seed": s, "miou": miou[v][s], "decoder_dim": dims[v],
                              "gmacs_512": gmacs[v]} for v in miou for s in range(3)])
    # C = 256 against 768 per seed: -0.2, +0.1, -0.1: the 90% interval lies above -0.5 (NEGLIGIBLE_MIOU)
    saturates = decoder_width.decoder_width_claims(rows({"c64": [40, 41, 42], "c256": [50, 51, 52],
                                                         "c768": [50.2, 50.9, 52.1]}))
    assert [c.outcome for c in saturates] == ["supported", "holds"] and saturates[1].role == "fact"
    assert saturates[0].margin == NEGLIGIBLE_MIOU[0] == 0.5 and saturates[0].requires[0].outcome == "supported"
    lo, _ = stats.ttest_rel([50, 51, 52], [50.2, 50.9, 52.1]).confidence_interval(0.90)
    assert saturates[0].interval(0.90)[0] == pytest.approx(lo) and lo > -0.5
    assert saturates[1].mean_a == 2.0  # the smallest step: 256 -> 768 costs 3x, 64 -> 256 2x
    # C = 768 a point above 256 on every seed: more than the margin, so accuracy did not saturate
    gains_a_point = decoder_width.decoder_width_claims(rows({"c64": [40, 41, 42], "c256": [50, 51, 52],
                                                             "c768": [51, 52, 53]}))
    assert gains_a_point[0].outcome == "contradicted"
    flat = decoder_width.decoder_width_claims(rows({"c64": [50, 51, 52], "c256": [50, 51, 52], "c768": [50, 51, 52]}))
    assert flat[0].outcome == "not tested"  # width never mattered: saturation is not tested
    gains = decoder_width.decoder_width_claims(rows({"c64": [40, 41, 42], "c256": [50, 51, 52], "c768": [60, 61, 62]}))
    assert gains[0].outcome == "contradicted"


def test_overlap_claims():
    overlap = load_module("overlap_patch_embed")
    # mIoU per seed: overlapping - non-overlapping -0.5, +1, +0.5 (mixed signs); boundary mIoU +10 on every seed
    frame = pd.DataFrame([{"variant": v, "seed": s, "miou": m, "boundary_miou": b}
                          for v, ms, bs in (("overlap", (60, 61, 62), (40, 41, 42)),
                                            ("non_overlap", (60.5, 60, 61.5), (30, 31, 32)))
                          for s, (m, b) in enumerate(zip(ms, bs))])
    found = overlap.overlap_claims(frame)
    assert [c.outcome for c in found] == ["inconclusive", "supported"]
    assert found[0].difference == pytest.approx(1 / 3) and found[1].requires[0].outcome == "supported"
    easy = frame.assign(boundary_miou=frame["miou"])
    assert overlap.overlap_claims(easy)[1].outcome == "not tested"


DECODERS = ("setr_naive", "setr_pup", "setr_mla")


def test_setr_claims():
    setr = load_module("setr_vs_segformer")

    def rows(setr_zeroed):
        out = []
        for s in range(3):
            out.append({"variant": "segformer_b1", "seed": s, "miou": 60 + s, "gmacs_512": 16.0,
                        "whole_256x512_miou": 59 + s, "miou_pe_zeroed": float("nan")})
            out.append({"variant": "setr_pup", "seed": s, "miou": 58 + s, "gmacs_512": 80.0,
                        "whole_256x512_miou": 50 + s, "miou_pe_zeroed": setr_zeroed + s})
        return pd.DataFrame(out)
    found = setr.setr_claims(rows(setr_zeroed=40))
    assert [c.outcome for c in found] == ["supported", "supported"]  # 60/16 vs 58/80 per GMAC; drop 8 vs 1
    assert found[1].mean_a == pytest.approx(8.0) and found[1].mean_b == pytest.approx(1.0)
    assert found[1].requires[0].outcome == "supported"  # zeroing the PE costs 18 on every seed
    assert setr.setr_claims(rows(setr_zeroed=58))[1].outcome == "not tested"  # the PE carried nothing
    unused = rows(setr_zeroed=58)
    started = unused[unused["variant"] == "setr_pup"].assign(variant="setr_pup_sincos", miou_pe_zeroed=20.0)
    found = setr.setr_claims(pd.concat([unused, started]))  # the resolution claim moves to the used PE
    assert [c.outcome for c in found] == ["supported", "supported"] and "setr_pup_sincos loses more" in found[1].text
    assert setr.setr_resolution_claims(unused, "setr_pup")[0].outcome == "not tested"
    ids_setr = ids("setr_vs_segformer")
    assert {ids_setr[i] for i in ids_setr if i in ids("decoder_vs_cnn")} == {"segformer_b0", "segformer_b1"}
    # The default preset trains the sin-cos start; the trunc-normal runs' rows count as planned where present.
    from segformer_lab.report import planned_count
    module = load_experiment("setr_vs_segformer")
    kept = {run_id(cfg) for v, _, cfg in planned_runs(module, "default", declared=True) if v in DECODERS}
    assert not kept & set(ids_setr) and len(kept) == 9
    assert planned_count("setr_vs_segformer", "default", kept) == len(ids_setr) + 9
    assert planned_count("setr_vs_segformer", "default", ["0123456789ab"]) == len(ids_setr)  # undeclared: not counted


def test_setr_pe_note(tmp_path):
    """The note of a sin-cos SETR whose PE-use condition is not supported: its per-seed cost with the paired
    interval and outcome, the trunc-normal start's cost, the longer run's one seed on record (not judged), and a
    GPU estimate from the gpu folder's measured rate."""
    setr = load_module("setr_vs_segformer")
    costs = (1.0, -0.5, 2.0)  # what zeroing the sin-cos SETR's PE costs per seed: mixed signs
    rows = []
    for s in range(3):
        rows.append({"variant": "segformer_b1", "seed": s, "miou": 60.0 + s, "whole_256x512_miou": 59.0,
                     "miou_pe_zeroed": float("nan"), "gflops": 2.0, "iterations": 1000, "batch_size": 8})
        rows.append({"variant": "setr_pup", "seed": s, "miou": 50.0 + 2 * s, "whole_256x512_miou": 49.0,
                     "miou_pe_zeroed": 50.0 + 2 * s, "gflops": 3.0, "iterations": 1000, "batch_size": 8})
        rows.append({"variant": "setr_pup_sincos", "seed": s, "miou": 50.0 + 2 * s, "whole_256x512_miou": 49.0,
                     "miou_pe_zeroed": 50.0 + 2 * s - costs[s], "gflops": 3.0, "iterations": 1000, "batch_size": 8})
    rows.append({"variant": "setr_pup_sincos_i2000", "seed": 0, "miou": 55.0, "whole_256x512_miou": 50.0,
                 "miou_pe_zeroed": 52.5, "gflops": 3.0, "iterations": 2000, "batch_size": 8})
    frame = pd.DataFrame(rows)
    note = setr.pe_note(frame, tmp_path)
    ci = stats.ttest_rel([50.0, 52.0, 54.0], [49.0, 52.5, 52.0]).confidence_interval(0.95)  # [-2.29, +3.96]
    assert ci.low < 0 < ci.high
    assert (f"setr_pup_sincos: zeroing its PE costs 0.83 mIoU (per seed -0.50 to 2.00; +0.83 [{signed(ci.low)}, "
            f"{signed(ci.high)}] over 3 seeds: inconclusive); started as ViT's it costs 0.00") in note
    # the 2000-iteration run has one seed: its number is on record, compared with nothing
    assert ("at 2000 iterations instead of 1000 it cost 2.50 on seed 0 alone, against 1.00 for that seed at 1000 and "
            "-0.50-2.00 over the 1000-iteration seeds: one seed, not judged") in note
    assert "rose" not in note and "falls" not in note
    assert "The resolution claims of these decoders are not tested" in note
    assert "gpu preset" not in note  # no gpu rows measured
    (tmp_path / "gpu").mkdir()
    # the measured run: 2 GFLOP forwards, 2 min; the SETR's 3 GFLOP forward takes 1.5x as long
    pd.DataFrame([{"gflops": 2.0, "iterations": 2000, "batch_size": 32, "train_seconds": 120.0, "device": "GPU X"}]
                 ).to_csv(tmp_path / "gpu" / "decoder_vs_cnn.csv", index=False)
    note = setr.pe_note(frame, tmp_path)
    assert "64k images per run (8x these runs')" in note and "setr_pup_sincos about 3.0 min per run on the GPU X" in note
    used = frame.assign(miou_pe_zeroed=frame["miou_pe_zeroed"] - 10)  # costs 11, 9.5, 12: supported
    assert setr.pe_note(used, tmp_path) == ""  # the condition holds: nothing to explain


def test_model_size_curves_keep_the_runs_whose_directories_are_not_at_hand(tmp_path):
    import json
    from segformer_lab.repo import load_experiment
    from segformer_lab.results import read_rows, write_csv
    from segformer_lab.runner import planned_runs, run_id
    module = load_experiment("model_size")
    variant, seed, cfg = planned_runs(module, "smoke")[0]
    run_dir = tmp_path / "runs" / "model_size" / f"{variant}_s{seed}_{run_id(cfg)}"
    run_dir.mkdir(parents=True)
    (run_dir / "log.jsonl").write_text("".join(json.dumps({"iteration": i, "loss": 1.0 / i}) + "\n" for i in (1, 2)))
    columns = ["experiment", "variant", "seed", "run_id", "iteration", "loss"]
    write_csv(tmp_path / "model_size_curves.csv", [dict(zip(columns, ["model_size", "mit_b2", 0, "elsewhere", 1, 3.0])),
                                                   dict(zip(columns, ["model_size", variant, seed, run_id(cfg), 9, 9.0]))],
              columns)
    module.analysis(tmp_path, "smoke", tmp_path / "runs")
    rows = read_rows(tmp_path / "model_size_curves.csv")
    assert [(r["run_id"], r["iteration"]) for r in rows] == [("elsewhere", "1"), (run_id(cfg), "1"), (run_id(cfg), "2")]

"""Table 1a (model size), Table 1b (decoder width) and overlapping patch merging: the experiments reuse
decoder_vs_cnn's runs, and their found are computed right on rows whose answer is known."""
import pandas as pd
import pytest

from segformer_lab import claims
from segformer_lab.repo import load_experiment
from segformer_lab.runner import planned_runs, run_id


def ids(experiment: str, preset: str = "default") -> dict:
    return {run_id(cfg): variant for variant, _, cfg in planned_runs(load_experiment(experiment), preset)}


def test_runs_shared_with_decoder_vs_cnn():
    decoder = ids("decoder_vs_cnn")
    size, width, overlap = ids("model_size"), ids("decoder_width"), ids("overlap_patch_embed")
    assert sorted({size[i] for i in size if i in decoder}) == ["mit_b0", "mit_b1"]
    assert {width[i] for i in width if i in decoder} == {"c256"}
    assert {overlap[i] for i in overlap if i in decoder} == {"overlap"}
    assert len(size) == 9 and len(width) == 24 and len(overlap) == 6


def test_late_loss_drop():
    module = load_experiment("model_size")
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
    miou = {"mit_b0": [50, 51, 52], "mit_b1": [55, 56, 57], "mit_b2": [56, 57, 58]}
    converged = size_rows({v: [0.10, 0.11, 0.12] for v in miou}, miou)
    found = claims.model_size.model_size_claims(converged)
    assert [c.outcome for c in found] == ["holds", "within spread", "holds"]  # b1 > b0, b2 ~ b1, share b0 > b1
    assert "at the same decoder width" in found[2].text and len(found) == 3  # b1 -> b2 change width: no claim
    still_learning = size_rows({"mit_b0": [0.10] * 3, "mit_b1": [0.10] * 3, "mit_b2": [0.30] * 3}, miou)
    assert [c.outcome for c in claims.model_size.model_size_claims(still_learning)][:2] == ["not tested", "not tested"]


def test_decoder_width_claims():
    dims, gmacs = {"c64": 64, "c256": 256, "c768": 768}, {"c64": 1.0, "c256": 2.0, "c768": 6.0}
    def rows(miou):
        return pd.DataFrame([{"variant": v, "seed": s, "miou": miou[v][s], "decoder_dim": dims[v],
                              "gmacs_512": gmacs[v]} for v in miou for s in range(3)])
    saturates = claims.decoder_width.decoder_width_claims(rows({"c64": [40, 41, 42], "c256": [50, 51, 52], "c768": [51, 52, 53]}))
    assert [c.outcome for c in saturates] == ["holds", "holds"]
    assert saturates[1].mean_a == 2.0  # the smallest step: 256 -> 768 costs 3x, 64 -> 256 2x
    flat = claims.decoder_width.decoder_width_claims(rows({"c64": [50, 51, 52], "c256": [50, 51, 52], "c768": [50, 51, 52]}))
    assert flat[0].outcome == "not tested"  # width never mattered: saturation is not tested
    gains = claims.decoder_width.decoder_width_claims(rows({"c64": [40, 41, 42], "c256": [50, 51, 52], "c768": [60, 61, 62]}))
    assert gains[0].outcome == "fails"


def test_overlap_claims():
    frame = pd.DataFrame([{"variant": v, "seed": s, "miou": m + s, "boundary_miou": b + s}
                          for v, m, b in (("overlap", 60, 40), ("non_overlap", 58, 30)) for s in range(3)])
    found = claims.overlap_patch_embed.overlap_claims(frame)
    assert [c.outcome for c in found] == ["within spread", "holds"]
    easy = frame.assign(boundary_miou=frame["miou"])
    assert claims.overlap_patch_embed.overlap_claims(easy)[1].outcome == "not tested"


DECODERS = ("setr_naive", "setr_pup", "setr_mla")


def test_setr_claims():
    def rows(setr_zeroed):
        out = []
        for s in range(3):
            out.append({"variant": "segformer_b1", "seed": s, "miou": 60 + s, "gmacs_512": 16.0,
                        "whole_256x512_miou": 59 + s, "miou_pe_zeroed": float("nan")})
            out.append({"variant": "setr_pup", "seed": s, "miou": 58 + s, "gmacs_512": 80.0,
                        "whole_256x512_miou": 50 + s, "miou_pe_zeroed": setr_zeroed + s})
        return pd.DataFrame(out)
    found = claims.setr_vs_segformer.setr_claims(rows(setr_zeroed=40))
    assert [c.outcome for c in found] == ["holds", "holds"]  # 60/16 vs 58/80 per GMAC; drop 8 vs 1
    assert found[1].mean_a == pytest.approx(8.0) and found[1].mean_b == pytest.approx(1.0)
    assert claims.setr_vs_segformer.setr_claims(rows(setr_zeroed=58))[1].outcome == "not tested"  # the PE carried nothing
    unused = rows(setr_zeroed=58)
    started = unused[unused["variant"] == "setr_pup"].assign(variant="setr_pup_sincos", miou_pe_zeroed=20.0)
    found = claims.setr_vs_segformer.setr_claims(pd.concat([unused, started]))  # the resolution claim moves to the used PE
    assert [c.outcome for c in found] == ["holds", "holds"] and "setr_pup_sincos loses more" in found[1].text
    assert claims.setr_vs_segformer.setr_resolution_claims(unused, "setr_pup")[0].outcome == "not tested"
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
    """The note of a sin-cos SETR whose PE-use condition fails: its per-seed cost against the seed range, the
    trunc-normal start's and the longer run's cost, and a GPU estimate from the gpu folder's measured rate."""
    rows = []
    for s in range(3):
        rows.append({"variant": "segformer_b1", "seed": s, "miou": 60.0 + s, "whole_256x512_miou": 59.0,
                     "miou_pe_zeroed": float("nan"), "gflops": 2.0, "iterations": 1000, "batch_size": 8})
        rows.append({"variant": "setr_pup", "seed": s, "miou": 50.0 + 2 * s, "whole_256x512_miou": 49.0,
                     "miou_pe_zeroed": 50.0 + 2 * s, "gflops": 3.0, "iterations": 1000, "batch_size": 8})
        rows.append({"variant": "setr_pup_sincos", "seed": s, "miou": 50.0 + 2 * s, "whole_256x512_miou": 49.0,
                     "miou_pe_zeroed": 49.0 + 2 * s, "gflops": 3.0, "iterations": 1000, "batch_size": 8})
    rows.append({"variant": "setr_pup_sincos_i2000", "seed": 0, "miou": 55.0, "whole_256x512_miou": 50.0,
                 "miou_pe_zeroed": 52.5, "gflops": 3.0, "iterations": 2000, "batch_size": 8})
    frame = pd.DataFrame(rows)
    note = claims.setr_vs_segformer.pe_note(frame, tmp_path)
    assert "setr_pup_sincos: zeroing its PE costs 1.00 mIoU (per seed 1.00 to 1.00), below the 4.00 mIoU" in note
    assert "started as ViT's it costs 0.00; at 2000 iterations instead of 1000 (seed 0) 2.50" in note
    assert "its use falls" not in note  # 2.50 against 1.00: it rose
    assert "gpu preset" not in note  # no gpu rows measured
    (tmp_path / "gpu").mkdir()
    # the measured run: 2 GFLOP forwards, 2 min; the SETR's 3 GFLOP forward takes 1.5x as long
    pd.DataFrame([{"gflops": 2.0, "iterations": 2000, "batch_size": 32, "train_seconds": 120.0, "device": "GPU X"}]
                 ).to_csv(tmp_path / "gpu" / "decoder_vs_cnn.csv", index=False)
    note = claims.setr_vs_segformer.pe_note(frame, tmp_path)
    assert "64k images per run (8x these runs')" in note and "setr_pup_sincos about 3.0 min per run on the GPU X" in note
    used = frame.assign(miou_pe_zeroed=frame["miou_pe_zeroed"] - 10)
    assert claims.setr_vs_segformer.pe_note(used, tmp_path) == ""  # the condition holds: nothing to explain

"""Verdicts are computed from per-seed values and respect the seed spread."""
import pytest

from segformer_lab.verdicts import (DOES_NOT, NOT_TESTED, PARTLY, REPRODUCES, below, claim, claim_no_worse, matches,
                                    requiring, seed_range, validity, verdict)


def test_claim_outcomes_against_spread():
    assert claim("a beats b", [50, 51, 52], [40, 41, 42]).outcome == "holds"
    assert claim("a beats b", [40, 41, 42], [50, 51, 52]).outcome == "fails"
    within = claim("a beats b", [50, 52, 54], [49, 50, 51])  # difference 2 < spread 4
    assert within.outcome == "within spread" and within.spread == 4 and within.difference == pytest.approx(2)
    assert "seed spread 4.00 over 3 seed(s)" in within.sentence()


def test_verdict_combines_claims():
    good, bad = claim("x", [2, 2], [1, 1]), claim("y", [1, 1], [2, 2])
    assert verdict([good, good]) == REPRODUCES
    assert verdict([good, bad]) == PARTLY
    assert verdict([bad, claim("z", [1, 2], [1, 2])]) == DOES_NOT


def test_single_seed_and_errors():
    assert seed_range([3.0]) == 0.0
    assert claim("one seed", [2.0], [1.0]).outcome == "holds"
    with pytest.raises(ValueError, match="needs values on both sides"):
        claim("empty", [], [1.0])


def _pe_rows(zeroed_cost: float, family: str = "street") -> "pd.DataFrame":  # noqa: F821
    """Three seeds of Mix-FFN, learned PE and sin-cos PE rows; removing a PE costs `zeroed_cost` mIoU."""
    import pandas as pd
    rows = []
    for seed in range(3):
        for pe, slide, whole in (("mixffn", 50, 49.5), ("learned_pe", 48, 40), ("sincos_pe", 47, 46.9)):
            miou = slide + seed * 0.1
            rows.append({"variant": f"{pe}_{family}", "seed": seed, "scene_family": family, "miou": miou,
                         "miou_pe_zeroed": float("nan") if pe == "mixffn" else miou - zeroed_cost,
                         "slide_256x512_miou": slide + seed * 0.1, "whole_256x512_miou": whole + seed * 0.1})
    return pd.DataFrame(rows)


def test_pe_vs_mixffn_claims_tested_when_the_pe_is_used():
    from segformer_lab.claims.pe_vs_mixffn import pe_vs_mixffn_claims
    found = pe_vs_mixffn_claims(_pe_rows(zeroed_cost=5.0))
    assert [c.outcome for c in found] == ["holds", "holds", "fails"]  # sin-cos drops 0.1 against Mix-FFN's 0.5
    assert found[1].mean_a == pytest.approx(8.0) and found[1].mean_b == pytest.approx(0.5)
    assert all(c.tested for c in found) and verdict(found) == PARTLY
    assert found[0].requires[0].outcome == "holds" and "learned PE (street" in found[0].requires[0].text


def test_pe_vs_mixffn_claims_not_tested_when_the_pe_is_unused():
    from segformer_lab.claims.pe_vs_mixffn import pe_vs_mixffn_claims
    found = pe_vs_mixffn_claims(_pe_rows(zeroed_cost=0.05))  # inside the 0.2 seed spread: the PE is not used
    assert [c.outcome for c in found] == [NOT_TESTED] * 3
    assert verdict(found) == NOT_TESTED
    assert "condition not met: The model uses a learned PE" in found[0].sentence()
    with pytest.raises(ValueError, match="no rows for variant 'mixffn_aerial'"):
        pe_vs_mixffn_claims(_pe_rows(5.0), family="aerial")


def test_the_learned_pe_from_sincos_is_judged_where_it_ran_and_the_first_one_stays_beside():
    import pandas as pd

    from segformer_lab.claims.pe_vs_mixffn import headline_learned_pe, learned_pe_claims, pe_vs_mixffn_claims
    rows = _pe_rows(zeroed_cost=0.05)  # the trunc-normal learned PE is not used
    assert headline_learned_pe(rows) == "learned_pe"
    started = rows[rows["variant"] == "learned_pe_street"].assign(variant="learned_sincos_pe_street",
                                                                   miou_pe_zeroed=lambda f: f["miou"] - 20)
    both = pd.concat([rows, started])
    assert headline_learned_pe(both) == "learned_sincos_pe"
    found = pe_vs_mixffn_claims(both)
    assert [c.text.split(" (")[0] for c in found][:2] == [
        "Mix-FFN scores higher than a learned PE started from the sin-cos table with training-size sliding windows",
        "A learned PE started from the sin-cos table drops more than Mix-FFN on whole 256x512 canvases"]
    assert [c.outcome for c in found] == ["holds", "holds", NOT_TESTED]  # the fixed sin-cos PE is not used either
    assert "The model uses a learned PE started from the sin-cos table" in found[0].requires[0].text
    first = learned_pe_claims(both, "learned_pe")
    assert [c.outcome for c in first] == [NOT_TESTED] * 2 and "a learned PE with" in first[0].text


def test_the_separation_note_splits_the_pe_drop_into_the_no_pe_control_and_the_rest():
    import pandas as pd

    from segformer_lab.claims.pe_vs_mixffn import pe_separation_note
    rows = _pe_rows(zeroed_cost=5.0)  # learned PE drops 8.0, Mix-FFN 0.5 (seed spread 0.0)
    assert pe_separation_note(rows) == ""  # no control ran
    control = rows[rows["variant"] == "mixffn_street"].assign(variant="no_pe_street",
                                                             whole_256x512_miou=lambda f: f["slide_256x512_miou"] - 7.0)
    note = pe_separation_note(pd.concat([rows, control]))
    assert "a learned PE drops 8.00 mIoU" in note and "no PE, which lacks only" in note and "drops 7.00" in note
    assert "The PE's own part is +1.00, beyond the seed spread 0.00." in note


def test_validity_conditions_gate_claims():
    valid, invalid = claim("used", [5, 5], [1, 1]), claim("used", [1, 1], [1, 1])
    good, bad = claim("x", [2, 2], [1, 1]), claim("y", [1, 1], [2, 2])
    assert verdict(requiring([good], valid) + requiring([bad], invalid)) == REPRODUCES  # only the tested claim counts
    assert verdict(requiring([claim("x", [2, 2], [1, 1])], invalid)) == NOT_TESTED
    again = requiring([claim("x", [2, 2], [1, 1]), claim("y", [1, 1], [2, 2])], valid)
    assert validity(again + requiring([claim("z", [1], [1])], valid, invalid)) == [valid, invalid]
    inside = below("inside the crop", [0.5, 0.9], 0.95)
    assert inside.outcome == "holds" and inside.mean_a == 0.9
    assert below("inside the crop", [0.5, 0.97], 0.95).outcome == "fails"
    assert "largest 0.97 vs limit 0.95" in below("inside", [0.97], 0.95).sentence()
    with pytest.raises(ValueError, match="needs measured values"):
        below("inside", [float("nan")], 0.95)


def test_no_worse_and_matches():
    assert claim_no_worse("reduction costs nothing", [49, 50, 51], [50, 51, 52]).outcome == "holds"  # -1 within 2
    assert claim_no_worse("reduction costs nothing", [40, 41], [50, 51]).outcome == "fails"
    assert matches("counted = analytic", 100.05, 100.0).outcome == "holds"
    assert matches("counted = analytic", 101.0, 100.0).outcome == "fails"
    with pytest.raises(ValueError, match="claim kind 'less'"):
        claim("x", [1], [2], kind="less")
    with pytest.raises(ValueError, match="at least one claim"):
        verdict([])


def test_pe_isolation_claims_compare_with_the_same_encoder_without_a_pe():
    import pandas as pd
    from segformer_lab.claims.pe_vs_mixffn import pe_isolation_claims
    rows = _pe_rows(zeroed_cost=5.0)
    assert pe_isolation_claims(rows) == []  # no no-PE runs: nothing to compare with
    none = pd.DataFrame([{"variant": "no_pe_street", "seed": s, "scene_family": "street", "miou": 48.0,
                          "slide_256x512_miou": 48.0 + s * 0.1, "whole_256x512_miou": 44.0 + s * 0.1}
                         for s in range(3)])
    found = pe_isolation_claims(pd.concat([rows, none]))
    assert [c.outcome for c in found] == ["holds", "fails"]  # learned drops 8 > 4; sin-cos drops 0.1 < 4
    assert found[0].text.startswith("A learned PE drops more than the same encoder with no PE")
    unused = pe_isolation_claims(pd.concat([_pe_rows(zeroed_cost=0.0), none]))
    assert [c.outcome for c in unused] == [NOT_TESTED, NOT_TESTED]


def test_above_condition():
    from segformer_lab.verdicts import above
    assert above("accuracy above 0.9", [0.95, 0.92], 0.9).outcome == "holds"
    c = above("accuracy above 0.9", [0.95, 0.85], 0.9)
    assert c.outcome == "fails" and "smallest 0.85 vs limit 0.9 over 2 measurement(s): fails" in c.sentence()
    with pytest.raises(ValueError, match="needs measured values"):
        above("x", [float("nan")], 0.5)


def context_frame(r50_resnet=20.0, near_accuracy=0.97):
    """context_distance rows: MiT-B1 reaches every ring, ResNet-18 + MLP falls to a coin flip beyond its reach."""
    import pandas as pd
    rows = []
    for seed in range(3):
        for d in (8, 24, 48):
            rows.append({"variant": f"mit_b1_d{d}", "seed": seed, "context_distance": float(d),
                         "context_choice_accuracy": 0.96 + 0.01 * seed, "erf_head_r50": 30.0})
            far = near_accuracy if d == 8 else 0.5 + 0.01 * seed
            rows.append({"variant": f"resnet18_mlp_d{d}", "seed": seed, "context_distance": float(d),
                         "context_choice_accuracy": far if d > 8 else near_accuracy, "erf_head_r50": r50_resnet})
    return pd.DataFrame(rows)


def test_context_claims_are_tested_only_beyond_the_cnn_reach():
    from segformer_lab.claims.decoder_vs_cnn import context_claims
    found = context_claims(context_frame(), controls=True)
    assert [c.outcome for c in found] == ["not tested", "holds"]  # d = 8 lies inside the CNN's reach
    assert "lies beyond ResNet-18 + MLP's reach" in found[0].sentence()
    assert [c.text.split("at d = ")[1] for c in context_claims(context_frame())] == [
        "48 px (forced-choice accuracy)"]  # d = 8 and 24 are controls by design (claims.decoder_vs_cnn.CONTEXT_CONTROLS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("segformer_lab.claims.decoder_vs_cnn.CONTEXT_CONTROLS", (8.0,))
        found = context_claims(context_frame())
        assert [c.outcome for c in found] == ["holds", "holds"]
    assert verdict(found) == REPRODUCES
    # A CNN reaching further than every ring: nothing is tested.
    assert verdict(context_claims(context_frame(r50_resnet=60.0))) == NOT_TESTED
    # An encoder that never learnt the task, even with the ring close: nothing is tested.
    unlearnt = context_claims(context_frame(near_accuracy=0.6))
    assert all(c.outcome == "not tested" for c in unlearnt)
    assert "names the tokens by their nearest ring" in unlearnt[0].sentence()
    # A distance whose forced choice is not yet measured on every run (rows from before the metric) waits.
    frame = context_frame()
    frame.loc[(frame["variant"] == "mit_b1_d48") & (frame["seed"] == 2), "context_choice_accuracy"] = float("nan")
    assert context_claims(frame) == [] and [c.text.split("at d = ")[1] for c in context_claims(frame, controls=True)] == [
        "8 px (forced-choice accuracy)", "24 px (forced-choice accuracy)"]
    # A further condition (e.g. the pretraining check) gates every distance.
    failing = below("pretraining helps", [0.5], 0.1)
    assert verdict(context_claims(context_frame(), (failing,))) == NOT_TESTED


def budget_frame(gaps: dict, seeds_at: dict):
    """budget_sweep rows: ResNet-18 at 60 mIoU (seeds 59.5-60.5), MiT-B1 at 60 + gap."""
    import pandas as pd
    rows = []
    for budget, gap in gaps.items():
        iterations, crop = {"i250": (250, 128), "i1000": (1000, 128), "i2000": (2000, 128),
                            "i1000_256px": (1000, 256)}[budget]
        for seed in seeds_at.get(budget, (0, 1, 2)):
            for enc, value in (("mit_b1", 60 + gap), ("resnet18_mlp", 60.0)):
                rows.append({"variant": f"{enc}_{budget}", "seed": seed, "iterations": iterations,
                             "crop_size": crop, "miou": value + 0.5 * (seed - 1)})
    return pd.DataFrame(rows)


def test_budget_claims_judge_one_seed_points_against_the_reference_spread():
    from segformer_lab.claims.decoder_vs_cnn import budget_claims, budget_table
    frame = budget_frame({"i250": -20.0, "i1000": -15.0, "i2000": -10.0, "i1000_256px": -14.5},
                         {"i2000": (0,), "i1000_256px": (0,)})
    table = budget_table(frame)
    assert table.loc["i2000", "gap"] == pytest.approx(-10.0) and table.loc["i1000", "spread"] == pytest.approx(1.0)
    assert table.loc["i2000", "seeds"] == 1 and table.loc["i2000", "spread"] == 0.0
    found = budget_claims(frame)
    assert [c.text.split(" at ")[1].split(" (")[0] for c in found] == ["i2000", "i1000_256px"]  # not i250
    assert [c.outcome for c in found] == ["holds", "within spread"]  # +5 beyond the 1.0 spread; +0.5 inside
    assert found[0].spread == pytest.approx(1.0)


def test_an_unmeasured_condition_leaves_its_claim_not_tested():
    from segformer_lab.verdicts import unmeasured
    missing = unmeasured("the CNN's reach")
    assert missing.outcome == "not measured" and missing.sentence() == "the CNN's reach: not measured"
    gated = requiring([claim("a beats b", [2.0, 2.1], [1.0, 1.1])], missing)
    assert gated[0].outcome == NOT_TESTED and verdict(gated) == NOT_TESTED
    assert "(condition not met: the CNN's reach)" in gated[0].sentence()


def test_sweeps_in_progress_compare_only_what_both_encoders_have():
    """Runs go seed by seed and variant by variant: a partial sweep is judged where both encoders have rows."""
    from segformer_lab.claims.decoder_vs_cnn import budget_claims, budget_table, context_claims
    partial = context_frame()
    partial = partial[~partial["variant"].isin(["resnet18_mlp_d8", "resnet18_mlp_d48"])]
    assert [c.text.split("at d = ")[1] for c in context_claims(partial, controls=True)] == [
        "24 px (forced-choice accuracy)"]
    assert context_claims(partial[partial["variant"].str.startswith("mit_b1")]) == []
    frame = budget_frame({"i250": -20.0, "i1000": -15.0, "i2000": -10.0}, {})
    frame = frame[frame["variant"] != "resnet18_mlp_i2000"]
    assert list(budget_table(frame).index) == ["i250", "i1000"] and budget_claims(frame) == []
    only_mit = frame[frame["variant"].str.startswith("mit_b1")]
    assert budget_table(only_mit).empty and budget_claims(only_mit) == []

"""Verdicts are computed from per-seed paired differences: t intervals, one-sided tests against declared margins,
Holm within a family, fewer than 2 seeds not judged; checked against scipy and against cases computed by hand."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from segformer_lab.repo import load_module
from segformer_lab.verdicts import (CONTRADICTED, DOES_NOT, FACT, HOLDS, INCONCLUSIVE, NOT_JUDGED, NOT_TESTED, PARTLY,
                                    REPRODUCES, SUPPORTED, above, below, claim, condition, counted, equivalent, holm,
                                    holm_family, matches, no_worse, requiring, seed_range, validity, verdict)


def test_the_interval_is_scipys_paired_t_interval():
    rng = np.random.default_rng(0)
    a, b = rng.normal(50, 2, 5), rng.normal(49, 2, 5)
    c = claim("a beats b", a, b)
    expected = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert c.interval() == pytest.approx((expected.low, expected.high))
    assert c.p_value == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert c.difference == pytest.approx(np.mean(a - b))
    # pairing by seed, not by position: the same values in another seed order give the same interval
    shuffled = claim("a beats b", pd.Series(a, index=[4, 3, 2, 1, 0])[::-1], pd.Series(b, index=[4, 3, 2, 1, 0])[::-1])
    assert shuffled.interval() == pytest.approx(c.interval())


def test_hand_computed_supported_inconclusive_and_contradicted():
    # differences 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.302653: 2 +- 4.302653 / sqrt(3) = [-0.484, 4.484]
    wide = claim("a beats b", [11, 12, 13], [10, 10, 10])
    assert wide.interval() == pytest.approx((2 - 4.302653 / 3 ** 0.5, 2 + 4.302653 / 3 ** 0.5), abs=1e-5)
    assert wide.outcome == INCONCLUSIVE
    assert "+2.00 [\u22120.48, +4.48], 3 seeds: inconclusive (about" in wide.sentence()
    # differences 2.0, 2.1, 1.9: mean 2, sd 0.1: [1.75, 2.25]
    tight = claim("a beats b", [12.0, 12.1, 11.9], [10, 10, 10])
    assert tight.interval() == pytest.approx((2 - 0.4302653 / 3 ** 0.5, 2 + 0.4302653 / 3 ** 0.5), abs=1e-5)
    assert tight.outcome == SUPPORTED
    assert claim("a beats b", [10, 10, 10], [12.0, 12.1, 11.9]).outcome == CONTRADICTED
    # unpaired, the groups' ranges overlap (the earlier rule: within the spread); paired, every seed agrees
    paired = claim("a beats b", [50, 52, 54], [49, 51, 53])
    assert paired.outcome == SUPPORTED and paired.unpaired_outcome() == INCONCLUSIVE


def test_seeds_needed_at_80_percent_power():
    c = claim("a beats b", [11, 12, 13], [10, 10, 10])  # effect 2, paired sd 1: d = 2
    n = c.seeds_needed()
    def power(k):
        crit = stats.t.ppf(0.975, k - 1)
        return stats.nct.sf(crit, k - 1, 2 * k ** 0.5) + stats.nct.cdf(-crit, k - 1, 2 * k ** 0.5)
    assert power(n) >= 0.8 > power(n - 1)
    assert claim("nothing", [1, 2, 3], [1, 2, 3]).seeds_needed() is None


def test_one_seed_is_never_judged():
    one = claim("one seed", [2.0], [1.0])
    assert one.outcome == NOT_JUDGED and "fewer than 2 seeds" in one.sentence()
    assert below("a condition on one seed", [0.1], 0.5).outcome == NOT_JUDGED
    gated = requiring([claim("three seeds", [2, 2.1, 2.2], [1, 1, 1])], below("one-seed condition", [0.1], 0.5))
    assert gated[0].outcome == NOT_TESTED
    assert verdict([one]) == NOT_JUDGED
    # seeds present on one side only do not pair
    assert claim("unpaired seeds", pd.Series([1.0, 2.0], index=[0, 1]), pd.Series([0.0, 1.0], index=[1, 2])).seeds == 1
    with pytest.raises(ValueError, match="needs values on both sides"):
        claim("empty", [], [1.0])


def test_two_one_sided_tests_against_a_declared_margin():
    rng = np.random.default_rng(1)
    a = rng.normal(50, 0.3, 6)
    b = a + rng.normal(0.1, 0.05, 6)  # b higher by about 0.1
    inside = equivalent("as accurate", a, b, 0.5, "half a point")
    lo, hi = stats.ttest_rel(a, b).confidence_interval(0.90)
    assert inside.interval(0.90) == pytest.approx((lo, hi))
    assert -0.5 <= lo and hi <= 0.5 and inside.outcome == SUPPORTED
    # the same per-seed differences at 2 against a margin of 0.5: wholly outside it
    outside = equivalent("as accurate", a + 2, a, 0.5, "half a point")
    assert outside.outcome == CONTRADICTED and "against the margin \u00b10.50 (half a point)" in outside.sentence()
    # a noisy difference whose interval straddles the margin
    assert equivalent("as accurate", [50, 51.5, 49], [50, 50, 50], 0.5, "half a point").outcome == INCONCLUSIVE
    # no worse: one-sided; a far better a is still no worse, a far worse one is contradicted
    assert no_worse("no worse", a + 3, a, 0.5, "r").outcome == SUPPORTED
    assert no_worse("no worse", a - 3, a, 0.5, "r").outcome == CONTRADICTED
    # a wider spread can never make it hold: the same mean, noisier, is inconclusive, never supported
    noisy = no_worse("no worse", [49.0, 53.0, 45.0], [50, 50, 50], 0.5, "r")
    assert noisy.outcome == INCONCLUSIVE and noisy.unpaired_outcome() == SUPPORTED
    with pytest.raises(ValueError, match="positive margin"):
        no_worse("no margin", [1, 2], [1, 2], 0.0, "r")
    with pytest.raises(ValueError, match="needs its reason"):
        equivalent("no reason", [1, 2], [1, 2], 0.5, "")


def test_holm_matches_hand_computed_adjustments():
    # p sorted 0.01, 0.02, 0.03, 0.04 -> x4, x3, x2, x1 = 0.04, 0.06, 0.06 (monotone), 0.04 -> 0.06
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # 0.5 x 2 = 1.0, then never below it
    rng = np.random.default_rng(2)
    members = [claim(f"group {i}", rng.normal(1, 0.2, 3) + 10, [10, 10, 10]) for i in range(4)]
    raw = [m.p_value for m in members]
    holm_family(members, "one family")
    assert [m.p_adjusted for m in members] == pytest.approx(holm(raw))
    for m in members:
        assert m.outcome == (SUPPORTED if m.p_adjusted < 0.05 else INCONCLUSIVE)
    units = counted(members + [claim("alone", [2, 2.1, 2.2], [1, 1, 1])])
    assert [u[0] for u in units] == ["one family", "alone"]  # a family is counted once


def test_roles_facts_and_conditions_are_not_counted():
    share = below("decoder share falls", [0.04], 0.1, role=FACT)
    assert share.outcome == HOLDS and "holds" in share.sentence()
    assert matches("counted = analytic", 100.05, 100.0).outcome == HOLDS
    assert matches("counted = analytic", 101.0, 100.0).outcome == "fails"
    cond = condition("the PE is used", [5, 5.1, 5.2], [1, 1, 1])
    good = requiring([claim("x", [2, 2.1, 2.2], [1, 1, 1])], cond)
    units = counted([share, *good])
    assert [u[0] for u in units] == ["x"] and validity(good) == [cond]
    assert verdict([share, *good]) == REPRODUCES


def test_verdict_combines_claims():
    good = claim("x", [2, 2.1, 2.2], [1, 1, 1])
    bad = claim("y", [1, 1, 1], [2, 2.1, 2.2])
    unsure = claim("z", [1, 3, 2], [2, 2, 2])
    assert verdict([good, good]) == REPRODUCES
    assert verdict([good, bad]) == PARTLY
    assert verdict([bad, unsure]) == DOES_NOT
    assert verdict([unsure]) == INCONCLUSIVE
    assert seed_range([3.0]) == 0.0


def _pe_rows(zeroed_cost: float, family: str = "street") -> "pd.DataFrame":  # noqa: F821
    """Three seeds of Mix-FFN, learned PE and sin-cos PE rows; removing a PE costs `zeroed_cost` mIoU on seed 0,
    twice on seed 1 and its negative on seed 2 (a small cost that flips sign is no evidence of use)."""
    rows = []
    costs = (zeroed_cost, 2 * zeroed_cost, -zeroed_cost) if zeroed_cost < 1 else (zeroed_cost,) * 3
    for seed in range(3):
        for pe, slide, whole in (("mixffn", 50, 49.5), ("learned_pe", 48, 40), ("sincos_pe", 47, 46.9)):
            miou = slide + seed * 0.1
            rows.append({"variant": f"{pe}_{family}", "seed": seed, "scene_family": family, "miou": miou,
                         "miou_pe_zeroed": float("nan") if pe == "mixffn" else miou - costs[seed],
                         "slide_256x512_miou": slide + seed * 0.1, "whole_256x512_miou": whole + seed * 0.1})
    return pd.DataFrame(rows)


def test_pe_vs_mixffn_claims_tested_when_the_pe_is_used():
    pe = load_module("pe_vs_mixffn")
    found = pe.pe_vs_mixffn_claims(_pe_rows(zeroed_cost=5.0))
    assert [c.outcome for c in found] == ["supported", "supported", "contradicted"]  # sin-cos drops 0.1 against Mix-FFN's 0.5
    assert found[1].mean_a == pytest.approx(8.0) and found[1].mean_b == pytest.approx(0.5)
    assert all(c.tested for c in found) and verdict(found) == PARTLY
    assert found[0].requires[0].outcome == "supported" and "learned PE (street" in found[0].requires[0].text


def test_pe_vs_mixffn_claims_not_tested_when_the_pe_is_unused():
    pe = load_module("pe_vs_mixffn")
    found = pe.pe_vs_mixffn_claims(_pe_rows(zeroed_cost=0.05))  # a cost that flips sign: the PE is not used
    assert [c.outcome for c in found] == [NOT_TESTED] * 3
    assert verdict(found) == NOT_TESTED
    assert "condition not met: The model uses a learned PE" in found[0].sentence()
    with pytest.raises(ValueError, match="no rows for variant 'mixffn_aerial'"):
        pe.pe_vs_mixffn_claims(_pe_rows(5.0), family="aerial")


def test_the_learned_pe_from_sincos_is_judged_where_it_ran_and_the_first_one_stays_beside():
    import pandas as pd

    pe = load_module("pe_vs_mixffn")
    rows = _pe_rows(zeroed_cost=0.05)  # the trunc-normal learned PE is not used
    assert pe.headline_learned_pe(rows) == "learned_pe"
    started = rows[rows["variant"] == "learned_pe_street"].assign(variant="learned_sincos_pe_street",
                                                                   miou_pe_zeroed=lambda f: f["miou"] - 20)
    both = pd.concat([rows, started])
    assert pe.headline_learned_pe(both) == "learned_sincos_pe"
    found = pe.pe_vs_mixffn_claims(both)
    assert [c.text.split(" (")[0] for c in found][:2] == [
        "Mix-FFN scores higher than a learned PE started from the sin-cos table with training-size sliding windows",
        "A learned PE started from the sin-cos table drops more than Mix-FFN on whole 256x512 canvases"]
    assert [c.outcome for c in found] == ["supported", "supported", NOT_TESTED]  # the fixed sin-cos PE is not used either
    assert "The model uses a learned PE started from the sin-cos table" in found[0].requires[0].text
    first = pe.learned_pe_claims(both, "learned_pe")
    assert [c.outcome for c in first] == [NOT_TESTED] * 2 and "a learned PE with" in first[0].text


def test_the_separation_note_splits_the_pe_drop_into_the_no_pe_control_and_the_rest():
    import pandas as pd

    pe = load_module("pe_vs_mixffn")
    rows = _pe_rows(zeroed_cost=5.0)  # learned PE drops 8.0, Mix-FFN 0.5 (seed spread 0.0)
    assert pe.pe_separation_note(rows) == ""  # no control ran
    control = rows[rows["variant"] == "mixffn_street"].assign(variant="no_pe_street",
                                                             whole_256x512_miou=lambda f: f["slide_256x512_miou"] - 7.0)
    note = pe.pe_separation_note(pd.concat([rows, control]))
    assert "a learned PE drops 8.00 mIoU" in note and "no PE, which lacks only" in note and "drops 7.00" in note
    assert "The PE's own part is +1.00 [+1.00, +1.00] over 3 paired seeds, an interval that excludes zero." in note


def test_pe_isolation_claims_compare_with_the_same_encoder_without_a_pe():
    import pandas as pd
    pe = load_module("pe_vs_mixffn")
    rows = _pe_rows(zeroed_cost=5.0)
    assert pe.pe_isolation_claims(rows) == []  # no no-PE runs: nothing to compare with
    none = pd.DataFrame([{"variant": "no_pe_street", "seed": s, "scene_family": "street", "miou": 48.0,
                          "slide_256x512_miou": 48.0 + s * 0.1, "whole_256x512_miou": 44.0 + s * 0.1}
                         for s in range(3)])
    found = pe.pe_isolation_claims(pd.concat([rows, none]))
    assert [c.outcome for c in found] == ["supported", "contradicted"]  # learned drops 8 > 4; sin-cos drops 0.1 < 4
    assert found[0].text.startswith("A learned PE drops more than the same encoder with no PE")
    unused = pe.pe_isolation_claims(pd.concat([_pe_rows(zeroed_cost=0.0), none]))
    assert [c.outcome for c in unused] == [NOT_TESTED, NOT_TESTED]


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
    from segformer_lab.repo import load_module
    decoder_vs_cnn = load_module("decoder_vs_cnn")
    context_claims = decoder_vs_cnn.context_claims
    found = context_claims(context_frame(), controls=True)
    assert [c.outcome for c in found] == ["not tested", "supported"]  # d = 8 lies inside the CNN's reach
    assert "lies beyond ResNet-18 + MLP's reach" in found[0].sentence()
    assert [c.text.split("at d = ")[1] for c in context_claims(context_frame())] == [
        "48 px (forced-choice accuracy)"]  # d = 8 and 24 are controls by design (decoder_vs_cnn.CONTEXT_CONTROLS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decoder_vs_cnn, "CONTEXT_CONTROLS", (8.0,))
        found = context_claims(context_frame())
        assert [c.outcome for c in found] == ["supported", "supported"]
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


def test_budget_claims_pair_the_gaps_by_seed_and_leave_one_seed_points_not_judged():
    from segformer_lab.repo import load_module
    decoder_vs_cnn = load_module("decoder_vs_cnn")
    budget_claims, budget_table = decoder_vs_cnn.budget_claims, decoder_vs_cnn.budget_table
    frame = budget_frame({"i250": -20.0, "i1000": -15.0, "i2000": -10.0, "i1000_256px": -14.5},
                         {"i2000": (0,)})
    table = budget_table(frame)
    assert table.loc["i2000", "gap"] == pytest.approx(-10.0) and table.loc["i1000", "spread"] == pytest.approx(1.0)
    assert table.loc["i2000", "seeds"] == 1 and table.loc["i2000", "spread"] == 0.0
    found = budget_claims(frame)
    assert [c.text.split(" at ")[1].split(" (")[0] for c in found] == ["i2000", "i1000_256px"]  # not i250
    # i2000 has one seed: not judged, however large its gap; i1000_256px's gap is +0.5 on every seed: supported
    assert [c.outcome for c in found] == ["not judged", "supported"]
    assert found[1].seeds == 3 and found[1].interval() == pytest.approx((0.5, 0.5))


def test_an_unmeasured_condition_leaves_its_claim_not_tested():
    from segformer_lab.verdicts import unmeasured
    missing = unmeasured("the CNN's reach")
    assert missing.outcome == "not measured" and missing.sentence() == "the CNN's reach: not measured"
    gated = requiring([claim("a beats b", [2.0, 2.1], [1.0, 1.1])], missing)
    assert gated[0].outcome == NOT_TESTED and verdict(gated) == NOT_TESTED
    assert "(condition not met: the CNN's reach)" in gated[0].sentence()


def test_sweeps_in_progress_compare_only_what_both_encoders_have():
    """Runs go seed by seed and variant by variant: a partial sweep is judged where both encoders have rows."""
    from segformer_lab.repo import load_module
    decoder_vs_cnn = load_module("decoder_vs_cnn")
    budget_claims, budget_table = decoder_vs_cnn.budget_claims, decoder_vs_cnn.budget_table
    context_claims = decoder_vs_cnn.context_claims
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

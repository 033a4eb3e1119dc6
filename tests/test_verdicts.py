"""Verdicts are computed from per-seed values and respect the seed spread."""
import pytest

from segformer_lab.verdicts import DOES_NOT, PARTLY, REPRODUCES, claim, claim_no_worse, matches, seed_range, verdict


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


def test_pe_vs_mixffn_claims_from_rows():
    import pandas as pd
    from segformer_lab.analysis import pe_vs_mixffn_claims
    rows = []
    for seed in range(3):
        rows.append({"variant": "mixffn", "seed": seed, "slide_256x512_miou": 50 + seed * 0.1,
                     "whole_256x512_miou": 49.5 + seed * 0.1})
        rows.append({"variant": "learned_pe", "seed": seed, "slide_256x512_miou": 48 + seed * 0.1,
                     "whole_256x512_miou": 40 + seed * 0.1})
    claims = pe_vs_mixffn_claims(pd.DataFrame(rows))
    assert [c.outcome for c in claims] == ["holds", "holds"]
    assert claims[1].mean_a == pytest.approx(8.0) and claims[1].mean_b == pytest.approx(0.5)
    with pytest.raises(ValueError, match="no rows for variant 'mixffn'"):
        pe_vs_mixffn_claims(pd.DataFrame(rows[1::2]))


def test_no_worse_and_matches():
    assert claim_no_worse("reduction costs nothing", [49, 50, 51], [50, 51, 52]).outcome == "holds"  # -1 within 2
    assert claim_no_worse("reduction costs nothing", [40, 41], [50, 51]).outcome == "fails"
    assert matches("counted = analytic", 100.05, 100.0).outcome == "holds"
    assert matches("counted = analytic", 101.0, 100.0).outcome == "fails"
    with pytest.raises(ValueError, match="claim kind 'less'"):
        claim("x", [1], [2], kind="less")
    with pytest.raises(ValueError, match="at least one claim"):
        verdict([])

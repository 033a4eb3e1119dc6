"""Fewer than 2 paired seeds are never judged: a one-seed results folder's report supports or contradicts nothing,
and its summary counts every claim as not judged or not tested; the committed results carry the sensitivity of
Table 1d to the other definition of an encoder's reach."""
from segformer_lab.report import (ablation_names, OUTCOME_COLUMNS, build_report, findings_lines, findings_summary, repo_root,
                                  section, sensitivity_rows)
from segformer_lab.verdicts import CONTRADICTED, INCONCLUSIVE, SUPPORTED, RULE, counted


def test_a_one_seed_results_folder_supports_or_contradicts_nothing(smoke_results):
    judged = []  # over every ablation: at the smoke preset some has no comparison of its own (only facts)
    for name in ablation_names():
        s = section(smoke_results, name, figures=False)
        assert not s.problem, s.problem
        mine = [c for c in s.claims + s.validity + s.context if c.role != "fact"]
        assert all(c.outcome not in (SUPPORTED, CONTRADICTED, INCONCLUSIVE) for c in mine), \
            [c.sentence() for c in mine if c.outcome in (SUPPORTED, CONTRADICTED, INCONCLUSIVE)]
        # "not measured" (a claim the preset has no runs for) counts under the summary's "not tested" column
        assert all(o in ("not judged", "not tested", "not measured") for _, o, _ in counted(s.claims)), name
        judged += mine
    assert judged and any(c.outcome == "not judged" for c in judged)
    text = build_report(smoke_results).read_text()
    assert ": supported (" not in text and ": contradicted (" not in text
    header = text.split("\n| ablation |", 1)[1].splitlines()[0]
    assert "supported | contradicted | inconclusive | not tested | not judged" in header
    rows = [line for line in text.splitlines() if line.startswith("| ") and "| smoke |" in line]
    supported, contradicted = list(OUTCOME_COLUMNS).index(SUPPORTED), list(OUTCOME_COLUMNS).index(CONTRADICTED)
    for row in rows:
        counts = [c.strip() for c in row.strip("|").split("|")][4:4 + len(OUTCOME_COLUMNS)]
        assert counts[supported] == "0" and counts[contradicted] == "0", row
        assert row.rstrip(" |").endswith("| 0"), row  # nothing judged, so nothing fragile


def test_the_rule_is_stated_in_the_same_words_in_the_readme_and_the_docs():
    for path in ("README.md", "docs/results.md"):
        assert RULE in " ".join((repo_root() / path).read_text().split()), path


def test_table_1d_on_the_committed_results_is_sensitive_to_the_reach_definition():
    s = section(repo_root() / "results", "decoder_vs_cnn", figures=False)
    rows = {r["claim"]: r for r in sensitivity_rows(s)}
    encoder = next(r for t, r in rows.items() if "beats ResNet-18 + the same decoder" in t)
    assert encoder["declared rule"] != "not tested" and encoder["other reach"] == "not tested" and encoder["fragile"]


def test_the_readme_findings_are_the_committed_results_computed():
    readme = (repo_root() / "README.md").read_text()
    for line in findings_lines(repo_root() / "results"):
        assert line in readme, f"README.md's findings table is out of date; expected the row:\n{line}"
    assert findings_summary(repo_root() / "results") in " ".join(readme.split())

"""Computed verdicts: what our per-seed results say about a paper claim, judged as a statistician would.

Variants run with the same seed share their training and validation scenes, so two variants are compared by
their per-seed **paired** differences (a comparison inside one run, e.g. the PE zeroed against the run itself,
pairs the run with itself). A claim "a > b" is judged by the 95 % interval of Student's t of the mean paired
difference (`scipy.stats.ttest_rel`): **supported** when the interval excludes 0 on the claimed side,
**contradicted** when it excludes 0 on the other side, **inconclusive** when it covers 0 (with the number of seeds
that would settle the observed effect at 80 % power). A claim of equivalence ("as accurate as")
declares its margin and is judged by two one-sided tests at 5 %: the 90 % interval inside +-margin supports
it, entirely outside contradicts it, anything else is inconclusive; "no worse" and "saturates" are the one test
on the claimed side (the 90 % interval's lower end above -margin). A wider spread can never make a claim hold.
Fewer than 2 paired seeds: **not judged**.

What counts: a *claim* is the paper's (counted in the summary); a *condition* gates claims (the measured
quantity under which a comparison exercises the paper's mechanism, judged by the same intervals, never counted):
a claim whose condition is not supported is **not tested**; a *fact* of arithmetic or construction (a parameter
share, a MAC count) is shown with its numbers and never counted as evidence. Claims that move together form a
family, counted once, whose members are judged with Holm's correction across the family.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

# outcomes of a judged comparison, and of a fact
SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"
NOT_TESTED, NOT_JUDGED, NOT_MEASURED = "not tested", "not judged", "not measured"
HOLDS, FAILS = "holds", "fails"  # a fact of arithmetic: true or false, no interval
# ablation verdicts
REPRODUCES, PARTLY, DOES_NOT = "reproduces", "partly", "does not reproduce"
# kinds of comparison
GREATER, EQUIVALENT, NO_WORSE, BELOW, ABOVE, MATCHES = "greater", "equivalent", "no worse", "below", "above", "matches"
PAIRED = (GREATER, EQUIVALENT, NO_WORSE)  # kinds comparing two per-seed sides
MARGINED = (EQUIVALENT, NO_WORSE)  # kinds judged against a declared margin
# roles
CLAIM, CONDITION, FACT = "claim", "condition", "fact"

ALPHA = 0.05  # two-sided 95 % intervals; two one-sided tests at 5 % (a 90 % interval) for equivalence
POWER = 0.8  # the power at which `seeds_needed` settles an observed effect
MIN_SEEDS = 2  # fewer paired seeds are not judged
MINUS = "\u2212"  # the minus sign of printed numbers

RULE = ("Variants that share a seed share their scenes, so each comparison is judged on its per-seed paired "
        "differences: their mean and 95 % t interval. A claim is supported when the interval excludes zero on the "
        "claimed side, contradicted when it excludes zero on the other side, and inconclusive when it covers zero "
        "(then the report says how many seeds would settle the observed effect at 80 % power). A claim that one "
        "variant is \"no worse\" or \"as accurate\", or that accuracy \"saturates\", declares its margin in mIoU "
        "and is judged by one-sided tests at 5 %: supported when the 90 % interval lies inside the margin, "
        "contradicted when it lies entirely outside, so a wider spread can never make it hold. Fewer than 2 "
        "seeds: not judged. A claim whose validity condition is not supported is not tested; facts of arithmetic "
        "are shown, never counted; claims that move together are one family, judged with Holm's correction.")


def signed(x: float, digits: int = 2) -> str:
    """`x` with its sign, the minus as a minus sign: +1.09, \u22120.31."""
    if x != x:
        return "nan"
    text = f"{x:+.{digits}f}"
    return text.replace("-", MINUS)


def _series(values) -> pd.Series:
    """Per-seed values as a Series indexed by seed (a plain sequence is taken in seed order 0, 1, ...)."""
    if isinstance(values, pd.Series):
        return values.astype(float)
    return pd.Series(np.asarray(values, dtype=float))


@dataclass
class Claim:
    """A comparison of per-seed values: "a > b" (kind "greater"), "a and b agree within the margin"
    ("equivalent"), "a is not below b by more than the margin" ("no worse"), "a stays below / above the limit b" ("below" / "above"), or a fact "a equals b"
    ("matches", within the tolerance `margin`). `a` and `b` are Series indexed by seed (b a number for a limit)."""

    text: str  # the paper's claim in words
    a: pd.Series
    b: pd.Series | float
    kind: str = GREATER
    role: str = CLAIM  # "claim" (counted), "condition" (gates claims), "fact" (shown, not evidence)
    margin: float = float("nan")  # an equivalence's margin (or a fact's tolerance), in the values' unit
    margin_reason: str = ""  # one line: why this margin
    requires: list = field(default_factory=list)  # validity conditions that must be supported for a test
    family: str = ""  # claims of one family are counted once and judged with Holm's correction
    since: str = ""  # a literal of the declaring code: its first commit is the claim's declaration (`declared`)
    p_adjusted: float | None = None  # Holm-adjusted p value within its family (set by `holm_family`)

    def __post_init__(self):
        self.a = _series(self.a)
        if self.kind in PAIRED:
            self.b = _series(self.b)

    # --- the paired differences ---------------------------------------------------------------------------
    @property
    def paired(self) -> pd.DataFrame:
        """Columns a and b over the seeds both sides have (a limit repeated), in seed order."""
        if self.kind in PAIRED:
            return pd.concat({"a": self.a, "b": self.b}, axis=1, join="inner").dropna().sort_index()
        return pd.DataFrame({"a": self.a, "b": float(self.b)}).dropna()

    @property
    def differences(self) -> np.ndarray:
        """Per seed, the difference in the claimed direction (positive supports it): a - b; for "below",
        the limit - a."""
        p = self.paired
        d = p["a"] - p["b"]
        return (-d if self.kind == BELOW else d).to_numpy()

    @property
    def seeds(self) -> int:
        return len(self.paired)

    @property
    def mean_a(self) -> float:
        return float(self.paired["a"].mean()) if self.seeds else float("nan")

    @property
    def mean_b(self) -> float:
        return float(self.paired["b"].mean()) if self.seeds else float("nan")

    @property
    def difference(self) -> float:
        """Mean paired difference in the claimed direction."""
        d = self.differences
        return float(d.mean()) if d.size else float("nan")

    def interval(self, level: float = 1 - ALPHA) -> tuple[float, float]:
        """The `level` t interval of the mean paired difference (scipy's ttest_rel / ttest_1samp); a single
        point when every seed gives the same difference; NaN under 2 seeds."""
        d = self.differences
        if d.size < MIN_SEEDS:
            return float("nan"), float("nan")
        if np.ptp(d) == 0:  # no spread at all: the interval is the point itself
            return float(d[0]), float(d[0])
        p = self.paired
        if self.kind in PAIRED:
            ci = stats.ttest_rel(p["a"], p["b"]).confidence_interval(level)
            lo, hi = float(ci.low), float(ci.high)
        else:  # scipy's interval is of the mean itself: as a difference from the limit
            ci = stats.ttest_1samp(p["a"], float(self.b)).confidence_interval(level)
            lo, hi = float(ci.low) - float(self.b), float(ci.high) - float(self.b)
        return (-hi, -lo) if self.kind == BELOW else (lo, hi)

    @property
    def p_value(self) -> float:
        """Two-sided p of the paired t test that the mean difference is 0."""
        d = self.differences
        if d.size < MIN_SEEDS:
            return float("nan")
        if np.ptp(d) == 0:
            return 1.0 if d[0] == 0 else 0.0
        return float(stats.ttest_1samp(d, 0.0).pvalue)

    # --- the outcome ---------------------------------------------------------------------------------------
    @property
    def tested(self) -> bool:
        """Whether every validity condition is supported (or, for a fact, holds)."""
        return all(c.outcome in (SUPPORTED, HOLDS) for c in self.requires)

    @property
    def judged(self) -> str:
        """The outcome of the comparison itself, before its conditions are read."""
        if self.role == FACT or self.kind == MATCHES:
            return self._fact()
        if self.a.dropna().empty:
            return NOT_MEASURED
        if self.seeds < MIN_SEEDS:
            return NOT_JUDGED
        if self.kind == EQUIVALENT:  # two one-sided tests: the 90 % interval inside +-margin
            lo, hi = self.interval(1 - 2 * ALPHA)
            if -self.margin <= lo and hi <= self.margin:
                return SUPPORTED
            return CONTRADICTED if lo > self.margin or hi < -self.margin else INCONCLUSIVE
        if self.kind == NO_WORSE:  # the one of the two tests on the claimed side: the 90 % interval above -margin
            lo, hi = self.interval(1 - 2 * ALPHA)
            return SUPPORTED if lo >= -self.margin else CONTRADICTED if hi < -self.margin else INCONCLUSIVE
        if self.p_adjusted is not None:  # a member of a family: Holm's adjusted p decides
            if self.p_adjusted >= ALPHA:
                return INCONCLUSIVE
            return SUPPORTED if self.difference > 0 else CONTRADICTED
        lo, hi = self.interval()
        return SUPPORTED if lo > 0 else CONTRADICTED if hi < 0 else INCONCLUSIVE

    def _fact(self) -> str:
        values = self.a.dropna()
        if values.empty:
            return NOT_MEASURED
        if self.kind == MATCHES:
            return HOLDS if abs(values.mean() - float(self.b)) <= self.margin else FAILS
        if self.kind == BELOW:
            return HOLDS if (values < float(self.b)).all() else FAILS
        if self.kind == ABOVE:
            return HOLDS if (values > float(self.b)).all() else FAILS
        return HOLDS if self.difference > 0 else FAILS

    @property
    def outcome(self) -> str:
        """supported, contradicted, inconclusive, not judged (under 2 seeds), not measured, or not tested (a
        validity condition not supported); a fact: holds or fails."""
        judged = self.judged
        if judged in (NOT_JUDGED, NOT_MEASURED):
            return judged
        return judged if self.tested else NOT_TESTED

    def seeds_needed(self, limit: int = 1000) -> int | None:
        """Seeds that would settle the observed effect at 80 % power (paired t, two-sided 5 %; for an
        equivalence, the one-sided test against the nearer margin), from the observed mean and paired SD;
        None when no number of seeds would (no effect, or an equivalence whose difference lies outside it)."""
        d = self.differences
        if d.size < MIN_SEEDS:
            return None
        sd = float(np.std(d, ddof=1))
        effect = {EQUIVALENT: self.margin - abs(d.mean()), NO_WORSE: self.margin + d.mean()}.get(self.kind, abs(d.mean()))
        if sd == 0 or effect <= 0:
            return None
        for n in range(2, limit + 1):
            if self.kind in MARGINED:
                crit = stats.t.ppf(1 - ALPHA, n - 1)
                power = stats.nct.sf(crit, n - 1, effect / sd * math.sqrt(n))
            else:
                crit = stats.t.ppf(1 - ALPHA / 2, n - 1)
                nc = effect / sd * math.sqrt(n)
                power = stats.nct.sf(crit, n - 1, nc) + stats.nct.cdf(-crit, n - 1, nc)
            if power >= POWER:
                return n
        return None

    # --- the earlier rule, for the sensitivity table -------------------------------------------------------
    def unpaired_outcome(self) -> str:
        """The outcome under the earlier, unpaired rule: the mean difference against the larger max-min range
        of the two groups ("no worse" as a >= b - range), conditions judged the same way; in this module's
        words (holds -> supported, fails -> contradicted, within the range -> inconclusive)."""
        if self.role == FACT or self.kind == MATCHES:
            return self._fact()
        if self.a.dropna().empty:
            return NOT_MEASURED
        if not all(c.unpaired_outcome() in (SUPPORTED, HOLDS) for c in self.requires):
            return NOT_TESTED
        if self.kind in (BELOW, ABOVE):  # every value beyond the limit, as the earlier rule had it
            ok = (self.a < float(self.b)).all() if self.kind == BELOW else (self.a > float(self.b)).all()
            return SUPPORTED if ok else CONTRADICTED
        spread = max(seed_range(self.a), seed_range(self.b))
        diff = float(self.a.mean() - self.b.mean())
        if self.kind in MARGINED:  # the earlier "no worse": a >= b - range
            return SUPPORTED if diff >= -spread else CONTRADICTED
        return SUPPORTED if diff > spread else CONTRADICTED if diff < -spread else INCONCLUSIVE

    # --- in words ------------------------------------------------------------------------------------------
    def numbers(self) -> str:
        """The numbers the outcome rests on: means, the mean difference and its interval, the seeds."""
        if self.role == FACT or self.kind == MATCHES:
            values = self.a.dropna()
            if self.kind == MATCHES:
                return (f"{values.mean():.4g} vs {float(self.b):.4g} (difference {signed(values.mean() - float(self.b), 3)}, "
                        f"tolerance {self.margin:.3g})")
            if self.kind in (BELOW, ABOVE):
                word = "largest" if self.kind == BELOW else "smallest"
                value = values.max() if self.kind == BELOW else values.min()
                return f"{word} {value:.3g} vs limit {float(self.b):.3g}"
            return f"{self.mean_a:.3g} vs {self.mean_b:.3g}"
        n = self.seeds
        if n == 0:
            return NOT_MEASURED if self.a.dropna().empty else "no seed on both sides"
        if self.kind in (BELOW, ABOVE):
            head = f"mean {self.a.loc[self.paired.index].mean():.3g} vs limit {float(self.b):.3g}, margin to it"
        else:
            head = f"{self.mean_a:.2f} vs {self.mean_b:.2f}, difference"
        if n < MIN_SEEDS:
            return f"{head} {signed(self.difference)}, {n} seed"
        if self.kind in MARGINED:
            lo, hi = self.interval(1 - 2 * ALPHA)
            return (f"{head} {signed(self.difference)}, 90 % interval [{signed(lo)}, {signed(hi)}] against the margin "
                    f"\u00b1{self.margin:.2f} ({self.margin_reason}), {n} seeds")
        lo, hi = self.interval()
        text = f"{head} {signed(self.difference)} [{signed(lo)}, {signed(hi)}], {n} seeds"
        if self.p_adjusted is not None:
            text += f", Holm-adjusted p {self.p_adjusted:.3f} in its family"
        return text

    def sentence(self) -> str:
        """One line: the claim, its numbers and its outcome (and why, where it is not judged on its own)."""
        outcome = self.outcome
        if outcome == NOT_MEASURED:
            return f"{self.text}: {NOT_MEASURED}"
        text = f"{self.text}: {self.numbers()}: {outcome}"
        if outcome == INCONCLUSIVE:
            n = self.seeds_needed()
            text += (f" (about {n} seeds would settle the observed effect at 80 % power)" if n else
                     " (no number of seeds would settle it: the observed effect is nil or outside the margin)")
        elif outcome == NOT_JUDGED:
            text += " (fewer than 2 seeds)"
        failed = [c.text for c in self.requires if c.outcome not in (SUPPORTED, HOLDS)]
        return text + (f" (condition not met: {'; '.join(failed)})" if failed and outcome == NOT_TESTED else "")


def seed_range(values) -> float:
    """max - min of per-seed values (0 for a single seed)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return float(values.max() - values.min()) if values.size else float("nan")


def claim(text: str, a, b, role: str = CLAIM, since: str = "", family: str = "") -> Claim:
    """The claim "a > b" on per-seed values, paired by seed (Series indexed by seed, or sequences in seed order)."""
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"claim {text!r} needs values on both sides, got {len(a)} and {len(b)}")
    return Claim(text, a, b, GREATER, role, since=since, family=family)


def condition(text: str, a, b, since: str = "") -> Claim:
    """A validity condition "a > b", judged as a claim and never counted."""
    return claim(text, a, b, role=CONDITION, since=since)


def equivalent(text: str, a, b, margin: float, reason: str, role: str = CLAIM, since: str = "") -> Claim:
    """The claim "a is as accurate as b": their paired difference lies within +-`margin` (declared with its
    one-line `reason`), by two one-sided tests at 5 %."""
    if not margin > 0:
        raise ValueError(f"claim {text!r}: an equivalence needs a positive margin, got {margin}")
    if not reason:
        raise ValueError(f"claim {text!r}: an equivalence margin needs its reason")
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"claim {text!r} needs values on both sides, got {len(a)} and {len(b)}")
    return Claim(text, a, b, EQUIVALENT, role, margin=float(margin), margin_reason=reason, since=since)


def no_worse(text: str, a, b, margin: float, reason: str, role: str = CLAIM, since: str = "") -> Claim:
    """The claim "a is no worse than b" (or "b adds nothing over a": saturation): a falls below b by less than
    `margin` (declared with its one-line `reason`), by the one-sided test at 5 % on the claimed side (the 90 %
    interval's lower end above -margin); contradicted when the whole 90 % interval lies below -margin."""
    claim_ = equivalent(text, a, b, margin, reason, role, since)
    claim_.kind = NO_WORSE
    return claim_


def matches(text: str, measured: float, expected: float, rtol: float = 1e-3, since: str = "") -> Claim:
    """A fact: a deterministic measurement equal to its expected value within a relative tolerance."""
    return Claim(text, [float(measured)], float(expected), MATCHES, FACT, margin=abs(float(expected)) * rtol,
                 since=since)


def _limit(text, values, limit, kind, role, since) -> Claim:
    values = _series(values)
    if values.empty or values.isna().any():
        raise ValueError(f"condition {text!r} needs measured values, got {values.tolist()}")
    return Claim(text, values, float(limit), kind, role, since=since)


def below(text: str, values, limit: float, role: str = CONDITION, since: str = "") -> Claim:
    """Per-seed values that stay below `limit`: judged by the t interval of their mean (a condition), or, as a
    fact (role="fact", e.g. a parameter share), every value below it."""
    return _limit(text, values, limit, BELOW, role, since)


def above(text: str, values, limit: float, role: str = CONDITION, since: str = "") -> Claim:
    """Per-seed values that stay above `limit` (see `below`)."""
    return _limit(text, values, limit, ABOVE, role, since)


def unmeasured(text: str, kind: str = BELOW) -> Claim:
    """A condition whose measurement is missing (e.g. its experiment has not run): it is not supported, so the
    claims requiring it are not tested, and its sentence says it was not measured."""
    return Claim(text, pd.Series(dtype=float), float("nan"), kind, CONDITION)


def requiring(claims: Sequence[Claim], *conditions: Claim) -> list:
    """The claims with `conditions` added to their validity requirements."""
    for c in claims:
        c.requires = list(c.requires) + list(conditions)
    return list(claims)


def holm(p_values: Sequence[float]) -> list:
    """Holm's step-down adjusted p values, in the order given: the k-th smallest p times (m - k + 1), made
    non-decreasing, capped at 1."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def holm_family(claims: Sequence[Claim], name: str) -> list:
    """Make `claims` one family named `name`: counted once, each member judged on its Holm-adjusted p across
    the members that have 2 seeds or more."""
    claims = list(claims)
    judged = [c for c in claims if c.seeds >= MIN_SEEDS]
    for c, p in zip(judged, holm([c.p_value for c in judged])):
        c.p_adjusted = p
    for c in claims:
        c.family = name
    return claims


def family_outcome(members: Sequence[Claim]) -> str:
    """One family's outcome: supported when every tested member is, contradicted when every tested member is,
    else inconclusive; not tested / not judged when no member was tested / judged."""
    outcomes = [c.outcome for c in members]
    tested = [o for o in outcomes if o in (SUPPORTED, CONTRADICTED, INCONCLUSIVE)]
    if not tested:
        return NOT_JUDGED if NOT_JUDGED in outcomes else NOT_TESTED
    if all(o == SUPPORTED for o in tested):
        return SUPPORTED
    return CONTRADICTED if all(o == CONTRADICTED for o in tested) else INCONCLUSIVE


def counted(claims: Sequence[Claim]) -> list:
    """The units a summary counts: (text, outcome, members) for each claim outside a family and each family
    once; facts and conditions are never counted."""
    units, families = [], {}
    for c in claims:
        if c.role != CLAIM:
            continue
        if c.family:
            if c.family not in families:
                families[c.family] = []
                units.append((c.family, None, families[c.family]))
            families[c.family].append(c)
        else:
            units.append((c.text, c.outcome, [c]))
    return [(text, outcome or family_outcome(members), members) for text, outcome, members in units]


def validity(claims: Sequence[Claim]) -> list:
    """The distinct validity conditions of `claims`, in order of first appearance."""
    out, seen = [], set()
    for r in (r for c in claims for r in c.requires):
        key = (r.text, tuple(r.a.round(9).items()), str(r.b))  # the same condition, even when computed twice
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def verdict(claims: Sequence[Claim]) -> str:
    """Over the counted claims that were tested: 'reproduces' if every one is supported, 'does not reproduce'
    if none is, else 'partly'; 'inconclusive' when none is supported or contradicted; 'not judged' / 'not
    tested' when none could be judged / tested; 'not measured' without a counted claim."""
    units = [o for _, o, _ in counted(claims)]
    if not units:  # only facts, or nothing the preset measures
        return NOT_MEASURED
    tested = [o for o in units if o in (SUPPORTED, CONTRADICTED, INCONCLUSIVE)]
    if not tested:
        return NOT_JUDGED if all(o == NOT_JUDGED for o in units) else NOT_TESTED
    if all(o == SUPPORTED for o in tested):
        return REPRODUCES
    if SUPPORTED in tested:
        return PARTLY
    return DOES_NOT if CONTRADICTED in tested else INCONCLUSIVE

"""Computed verdicts: does a paper claim hold on our results, beyond the seed spread?

A claim compares two groups of per-seed values. "a > b" (`claim`) holds when the mean difference is positive
and larger than the seed spread (the largest max-min range of either group), fails when the difference is
negative beyond the spread, and is undecided inside the spread. "a is no worse than b" (`claim_no_worse`, for
the paper's "costs little accuracy") holds unless a falls below b beyond the spread. An ablation's verdict
combines its claims: all hold -> "reproduces", none hold -> "does not reproduce", otherwise "partly".

Validity: a claim may require conditions (measured from the same runs, e.g. "removing the PE at test time
costs accuracy beyond the seed spread") under which the comparison exercises the mechanism the paper names.
When a condition fails, the claim is "not tested", which is neither a hold nor a fail: the verdict is
computed over the tested claims only, and is "not tested" when none was.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

REPRODUCES, PARTLY, DOES_NOT, NOT_TESTED = "reproduces", "partly", "does not reproduce", "not tested"
NOT_MEASURED = "not measured"
GREATER, NO_WORSE, MATCHES, BELOW, ABOVE = "greater", "no worse", "matches", "below", "above"


@dataclass
class Claim:
    """The comparison of a claim "a > b" on per-seed values."""

    text: str  # the paper's claim in words
    mean_a: float
    mean_b: float
    spread: float  # the larger seed range (max - min) of the two groups
    seeds: int  # seeds per group (the smaller count)
    kind: str = GREATER  # "greater": a > b beyond the spread; "no worse": a >= b - spread;
    # "matches": a deterministic quantity equals its expected value b within a tolerance (held in `spread`);
    # "below": every per-seed value (mean_a holds the largest) stays below the limit b; "above": every value
    # (mean_a holds the smallest) stays above it
    requires: list = field(default_factory=list)  # validity conditions (Claims) that must hold for a test

    @property
    def difference(self) -> float:
        return self.mean_a - self.mean_b

    @property
    def tested(self) -> bool:
        """Whether every validity condition holds, so that the comparison tests the paper's mechanism."""
        return all(c.outcome == "holds" for c in self.requires)

    @property
    def outcome(self) -> str:
        """'holds', 'fails', 'within spread' ('no worse' claims only hold or fail), 'not tested' when a validity
        condition does not hold, or 'not measured' for a condition without measurements."""
        if not self.tested:
            return NOT_TESTED
        if self.seeds == 0:  # a condition that was not measured (see `unmeasured`) neither holds nor fails
            return NOT_MEASURED
        if self.kind == BELOW:
            return "holds" if self.mean_a < self.mean_b else "fails"
        if self.kind == ABOVE:
            return "holds" if self.mean_a > self.mean_b else "fails"
        if self.kind == MATCHES:
            return "holds" if abs(self.difference) <= self.spread else "fails"
        if self.kind == NO_WORSE:
            return "holds" if self.difference >= -self.spread else "fails"
        if self.difference > self.spread:
            return "holds"
        if self.difference < -self.spread:
            return "fails"
        return "within spread"

    def sentence(self) -> str:
        if self.kind == MATCHES:
            text = (f"{self.text}: {self.mean_a:.4g} vs {self.mean_b:.4g} (difference {self.difference:+.3g}, "
                    f"tolerance {self.spread:.3g}): {self.outcome}")
        elif self.seeds == 0:
            text = f"{self.text}: {NOT_MEASURED}"
        elif self.kind in (BELOW, ABOVE):
            text = f"{self.text}: {'largest' if self.kind == BELOW else 'smallest'} {self.mean_a:.3g} vs limit " \
                   f"{self.mean_b:.3g} over {self.seeds} measurement(s): {self.outcome}"
        else:
            text = (f"{self.text}: {self.mean_a:.2f} vs {self.mean_b:.2f} (difference {self.difference:+.2f}, "
                    f"seed spread {self.spread:.2f} over {self.seeds} seed(s)): {self.outcome}")
        failed = [c.text for c in self.requires if c.outcome != "holds"]
        return text + (f" (condition not met: {'; '.join(failed)})" if failed else "")


def seed_range(values: Sequence[float]) -> float:
    """max - min of per-seed values (0 for a single seed)."""
    values = np.asarray(values, dtype=float)
    return float(values.max() - values.min()) if values.size else float("nan")


def claim(text: str, a: Sequence[float], b: Sequence[float], kind: str = GREATER) -> Claim:
    """The claim "a > b" (or, with kind="no worse", "a >= b - spread") on per-seed values a and b."""
    if kind not in (GREATER, NO_WORSE):
        raise ValueError(f"claim kind {kind!r}; expected {GREATER!r} or {NO_WORSE!r}")
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"claim {text!r} needs values on both sides, got {len(a)} and {len(b)}")
    return Claim(text, float(np.mean(a)), float(np.mean(b)), max(seed_range(a), seed_range(b)), min(len(a), len(b)),
                 kind)


def claim_no_worse(text: str, a: Sequence[float], b: Sequence[float]) -> Claim:
    """The claim "a is no worse than b": a's mean is not below b's by more than the seed spread."""
    return claim(text, a, b, kind=NO_WORSE)


def matches(text: str, measured: float, expected: float, rtol: float = 1e-3) -> Claim:
    """A deterministic measurement equal to its expected value within a relative tolerance."""
    return Claim(text, float(measured), float(expected), abs(float(expected)) * rtol, 1, MATCHES)


def below(text: str, values: Sequence[float], limit: float) -> Claim:
    """A condition: every per-seed value stays below `limit`."""
    values = np.asarray(values, dtype=float)
    if values.size == 0 or np.isnan(values).any():
        raise ValueError(f"condition {text!r} needs measured values, got {values.tolist()}")
    return Claim(text, float(values.max()), float(limit), 0.0, int(values.size), BELOW)


def above(text: str, values: Sequence[float], limit: float) -> Claim:
    """A condition: every per-seed value stays above `limit`."""
    values = np.asarray(values, dtype=float)
    if values.size == 0 or np.isnan(values).any():
        raise ValueError(f"condition {text!r} needs measured values, got {values.tolist()}")
    return Claim(text, float(values.min()), float(limit), 0.0, int(values.size), ABOVE)


def unmeasured(text: str, kind: str = BELOW) -> Claim:
    """A condition whose measurement is missing (e.g. its experiment has not run): it does not hold, so the
    claims requiring it are not tested, and its sentence says it was not measured."""
    return Claim(text, float("nan"), float("nan"), 0.0, 0, kind)


def requiring(claims: Sequence[Claim], *conditions: Claim) -> list:
    """The claims with `conditions` added to their validity requirements."""
    for c in claims:
        c.requires = list(c.requires) + list(conditions)
    return list(claims)


def validity(claims: Sequence[Claim]) -> list:
    """The distinct validity conditions of `claims`, in order of first appearance."""
    out, seen = [], set()
    for r in (r for c in claims for r in c.requires):
        key = (r.text, r.mean_a, r.mean_b, r.spread)  # the same condition, even when computed twice
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def verdict(claims: Sequence[Claim]) -> str:
    """Over the tested claims: 'reproduces' if every one holds, 'does not reproduce' if none does, else 'partly';
    'not tested' when no claim's validity conditions hold."""
    if not claims:
        raise ValueError("a verdict needs at least one claim")
    claims = [c for c in claims if c.tested]
    if not claims:
        return NOT_TESTED
    holds = [c.outcome == "holds" for c in claims]
    if all(holds):
        return REPRODUCES
    return DOES_NOT if not any(holds) else PARTLY

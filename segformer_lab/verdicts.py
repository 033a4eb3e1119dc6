"""Computed verdicts: does a paper claim hold on our results, beyond the seed spread?

A claim compares two groups of per-seed values. "a > b" (`claim`) holds when the mean difference is positive
and larger than the seed spread (the largest max-min range of either group), fails when the difference is
negative beyond the spread, and is undecided inside the spread. "a is no worse than b" (`claim_no_worse`, for
the paper's "costs little accuracy") holds unless a falls below b beyond the spread. An ablation's verdict
combines its claims: all hold -> "reproduces", none hold -> "does not reproduce", otherwise "partly".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

REPRODUCES, PARTLY, DOES_NOT = "reproduces", "partly", "does not reproduce"
GREATER, NO_WORSE, MATCHES = "greater", "no worse", "matches"


@dataclass
class Claim:
    """The comparison of a claim "a > b" on per-seed values."""

    text: str  # the paper's claim in words
    mean_a: float
    mean_b: float
    spread: float  # the larger seed range (max - min) of the two groups
    seeds: int  # seeds per group (the smaller count)
    kind: str = GREATER  # "greater": a > b beyond the spread; "no worse": a >= b - spread;
    # "matches": a deterministic quantity equals its expected value b within a tolerance (held in `spread`)

    @property
    def difference(self) -> float:
        return self.mean_a - self.mean_b

    @property
    def outcome(self) -> str:
        """'holds', 'fails' or 'within spread' ('no worse' claims only hold or fail)."""
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
            return (f"{self.text}: {self.mean_a:.4g} vs {self.mean_b:.4g} (difference {self.difference:+.3g}, "
                    f"tolerance {self.spread:.3g}): {self.outcome}")
        return (f"{self.text}: {self.mean_a:.2f} vs {self.mean_b:.2f} (difference {self.difference:+.2f}, "
                f"seed spread {self.spread:.2f} over {self.seeds} seed(s)): {self.outcome}")


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


def verdict(claims: Sequence[Claim]) -> str:
    """'reproduces' if every claim holds, 'does not reproduce' if none does, else 'partly'."""
    if not claims:
        raise ValueError("a verdict needs at least one claim")
    holds = [c.outcome == "holds" for c in claims]
    if all(holds):
        return REPRODUCES
    return DOES_NOT if not any(holds) else PARTLY

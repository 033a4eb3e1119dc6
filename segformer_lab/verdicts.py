"""Computed verdicts: does a paper claim hold on our results, beyond the seed spread?

A claim is a comparison "a > b" between two groups of per-seed values. It holds when the mean difference is
positive and larger than the seed spread (the largest max-min range of either group), fails when the
difference is negative beyond the spread, and is undecided inside the spread. An ablation's verdict
combines its claims: all hold -> "reproduces", none hold -> "does not reproduce", otherwise "partly".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

REPRODUCES, PARTLY, DOES_NOT = "reproduces", "partly", "does not reproduce"


@dataclass
class Claim:
    """The comparison of a claim "a > b" on per-seed values."""

    text: str  # the paper's claim in words
    mean_a: float
    mean_b: float
    spread: float  # the larger seed range (max - min) of the two groups
    seeds: int  # seeds per group (the smaller count)

    @property
    def difference(self) -> float:
        return self.mean_a - self.mean_b

    @property
    def outcome(self) -> str:
        """'holds', 'fails' or 'within spread'."""
        if self.difference > self.spread:
            return "holds"
        if self.difference < -self.spread:
            return "fails"
        return "within spread"

    def sentence(self) -> str:
        return (f"{self.text}: {self.mean_a:.2f} vs {self.mean_b:.2f} (difference {self.difference:+.2f}, "
                f"seed spread {self.spread:.2f} over {self.seeds} seed(s)): {self.outcome}")


def seed_range(values: Sequence[float]) -> float:
    """max - min of per-seed values (0 for a single seed)."""
    values = np.asarray(values, dtype=float)
    return float(values.max() - values.min()) if values.size else float("nan")


def claim(text: str, a: Sequence[float], b: Sequence[float]) -> Claim:
    """The claim "a > b" on per-seed values a and b."""
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"claim {text!r} needs values on both sides, got {len(a)} and {len(b)}")
    return Claim(text, float(np.mean(a)), float(np.mean(b)), max(seed_range(a), seed_range(b)), min(len(a), len(b)))


def verdict(claims: Sequence[Claim]) -> str:
    """'reproduces' if every claim holds, 'does not reproduce' if none does, else 'partly'."""
    holds = [c.outcome == "holds" for c in claims]
    if all(holds):
        return REPRODUCES
    return DOES_NOT if not any(holds) else PARTLY

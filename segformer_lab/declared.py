"""When a claim, condition, margin or rule was declared: the first commit of the repository's history that added
a line holding its declaring literal (a claim's `since`), read from git, never typed in; and the changes made
after the results they judge were seen (`Deviation`), each with its reason and the outcome the earlier rule gave.
"""
from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .repo import repo_root

DECLARING_PATHS = ("segformer_lab", "experiments")  # where claims, conditions, margins and rules are declared
COMMIT_MARK = "\x1ecommit "


@dataclass(frozen=True)
class Declaration:
    commit: str  # short hash
    date: str  # ISO 8601 commit date

    @property
    def day(self) -> str:
        return self.date[:10]

    def __str__(self) -> str:
        return f"{self.day}, {self.commit}"


@dataclass(frozen=True)
class Deviation:
    """A change made after rows it judges existed: `since` is its declaring literal; `earlier(section)` computes,
    from the section's claims, the outcome the earlier rule gave."""

    since: str
    what: str  # the claim, condition, variant or world added, moved or reclassified
    reason: str  # one line
    earlier: Callable


@functools.lru_cache(maxsize=4)
def _history(root: str) -> tuple:
    """(commit, date, added text) per commit touching DECLARING_PATHS, oldest first; () without git history."""
    try:
        out = subprocess.run(["git", "log", "--reverse", "-p", "--no-color", "--no-renames", "-U0",
                              f"--format={COMMIT_MARK}%h %cI", "--", *DECLARING_PATHS], cwd=root,
                             capture_output=True, text=True, check=True, errors="replace").stdout
    except (OSError, subprocess.CalledProcessError):
        return ()
    commits = []
    for chunk in out.split(COMMIT_MARK)[1:]:
        head, _, body = chunk.partition("\n")
        commit, date = head.split(" ", 1)
        added = "\n".join(line[1:] for line in body.splitlines() if line.startswith("+") and not line.startswith("+++"))
        commits.append((commit, date.strip(), added))
    return tuple(commits)


def first_seen(experiment: str, root: Path | None = None) -> str:
    """The date of the first commit that added rows to results/<experiment>.csv: when its results were first seen
    ("" without git history)."""
    try:
        out = subprocess.run(["git", "log", "--reverse", "--format=%cI", "--", f"results/{experiment}.csv"],
                             cwd=str(root or repo_root()), capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return ""
    return out.split("\n", 1)[0].strip()


def outcomes(claims, *fragments: str) -> str:
    """"text: outcome" of the claims whose text holds every fragment, joined: an earlier rule's outcome where its
    claims are still computed (beside the verdict)."""
    found = [c for c in claims if all(f in c.text for f in fragments)]
    return "; ".join(f"{c.text}: {c.outcome}" for c in found) + "." if found else "no such claim computed."


def declared(since: str, root: Path | None = None) -> Declaration | None:
    """The first commit that added a line holding `since` in segformer_lab/ or experiments/; None when no commit
    did (no git history, or the declaration is not committed yet)."""
    if not since:
        return None
    for commit, date, added in _history(str(root or repo_root())):
        if since in added:
            return Declaration(commit, date)
    return None

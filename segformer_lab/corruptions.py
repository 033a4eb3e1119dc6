"""Table 5's natural corruptions: the 16 of Cityscapes-C (Kamann & Rother, 2020) at severities 1-5.

The definitions are ImageNet-C's (Hendrycks & Dietterich, 2019) as the `imagecorruptions` package implements
them; we use its maintained fork `imagecorruptions-imaug` (the original 1.1.2 fails on current numpy and
scikit-image for glass blur, gaussian blur and fog). Every corruption takes and returns a uint8 (H, W, 3) RGB
image and is made deterministic per (seed, image index, corruption, severity): the package draws from numpy's
global generator (and, for impulse noise and glass blur, from a seed argument), so `corrupt` seeds both with a
hash of those four and restores the global generator afterwards.

The paper averages noise over severities 1-3 and every other corruption over 1-5 (`TABLE5_SEVERITIES`).
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Iterable

import numpy as np

GROUPS = {  # Table 5's column order
    "blur": ("motion_blur", "defocus_blur", "glass_blur", "gaussian_blur"),
    "noise": ("gaussian_noise", "impulse_noise", "shot_noise", "speckle_noise"),
    "digital": ("brightness", "contrast", "saturate", "jpeg_compression"),
    "weather": ("snow", "spatter", "fog", "frost"),
}
CORRUPTIONS = tuple(name for names in GROUPS.values() for name in names)
GROUP_OF = {name: group for group, names in GROUPS.items() for name in names}
SEVERITIES = (1, 2, 3, 4, 5)
TABLE5_SEVERITIES = {group: (1, 2, 3) if group == "noise" else SEVERITIES for group in GROUPS}
SEEDED = ("impulse_noise", "glass_blur")  # the functions that take their own seed argument
# Table 5's column names (results/paper_reference.csv) for each corruption.
PAPER_NAMES = {"motion_blur": "motion", "defocus_blur": "defocus", "glass_blur": "glass", "gaussian_blur": "gauss_blur",
               "gaussian_noise": "gauss_noise", "impulse_noise": "impulse", "shot_noise": "shot",
               "speckle_noise": "speckle", "brightness": "bright", "contrast": "contrast", "saturate": "saturate",
               "jpeg_compression": "jpeg", "snow": "snow", "spatter": "spatter", "fog": "fog", "frost": "frost"}


def parse_corruptions(names: Iterable[str]) -> tuple:
    """Corruption names, with "all" for the 16 and a group name ("blur", "noise", "digital", "weather") for its
    four, in Table 5's order without repeats; an unknown name raises ValueError listing the valid ones."""
    names = list(names)
    unknown = [n for n in names if n != "all" and n not in GROUPS and n not in CORRUPTIONS]
    if unknown or not names:
        raise ValueError(f"unknown corruption(s) {unknown or names}; valid: all, {', '.join(GROUPS)}, "
                         f"{', '.join(CORRUPTIONS)}")
    chosen = {c for n in names for c in (CORRUPTIONS if n == "all" else GROUPS.get(n, (n,)))}
    return tuple(c for c in CORRUPTIONS if c in chosen)


def parse_severities(severities: Iterable[int]) -> tuple:
    """Severities as sorted ints in 1-5; anything else raises ValueError naming the value."""
    severities = list(severities)
    bad = [s for s in severities if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s not in SEVERITIES]
    if bad or not severities:
        raise ValueError(f"severity {bad or severities} outside the valid ones {list(SEVERITIES)}")
    return tuple(sorted(set(int(s) for s in severities)))


def corruption_seed(seed: int, index: int, name: str, severity: int) -> int:
    """A 32-bit seed from (seed, image index, corruption, severity), the same on every machine."""
    digest = hashlib.sha256(f"{seed}/{index}/{name}/{severity}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _package():
    try:
        import imagecorruptions
    except ImportError as e:  # e.g. missing, or opencv without its system libraries
        raise ImportError(f"the corruptions need the `imagecorruptions-imaug` package ({e}); "
                          f"pip install imagecorruptions-imaug") from e
    return imagecorruptions


def corrupt(image: np.ndarray, name: str, severity: int, seed: int = 0, index: int = 0) -> np.ndarray:
    """`image` uint8 (H, W, 3) RGB, H and W at least 32 -> the corrupted uint8 (H, W, 3) image."""
    (name,), (severity,) = parse_corruptions([name]), parse_severities([severity])
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 32:
        raise ValueError(f"corrupt needs a uint8 (H, W, 3) image with H, W >= 32, got {image.dtype} {image.shape}")
    package = _package()
    s = corruption_seed(seed, index, name, severity)
    state = np.random.get_state()
    try:
        np.random.seed(s)
        out = package.corrupt(np.ascontiguousarray(image), severity=severity, corruption_name=name,
                              **({"seed": s} if name in SEEDED else {}))
    finally:
        np.random.set_state(state)
    return np.asarray(out, dtype=np.uint8).reshape(image.shape)


class CorruptedSource:
    """A dataset view whose `load(i)` returns (corrupted image, mask) of `source.load(i)`; `len` as the source's.

    With `cache_dir`, the corrupted images are kept as one .npy per image there (for a validation set shared by
    several runs, e.g. the robustness experiment's), so each is computed once. A cached file is named by a hash of
    the clean image it was made from, so runs whose validation sets differ at an index (the embedded benchmark
    draws its validation scenes from the run's seed) never read each other's images."""

    def __init__(self, source, name: str, severity: int, seed: int = 0, cache_dir=None):
        (self.name,), (self.severity,) = parse_corruptions([name]), parse_severities([severity])
        self.source, self.seed, self.cache_dir = source, seed, cache_dir
        self.seconds = 0.0  # time spent corrupting (not loading from the cache)

    def __len__(self) -> int:
        return len(self.source)

    def load(self, i: int):
        image, mask = self.source.load(i)
        path = None
        if self.cache_dir:
            digest = hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()[:16]
            path = Path(self.cache_dir) / f"{self.name}_s{self.severity}_{i}_{digest}.npy"
        if path is not None and path.is_file():
            return np.load(path), mask
        start = time.perf_counter()
        out = corrupt(image, self.name, self.severity, self.seed, i)
        self.seconds += time.perf_counter() - start
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, out)
            tmp.replace(path)  # a kill leaves no half-written image
        return out, mask

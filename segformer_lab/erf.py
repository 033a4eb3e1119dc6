"""Effective receptive field (Luo et al., 2016), as the paper's Figure 3 uses it.

For an output map (an encoder stage or the decoder head), take its central location, rectify it and sum over
channels (as RepLKNet's ERF tool does), back-propagate to the input, take the magnitude, sum over input channels
and average over images. Rectifying matters for MiT: its stages end in a LayerNorm, whose plain channel sum is
constant while its scales are equal (at initialisation), so the unrectified gradient would be rounding noise.
The gradients come from captum's `Saliency` on a forward function that returns that central sum.
`area_ratios` gives RepLKNet's "high-contribution area ratio": the smallest centred square holding a fraction
t of the total ERF mass, as its side over the image side and its area over the image area.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
from torch import nn

THRESHOLDS = (0.2, 0.3, 0.5, 0.99)
TARGETS = ("stage1", "stage2", "stage3", "stage4", "head")


def output_of(model: nn.Module, target: str):
    """A function x -> the map `target` ("stage1".."stage4" of model.backbone, or "head" = model(x))."""
    if target not in TARGETS:
        raise ValueError(f"ERF target {target!r}; expected one of {TARGETS}")
    if target == "head":
        return model
    index = int(target[-1]) - 1
    return lambda x: model.backbone(x)[index]


def erf_map(model: nn.Module, images: Iterable[torch.Tensor], target: str = "stage4", pixel=None) -> np.ndarray:
    """Mean over images of sum over input channels of |d(sum_c relu(out[c, centre])) / d input|: (H, W) float64.

    images: batches (B, 3, H, W), all of one size; the model is put in eval mode. pixel: (y, x) in input
    coordinates, whose covering output location replaces the centre."""
    from captum.attr import Saliency
    model.eval()
    forward = output_of(model, target)

    def centre_sum(x: torch.Tensor) -> torch.Tensor:
        out = forward(x)  # (B, C, h, w)
        h, w = out.shape[-2:]
        if pixel is None:
            oy, ox = h // 2, w // 2
        else:  # the output location covering the input pixel
            oy, ox = pixel[0] * h // x.shape[-2], pixel[1] * w // x.shape[-1]
        return torch.relu(out[:, :, oy, ox]).sum(dim=1)  # (B,)

    saliency = Saliency(centre_sum)
    total, count = None, 0
    for batch in images:
        grads = saliency.attribute(batch.clone().requires_grad_(True), abs=True)  # (B, 3, H, W)
        summed = grads.sum(dim=(0, 1)).double().cpu().numpy()
        total = summed if total is None else total + summed
        count += batch.shape[0]
    if count == 0:
        raise ValueError("erf_map needs at least one image")
    return total / count


def area_ratios(erf: np.ndarray, thresholds=THRESHOLDS) -> dict:
    """{t: (side ratio, area ratio)} of the smallest centred square holding a fraction t of the ERF's mass."""
    h, w = erf.shape
    total = erf.sum()
    cy, cx = h // 2, w // 2
    out = {}
    for t in thresholds:
        for r in range(0, max(h, w)):
            window = erf[max(cy - r, 0):cy + r + 1, max(cx - r, 0):cx + r + 1]
            if window.sum() >= t * total or (window.shape == erf.shape):
                side = 2 * r + 1
                out[t] = (min(side / h, 1.0), min(side * side / (h * w), 1.0))
                break
    return out


def mass_within(erf: np.ndarray, radius: float) -> float:
    """Fraction of the ERF's mass within `radius` pixels (Euclidean) of the map's centre pixel."""
    h, w = erf.shape
    yy, xx = np.mgrid[0:h, 0:w]
    inside = (yy - h // 2) ** 2 + (xx - w // 2) ** 2 <= radius ** 2
    return float(erf[inside].sum() / erf.sum())


def radius_holding(erf: np.ndarray, fraction: float) -> float:
    """The smallest radius (pixels, from the centre pixel) of a disc holding `fraction` of the ERF's mass; the
    largest distance in the map if none does."""
    h, w = erf.shape
    yy, xx = np.mgrid[0:h, 0:w]
    dist = np.sqrt((yy - h // 2) ** 2 + (xx - w // 2) ** 2).ravel()
    order = np.argsort(dist, kind="stable")
    cumulative = np.cumsum(erf.ravel()[order]) / erf.sum()
    index = int(np.searchsorted(cumulative, fraction - 1e-12))
    return float(dist[order][min(index, len(order) - 1)])


def normalise_for_display(erf: np.ndarray) -> np.ndarray:
    """log10(erf + 1) / max, the usual rendering of ERF maps."""
    scaled = np.log10(erf + 1.0)
    return scaled / scaled.max() if scaled.max() > 0 else scaled


def load_maps(erf_dir, frame, state: str = "trained", targets=TARGETS) -> dict:
    """Mean over seeds of the saved maps: {variant: {target: (H, W) array}} for the runs in `frame` (rows of
    results/erf.csv), read from `<erf_dir>/<variant>_s<seed>_<run_id>_<state>_<target>.npy`."""
    from pathlib import Path
    maps = {}
    for variant, rows in frame.groupby("variant", sort=False):
        maps[variant] = {}
        for target in targets:
            files = [Path(erf_dir) / f"{r.variant}_s{r.seed}_{r.run_id}_{state}_{target}.npy"
                     for r in rows.itertuples()]
            missing = [str(f) for f in files if not f.is_file()]
            if missing:
                raise FileNotFoundError(f"ERF map(s) missing for rows of {variant!r}: {missing}")
            maps[variant][target] = np.mean([np.load(f) for f in files], axis=0)
    return maps

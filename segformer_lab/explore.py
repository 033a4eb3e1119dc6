"""Exploring one model on one scene: plain functions returning arrays, for notebooks/explore.ipynb and the tests.

- `load_run(path)`: a run directory of `segformer-lab train` (its model.pt and config.json) or any checkpoint
  `from_pretrained` reads; `find_run` / `quick_run` find a finished run or train the quick SegFormer-B0 one;
- `render(...)`: a validation scene of either family at a chosen canvas, zoom, corruption and severity;
- `predict(model, image)`: the label map, whole or with sliding windows;
- `pixel_erf(model, image, pixel)`: what one output pixel depends on (captum gradients, as erf.py);
- `attention_maps(model, image, pixel)`: every MiT block's attention at the query token holding that pixel, per
  head, over the block's reduced key grid (the explicit attention path).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoints import from_pretrained
from .data.synthetic import SyntheticScenes
from .data.transforms import eval_pipeline
from .engine import TrainConfig, train
from .evaluator import run_protocol
from .models.segformer import SegFormerConfig
from .protocols import predict_scores
from .registry import VARIANTS, variant_config


@dataclass
class Scene:
    """One rendered view: image uint8 (H, W, 3), mask int64 (H, W), and its family's classes and palette."""

    image: np.ndarray
    mask: np.ndarray
    classes: tuple
    palette: tuple
    thing_classes: tuple


def load_run(path) -> tuple[nn.Module, TrainConfig | None]:
    """(model in eval mode, its TrainConfig or None): `path` is a run directory (model.pt, config.json) or a
    checkpoint file or folder that `from_pretrained` reads."""
    path = Path(path)
    if path.is_dir() and (path / "model.pt").is_file():
        cfg = TrainConfig.read(path / "config.json") if (path / "config.json").is_file() else None
        return from_pretrained(path / "model.pt").eval(), cfg
    if not path.exists():
        raise FileNotFoundError(f"{path}: no run directory (with model.pt) or checkpoint there")
    return from_pretrained(path).eval(), None


def _is_segformer_run(run_dir: Path) -> bool:
    """Whether the run's config.json names a SegFormer (MiT encoder) model: the only kind the attention view
    reads. A run without config.json is kept (its checkpoint says what it is)."""
    if not (run_dir / "config.json").is_file():
        return True
    name = TrainConfig.read(run_dir / "config.json").model
    return name in VARIANTS and isinstance(variant_config(name, 2), SegFormerConfig)


def finished_runs(runs_dir="runs", prefer: str = "segformer_b0") -> list:
    """The finished SegFormer runs under `runs_dir` (directories with model.pt and metrics.json whose model has a
    MiT encoder; SETR and CNN runs are left out): the pretrained runs of the model `prefer` first, then the most
    recent first."""
    finished = [p.parent for p in Path(runs_dir).glob("**/metrics.json")
                if (p.parent / "model.pt").is_file() and _is_segformer_run(p.parent)]
    return sorted(finished, key=lambda p: (not _is_pretrained_run_of(p, prefer), -p.stat().st_mtime))


def _is_pretrained_run_of(run_dir: Path, model: str) -> bool:
    if not (run_dir / "config.json").is_file():
        return False
    cfg = TrainConfig.read(run_dir / "config.json")
    return cfg.model == model and bool(cfg.encoder_weights)


def find_run(runs_dir="runs", prefer: str = "segformer_b0") -> Path | None:
    """The first of `finished_runs`, or None if there is none."""
    return next(iter(finished_runs(runs_dir, prefer)), None)


QUICK_B0 = TrainConfig(model="segformer_b0", iterations=60, warmup_iters=10, val_scenes=8)  # explore's own short run


def quick_run(runs_dir="runs", progress: bool = True) -> Path:
    """A finished run to explore: `find_run`'s, or else explore's own short run, SegFormer-B0 trained for 60
    iterations into `<runs_dir>/explore/quick_b0` (17 s on 2 CPU cores, AMD EPYC, training and evaluation
    included; about 34 mIoU: enough to see every instrument work, not a good model)."""
    found = find_run(runs_dir)
    if found is not None:
        return found
    run_dir = Path(runs_dir) / "explore" / "quick_b0"
    train(QUICK_B0, run_dir, progress=progress)
    return run_dir


def render(family: str = "aerial", index: int = 0, canvas=(128, 128), zoom: float = 1.0,
           corruption: str | None = None, severity: int = 3, split: str = "val") -> Scene:
    """Scene `index` of the embedded benchmark's `split`, the `canvas` (H, W) window at its centre at `zoom`
    (pixels per world unit), optionally under a Table 5 corruption at `severity` (corruptions.py)."""
    scenes = SyntheticScenes(split, index + 1, canvas=canvas, zoom=zoom, family=family)
    image, mask = scenes.load(index)
    if corruption:
        from .corruptions import corrupt
        image = corrupt(image, corruption, severity, index=index)
    return Scene(image, mask, tuple(scenes.classes), tuple(scenes.palette), tuple(scenes.thing_classes))


def _tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> normalised (1, 3, H, W)."""
    x, _ = eval_pipeline()(image, np.zeros(image.shape[:2], np.int64))
    return x[None]


def predict(model: nn.Module, image: np.ndarray, mode: str = "whole", crop: int = 128,
            stride: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(labels int64 (H, W), class probabilities float32 (K, H, W)) of `image` uint8 (H, W, 3) under the embedded
    protocol, mode "whole" or "slide" (windows of `crop`, stride default 2/3 of it, as a run is evaluated)."""
    protocol = run_protocol(dataclasses.replace(TrainConfig(), eval_mode=mode, crop_size=crop,
                                                eval_stride=stride or 0))
    model.eval()
    logits = predict_scores(model, image, protocol).cpu()  # (K, H, W)
    probs = logits.softmax(0)
    return logits.argmax(0).numpy(), probs.numpy().astype(np.float32)


def _check_pixel(image: np.ndarray, pixel) -> tuple[int, int]:
    y, x = (int(v) for v in pixel)
    h, w = image.shape[:2]
    if not (0 <= y < h and 0 <= x < w):
        raise ValueError(f"pixel {(y, x)} outside the {h}x{w} image; expected 0 <= y < {h}, 0 <= x < {w}")
    return y, x


def pixel_erf(model: nn.Module, image: np.ndarray, pixel, target: str = "head") -> np.ndarray:
    """|d(sum_c relu(out[c] at the pixel)) / d input| summed over input channels: (H, W) float64, for the output
    `target` ("head" = the logits, or "stage1".."stage4"); the pixel (y, x) in image coordinates maps to the
    output location covering it."""
    from .erf import erf_map
    return erf_map(model, [_tensor(image)], target, _check_pixel(image, pixel))


def attention_maps(model: nn.Module, image: np.ndarray, pixel) -> list[dict]:
    """One dict per MiT block, in order: {"stage", "block", "grid" (h, w) of the stage's tokens, "query" (row,
    col) of the token holding the pixel, "maps" float32 (heads, h_kv, w_kv)}: the block's attention weights of
    that query over its (reduced) keys, which sum to 1 per head."""
    backbone = getattr(model, "backbone", None)
    if backbone is None or not hasattr(backbone, "patch_embed1"):
        raise ValueError(f"attention maps need a MiT encoder (SegFormer); got {type(model).__name__}")
    y, x = _check_pixel(image, pixel)
    h, w = image.shape[:2]
    model.eval()
    with torch.no_grad():
        feats, weights = backbone(_tensor(image), need_weights=True)
    cfg, out, i = backbone.cfg, [], 0
    for stage in range(1, 5):
        grid = tuple(feats[stage - 1].shape[-2:])  # the stage's token grid
        sr = cfg.sr_ratios[stage - 1]
        kv = (grid[0] // sr, grid[1] // sr) if sr > 1 else grid
        query = (y * grid[0] // h, x * grid[1] // w)
        for block in range(cfg.depths[stage - 1]):
            a = weights[i][0, :, query[0] * grid[1] + query[1]]  # (heads, N / R)
            out.append({"stage": stage, "block": block, "grid": grid, "query": query,
                        "maps": a.reshape(-1, *kv).float().numpy()})
            i += 1
    return out

"""A bank of the embedded training scenes, drawn once and kept as uint8 tensors on the training device, from which
whole batches are cut there: the loader of `TrainConfig(loader="bank")`, for a GPU that the CPU-drawn samples
cannot feed.

Each training scene of a `SyntheticScenes` source is rendered once, whole and without pixel noise, at the pixel
density its training windows need (the street family's largest resize ratio; the others' zoom). A batch is a
list of sample keys (epoch, index), as `IterationBatches` draws them; each key's window (position, the street
family's resize ratio, the context family's token) and flip are drawn from `np.random.default_rng([seed, epoch,
index])`, as the per-sample loader draws them, and the pixel noise of the whole batch from a device generator
seeded by its first key. So the same keys give the same batch: a resumed run sees the samples it would have seen.
The windows are cut by one gather on the device (bilinear between bank pixels for a resized street window, exact
copies where the window sits on the bank's pixel grid; masks by the nearest pixel), then flipped, noised, clipped
to 0..255 and normalised, batch-wise.

The bank is not pixel for pixel the per-sample loader: its windows sit on the bank's pixel grid where the
per-sample render draws them at any sub-pixel position, a resized street window is resampled from the bank
where the per-sample loader renders it at its own resolution, and its noise is fresh Gaussian noise. Runs made
with it are runs of their own (the loader is part of the run id).

Drawing is the bank's cost (2000 aerial scenes: about 430 CPU-seconds on a 2-core Xeon), and every run on the
same scenes (family, seed, count, world) needs the same bank, so with `cache` a bank is drawn once and kept there
as two .npy files named by a hash of what it depends on (the training runs keep it in <cache_root>/banks: 2000
aerial scenes about 2 GiB, street frames 4 GiB); runs that start together wait while one process draws it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from .synthetic import SyntheticScenes
from .transforms import IMAGENET_MEAN, IMAGENET_STD


def _quiet(source: SyntheticScenes) -> SyntheticScenes:
    """The same scenes as `source`'s, rendered without pixel noise (the bank adds it per sample)."""
    return SyntheticScenes(source.split, source.length, source.seed, source.crop, source.canvas, source.zoom,
                           dataclasses.replace(source.world, noise_sigma=0.0), source.family,
                           dataclasses.replace(source.street, noise_sigma=0.0),
                           dataclasses.replace(source.context, noise_sigma=0.0))


def _render(args) -> tuple:
    """Scene i of `source` whole at `scale` pixels per unit: (image uint8 (H, W, 3), mask uint8 (H, W))."""
    source, i, height, width, scale = args
    image, mask = source.scene(i).render(0.0, 0.0, height, width, scale)
    return image, mask.astype(np.uint8)


def bank_shape(source: SyntheticScenes) -> tuple:
    """(pixels per scene unit, height, width) of a bank of `source`'s scenes: the finest density a training
    window is drawn at (the street family's largest resize ratio; the others' zoom)."""
    street = source.family == "street"
    scale = source.zoom * (max(source.street.resize_range) if street else 1.0)
    fh, fw = source.frame()
    return scale, int(round(fh * scale)), int(round(fw * scale))


def bank_bytes(source: SyntheticScenes) -> int:
    """Bytes a bank of `source` holds: every scene's uint8 image (3 channels) and mask."""
    _, height, width = bank_shape(source)
    return len(source) * height * width * 4


BANK_VERSION = 1  # part of the cache key: raise it when the rendering of the scenes changes


def bank_key(source: SyntheticScenes) -> str:
    """The name of `source`'s bank in a cache: its family and a hash of everything its pixels depend on (the
    scenes' seed and count, the family's world config without pixel noise, the bank's density and size; not the
    crop, which only cuts windows from it)."""
    quiet = _quiet(source)
    world = {"street": quiet.street, "context": quiet.context}.get(source.family, quiet.world)
    spec = (BANK_VERSION, source.family, source.seed + source.SPLIT_SEEDS[source.split], len(source),
            dataclasses.asdict(world), bank_shape(source))
    return f"{source.family}-{hashlib.sha256(repr(spec).encode()).hexdigest()[:16]}"


def draw_bank(source: SyntheticScenes, workers: int = 0) -> tuple:
    """(images (N, H, W, 3), masks (N, H, W)) uint8 arrays of every scene of `source`, whole, without pixel noise;
    `workers` > 1 renders them in that many processes."""
    scale, height, width = bank_shape(source)
    quiet = _quiet(source)
    jobs = [(quiet, i, height, width, scale) for i in range(len(source))]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            drawn = list(pool.map(_render, jobs, chunksize=max(1, len(jobs) // (4 * workers))))
    else:
        drawn = [_render(job) for job in jobs]
    return np.stack([d[0] for d in drawn]), np.stack([d[1] for d in drawn])


@contextlib.contextmanager
def _exclusive(path: Path):
    """Hold an exclusive lock on `path` (created if missing) where the system has file locks; else no lock."""
    try:
        import fcntl
    except ImportError:  # no POSIX locks: two runs may draw the same bank, each writing it whole
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_bank(source: SyntheticScenes, cache, workers: int = 0) -> tuple:
    """draw_bank(source) from `cache`, drawn and saved there (each file written whole, then renamed) if it is not;
    a process that finds another drawing the same bank waits for it."""
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    key = bank_key(source)
    paths = {name: cache / f"{key}.{name}.npy" for name in ("images", "masks")}
    with _exclusive(cache / f"{key}.lock"):
        if not all(p.is_file() for p in paths.values()):
            arrays = dict(zip(paths, draw_bank(source, workers)))
            for name, path in paths.items():
                part = path.with_name(f"{path.name}.{os.getpid()}.part")
                with open(part, "wb") as f:
                    np.save(f, arrays[name])
                os.replace(part, path)
            return arrays["images"], arrays["masks"]
    return np.load(paths["images"]), np.load(paths["masks"])


class SceneBank:
    """The training scenes of `source` (a SyntheticScenes "train" split) on `device`; `batch(keys)` cuts a
    normalised batch from them. `workers` > 1 renders the scenes in that many processes; with `cache` (a folder)
    they are drawn once and read from it by every later bank of the same scenes."""

    def __init__(self, source: SyntheticScenes, device="cpu", workers: int = 0, cache=None):
        if not isinstance(source, SyntheticScenes) or source.split != "train":
            raise ValueError("SceneBank holds the embedded world's training scenes (a SyntheticScenes 'train' "
                             f"split), got {type(source).__name__}")
        self.source, self.device = source, torch.device(device)
        self.scale, self.height, self.width = bank_shape(source)  # bank pixels per scene unit, bank size
        quiet = _quiet(source)
        images, masks = draw_bank(source, workers) if cache is None else cached_bank(source, cache, workers)
        self.images = torch.from_numpy(images).to(self.device)  # (N, H, W, 3) uint8
        self.masks = torch.from_numpy(masks).to(self.device)  # (N, H, W) uint8
        self.tokens = [quiet.scene(i).tokens for i in range(len(source))] if source.family == "context" else None
        self.sigma = {"street": source.street.noise_sigma, "context": source.context.noise_sigma}.get(
            source.family, source.world.noise_sigma)
        self.mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)

    def __len__(self) -> int:
        return len(self.source)

    def window(self, key: tuple, seed: int) -> tuple:
        """(index, top, left, pixels per output pixel, flip) of sample `key` = (epoch, index): where its window
        starts in bank pixels, drawn from (seed, epoch, index) as the per-sample loader draws its window."""
        epoch, index = key
        src = self.source
        rng = np.random.default_rng([seed, epoch, index])
        crop = src.crop
        if src.family == "street":
            (fh, fw), ratio = src.street.frame, rng.uniform(*src.street.resize_range)
            extent = crop / (src.zoom * ratio)  # the window in frame units
            x0, y0 = rng.uniform(0, fw - extent), rng.uniform(0, fh - extent)
            step = self.scale / (src.zoom * ratio)  # bank pixels per output pixel
        else:
            size, extent = src.frame()[0], crop / src.zoom
            x0, y0 = rng.uniform(0, size - extent, 2)
            if self.tokens is not None and self.tokens[index]:  # a window holding one token whole
                cx, cy, _ = self.tokens[index][rng.integers(len(self.tokens[index]))]
                r = src.context.token_radius
                x0 = np.clip(cx - rng.uniform(r, extent - r), 0, size - extent)
                y0 = np.clip(cy - rng.uniform(r, extent - r), 0, size - extent)
            x0, y0 = np.floor(x0 * self.scale) / self.scale, np.floor(y0 * self.scale) / self.scale  # on the grid
            step = 1.0
        flip = rng.random() < 0.5
        return index, y0 * self.scale, x0 * self.scale, step, flip

    def batch(self, keys, seed: int) -> tuple:
        """Images (B, 3, crop, crop) float32 normalised and masks (B, crop, crop) int64 on the bank's device."""
        windows = [self.window(tuple(k), seed) for k in keys]
        crop, dev = self.source.crop, self.device
        index = torch.tensor([w[0] for w in windows], device=dev)
        top, left, step = (torch.tensor([w[i] for w in windows], dtype=torch.float64, device=dev) for i in (1, 2, 3))
        flip = torch.tensor([w[4] for w in windows], device=dev)
        grid = torch.arange(crop, dtype=torch.float64, device=dev)
        # bank coordinates of each output pixel's centre, on the bank's pixel-centre grid
        rows = top[:, None] + (grid[None] + 0.5) * step[:, None] - 0.5  # (B, crop)
        cols = left[:, None] + (grid[None] + 0.5) * step[:, None] - 0.5
        cols = torch.where(flip[:, None], cols.flip(1), cols)
        rows, cols = rows.clamp(0, self.height - 1), cols.clamp(0, self.width - 1)
        r0, c0 = rows.floor().long(), cols.floor().long()
        r1, c1 = (r0 + 1).clamp(max=self.height - 1), (c0 + 1).clamp(max=self.width - 1)
        wr, wc = (rows - r0).float()[:, :, None, None], (cols - c0).float()[:, None, :, None]
        n = index[:, None, None]

        def at(r, c):  # (B, crop, crop, 3) float
            return self.images[n, r[:, :, None], c[:, None, :]].float()
        image = ((at(r0, c0) * (1 - wc) + at(r0, c1) * wc) * (1 - wr)
                 + (at(r1, c0) * (1 - wc) + at(r1, c1) * wc) * wr)
        mask = self.masks[n, rows.round().long()[:, :, None], cols.round().long()[:, None, :]].long()
        image = image.permute(0, 3, 1, 2)  # (B, 3, crop, crop)
        if self.sigma:
            first = np.random.default_rng([seed, *map(int, keys[0]), 17]).integers(2**62)
            generator = torch.Generator(dev).manual_seed(int(first))
            image = image + self.sigma * torch.randn(image.shape, generator=generator, device=dev)
        image = image.clamp(0, 255).floor()  # as the per-sample render's uint8 image
        return ((image - self.mean) / self.std).contiguous(), mask


def bank_batches(bank: SceneBank, batches, seed: int):
    """(images, masks) on the bank's device for each list of keys of `batches` (an IterationBatches)."""
    for keys in batches:
        yield bank.batch(keys, seed)

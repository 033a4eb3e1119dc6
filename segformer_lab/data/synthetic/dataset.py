"""SyntheticScenes: the four scene families (FAMILIES) as a dataset of (image, mask) samples, with each family's
training, validation and test views."""
from __future__ import annotations

import numpy as np

from .aerial import CLASSES, PALETTE, THING_CLASSES, Scene, WorldConfig
from .context import CONTEXT_CLASSES, CONTEXT_PALETTE, CONTEXT_THING_CLASSES, ContextConfig, ContextScene
from .fine import FINE_CLASSES, FINE_PALETTE, FINE_THING_CLASSES, FineScene
from .street import STREET_CLASSES, STREET_PALETTE, STREET_THING_CLASSES, StreetConfig, StreetScene

FAMILIES = ("aerial", "street", "context", "fine")


class SyntheticScenes:
    """The embedded benchmark as a dataset: `load(i)` -> (image uint8 (H, W, 3), mask int64 (H, W)).

    family "aerial" (default): square scenes seen from above, no layout.
      split "train": a `crop` x `crop` window of scene i at a random position (a training crop of a larger scene).
      split "val"/"test": the window at the centre of scene i, `canvas` pixels (H, W) at `zoom`.
    family "fine": the aerial scenes and views, each class in four sub-classes told apart by a tint (36 classes).
    family "street": 256x512-unit frames of a street seen from a car, Cityscapes' layout.
      split "train": frame i randomly resized by a ratio in StreetConfig.resize_range (pixels per frame unit),
      then a random `crop` x `crop` window of it (mmseg's Cityscapes pipeline; the crop must fit the frame at
      the smallest ratio).
      split "val"/"test": the `canvas` window at the centre of frame i at `zoom` ((256, 512) at zoom 1 is the
      whole frame).
    Val and test scenes come from other seeds than training ones."""

    SPLIT_SEEDS = {"train": 0, "val": 1_000_003, "test": 2_000_003}
    ignore_index = 255
    random_view = True  # load() takes an rng for the training window

    def __init__(self, split: str = "train", length: int = 2000, seed: int = 0, crop: int = 128,
                 canvas: tuple = (128, 128), zoom: float = 1.0, world: WorldConfig = WorldConfig(),
                 family: str = "aerial", street: StreetConfig = StreetConfig(),
                 context: ContextConfig = ContextConfig()):
        if split not in self.SPLIT_SEEDS:
            raise ValueError(f"SyntheticScenes split={split!r}; expected one of {sorted(self.SPLIT_SEEDS)}")
        if family not in FAMILIES:
            raise ValueError(f"SyntheticScenes family={family!r}; expected one of {FAMILIES}")
        canvas = (canvas, canvas) if isinstance(canvas, int) else tuple(canvas)
        self.split, self.length, self.seed, self.family = split, length, seed, family
        self.crop, self.canvas, self.zoom, self.world, self.street = crop, canvas, zoom, world, street
        self.context = context
        if family in ("aerial", "fine", "context"):  # square worlds: the view must fit the scene
            size, owner = self.frame()[0], "ContextConfig" if family == "context" else "WorldConfig"
            extent, field = (crop, "crop") if split == "train" else (max(canvas), "canvas")
            if extent / zoom > size:
                raise ValueError(f"SyntheticScenes: a {extent}-pixel {field} at zoom {zoom} is larger than the "
                                 f"{size:g}-unit {family} scene ({owner}.world_size); expected at most "
                                 f"{int(size * zoom)} pixels")
        if family == "aerial":
            self.classes, self.palette, self.thing_classes = CLASSES, PALETTE, THING_CLASSES
        elif family == "fine":
            self.classes, self.palette, self.thing_classes = FINE_CLASSES, FINE_PALETTE, FINE_THING_CLASSES
        elif family == "context":
            view = crop if split == "train" else min(canvas)
            if context.span() * zoom > view:
                raise ValueError(f"SyntheticScenes: context distance {context.distance:g} (ContextConfig.distance) "
                                 f"gives a token with its ring {context.span() * zoom:g} pixels across, larger "
                                 f"than the {view}-pixel {'crop' if split == 'train' else 'canvas'}; expected "
                                 f"distance <= {(view / zoom - context.ring_width) / 2:g}")
            self.classes, self.palette, self.thing_classes = CONTEXT_CLASSES, CONTEXT_PALETTE, CONTEXT_THING_CLASSES
        else:
            (fh, fw), low = street.frame, street.resize_range[0]
            if split == "train" and crop > fh * low:
                raise ValueError(f"SyntheticScenes: crop {crop} is larger than the {fh * low:g}-pixel frame height "
                                 f"at the smallest resize ({low} x {fh:g}, StreetConfig.resize_range); expected "
                                 f"crop <= {int(fh * low)}")
            if split != "train" and (canvas[0] / zoom > fh or canvas[1] / zoom > fw):
                raise ValueError(f"SyntheticScenes: a {canvas[0]}x{canvas[1]} canvas at zoom {zoom} is larger than "
                                 f"the {fh:g}x{fw:g}-unit street frame; expected at most "
                                 f"{int(fh * zoom)}x{int(fw * zoom)} pixels at this zoom")
            self.classes, self.palette, self.thing_classes = STREET_CLASSES, STREET_PALETTE, STREET_THING_CLASSES

    def __len__(self) -> int:
        return self.length

    def scene(self, i: int):
        seed = self.seed + self.SPLIT_SEEDS[self.split]
        if self.family == "context":
            return ContextScene(seed, i, self.context)
        if self.family == "fine":
            return FineScene(seed, i, self.world)
        return Scene(seed, i, self.world) if self.family == "aerial" else StreetScene(seed, i, self.street)

    def frame(self) -> tuple:
        """(height, width) of one scene in scene units."""
        if self.family == "street":
            return tuple(self.street.frame)
        size = self.context.world_size if self.family == "context" else self.world.world_size
        return size, size

    def name(self, i: int) -> str:
        return f"{self.split}_{i:06d}"

    def load(self, i: int, rng: np.random.Generator | None = None):
        """Sample i; for training, `rng` draws the window and the noise (default: fixed by (seed, i))."""
        if not 0 <= i < self.length:
            raise IndexError(f"SyntheticScenes index {i} outside [0, {self.length})")
        scene = self.scene(i)
        if self.split == "train":
            rng = rng if rng is not None else np.random.default_rng([self.seed, i, 7])
            if self.family == "street":
                (fh, fw), ratio = self.street.frame, rng.uniform(*self.street.resize_range)
                extent = self.crop / (self.zoom * ratio)  # the crop in frame units
                x0, y0 = rng.uniform(0, fw - extent), rng.uniform(0, fh - extent)
                return scene.render(x0, y0, self.crop, self.crop, self.zoom * ratio, rng)
            size = self.frame()[0]
            extent = self.crop / self.zoom
            x0, y0 = rng.uniform(0, size - extent, 2)
            if self.family == "context" and scene.tokens:  # a window holding one token whole, anywhere in it
                cx, cy, _ = scene.tokens[rng.integers(len(scene.tokens))]
                r = self.context.token_radius
                x0 = np.clip(cx - rng.uniform(r, extent - r), 0, size - extent)
                y0 = np.clip(cy - rng.uniform(r, extent - r), 0, size - extent)
            return scene.render(x0, y0, self.crop, self.crop, self.zoom, rng)
        h, w = self.canvas
        fh, fw = self.frame()
        x0, y0 = (fw - w / self.zoom) / 2, (fh - h / self.zoom) / 2
        return scene.render(x0, y0, h, w, self.zoom)

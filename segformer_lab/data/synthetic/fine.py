"""The fine family: each aerial class in four sub-classes ("water_a" ... "water_d") that differ by a tint alone.

FINE_TINTS maps a sub-class to a factor on each RGB channel of the parent's texture. Shape, texture and context
stay the parent's. A tint moves one channel 20 % against the other two (a ratio of 1.33), beyond what the
per-scene colour gain (+-15 % per channel) mostly does: the colour of a pixel or a few (textures vary in
brightness, not hue) tells it, though not for certain in every scene. `FineScene.render` returns the aerial
window's image uint8 (H, W, 3), tinted, and mask int64 (H, W) of FINE_CLASSES indices (parent * 4 + sub-class).
"""
from __future__ import annotations

import numpy as np

from .aerial import CLASSES, PALETTE, STUFF_CLASSES, TEXTURE_SCALES, THING_CLASSES, Scene, WorldConfig, texture_tiles
from .drawing import OUTLINE_RGB, Field, finish_render, sample_textures

FINE_TINTS = {"a": (1.0, 1.0, 1.0), "b": (1.2, 0.9, 0.9), "c": (0.9, 1.2, 0.9), "d": (0.9, 0.9, 1.2)}
FINE_SPLIT = len(FINE_TINTS)  # a: untinted, b: redder, c: greener, d: bluer
FINE_CLASSES = tuple(f"{name}_{sub}" for name in CLASSES for sub in FINE_TINTS)  # fine class = parent * 4 + sub
FINE_STUFF_CLASSES = tuple(c * FINE_SPLIT + k for c in STUFF_CLASSES for k in range(FINE_SPLIT))
FINE_THING_CLASSES = tuple(c * FINE_SPLIT + k for c in THING_CLASSES for k in range(FINE_SPLIT))
FINE_SHADES = (0.0, 0.4, -0.3, -0.6)  # palette: the parent's colour, lightened (> 0) or darkened (< 0)
FINE_PALETTE = tuple(tuple(round(v + (255 - v) * t) if t > 0 else round(v * (1 + t)) for v in rgb)
                     for rgb in PALETTE for t in FINE_SHADES)


class FineScene(Scene):
    """An aerial scene (Scene's fields, things and textures, from the same generator) whose every class is split
    into FINE_SPLIT sub-classes by a tint (FINE_TINTS). On stuff the sub-class follows the signs of two further
    smooth fields (index [first > 0] + 2 [second > 0]), so a stuff region holds patches of several sub-classes
    with no edge between them but the change of tint; each thing draws its sub-class at random. The layout, and
    so the parent class of every pixel, is the aerial scene's: fine label // FINE_SPLIT is the aerial mask of the
    same (seed, index) and window, and untinted pixels (sub-class a) are the aerial image's."""

    def __init__(self, seed: int, index: int, cfg: WorldConfig = WorldConfig()):
        super().__init__(seed, index, cfg)
        rng = np.random.default_rng([seed, index, 13])  # a stream of its own: the aerial draws stay as they were
        self.cue_fields = [Field(rng, cfg.field_terms) for _ in range(2)]  # stuff's sub-class, bit 0 and bit 1
        self.thing_subclass = rng.integers(0, FINE_SPLIT, len(self.things))  # (n things,)

    def render(self, x0: float = 0.0, y0: float = 0.0, height: int = 128, width: int = 128, zoom: float = 1.0,
               rng: np.random.Generator | None = None):
        """As Scene.render, with FINE_CLASSES indices in the mask."""
        xs, ys, label, tex_id, outline, owner = self.layout(x0, y0, height, width, zoom)
        low, high = (field.grid(xs[0], ys[:, 0]) > 0 for field in self.cue_fields)  # (H, W) each
        drawn = np.append(self.thing_subclass, 0)  # owner -1 (stuff) reads the 0 at the end, discarded below
        sub = np.where(owner >= 0, drawn[owner], low + 2 * high)  # (H, W) index into FINE_TINTS
        image = sample_textures(texture_tiles(), TEXTURE_SCALES, self.offsets, tex_id, xs, ys)
        image *= np.array(list(FINE_TINTS.values()), np.float32)[sub]  # (H, W, 3)
        image[outline] = OUTLINE_RGB
        mask = label * FINE_SPLIT + sub
        return finish_render(image, self.gain, self.cfg.noise_sigma, (x0, y0, height, width, zoom), rng), mask


"""The aerial family (the default): a square of the world seen from above.

A scene is a square of the world (`WorldConfig.world_size` units) holding "stuff" regions (water, sand, grass,
road), laid out by smooth random fields, and "thing" objects (tree, car, boat, house, rock) placed where
their context allows. `Scene.render(x0, y0, height, width, zoom)` draws any window of it at any pixel density:
image uint8 (H, W, 3), mask int64 (H, W).

Local appearance is ambiguous on purpose: a tree's interior is grass texture, a house's is sand texture,
a rock's is road texture (their outline and shape decide), and cars and boats are the same shape and texture:
only the surroundings (road or water) tell them apart.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .drawing import OUTLINE_RGB, TILE, Field, finish_render, make_tiles, pixel_box, sample_textures

CLASSES = ("water", "sand", "grass", "road", "tree", "car", "boat", "house", "rock")
STUFF_CLASSES = (0, 1, 2, 3)
THING_CLASSES = (4, 5, 6, 7, 8)
PALETTE = ((40, 90, 200), (230, 210, 140), (60, 170, 60), (110, 110, 110), (10, 100, 20),
           (220, 40, 40), (240, 140, 20), (150, 80, 160), (60, 60, 60))
WATER, SAND, GRASS, ROAD, TREE, CAR, BOAT, HOUSE, ROCK = range(9)

# Textures: index -> (base RGB, contrast, texel scale in world units). Things reuse stuff textures.
TEXTURES = {"water": ((50, 90, 170), 35, 3.0), "sand": ((200, 180, 130), 30, 1.0),
            "grass": ((70, 140, 60), 40, 1.5), "asphalt": ((100, 100, 105), 25, 1.0),
            "metal": ((170, 60, 60), 45, 2.0)}
TEXTURE_OF = {WATER: "water", SAND: "sand", GRASS: "grass", ROAD: "asphalt", TREE: "grass", CAR: "metal",
              BOAT: "metal", HOUSE: "sand", ROCK: "asphalt"}
TEXTURE_SCALES = [scale for _, _, scale in TEXTURES.values()]
TEXTURE_INDEX = np.array([list(TEXTURES).index(TEXTURE_OF[c]) for c in range(len(CLASSES))])

# Thing kinds: (class, count per 512x512 units, size range in world units (half-length), aspect, shape, context)
THINGS = (
    (TREE, 70, (2.5, 22.0), 1.0, "disk", (GRASS,)),
    (CAR, 90, (3.0, 14.0), 0.45, "rect", (ROAD,)),
    (BOAT, 25, (3.0, 30.0), 0.45, "rect", (WATER,)),
    (HOUSE, 18, (5.0, 32.0), 1.0, "rect", (GRASS, SAND)),
    (ROCK, 50, (1.5, 6.0), 0.7, "disk", (SAND, GRASS)),
)


@dataclass(frozen=True)
class WorldConfig:
    """How scenes are generated; the defaults make the embedded benchmark."""

    world_size: float = 512.0  # side of a scene, world units (1 unit = 1 pixel at zoom 1)
    field_terms: int = 6  # sinusoids per random field
    water_level: float = -0.35  # field 1 below this is water
    road_half_width: float = 9.0  # roads: |field 3| scaled to world units below this
    noise_sigma: float = 6.0  # pixel noise (grey levels)
    gain_range: float = 0.15  # per-scene colour gain in [1 - g, 1 + g] per channel
    thing_density: float = 1.0  # multiplies every thing count


def texture_tiles() -> np.ndarray:
    """The aerial family's texture tiles (T, TILE, TILE, 3) float32, fixed for all scenes."""
    return make_tiles(tuple((base, contrast) for base, contrast, _ in TEXTURES.values()), 20210531)



class Scene:
    """One scene of the world: stuff fields and a list of things, all in world units."""

    def __init__(self, seed: int, index: int, cfg: WorldConfig = WorldConfig()):
        self.cfg = cfg
        rng = np.random.default_rng([seed, index])
        self.fields = [Field(rng, cfg.field_terms) for _ in range(3)]
        self.gain = rng.uniform(1 - cfg.gain_range, 1 + cfg.gain_range, 3).astype(np.float32)
        self.offsets = rng.uniform(0, TILE, (len(TEXTURES), 2))  # texture phase per scene
        self.things = self._place_things(rng)

    def stuff_at(self, x, y, grid: bool = False) -> np.ndarray:
        """Stuff class at world points x, y (same shapes), or on the grid of columns x (W,) and rows y (H,)."""
        f1, f2, f3 = (f.grid(x, y) if grid else f(x, y) for f in self.fields)
        label = np.where(f2 > 0, GRASS, SAND)
        # Roads: a band around the zero line of field 3; |f3| / |grad| approximates the distance to it.
        label = np.where(np.abs(f3) * 60.0 < self.cfg.road_half_width, ROAD, label)
        return np.where(f1 < self.cfg.water_level, WATER, label)

    def _place_things(self, rng: np.random.Generator) -> list:
        """Things as (class, cx, cy, half-length, aspect, angle, shape), larger ones painted first."""
        size = self.cfg.world_size
        counts = [rng.poisson(count * self.cfg.thing_density * (size / 512.0) ** 2) for _, count, *_ in THINGS]
        # Rejection sampling: of 4n candidates per kind keep the first n whose centre has the right context.
        cx, cy = rng.uniform(0, size, (2, 4 * sum(counts)))
        stuff = self.stuff_at(cx, cy)
        things, start = [], 0
        for (cls, _, (lo, hi), aspect, shape, context), n in zip(THINGS, counts):
            span = slice(start, start + 4 * n)
            start += 4 * n
            keep = start - 4 * n + np.flatnonzero(np.isin(stuff[span], context))[:n]
            half = np.exp(rng.uniform(math.log(lo), math.log(hi), len(keep)))  # log-uniform sizes
            angle = rng.uniform(0, math.pi, len(keep))
            if cls == CAR:  # cars drive along the road: perpendicular to the gradient of field 3
                gx, gy = self.fields[2].gradient(cx[keep], cy[keep])
                angle = np.arctan2(gx, -gy)
            things += [(cls, float(x), float(y), float(h), aspect, float(a), shape)
                       for x, y, h, a in zip(cx[keep], cy[keep], half, angle)]
        return sorted(things, key=lambda t: -t[3])

    def render(self, x0: float = 0.0, y0: float = 0.0, height: int = 128, width: int = 128, zoom: float = 1.0,
               rng: np.random.Generator | None = None):
        """Draw the window with top-left world point (x0, y0) at `zoom` pixels per world unit.

        Returns image uint8 (height, width, 3) RGB and mask int64 (height, width) of class indices.
        `rng` draws the pixel noise (default: fixed by the window, so a render is repeatable)."""
        xs, ys, label, tex_id, outline, _ = self.layout(x0, y0, height, width, zoom)
        image = sample_textures(texture_tiles(), TEXTURE_SCALES, self.offsets, tex_id, xs, ys)
        image[outline] = OUTLINE_RGB
        return finish_render(image, self.gain, self.cfg.noise_sigma, (x0, y0, height, width, zoom), rng), label

    def layout(self, x0: float, y0: float, height: int, width: int, zoom: float) -> tuple:
        """What each pixel of the window shows, before any texture is drawn: (xs (1, W) and ys (H, 1), the world
        coordinates of the pixel centres; label int64 (H, W), the class; tex_id (H, W), the texture (TEXTURES
        index); outline bool (H, W), the things' 1-pixel borders; owner int64 (H, W), the index in self.things of
        the thing painted there, -1 on stuff)."""
        xs = (x0 + (np.arange(width, dtype=np.float64) + 0.5) / zoom)[None, :]  # (1, W) world x of pixel centres
        ys = (y0 + (np.arange(height, dtype=np.float64) + 0.5) / zoom)[:, None]  # (H, 1)
        label = self.stuff_at(xs[0], ys[:, 0], grid=True).astype(np.int64)  # (H, W)
        texture = TEXTURE_INDEX
        tex_id = texture[label]
        outline = np.zeros((height, width), bool)
        owner = np.full((height, width), -1, np.int64)
        for k, (cls, cx, cy, half, aspect, angle, shape) in enumerate(self.things):
            box = pixel_box(cx, cy, half, half, x0, y0, zoom, height, width)
            if box is None:
                continue
            # Local coordinates of the thing's pixel box (u along its length, v across).
            r0, r1, c0, c1 = box
            dx, dy = xs[:, c0:c1] - cx, ys[r0:r1, :] - cy
            ca, sa = math.cos(angle), math.sin(angle)
            u, v = (dx * ca + dy * sa) / half, (-dx * sa + dy * ca) / (half * aspect)
            dist = np.maximum(np.abs(u), np.abs(v)) if shape == "rect" else np.sqrt(u * u + v * v)
            inside = dist <= 1.0
            border = inside & (dist > 1.0 - max(1.2 / zoom, 0.6) / (half * aspect))  # ~1 px outline
            label[r0:r1, c0:c1][inside] = cls
            tex_id[r0:r1, c0:c1][inside] = texture[cls]
            owner[r0:r1, c0:c1][inside] = k
            outline[r0:r1, c0:c1] |= border
            outline[r0:r1, c0:c1] &= ~(inside & ~border)
        return xs, ys, label, tex_id, outline, owner


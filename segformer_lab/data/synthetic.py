"""The embedded benchmark: procedurally generated scenes described in continuous world coordinates.

A scene is a square of the world (`WorldConfig.world_size` units) holding "stuff" regions (water, sand, grass,
road), laid out by smooth random fields, and "thing" objects (tree, car, boat, house, rock) placed where
their context allows. Nothing is stored as pixels: `Scene.render(x0, y0, h, w, zoom)` draws any window at any
pixel density (zoom = pixels per world unit), which gives the paper's two kinds of resolution change:
- a larger canvas at the same pixel scale: a bigger window at the same zoom (objects keep their pixel size);
- the same view at another pixel density: the same window at another zoom (objects grow or shrink).

Local appearance is ambiguous on purpose: a tree's interior is grass texture, a house's is sand texture,
a rock's is road texture (their outline and shape decide), and cars and boats are the same shape and texture:
only the surroundings (road or water) tell them apart.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

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
OUTLINE_RGB = (25, 25, 25)
TILE = 64
NOISE_TILE = 512

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


@lru_cache(maxsize=None)
def texture_tiles() -> np.ndarray:
    """The texture tiles (T, TILE, TILE, 3) float32, fixed for all scenes (smoothed noise around a base colour)."""
    rng = np.random.default_rng(20210531)
    tiles = []
    for base, contrast, _ in TEXTURES.values():
        noise = rng.standard_normal((TILE, TILE))
        for _ in range(2):  # wrap-around box blur: blobs of a few texels
            noise = (noise + np.roll(noise, 1, 0) + np.roll(noise, 1, 1) + np.roll(noise, (1, 1), (0, 1))) / 2
        noise /= noise.std()
        tiles.append(np.asarray(base, np.float32) + contrast * noise[..., None].astype(np.float32))
    return np.stack(tiles)


@lru_cache(maxsize=None)
def _noise_tile() -> np.ndarray:
    """Unit Gaussian pixel noise (512, 512, 3) float32, from which each render takes a random window."""
    return np.random.default_rng(7).standard_normal((NOISE_TILE, NOISE_TILE, 3), dtype=np.float32)


def noise_window(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """(height, width, 3) unit Gaussian noise: a random window of the noise tile, or fresh noise if larger."""
    if height > NOISE_TILE // 2 or width > NOISE_TILE // 2:
        return rng.standard_normal((height, width, 3), dtype=np.float32)
    r, c = rng.integers(0, NOISE_TILE - height), rng.integers(0, NOISE_TILE - width)
    return _noise_tile()[r:r + height, c:c + width]


class Field:
    """A smooth random field: a normalised sum of sinusoids with wavelengths of 100-400 world units."""

    def __init__(self, rng: np.random.Generator, terms: int):
        angle = rng.uniform(0, 2 * np.pi, terms)
        freq = 2 * np.pi / rng.uniform(100, 400, terms)
        self.u, self.v = freq * np.cos(angle), freq * np.sin(angle)
        self.phase = rng.uniform(0, 2 * np.pi, terms)
        self.amp = rng.uniform(0.5, 1.0, terms)
        self.amp /= np.sqrt((self.amp ** 2).sum() / 2)  # unit variance

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Value at world points; x, y broadcast (e.g. (1, W) and (H, 1) -> (H, W))."""
        out = 0.0
        for u, v, p, a in zip(self.u, self.v, self.phase, self.amp):
            out = out + a * np.sin(u * x + v * y + p)
        return out

    def grid(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Value on the grid of world columns xs (W,) and rows ys (H,) -> (H, W), as two small matmuls:
        sin(ux + vy + p) = sin(ux) cos(vy + p) + cos(ux) sin(vy + p)."""
        ux, vy = np.outer(xs, self.u), np.outer(ys, self.v) + self.phase  # (W, K), (H, K)
        return (np.cos(vy) * self.amp) @ np.sin(ux).T + (np.sin(vy) * self.amp) @ np.cos(ux).T

    def gradient(self, x: np.ndarray, y: np.ndarray) -> tuple:
        """(d/dx, d/dy) at world points x, y of shape (n,)."""
        c = self.amp * np.cos(np.outer(x, self.u) + np.outer(y, self.v) + self.phase)  # (n, K)
        return c @ self.u, c @ self.v


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
        xs = (x0 + (np.arange(width, dtype=np.float64) + 0.5) / zoom)[None, :]  # (1, W) world x of pixel centres
        ys = (y0 + (np.arange(height, dtype=np.float64) + 0.5) / zoom)[:, None]  # (H, 1)
        label = self.stuff_at(xs[0], ys[:, 0], grid=True).astype(np.int64)  # (H, W)
        texture = TEXTURE_INDEX
        tex_id = texture[label]
        outline = np.zeros((height, width), bool)
        x1, y1 = x0 + width / zoom, y0 + height / zoom
        for cls, cx, cy, half, aspect, angle, shape in self.things:
            if cx + half < x0 or cx - half > x1 or cy + half < y0 or cy - half > y1:
                continue
            # Pixel box of the thing, then its local coordinates (u along its length, v across).
            c0, c1 = max(int((cx - half - x0) * zoom), 0), min(int((cx + half - x0) * zoom) + 2, width)
            r0, r1 = max(int((cy - half - y0) * zoom), 0), min(int((cy + half - y0) * zoom) + 2, height)
            if c0 >= c1 or r0 >= r1:
                continue
            dx, dy = xs[:, c0:c1] - cx, ys[r0:r1, :] - cy
            ca, sa = math.cos(angle), math.sin(angle)
            u, v = (dx * ca + dy * sa) / half, (-dx * sa + dy * ca) / (half * aspect)
            dist = np.maximum(np.abs(u), np.abs(v)) if shape == "rect" else np.sqrt(u * u + v * v)
            inside = dist <= 1.0
            border = inside & (dist > 1.0 - max(1.2 / zoom, 0.6) / (half * aspect))  # ~1 px outline
            label[r0:r1, c0:c1][inside] = cls
            tex_id[r0:r1, c0:c1][inside] = texture[cls]
            outline[r0:r1, c0:c1] |= border
            outline[r0:r1, c0:c1] &= ~(inside & ~border)
        image = self._texture(tex_id, xs, ys)
        image[outline] = OUTLINE_RGB
        image *= self.gain
        if rng is None:
            rng = np.random.default_rng([int(x0 * 16), int(y0 * 16), height, width, int(zoom * 1000)])
        image += self.cfg.noise_sigma * noise_window(height, width, rng)
        return np.clip(image, 0, 255).astype(np.uint8), label

    def _texture(self, tex_id: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Sample each pixel's texture tile at its world position: (H, W) ids -> (H, W, 3) float32."""
        tiles = texture_tiles()
        out = np.empty(tex_id.shape + (3,), np.float32)
        for t in np.unique(tex_id):
            scale = TEXTURE_SCALES[t]
            rows = (ys[:, 0] / scale + self.offsets[t, 0]).astype(np.int64) % TILE  # (H,)
            cols = (xs[0] / scale + self.offsets[t, 1]).astype(np.int64) % TILE  # (W,)
            np.copyto(out, tiles[t][rows][:, cols], where=(tex_id == t)[..., None])
        return out


class SyntheticScenes:
    """The embedded benchmark as a dataset: `load(i)` -> (image uint8 (H, W, 3), mask int64 (H, W)).

    split "train": a `crop` x `crop` window of scene i at a random position (a training crop of a larger scene).
    split "val"/"test": the window at the centre of scene i, `canvas` pixels (H, W) at `zoom`; val and test
    scenes come from other seeds than training ones."""

    SPLIT_SEEDS = {"train": 0, "val": 1_000_003, "test": 2_000_003}
    classes = CLASSES
    palette = PALETTE
    thing_classes = THING_CLASSES
    ignore_index = 255
    random_view = True  # load() takes an rng for the training window

    def __init__(self, split: str = "train", length: int = 2000, seed: int = 0, crop: int = 128,
                 canvas: tuple = (128, 128), zoom: float = 1.0, world: WorldConfig = WorldConfig()):
        if split not in self.SPLIT_SEEDS:
            raise ValueError(f"SyntheticScenes split={split!r}; expected one of {sorted(self.SPLIT_SEEDS)}")
        canvas = (canvas, canvas) if isinstance(canvas, int) else tuple(canvas)
        extent = crop if split == "train" else max(canvas)
        if extent / zoom > world.world_size:
            raise ValueError(f"SyntheticScenes: a {extent}-pixel view at zoom {zoom} is larger than the "
                             f"{world.world_size}-unit scene (world_size)")
        self.split, self.length, self.seed = split, length, seed
        self.crop, self.canvas, self.zoom, self.world = crop, canvas, zoom, world

    def __len__(self) -> int:
        return self.length

    def scene(self, i: int) -> Scene:
        return Scene(self.seed + self.SPLIT_SEEDS[self.split], i, self.world)

    def name(self, i: int) -> str:
        return f"{self.split}_{i:06d}"

    def load(self, i: int, rng: np.random.Generator | None = None):
        """Sample i; for training, `rng` draws the window and the noise (default: fixed by (seed, i))."""
        if not 0 <= i < self.length:
            raise IndexError(f"SyntheticScenes index {i} outside [0, {self.length})")
        scene = self.scene(i)
        size = self.world.world_size
        if self.split == "train":
            rng = rng if rng is not None else np.random.default_rng([self.seed, i, 7])
            extent = self.crop / self.zoom
            x0, y0 = rng.uniform(0, size - extent, 2)
            return scene.render(x0, y0, self.crop, self.crop, self.zoom, rng)
        h, w = self.canvas
        x0, y0 = (size - w / self.zoom) / 2, (size - h / self.zoom) / 2
        return scene.render(x0, y0, h, w, self.zoom)

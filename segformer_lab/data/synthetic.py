"""The embedded benchmark: procedurally generated scenes described in continuous world coordinates.

Four scene families. "aerial" (the default) is described here; "fine" (FineScene) is the aerial world with each
class split into four sub-classes that only a tint tells apart (36 classes, for a decoder that must carry many
distinctions); "street" (StreetScene) is a camera looking down a street with the layout of Cityscapes, where
where-in-the-frame says a lot about what is there; "context" (ContextScene) probes how far a model reaches.

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


def texture_tiles() -> np.ndarray:
    """The aerial family's texture tiles (T, TILE, TILE, 3) float32, fixed for all scenes."""
    return make_tiles(tuple((base, contrast) for base, contrast, _ in TEXTURES.values()), 20210531)


@lru_cache(maxsize=None)
def make_tiles(textures: tuple, seed: int) -> np.ndarray:
    """Texture tiles (T, TILE, TILE, 3) float32 for ((base RGB, contrast), ...): smoothed noise around a colour."""
    rng = np.random.default_rng(seed)
    tiles = []
    for base, contrast in textures:
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


def pixel_box(cx: float, cy: float, half_w: float, half_h: float, x0: float, y0: float, zoom: float, height: int,
              width: int):
    """(r0, r1, c0, c1): the pixel rows and columns of the window (top-left world point x0, y0) that a box of
    half-sizes half_w, half_h centred at world (cx, cy) may touch, or None when it misses the window."""
    x1, y1 = x0 + width / zoom, y0 + height / zoom
    if cx + half_w < x0 or cx - half_w > x1 or cy + half_h < y0 or cy - half_h > y1:
        return None
    c0, c1 = max(int((cx - half_w - x0) * zoom), 0), min(int((cx + half_w - x0) * zoom) + 2, width)
    r0, r1 = max(int((cy - half_h - y0) * zoom), 0), min(int((cy + half_h - y0) * zoom) + 2, height)
    return None if c0 >= c1 or r0 >= r1 else (r0, r1, c0, c1)


def finish_render(image: np.ndarray, gain: np.ndarray, sigma: float, window: tuple, rng) -> np.ndarray:
    """Colour gain and pixel noise on a rendered (H, W, 3) float image -> uint8. `rng` draws the noise; None
    fixes it by the window (x0, y0, height, width, zoom), so that a render is repeatable."""
    x0, y0, height, width, zoom = window
    image *= gain
    if rng is None:  # a window may start left of or above the scene: negative offsets wrap to 64-bit words
        rng = np.random.default_rng([int(x0 * 16) % 2 ** 64, int(y0 * 16) % 2 ** 64, height, width,
                                     int(zoom * 1000)])
    image += sigma * noise_window(height, width, rng)
    return np.clip(image, 0, 255).astype(np.uint8)


def sample_textures(tiles: np.ndarray, scales, offsets: np.ndarray, tex_id: np.ndarray, xs: np.ndarray,
                    ys: np.ndarray) -> np.ndarray:
    """Sample each pixel's texture tile at its world position: (H, W) ids -> (H, W, 3) float32.
    xs (1, W) and ys (H, 1) are the world coordinates of the pixel centres; offsets (T, 2) the scene's phases."""
    out = np.empty(tex_id.shape + (3,), np.float32)
    for t in np.unique(tex_id):
        rows = (ys[:, 0] / scales[t] + offsets[t, 0]).astype(np.int64) % TILE  # (H,)
        cols = (xs[0] / scales[t] + offsets[t, 1]).astype(np.int64) % TILE  # (W,)
        np.copyto(out, tiles[t][rows][:, cols], where=(tex_id == t)[..., None])
    return out


# ---------------------------------------------------------------------------------------------- fine family
# Each aerial class in four sub-classes ("water_a" ... "water_d") that differ by a tint alone: sub-class -> factor
# on each RGB channel of the parent's texture. Shape, texture and context stay the parent's. A tint moves one
# channel 20 % against the other two (a ratio of 1.33), beyond what the per-scene colour gain (+-15 % per
# channel) mostly does: the colour of a pixel or a few (textures vary in brightness, not hue) tells it, though
# not for certain in every scene.
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


# ---------------------------------------------------------------------------------------------- street family
STREET_CLASSES = ("road", "sidewalk", "building", "vegetation", "sky", "car", "person", "pole", "sign")
STREET_STUFF_CLASSES = (0, 1, 2, 3, 4)
STREET_THING_CLASSES = (5, 6, 7, 8)
STREET_PALETTE = ((128, 64, 128), (244, 35, 232), (70, 70, 70), (107, 142, 35), (70, 130, 180), (0, 0, 142),
                  (220, 20, 60), (153, 153, 153), (220, 220, 0))  # Cityscapes' colours for the same classes
S_ROAD, S_SIDEWALK, S_BUILDING, S_VEGETATION, S_SKY, S_CAR, S_PERSON, S_POLE, S_SIGN = range(9)
# Textures: name -> (base RGB, contrast, texel scale in frame units). Pairs of classes share one on purpose.
STREET_TEXTURES = {"asphalt": ((100, 100, 105), 25, 1.0), "brick": ((165, 120, 100), 35, 1.5),
                   "foliage": ((60, 120, 50), 45, 1.0), "haze": ((175, 195, 215), 12, 4.0),
                   "metal": ((170, 60, 60), 45, 2.0), "dark": ((50, 50, 60), 20, 1.0)}
STREET_TEXTURE_OF = {S_ROAD: "asphalt", S_SIDEWALK: "asphalt", S_BUILDING: "brick", S_VEGETATION: "foliage",
                     S_SKY: "haze", S_CAR: "metal", S_PERSON: "dark", S_POLE: "dark", S_SIGN: "metal"}
STREET_TEXTURE_INDEX = np.array([list(STREET_TEXTURES).index(STREET_TEXTURE_OF[c]) for c in range(9)])
STREET_TEXTURE_SCALES = [scale for _, _, scale in STREET_TEXTURES.values()]
CURB_RGB = (190, 190, 185)


def street_tiles() -> np.ndarray:
    """The street family's texture tiles (T, TILE, TILE, 3) float32, fixed for all frames."""
    return make_tiles(tuple((base, contrast) for base, contrast, _ in STREET_TEXTURES.values()), 20210601)


@dataclass(frozen=True)
class StreetConfig:
    """How street frames are generated: a camera looking down a street, the layout of Cityscapes."""

    frame: tuple = (256.0, 512.0)  # (H, W) of a frame in frame units, Cityscapes' 1:2 (1 unit = 1 px at zoom 1)
    resize_range: tuple = (0.5, 2.0)  # training: frames randomly resized by this ratio, then cropped (mmseg)
    horizon: tuple = (0.36, 0.46)  # horizon row, as a fraction of the frame height
    camera_height: float = 1.6  # metres: sets the size of everything on the ground below the horizon
    road_half_width: tuple = (2.0, 5.5)  # metres from the camera to each kerb
    sidewalk_width: tuple = (2.5, 5.0)  # metres
    cars: float = 7.0  # mean count per frame (Poisson), likewise persons and poles
    car_depth: float = 0.6  # cars stand at most this fraction of the way from the horizon to the frame bottom
    persons: float = 10.0
    poles: float = 5.0
    sign_probability: float = 0.7  # a pole carries a sign
    noise_sigma: float = 6.0  # pixel noise (grey levels)
    gain_range: float = 0.15  # per-frame colour gain in [1 - g, 1 + g] per channel


class StreetScene:
    """One street frame: a horizon, a road and sidewalks converging to a vanishing point, facades of buildings
    and vegetation along them, sky above; cars on the road, persons and poles (some carrying signs) on the
    sidewalks, each sized by perspective: an object standing d units below the horizon is d / camera_height
    units per metre tall. Two pairs of classes share a texture (road and sidewalk, with a kerb line between
    them; car and sign) and a third pair a texture and colour (person and pole): the layout around them (on the
    road or up a pole, below or above the horizon) tells them apart, which is what a position signal can help."""

    def __init__(self, seed: int, index: int, cfg: StreetConfig = StreetConfig()):
        self.cfg = cfg
        rng = np.random.default_rng([seed, index, 5])
        height, width = cfg.frame
        self.horizon = rng.uniform(*cfg.horizon) * height
        self.vanish = width / 2 + rng.uniform(-0.08, 0.08) * width
        # Per side (0 left, 1 right): image slopes of the kerb and of the sidewalk's outer edge (x offset per
        # unit below the horizon = lateral metres / camera height), and the facade segments along the street.
        kerb = rng.uniform(*cfg.road_half_width, 2)
        walk = kerb + rng.uniform(*cfg.sidewalk_width, 2)
        self.kerb_slope, self.walk_slope = kerb / cfg.camera_height, walk / cfg.camera_height
        self.facades = [self._facades(rng, walk[side]) for side in range(2)]
        self.gain = rng.uniform(1 - cfg.gain_range, 1 + cfg.gain_range, 3).astype(np.float32)
        self.offsets = rng.uniform(0, TILE, (len(STREET_TEXTURES), 2))
        self.things = self._place_things(rng, kerb, walk)

    def _facades(self, rng: np.random.Generator, lateral: float) -> tuple:
        """Facade segments of one side: (bounds (S+1,) of |x - vanish|, class (S,), top slope (S,), ragged (S,)).
        A facade `lateral` metres from the camera with height h metres has its top at horizon - r (h - cam) / lateral."""
        bounds = [0.0, rng.uniform(2, 6)]
        while bounds[-1] < self.cfg.frame[1]:
            bounds.append(bounds[-1] * rng.uniform(1.25, 1.9))
        n = len(bounds) - 1
        vegetation = rng.random(n) < 0.3
        tall = np.where(vegetation, rng.uniform(3, 10, n), rng.uniform(6, 25, n))  # metres
        slope = (tall - self.cfg.camera_height) / lateral
        return (np.array(bounds), np.where(vegetation, S_VEGETATION, S_BUILDING), slope,
                np.where(vegetation, 0.3, 0.0))

    def _place_things(self, rng: np.random.Generator, kerb: np.ndarray, walk: np.ndarray) -> list:
        """Things as (depth row d, class, shape, cx, cy, half-width, half-height), far ones first. A thing stands
        on the ground d units below the horizon, at a lateral offset of u metres (image: u * d / camera_height)."""
        cfg, height = self.cfg, self.cfg.frame[0]
        deepest = (height - self.horizon) * 1.15  # bases a little below the frame: partly visible things

        def base(n, deepest=deepest):
            return rng.uniform(2.0, deepest, n)
        things = []
        n = rng.poisson(cfg.cars)
        for d, u in zip(base(n, cfg.car_depth * (height - self.horizon)), rng.uniform(-1, 1, n)):
            side = int(u > 0)
            lateral = u * (kerb[side] - 1.0)  # the car's centre stays 1 m inside the kerb
            things += self._standing(S_CAR, "rect", d, lateral, 1.8, 1.5)
        n = rng.poisson(cfg.persons)
        for d, side in zip(base(n), rng.integers(0, 2, n)):
            lateral = (2 * side - 1) * rng.uniform(kerb[side] + 0.4, walk[side] - 0.3)
            tall = rng.uniform(1.55, 1.9)
            things += self._standing(S_PERSON, "rect", d, lateral, 0.5, 0.82 * tall)
            m = d / cfg.camera_height  # units per metre at this depth
            things.append((d, S_PERSON, "disk", self.vanish + lateral * m, self.horizon + d - 0.9 * tall * m,
                           0.12 * m, 0.12 * m))
        n = rng.poisson(cfg.poles)
        for d, side in zip(base(n), rng.integers(0, 2, n)):
            lateral = (2 * side - 1) * (kerb[side] + 0.4)
            tall = rng.uniform(4.0, 6.0)
            things += self._standing(S_POLE, "rect", d, lateral, 0.15, tall)
            if rng.random() < cfg.sign_probability:
                m = d / cfg.camera_height
                things.append((d + 1e-6, S_SIGN, rng.choice(["rect", "disk"]), self.vanish + lateral * m,
                               self.horizon + d - (tall - 0.5) * m, 0.5 * m, 0.5 * m))
        return sorted(things, key=lambda t: t[0])

    def _standing(self, cls: int, shape: str, d: float, lateral: float, width: float, tall: float) -> list:
        """A box `width` x `tall` metres standing on the ground d units below the horizon, `lateral` m aside."""
        m = d / self.cfg.camera_height
        return [(d, cls, shape, self.vanish + lateral * m, self.horizon + d - tall * m / 2, width * m / 2,
                 tall * m / 2)]

    def stuff_at(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Stuff class on the grid of frame columns xs (W,) and rows ys (H,) -> (H, W) int64."""
        d = (ys - self.horizon)[:, None]  # (H, 1) rows below the horizon
        dx = (xs - self.vanish)[None, :]  # (1, W)
        r, right = np.abs(dx), (dx > 0).astype(np.int64)
        ground = d > 0
        label = np.full((len(ys), len(xs)), S_SKY, np.int64)
        for side in range(2):
            cols = right[0] == side
            bounds, cls, slope, ragged = self.facades[side]
            seg = np.clip(np.searchsorted(bounds, r[:, cols], side="right") - 1, 0, len(cls) - 1)  # (1, w)
            top = slope[seg] * (1 + ragged[seg] * np.sin(r[:, cols] * 0.35 + seg))  # ragged tops of vegetation
            facade = ground | (-d < top * r[:, cols])
            sub = np.where(facade, cls[seg], S_SKY)
            sub = np.where(ground & (r[:, cols] < self.walk_slope[side] * d), S_SIDEWALK, sub)
            sub = np.where(ground & (r[:, cols] < self.kerb_slope[side] * d), S_ROAD, sub)
            label[:, cols] = sub
        return label

    def render(self, x0: float = 0.0, y0: float = 0.0, height: int = 256, width: int = 512, zoom: float = 1.0,
               rng: np.random.Generator | None = None):
        """Draw the window with top-left frame point (x0, y0) at `zoom` pixels per frame unit.
        Returns image uint8 (height, width, 3) RGB and mask int64 (height, width) of class indices."""
        xs = x0 + (np.arange(width, dtype=np.float64) + 0.5) / zoom  # (W,) frame x of pixel centres
        ys = y0 + (np.arange(height, dtype=np.float64) + 0.5) / zoom  # (H,)
        label = self.stuff_at(xs, ys)
        d, r = (ys - self.horizon)[:, None], np.abs(xs - self.vanish)[None, :]
        kerb = np.where(xs > self.vanish, self.kerb_slope[1], self.kerb_slope[0])[None, :]
        curb = (d > 0) & (np.abs(r - kerb * d) / np.sqrt(1 + kerb ** 2) < 0.6 / zoom)  # ~1 px kerb line
        outline = np.zeros((height, width), bool)
        for _, cls, shape, cx, cy, hw, hh in self.things:
            hw = max(hw, 0.5 / zoom)  # at least one pixel wide
            box = pixel_box(cx, cy, hw, hh, x0, y0, zoom, height, width)
            if box is None:
                continue
            r0, r1, c0, c1 = box
            u, v = (xs[None, c0:c1] - cx) / hw, (ys[r0:r1, None] - cy) / hh
            dist = np.maximum(np.abs(u), np.abs(v)) if shape == "rect" else np.sqrt(u * u + v * v)
            inside = dist <= 1.0
            label[r0:r1, c0:c1][inside] = cls
            curb[r0:r1, c0:c1] &= ~inside
            thin = min(hw, hh) * zoom <= 2  # no outline on things a couple of pixels across (far persons, poles)
            border = np.zeros_like(inside) if thin else inside & (dist > 1.0 - 1.2 / (zoom * min(hw, hh)))
            outline[r0:r1, c0:c1] = (outline[r0:r1, c0:c1] & ~inside) | border
        image = sample_textures(street_tiles(), STREET_TEXTURE_SCALES, self.offsets, STREET_TEXTURE_INDEX[label],
                                xs[None, :], ys[:, None])
        image[curb] = CURB_RGB
        image[outline] = OUTLINE_RGB
        return finish_render(image, self.gain, self.cfg.noise_sigma, (x0, y0, height, width, zoom), rng), label


# ---------------------------------------------------------------------------------------------- context family
CONTEXT_CLASSES = ("ground", "ring", "token_a", "token_b")
CONTEXT_STUFF_CLASSES = (0, 1)
CONTEXT_THING_CLASSES = (2, 3)
CONTEXT_PALETTE = ((120, 100, 70), (250, 250, 250), (220, 40, 40), (40, 90, 220))
C_GROUND, C_RING, C_TOKEN_A, C_TOKEN_B = range(4)
# Textures: name -> (base RGB, contrast, texel scale). Both token classes share one; each ring type has its own.
CONTEXT_TEXTURES = {"soil": ((120, 100, 75), 30, 1.5), "ring_a": ((200, 90, 60), 30, 1.0),
                    "ring_b": ((70, 110, 190), 30, 1.0), "token": ((190, 190, 170), 35, 1.0)}
CONTEXT_TEXTURE_SCALES = [scale for _, _, scale in CONTEXT_TEXTURES.values()]
SOIL, RING_A, RING_B, TOKEN = range(4)


def context_tiles() -> np.ndarray:
    """The context family's texture tiles (T, TILE, TILE, 3) float32, fixed for all scenes."""
    return make_tiles(tuple((base, contrast) for base, contrast, _ in CONTEXT_TEXTURES.values()), 20210602)


@dataclass(frozen=True)
class ContextConfig:
    """How context scenes are generated: tokens whose class only a ring at distance `distance` decides."""

    world_size: float = 512.0  # side of a scene, world units (1 unit = 1 pixel at zoom 1)
    distance: float = 24.0  # d: from a token's centre to the middle of its ring, world units
    token_radius: float = 5.0  # tokens are discs of this radius, identical in shape and texture
    ring_width: float = 4.0  # the ring's radial width
    tokens: int = 12  # tokens per scene (fewer only if the rings do not fit: see ContextScene)
    margin: float = 4.0  # least gap between the rings of two tokens
    noise_sigma: float = 6.0  # pixel noise (grey levels)
    gain_range: float = 0.15  # per-scene colour gain in [1 - g, 1 + g] per channel

    def span(self) -> float:
        """Side of the square a token and its ring cover, world units: 2 d + ring width."""
        return 2 * self.distance + self.ring_width


class ContextScene:
    """One context scene: plain ground with `tokens` identical discs, each at the centre of a ring whose
    middle lies `distance` units away. The ring's texture (type a or b, drawn with probability 1/2) is the only
    thing that decides the token's class (token_a or token_b); rings are labelled "ring" whatever their type.
    Rings of different tokens keep `margin` apart, so a token's own ring is the nearest to it: a model names the
    token right only if it integrates what lies `distance` away. Accuracy on tokens against distance measures
    how far a model reaches."""

    def __init__(self, seed: int, index: int, cfg: ContextConfig = ContextConfig()):
        self.cfg = cfg
        rng = np.random.default_rng([seed, index, 11])
        self.gain = rng.uniform(1 - cfg.gain_range, 1 + cfg.gain_range, 3).astype(np.float32)
        self.offsets = rng.uniform(0, TILE, (len(CONTEXT_TEXTURES), 2))
        # Dart throwing: candidate centres inside the scene with their ring, kept when far enough from the kept.
        reach, spacing = cfg.span() / 2, cfg.span() + cfg.margin
        candidates = rng.uniform(reach, cfg.world_size - reach, (64 * cfg.tokens, 2))
        kept = []
        for c in candidates:
            if all((c[0] - k[0]) ** 2 + (c[1] - k[1]) ** 2 >= spacing ** 2 for k in kept):
                kept.append(c)
                if len(kept) == cfg.tokens:
                    break
        kinds = rng.integers(0, 2, len(kept))  # 0: ring a -> token_a, 1: ring b -> token_b
        self.tokens = [(float(x), float(y), int(k)) for (x, y), k in zip(kept, kinds)]

    def render(self, x0: float = 0.0, y0: float = 0.0, height: int = 128, width: int = 128, zoom: float = 1.0,
               rng: np.random.Generator | None = None):
        """Draw the window with top-left world point (x0, y0) at `zoom` pixels per world unit.
        Returns image uint8 (height, width, 3) RGB and mask int64 (height, width) of class indices."""
        cfg = self.cfg
        xs = (x0 + (np.arange(width, dtype=np.float64) + 0.5) / zoom)[None, :]  # (1, W)
        ys = (y0 + (np.arange(height, dtype=np.float64) + 0.5) / zoom)[:, None]  # (H, 1)
        label = np.full((height, width), C_GROUND, np.int64)
        tex_id = np.full((height, width), SOIL, np.int64)
        outline = np.zeros((height, width), bool)
        reach = cfg.span() / 2
        for cx, cy, kind in self.tokens:
            box = pixel_box(cx, cy, reach, reach, x0, y0, zoom, height, width)
            if box is None:
                continue
            r0, r1, c0, c1 = box
            dist = np.sqrt((xs[:, c0:c1] - cx) ** 2 + (ys[r0:r1, :] - cy) ** 2)  # (h, w) world units
            ring = np.abs(dist - cfg.distance) <= cfg.ring_width / 2
            token = dist <= cfg.token_radius
            label[r0:r1, c0:c1][ring] = C_RING
            tex_id[r0:r1, c0:c1][ring] = RING_B if kind else RING_A
            label[r0:r1, c0:c1][token] = C_TOKEN_B if kind else C_TOKEN_A
            tex_id[r0:r1, c0:c1][token] = TOKEN
            outline[r0:r1, c0:c1] |= token & (dist > cfg.token_radius - max(1.2 / zoom, 0.6))
        image = sample_textures(context_tiles(), CONTEXT_TEXTURE_SCALES, self.offsets, tex_id, xs, ys)
        image[outline] = OUTLINE_RGB
        return finish_render(image, self.gain, cfg.noise_sigma, (x0, y0, height, width, zoom), rng), label


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

"""The street family: frames of a camera looking down a street, with the layout of Cityscapes.

Where-in-the-frame says a lot about what is there: road below the horizon, sky above, facades along the
sides. A frame is `StreetConfig.frame` (256 x 512) frame units; `StreetScene.render(x0, y0, height, width, zoom)`
draws any window of it: image uint8 (H, W, 3), mask int64 (H, W).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .drawing import OUTLINE_RGB, TILE, finish_render, make_tiles, pixel_box, sample_textures

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


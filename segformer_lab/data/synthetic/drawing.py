"""What every scene family draws with: texture tiles and their sampling at world positions, pixel noise, smooth
random fields, the pixel box a thing may touch, and the last step of a render (colour gain, noise, uint8).

Textures are tiles (T, TILE, TILE, 3) float32 sampled at each pixel's world position, so a texture keeps its
size in world units at any zoom; all coordinates are world (or frame) units, a window's top-left (x0, y0).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

OUTLINE_RGB = (25, 25, 25)  # the 1-pixel border drawn around things
TILE = 64  # side of a texture tile, texels (a texel spans its texture's scale in world units)
NOISE_TILE = 512  # side of the pixel-noise tile that renders take their noise windows from


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


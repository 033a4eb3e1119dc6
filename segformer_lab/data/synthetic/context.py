"""The context family: identical tokens whose class only a ring at a set distance decides.

It probes how far a model reaches: accuracy on the tokens against `ContextConfig.distance`.
`ContextScene.render(x0, y0, height, width, zoom)`: image uint8 (H, W, 3), mask int64 (H, W).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .drawing import OUTLINE_RGB, TILE, finish_render, make_tiles, pixel_box, sample_textures

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


"""The embedded benchmark: procedurally generated scenes described in continuous world coordinates.

Four scene families, one module each:
- aerial.py (Scene, the default): a square of the world seen from above, stuff regions and things placed where
  their context allows;
- fine.py (FineScene): the aerial world with each class split into four sub-classes that only a tint tells apart
  (36 classes, for a decoder that must carry many distinctions);
- street.py (StreetScene): a camera looking down a street with the layout of Cityscapes, where
  where-in-the-frame says a lot about what is there;
- context.py (ContextScene): probes how far a model reaches.
drawing.py holds what they all draw with (texture tiles, pixel noise, smooth random fields), dataset.py the
dataset over them (SyntheticScenes). Every name is importable from here.

Nothing is stored as pixels: a scene's `render(x0, y0, height, width, zoom)` draws any window at any pixel
density (zoom = pixels per world unit) as image uint8 (H, W, 3) and mask int64 (H, W), which gives the paper's
two kinds of resolution change:
- a larger canvas at the same pixel scale: a bigger window at the same zoom (objects keep their pixel size);
- the same view at another pixel density: the same window at another zoom (objects grow or shrink).
"""
from .aerial import (BOAT, CAR, CLASSES, GRASS, HOUSE, PALETTE, ROAD, ROCK, SAND, STUFF_CLASSES, TEXTURE_INDEX,
                     TEXTURE_OF, TEXTURE_SCALES, TEXTURES, THING_CLASSES, THINGS, TREE, WATER, Scene, WorldConfig,
                     texture_tiles)
from .context import (C_GROUND, C_RING, C_TOKEN_A, C_TOKEN_B, CONTEXT_CLASSES, CONTEXT_PALETTE, CONTEXT_STUFF_CLASSES,
                      CONTEXT_TEXTURE_SCALES, CONTEXT_TEXTURES, CONTEXT_THING_CLASSES, RING_A, RING_B, SOIL, TOKEN,
                      ContextConfig, ContextScene, context_tiles)
from .dataset import FAMILIES, SyntheticScenes
from .drawing import (NOISE_TILE, OUTLINE_RGB, TILE, Field, finish_render, make_tiles, noise_window, pixel_box,
                      sample_textures)
from .fine import (FINE_CLASSES, FINE_PALETTE, FINE_SHADES, FINE_SPLIT, FINE_STUFF_CLASSES, FINE_THING_CLASSES,
                   FINE_TINTS, FineScene)
from .street import (CURB_RGB, S_BUILDING, S_CAR, S_PERSON, S_POLE, S_ROAD, S_SIDEWALK, S_SIGN, S_SKY, S_VEGETATION,
                     STREET_CLASSES, STREET_PALETTE, STREET_STUFF_CLASSES, STREET_TEXTURE_INDEX, STREET_TEXTURE_OF,
                     STREET_TEXTURE_SCALES, STREET_TEXTURES, STREET_THING_CLASSES, StreetConfig, StreetScene,
                     street_tiles)

__all__ = [
    # the dataset
    "SyntheticScenes", "FAMILIES",
    # aerial
    "Scene", "WorldConfig", "CLASSES", "STUFF_CLASSES", "THING_CLASSES", "PALETTE", "WATER", "SAND", "GRASS", "ROAD",
    "TREE", "CAR", "BOAT", "HOUSE", "ROCK", "TEXTURES", "TEXTURE_OF", "TEXTURE_SCALES", "TEXTURE_INDEX", "THINGS",
    "texture_tiles",
    # fine
    "FineScene", "FINE_CLASSES", "FINE_STUFF_CLASSES", "FINE_THING_CLASSES", "FINE_PALETTE", "FINE_TINTS",
    "FINE_SPLIT", "FINE_SHADES",
    # street
    "StreetScene", "StreetConfig", "STREET_CLASSES", "STREET_STUFF_CLASSES", "STREET_THING_CLASSES",
    "STREET_PALETTE", "S_ROAD", "S_SIDEWALK", "S_BUILDING", "S_VEGETATION", "S_SKY", "S_CAR", "S_PERSON", "S_POLE",
    "S_SIGN", "STREET_TEXTURES", "STREET_TEXTURE_OF", "STREET_TEXTURE_INDEX", "STREET_TEXTURE_SCALES", "CURB_RGB",
    "street_tiles",
    # context
    "ContextScene", "ContextConfig", "CONTEXT_CLASSES", "CONTEXT_STUFF_CLASSES", "CONTEXT_THING_CLASSES",
    "CONTEXT_PALETTE", "C_GROUND", "C_RING", "C_TOKEN_A", "C_TOKEN_B", "CONTEXT_TEXTURES", "CONTEXT_TEXTURE_SCALES",
    "SOIL", "RING_A", "RING_B", "TOKEN", "context_tiles",
    # drawing
    "Field", "make_tiles", "noise_window", "pixel_box", "sample_textures", "finish_render", "OUTLINE_RGB", "TILE",
    "NOISE_TILE",
]

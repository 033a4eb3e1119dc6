"""Read segmentation datasets a user already holds, in their standard layouts. Nothing is downloaded.

Every dataset gives `load(i) -> (image, mask)`: image uint8 (H, W, 3) RGB, mask int64 (H, W) of class indices
in [0, len(classes)) or `ignore_index` (255). The layout (folders, image/mask pairs) is checked when a dataset is
built; pixels are checked when a sample is loaded. Problems raise `DatasetError`, naming the file and what was
expected.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

IGNORE_INDEX = 255
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MASK_MODES = ("L", "P", "I", "I;16")  # single-channel label images; P keeps its indices, not its colours


class DatasetError(ValueError):
    """A dataset on disk that does not have the promised layout or content; the message names the file."""


# mmseg's ADE20K class names and palette (index = label after the reduce-zero-label shift).
ADE20K_CLASSES = [
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk",
    "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand",
    "path", "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove",
    "palm", "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
    "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver",
    "airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle",
    "buffet", "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything",
    "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven",
    "ball", "food", "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake",
    "dishwasher", "screen", "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray",
    "ashcan", "fan", "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator",
    "glass", "clock", "flag",
]
ADE20K_PALETTE = [
    (120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50), (4, 200, 3), (120, 120, 80), (140, 140, 140),
    (204, 5, 255), (230, 230, 230), (4, 250, 7), (224, 5, 255), (235, 255, 7), (150, 5, 61), (120, 120, 70),
    (8, 255, 51), (255, 6, 82), (143, 255, 140), (204, 255, 4), (255, 51, 7), (204, 70, 3), (0, 102, 200),
    (61, 230, 250), (255, 6, 51), (11, 102, 255), (255, 7, 71), (255, 9, 224), (9, 7, 230), (220, 220, 220),
    (255, 9, 92), (112, 9, 255), (8, 255, 214), (7, 255, 224), (255, 184, 6), (10, 255, 71), (255, 41, 10),
    (7, 255, 255), (224, 255, 8), (102, 8, 255), (255, 61, 6), (255, 194, 7), (255, 122, 8), (0, 255, 20),
    (255, 8, 41), (255, 5, 153), (6, 51, 255), (235, 12, 255), (160, 150, 20), (0, 163, 255), (140, 140, 140),
    (250, 10, 15), (20, 255, 0), (31, 255, 0), (255, 31, 0), (255, 224, 0), (153, 255, 0), (0, 0, 255),
    (255, 71, 0), (0, 235, 255), (0, 173, 255), (31, 0, 255), (11, 200, 200), (255, 82, 0), (0, 255, 245),
    (0, 61, 255), (0, 255, 112), (0, 255, 133), (255, 0, 0), (255, 163, 0), (255, 102, 0), (194, 255, 0),
    (0, 143, 255), (51, 255, 0), (0, 82, 255), (0, 255, 41), (0, 255, 173), (10, 0, 255), (173, 255, 0),
    (0, 255, 153), (255, 92, 0), (255, 0, 255), (255, 0, 245), (255, 0, 102), (255, 173, 0), (255, 0, 20),
    (255, 184, 184), (0, 31, 255), (0, 255, 61), (0, 71, 255), (255, 0, 204), (0, 255, 194), (0, 255, 82),
    (0, 10, 255), (0, 112, 255), (51, 0, 255), (0, 194, 255), (0, 122, 255), (0, 255, 163), (255, 153, 0),
    (0, 255, 10), (255, 112, 0), (143, 255, 0), (82, 0, 255), (163, 255, 0), (255, 235, 0), (8, 184, 170),
    (133, 0, 255), (0, 255, 92), (184, 0, 255), (255, 0, 31), (0, 184, 255), (0, 214, 255), (255, 0, 112),
    (92, 255, 0), (0, 224, 255), (112, 224, 255), (70, 184, 160), (163, 0, 255), (153, 0, 255), (71, 255, 0),
    (255, 0, 163), (255, 204, 0), (255, 0, 143), (0, 255, 235), (133, 255, 0), (255, 0, 235), (245, 0, 255),
    (255, 0, 122), (255, 245, 0), (10, 190, 212), (214, 255, 0), (0, 204, 255), (20, 0, 255), (255, 255, 0),
    (0, 153, 255), (0, 41, 255), (0, 255, 204), (41, 0, 255), (41, 255, 0), (173, 0, 255), (0, 245, 255),
    (71, 0, 255), (122, 0, 255), (0, 255, 184), (0, 92, 255), (184, 255, 0), (0, 133, 255), (255, 214, 0),
    (25, 194, 194), (102, 255, 0), (92, 0, 255),
]
# The 100 "thing" classes of the ADE20K panoptic benchmark (detectron2's ADE20K_150_CATEGORIES, isthing=1);
# the other 50 are stuff. Semantic ADE20K itself does not split things from stuff.
ADE20K_THING_CLASSES = [
    7, 8, 10, 12, 14, 15, 18, 19, 20, 22, 23, 24, 27, 30, 31, 32, 33, 35, 36, 37, 38, 39, 41, 42, 43, 44, 45, 47,
    49, 50, 53, 55, 56, 57, 58, 62, 64, 65, 66, 67, 69, 70, 71, 72, 73, 74, 75, 76, 78, 80, 81, 82, 83, 85, 86,
    87, 88, 89, 90, 92, 93, 95, 97, 98, 102, 103, 104, 107, 108, 110, 111, 112, 115, 116, 118, 119, 120, 121,
    123, 124, 125, 126, 127, 129, 130, 132, 133, 134, 135, 136, 137, 138, 139, 142, 143, 144, 146, 147, 148, 149,
]

CITYSCAPES_CLASSES = [
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
]
CITYSCAPES_PALETTE = [
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
    (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60), (255, 0, 0),
    (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
]
CITYSCAPES_THING_CLASSES = list(range(11, 19))  # person, rider, car, truck, bus, train, motorcycle, bicycle
# labelId -> trainId (cityscapesScripts' labels.py); every other labelId in 0..33 (and -1) is ignored.
CITYSCAPES_LABEL_TO_TRAIN_ID = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
                                24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
CITYSCAPES_MAX_LABEL_ID = 33


def _require_dir(path: Path, what: str) -> Path:
    """Return `path` if it is a folder, else raise naming the folder the layout expects."""
    if not path.is_dir():
        raise DatasetError(f"{what}: expected folder {path} does not exist")
    return path


def _read_image(path: Path) -> np.ndarray:
    """Any image PIL reads -> uint8 (H, W, 3) RGB."""
    try:
        with Image.open(path) as im:
            return np.array(im.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError) as e:  # PIL's UnidentifiedImageError is an OSError
        raise DatasetError(f"cannot read image {path}: {e}") from e


def _read_mask(path: Path) -> np.ndarray:
    """Single-channel label image (mode L, P or I) -> int64 (H, W) of the stored index values."""
    try:
        with Image.open(path) as im:
            if im.mode not in MASK_MODES:
                raise DatasetError(f"mask {path} has mode {im.mode}; expected a single-channel label image "
                                   f"(mode {', '.join(MASK_MODES)})")
            return np.array(im, dtype=np.int64)
    except OSError as e:
        raise DatasetError(f"cannot read mask {path}: {e}") from e


def _check_labels(mask: np.ndarray, path: Path, num_classes: int, note: str = "") -> None:
    """Raise if `mask` holds a label outside [0, num_classes) that is not the ignore index."""
    bad = np.unique(mask[((mask < 0) | (mask >= num_classes)) & (mask != IGNORE_INDEX)])
    if bad.size:
        raise DatasetError(f"mask {path} has label(s) {bad[:10].tolist()} outside the valid range "
                           f"0..{num_classes - 1} (or {IGNORE_INDEX} for ignore){note}")


def _pair(images: list[Path], image_dir: Path, mask_for, hint: str = "") -> list[tuple[Path, Path]]:
    """Pair each image with the mask `mask_for(image)`; raise if there are no images or a mask is missing."""
    if not images:
        raise DatasetError(f"no images found in {image_dir}{hint}")
    pairs = [(image, mask_for(image)) for image in sorted(images)]
    for image, mask in pairs:
        if not mask.is_file():
            raise DatasetError(f"image {image} has no mask: expected {mask}")
    return pairs


class _PairedDataset:
    """Shared behaviour: a sorted list of (image, mask) paths, read and checked by `load`."""

    classes: list[str]
    palette: list[tuple[int, int, int]]
    thing_classes: list[int]
    ignore_index = IGNORE_INDEX

    def __init__(self, pairs: list[tuple[Path, Path]]):
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def name(self, i: int) -> str:
        """File stem of the i-th image."""
        return self.pairs[i][0].stem

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """i-th sample -> (image uint8 (H, W, 3) RGB, mask int64 (H, W) in [0, len(classes)) or 255)."""
        image_path, mask_path = self.pairs[i]
        image, raw = _read_image(image_path), _read_mask(mask_path)
        if image.shape[:2] != raw.shape:
            raise DatasetError(f"image {image_path} is {image.shape[0]}x{image.shape[1]} (HxW) but its mask "
                               f"{mask_path} is {raw.shape[0]}x{raw.shape[1]}")
        return image, self._to_labels(raw, mask_path)

    def _to_labels(self, raw: np.ndarray, path: Path) -> np.ndarray:
        """Stored mask values -> class indices; the default stores them as they are."""
        _check_labels(raw, path, len(self.classes))
        return raw


class ADE20K(_PairedDataset):
    """ADEChallengeData2016: `images/{split}/*.jpg`, `annotations/{split}/<stem>.png` with values 0..150.

    As mmseg's `reduce_zero_label`: 0 ("other") becomes 255 (ignored) and 1..150 become classes 0..149.
    """

    classes, palette, thing_classes = ADE20K_CLASSES, ADE20K_PALETTE, ADE20K_THING_CLASSES
    splits = ("training", "validation")

    def __init__(self, root: str | Path, split: str = "training"):
        if split not in self.splits:
            raise DatasetError(f"ADE20K split {split!r} is not one of {self.splits}")
        root = _require_dir(Path(root), "ADE20K root (ADEChallengeData2016)")
        image_dir = _require_dir(root / "images" / split, "ADE20K images")
        mask_dir = _require_dir(root / "annotations" / split, "ADE20K annotations")
        super().__init__(_pair(list(image_dir.glob("*.jpg")), image_dir, lambda p: mask_dir / f"{p.stem}.png"))

    def _to_labels(self, raw: np.ndarray, path: Path) -> np.ndarray:
        labels = np.where(raw == 0, IGNORE_INDEX, raw - 1)
        labels[raw == IGNORE_INDEX] = IGNORE_INDEX  # mmseg keeps a stored 255 ignored
        _check_labels(labels, path, len(self.classes), note=" after the reduce-zero-label shift (stored value - 1)")
        return labels


class Cityscapes(_PairedDataset):
    """Cityscapes fine annotations: `leftImg8bit/{split}/{city}/*_leftImg8bit.png` and, beside each image's
    name in `gtFine/{split}/{city}/`, `*_gtFine_labelTrainIds.png` (0..18, 255 ignored) where mmseg's converter
    wrote them for the whole split, else `*_gtFine_labelIds.png` with labelIds 0..33 mapped to the 19 train ids
    (others to 255). `label_files` says which was read.
    """

    classes, palette, thing_classes = CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, CITYSCAPES_THING_CLASSES
    splits = ("train", "val", "test")

    def __init__(self, root: str | Path, split: str = "train"):
        if split not in self.splits:
            raise DatasetError(f"Cityscapes split {split!r} is not one of {self.splits}")
        root = _require_dir(Path(root), "Cityscapes root")
        image_dir = _require_dir(root / "leftImg8bit" / split, "Cityscapes images")
        mask_dir = _require_dir(root / "gtFine" / split, "Cityscapes fine annotations")

        images = sorted(image_dir.glob("*/*_leftImg8bit.png"))

        def mask_for(image: Path, kind: str) -> Path:
            stem = image.name[: -len("_leftImg8bit.png")]
            return mask_dir / image.parent.name / f"{stem}_gtFine_{kind}.png"

        train_ids = bool(images) and all(mask_for(p, "labelTrainIds").is_file() for p in images)
        self.label_files = "labelTrainIds" if train_ids else "labelIds"
        super().__init__(_pair(images, image_dir, lambda p: mask_for(p, self.label_files)))
        # Lookup table labelId -> trainId over 0..33.
        self._train_id = np.full(CITYSCAPES_MAX_LABEL_ID + 1, IGNORE_INDEX, dtype=np.int64)
        for label_id, train_id in CITYSCAPES_LABEL_TO_TRAIN_ID.items():
            self._train_id[label_id] = train_id

    def _to_labels(self, raw: np.ndarray, path: Path) -> np.ndarray:
        if self.label_files == "labelTrainIds":
            _check_labels(raw, path, len(self.classes), note=" (a labelTrainIds file holds train ids)")
            return raw
        bad = np.unique(raw[((raw < 0) | (raw > CITYSCAPES_MAX_LABEL_ID)) & (raw != -1) & (raw != IGNORE_INDEX)])
        if bad.size:
            raise DatasetError(f"mask {path} has labelId(s) {bad[:10].tolist()} outside the valid range "
                               f"0..{CITYSCAPES_MAX_LABEL_ID} (or -1/{IGNORE_INDEX})")
        known = (raw >= 0) & (raw <= CITYSCAPES_MAX_LABEL_ID)
        return np.where(known, self._train_id[np.clip(raw, 0, CITYSCAPES_MAX_LABEL_ID)], IGNORE_INDEX)


def _voc_palette(n: int) -> list[tuple[int, int, int]]:
    """PASCAL VOC's colour map: spreads the bits of the class index over the high bits of R, G and B."""
    palette = []
    for i in range(n):
        rgb, c = [0, 0, 0], i
        for bit in range(7, -1, -1):
            for ch in range(3):
                rgb[ch] |= ((c >> ch) & 1) << bit
            c >>= 3
        palette.append(tuple(rgb))
    return palette


def _palette_of(mask_path: Path) -> list | None:
    """The colours of a palette (mode P) mask's entries 0..254 up to the last non-black one (PIL pads palettes with
    black to 256 entries; 255 is the ignore index), or None for a mask without a palette."""
    try:
        with Image.open(mask_path) as im:
            if im.mode != "P" or im.getpalette() is None:
                return None
            flat = im.getpalette()
    except OSError as e:
        raise DatasetError(f"cannot read mask {mask_path}: {e}") from e
    colours = [tuple(flat[i:i + 3]) for i in range(0, len(flat), 3)][:IGNORE_INDEX]  # 255 (ignore) is no class
    used = max((i for i, c in enumerate(colours) if c != (0, 0, 0)), default=0) + 1
    return colours[:used]


class FolderDataset(_PairedDataset):
    """A generic layout: `images/[split/]*.{png,jpg,jpeg}`, `masks/[split/]<stem>.png` (single-channel class
    indices, 255 ignored) and `classes.txt` (one class name per line). Without classes.txt, palette (mode P) masks
    name the classes: one per colour of the first mask's palette up to its last non-black entry ("class 0", ...),
    drawn in those colours. Things and stuff are not known: no thing classes; a VOC-style palette otherwise.
    """

    def __init__(self, root: str | Path, split: str | None = None):
        root = _require_dir(Path(root), "dataset root")
        sub = Path(split) if split else Path()
        image_dir = _require_dir(root / "images" / sub, "images")
        mask_dir = _require_dir(root / "masks" / sub, "masks")
        images = [p for p in image_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        folders = sorted(p.name for p in image_dir.iterdir() if p.is_dir())
        hint = f" (expected *.png, *.jpg or *.jpeg; split folders here: {folders})" if folders else ""
        pairs = _pair(images, image_dir, lambda p: mask_dir / f"{p.stem}.png", hint)

        classes_file = root / "classes.txt"
        self.thing_classes = []
        if classes_file.is_file():
            self.classes = [line.strip() for line in classes_file.read_text().splitlines() if line.strip()]
            if not self.classes:
                raise DatasetError(f"{classes_file} lists no class names: expected one class name per line")
            self.palette = _voc_palette(len(self.classes))
        else:
            palette = _palette_of(pairs[0][1])
            if palette is None:
                raise DatasetError(f"missing {classes_file}: expected one class name per line (the mask "
                                   f"{pairs[0][1]} has no palette, so it cannot name the classes)")
            self.classes = [f"class {i}" for i in range(len(palette))]
            self.palette = palette
        super().__init__(pairs)


DATASETS = {"ade20k": ADE20K, "cityscapes": Cityscapes, "folder": FolderDataset}


def open_dataset(name: str, root: str | Path, split: str | None = None) -> _PairedDataset:
    """`DATASETS[name](root, split)`; split None takes the dataset's default (ADE20K training, Cityscapes train)."""
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    return DATASETS[name](root) if split is None else DATASETS[name](root, split)

"""mmsegmentation's training and evaluation transforms for SegFormer, on numpy arrays.

Every transform is called as `transform(image, mask, rng) -> (image, mask)` with
image: uint8 (H, W, 3) RGB; mask: int64 (H, W) class indices, 255 = ignore;
rng: np.random.Generator, the only source of randomness, so a seeded generator fixes the output exactly.
The paper's training pipeline (mmseg configs) is
RandomResize(ratio 0.5-2.0) -> RandomCrop(cat_max_ratio 0.75) -> RandomFlip(0.5) -> PhotoMetricDistortion
-> Normalize -> to_tensors, which `train_pipeline` builds.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

IGNORE_INDEX = 255
IMAGENET_MEAN = (123.675, 116.28, 103.53)  # RGB, on the 0..255 scale
IMAGENET_STD = (58.395, 57.12, 57.375)


def _check_rng(rng, transform) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{type(transform).__name__} needs rng: np.random.Generator, got {type(rng).__name__}")


def _check_pair(image: np.ndarray, mask: np.ndarray) -> None:
    """Raise unless image is uint8 (H, W, 3) and mask is (H, W)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask must be (H, W) = {image.shape[:2]}, got {mask.shape}")


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize (half-pixel centres, no antialiasing, as cv2.INTER_LINEAR): (H, W, 3) -> (h, w, 3) uint8."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()  # (H, W, 3) -> (1, 3, H, W)
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=False)
    return x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()  # (1, 3, h, w) -> (h, w, 3)


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest resize (source index floor(dst * in / out), as cv2.INTER_NEAREST): (H, W) -> (h, w), labels kept."""
    rows = np.minimum((np.arange(size[0]) * (mask.shape[0] / size[0])).astype(np.int64), mask.shape[0] - 1)
    cols = np.minimum((np.arange(size[1]) * (mask.shape[1] / size[1])).astype(np.int64), mask.shape[1] - 1)
    return mask[rows[:, None], cols[None, :]]


class RandomResize:
    """mmseg `Resize(img_scale=scale, ratio_range=ratio_range, keep_ratio=keep_ratio)`.

    A ratio r ~ U(ratio_range) (r = 1 if ratio_range is None) gives the target (scale[0] * r, scale[1] * r).
    keep_ratio: rescale by min(max(target) / max(H, W), min(target) / min(H, W)), so the image fits the target in
    either orientation; otherwise resize to exactly width target[0], height target[1] (mmseg's (w, h) order).
    """

    def __init__(self, scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio: bool = True):
        if len(scale) != 2 or min(scale) <= 0:
            raise ValueError(f"scale must be two positive sizes, got {scale!r}")
        if ratio_range is not None and (len(ratio_range) != 2 or not 0 < ratio_range[0] <= ratio_range[1]):
            raise ValueError(f"ratio_range must be (low, high) with 0 < low <= high, got {ratio_range!r}")
        self.scale, self.ratio_range, self.keep_ratio = tuple(scale), ratio_range, keep_ratio

    def output_size(self, height: int, width: int, ratio: float) -> tuple[int, int]:
        """(H, W) of the output for an input of (height, width) and a sampled ratio."""
        target = (int(self.scale[0] * ratio), int(self.scale[1] * ratio))
        if not self.keep_ratio:
            return target[1], target[0]
        factor = min(max(target) / max(height, width), min(target) / min(height, width))
        return int(height * factor + 0.5), int(width * factor + 0.5)  # rounded as mmcv.rescale_size

    def __call__(self, image, mask, rng):
        _check_rng(rng, self)
        ratio = 1.0 if self.ratio_range is None else rng.uniform(*self.ratio_range)
        size = self.output_size(*mask.shape, ratio)
        return resize_image(image, size), resize_mask(mask, size)


class RandomCrop:
    """mmseg `RandomCrop(crop_size=size, cat_max_ratio=...)`, size = (h, w).

    An image smaller than the crop is first padded at the bottom/right (image with 0, mask with ignore_index);
    mmseg pads after cropping, which gives the same result. Up to 10 crops are drawn until one holds at least two
    classes and its most frequent class covers less than cat_max_ratio of the non-ignored pixels (mmseg's test);
    else the last is kept. cat_max_ratio = 1 turns the test off.
    """

    def __init__(self, size, cat_max_ratio: float = 0.75, ignore_index: int = IGNORE_INDEX):
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"size must be (h, w) with positive sides, got {size!r}")
        if not 0 < cat_max_ratio <= 1:
            raise ValueError(f"cat_max_ratio must be in (0, 1], got {cat_max_ratio!r}")
        self.size, self.cat_max_ratio, self.ignore_index = (int(size[0]), int(size[1])), cat_max_ratio, ignore_index

    def _accept(self, mask_crop: np.ndarray) -> bool:
        labels, counts = np.unique(mask_crop, return_counts=True)
        counts = counts[labels != self.ignore_index]
        return len(counts) > 1 and counts.max() / counts.sum() < self.cat_max_ratio

    def __call__(self, image, mask, rng):
        _check_rng(rng, self)
        (h, w), (ch, cw) = mask.shape, self.size
        pad_h, pad_w = max(ch - h, 0), max(cw - w, 0)
        if pad_h or pad_w:
            image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), constant_values=0)
            mask = np.pad(mask, ((0, pad_h), (0, pad_w)), constant_values=self.ignore_index)
        # Top-left corner uniform over all valid positions; retried while one class dominates.
        for _ in range(10 if self.cat_max_ratio < 1 else 1):
            top, left = rng.integers(0, mask.shape[0] - ch + 1), rng.integers(0, mask.shape[1] - cw + 1)
            if self.cat_max_ratio == 1 or self._accept(mask[top:top + ch, left:left + cw]):
                break
        return image[top:top + ch, left:left + cw].copy(), mask[top:top + ch, left:left + cw].copy()


class RandomFlip:
    """Horizontal flip of image and mask together with probability prob (mmseg `RandomFlip`)."""

    def __init__(self, prob: float = 0.5):
        if not 0 <= prob <= 1:
            raise ValueError(f"prob must be in [0, 1], got {prob!r}")
        self.prob = prob

    def __call__(self, image, mask, rng):
        _check_rng(rng, self)
        if rng.random() < self.prob:
            return image[:, ::-1].copy(), mask[:, ::-1].copy()
        return image, mask


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) float RGB in [0, 255] -> float32 HSV: H in [0, 360) degrees, S in [0, 1], V in [0, 255]."""
    rgb = rgb.astype(np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v, chroma = rgb.max(-1), rgb.max(-1) - rgb.min(-1)
    c = np.where(chroma > 0, chroma, 1)  # avoids 0/0 on greys, whose hue is set to 0 below
    h = np.where(v == r, ((g - b) / c) % 6, np.where(v == g, (b - r) / c + 2, (r - g) / c + 4))
    h = np.where(chroma > 0, 60 * h, 0)
    s = np.where(v > 0, chroma / np.where(v > 0, v, 1), 0)
    return np.stack([h, s, v], -1).astype(np.float32)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """Inverse of `rgb_to_hsv`: (..., 3) float32 HSV -> float32 RGB in [0, 255]."""
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    # Channel n in (R, G, B) = (5, 3, 1): v - v * s * clip(min(k, 4 - k), 0, 1) with k = (n + h / 60) mod 6.
    channels = [v - v * s * np.clip(np.minimum(k, 4 - k), 0, 1) for k in ((n + h / 60) % 6 for n in (5, 3, 1))]
    return np.stack(channels, -1).astype(np.float32)


class PhotoMetricDistortion:
    """mmseg `PhotoMetricDistortion`: brightness, then contrast first or last, saturation and hue in HSV.

    Each step happens with probability 1/2. hue_delta is in OpenCV's 8-bit hue unit (2 degrees), as in mmseg.
    Departure: the image stays float32 between steps (mmseg rounds to uint8 after each) and is rounded once.
    """

    def __init__(self, brightness_delta: float = 32, contrast_range=(0.5, 1.5), saturation_range=(0.5, 1.5),
                 hue_delta: int = 18):
        for arg, (low, high) in (("contrast_range", contrast_range), ("saturation_range", saturation_range)):
            if not 0 <= low <= high:
                raise ValueError(f"{arg} must be (low, high) with 0 <= low <= high, got {(low, high)!r}")
        if brightness_delta < 0 or not 0 <= hue_delta <= 180:
            raise ValueError(f"brightness_delta must be >= 0 and hue_delta in [0, 180], "
                             f"got brightness_delta={brightness_delta!r}, hue_delta={hue_delta!r}")
        self.brightness_delta, self.hue_delta = brightness_delta, int(hue_delta)
        self.contrast_range, self.saturation_range = tuple(contrast_range), tuple(saturation_range)

    def _contrast(self, img, rng):
        if rng.integers(2):
            img = np.clip(img * rng.uniform(*self.contrast_range), 0, 255)
        return img

    def __call__(self, image, mask, rng):
        _check_rng(rng, self)
        img = image.astype(np.float32)
        if rng.integers(2):  # brightness
            img = np.clip(img + rng.uniform(-self.brightness_delta, self.brightness_delta), 0, 255)
        contrast_last = rng.integers(2) == 0  # mmseg's mode 0
        if not contrast_last:
            img = self._contrast(img, rng)
        if rng.integers(2):  # saturation
            hsv = rgb_to_hsv(img)
            hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(*self.saturation_range), 0, 1)
            img = hsv_to_rgb(hsv)
        if rng.integers(2):  # hue, shifted by an integer in [-hue_delta, hue_delta) OpenCV units (0 if delta 0)
            hsv = rgb_to_hsv(img)
            hsv[..., 0] = (hsv[..., 0] + 2 * rng.integers(-self.hue_delta, max(self.hue_delta, 1))) % 360
            img = hsv_to_rgb(hsv)
        if contrast_last:
            img = self._contrast(img, rng)
        return np.clip(np.rint(img), 0, 255).astype(np.uint8), mask


class Normalize:
    """(image - mean) / std per RGB channel: uint8 (H, W, 3) -> float32 (H, W, 3); the mask passes through."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std must have 3 values with std > 0, got mean={mean!r}, std={std!r}")
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)

    def __call__(self, image, mask, rng=None):
        return (image.astype(np.float32) - self.mean) / self.std, mask


def to_tensors(image: np.ndarray, mask: np.ndarray, rng=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(H, W, 3) image -> float32 (3, H, W); (H, W) mask -> int64 (H, W). Values unchanged: run Normalize first."""
    image = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()  # (H, W, 3) -> (3, H, W)
    return image, torch.from_numpy(np.ascontiguousarray(mask)).long()


class Compose:
    """Apply transforms in order, all drawing from the same rng; checks the input pair first."""

    def __init__(self, transforms: list):
        self.transforms = list(transforms)

    def __call__(self, image, mask, rng=None):
        _check_pair(image, mask)
        for transform in self.transforms:
            image, mask = transform(image, mask, rng)
        return image, mask


def train_pipeline(crop_size, scale, ratio_range=(0.5, 2.0), cat_max_ratio: float = 0.75) -> Compose:
    """The paper's augmentation, e.g. ADE20K: crop_size (512, 512), scale (2048, 512); Cityscapes: (1024, 1024),
    (2048, 1024). Returns (image float32 (3, h, w) normalised, mask int64 (h, w)) with (h, w) = crop_size."""
    return Compose([RandomResize(scale, ratio_range), RandomCrop(crop_size, cat_max_ratio), RandomFlip(0.5),
                    PhotoMetricDistortion(), Normalize(), to_tensors])


def eval_pipeline() -> Compose:
    """Normalise at full resolution. mmseg's test-time resize of the image (and resizing the logits back to the
    mask) belongs to inference, so the mask keeps its original size here."""
    return Compose([Normalize(), to_tensors])

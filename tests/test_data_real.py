"""Dataset loaders on tiny trees written here, their errors, and the training/eval transforms."""
import re

import numpy as np
import pytest
import torch
from PIL import Image

from segformer_lab.data.real import (
    ADE20K,
    CITYSCAPES_CLASSES,
    Cityscapes,
    DatasetError,
    FolderDataset,
    open_dataset,
)
from segformer_lab.data.transforms import (
    Compose,
    Normalize,
    PhotoMetricDistortion,
    RandomCrop,
    RandomFlip,
    RandomResize,
    eval_pipeline,
    hsv_to_rgb,
    rgb_to_hsv,
    to_tensors,
    train_pipeline,
)

H, W = 6, 10  # non-square on purpose


def _image(h=H, w=W, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _save(path, array, mode=None):
    """Write an array as an image file; mode "P" stores label indices with a palette."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "P":
        im = Image.frombytes("P", (array.shape[1], array.shape[0]), array.astype(np.uint8).tobytes())
        im.putpalette([c for i in range(256) for c in (i, 255 - i, i // 2)])
    else:
        im = Image.fromarray(array)
    im.save(path)
    return path


def _match(*parts):
    """Regex requiring every part, literally, in order."""
    return ".*".join(re.escape(str(p)) for p in parts)


# ---------------------------------------------------------------- ADE20K


def _ade_tree(tmp_path, masks, split="training"):
    root = tmp_path / "ADEChallengeData2016"
    for stem, mask in masks.items():
        _save(root / "images" / split / f"{stem}.jpg", _image(*mask.shape))
        _save(root / "annotations" / split / f"{stem}.png", mask.astype(np.uint8))
    return root


def test_ade20k_pairs_and_reduces_zero_label(tmp_path):
    raw = np.array([[0, 1, 2, 150, 255, 0, 0, 0, 0, 0]] * H)
    root = _ade_tree(tmp_path, {"b_img": raw, "a_img": np.ones((H, W))})
    ds = ADE20K(root, "training")
    assert len(ds) == 2 and [ds.name(i) for i in range(2)] == ["a_img", "b_img"]
    assert len(ds.classes) == 150 and len(ds.palette) == 150 and ds.ignore_index == 255
    assert ds.classes[0] == "wall" and ds.classes[149] == "flag"
    assert all(0 <= c < 150 for c in ds.thing_classes) and ds.classes.index("person") in ds.thing_classes
    image, mask = ds.load(1)
    assert image.dtype == np.uint8 and image.shape == (H, W, 3)
    assert mask.dtype == np.int64 and mask.shape == (H, W)
    assert mask[0, :5].tolist() == [255, 0, 1, 149, 255]  # 0 -> ignore, others shifted down by one


def test_ade20k_label_out_of_range_after_shift(tmp_path):
    root = _ade_tree(tmp_path, {"bad": np.full((H, W), 200)})
    with pytest.raises(DatasetError, match=_match("bad.png", "[199]", "0..149")):
        ADE20K(root).load(0)


def test_ade20k_layout_errors(tmp_path):
    with pytest.raises(DatasetError, match=_match("nowhere", "does not exist")):
        ADE20K(tmp_path / "nowhere")
    root = tmp_path / "ADEChallengeData2016"
    (root / "images" / "training").mkdir(parents=True)
    with pytest.raises(DatasetError, match=_match("annotations", "training", "does not exist")):
        ADE20K(root)
    (root / "annotations" / "training").mkdir(parents=True)
    with pytest.raises(DatasetError, match=_match("no images", "training")):
        ADE20K(root)
    _save(root / "images" / "training" / "lonely.jpg", _image())
    with pytest.raises(DatasetError, match=_match("lonely.jpg", "no mask", "lonely.png")):
        ADE20K(root)
    with pytest.raises(DatasetError, match=_match("'train'", "training", "validation")):
        ADE20K(root, "train")


# ---------------------------------------------------------------- Cityscapes

# labelId -> trainId, written out from cityscapesScripts' table independently of the code under test.
CITYSCAPES_TABLE = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
                    26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}


def _city_tree(tmp_path, masks, split="train"):
    root = tmp_path / "cityscapes"
    for (city, stem), mask in masks.items():
        _save(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", _image(*mask.shape))
        _save(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", mask.astype(np.uint8))
    return root


def test_cityscapes_maps_label_ids_to_train_ids(tmp_path):
    all_ids = np.array([list(range(34)) + [255, 0]])  # every labelId once, (1, 36)
    root = _city_tree(tmp_path, {("bremen", "bremen_000001_000019"): all_ids,
                                 ("aachen", "aachen_000000_000019"): np.full((H, W), 26)})
    ds = Cityscapes(root, "train")
    assert len(ds) == 2 and ds.name(0) == "aachen_000000_000019_leftImg8bit"
    assert len(ds.classes) == 19 and len(ds.palette) == 19
    assert [ds.classes[i] for i in ds.thing_classes] == CITYSCAPES_CLASSES[11:]
    assert (ds.load(0)[1] == 13).all()  # car
    mask = ds.load(1)[1][0]
    expected = [CITYSCAPES_TABLE.get(i, 255) for i in range(34)] + [255, 255]
    assert mask.tolist() == expected
    assert mask[0] == 255 and mask[1] == 255 and mask[34] == 255  # unlabeled, ego vehicle, stored 255


def test_cityscapes_errors(tmp_path):
    root = _city_tree(tmp_path, {("ulm", "ulm_000000_000019"): np.full((H, W), 40)})
    with pytest.raises(DatasetError, match=_match("ulm_000000_000019_gtFine_labelIds.png", "[40]", "0..33")):
        Cityscapes(root).load(0)
    with pytest.raises(DatasetError, match=_match("gtFine", "val", "does not exist")):
        (root / "leftImg8bit" / "val").mkdir()
        Cityscapes(root, "val")
    _save(root / "leftImg8bit" / "train" / "ulm" / "ulm_000001_000019_leftImg8bit.png", _image())
    with pytest.raises(DatasetError, match=_match("ulm_000001_000019_leftImg8bit.png", "no mask",
                                                  "ulm_000001_000019_gtFine_labelIds.png")):
        Cityscapes(root)


# ---------------------------------------------------------------- FolderDataset


def _folder_tree(tmp_path, classes="sky\nroad\ncar\n", split=None):
    root = tmp_path / "folder"
    sub = [split] if split else []
    mask = np.array([[0, 1, 2, 255, 0, 0, 0, 0, 0, 0]] * H)
    _save(root.joinpath("images", *sub, "x.png"), _image())
    _save(root.joinpath("masks", *sub, "x.png"), mask, mode="P")
    _save(root.joinpath("images", *sub, "y.jpeg"), _image(seed=1))
    _save(root.joinpath("masks", *sub, "y.png"), np.full((H, W), 2, np.uint8))
    if classes is not None:
        (root / "classes.txt").write_text(classes)
    return root


def test_folder_dataset_reads_palette_masks_as_indices(tmp_path):
    ds = FolderDataset(_folder_tree(tmp_path))
    assert len(ds) == 2 and [ds.name(0), ds.name(1)] == ["x", "y"]
    assert ds.classes == ["sky", "road", "car"] and len(ds.palette) == 3 and ds.thing_classes == []
    image, mask = ds.load(0)
    assert image.shape == (H, W, 3) and mask.dtype == np.int64
    assert mask[0, :4].tolist() == [0, 1, 2, 255]  # P-mode indices, not palette colours
    assert (ds.load(1)[1] == 2).all()


def test_folder_dataset_split_and_open_dataset(tmp_path):
    root = _folder_tree(tmp_path, split="val")
    assert len(open_dataset("folder", root, "val")) == 2
    with pytest.raises(DatasetError, match=_match("no images found", "images", "split folders", "['val']")):
        FolderDataset(root)  # images/ holds only the split folder
    with pytest.raises(ValueError, match=_match("'coco'", "ade20k", "cityscapes", "folder")):
        open_dataset("coco", root, None)


def test_folder_dataset_classes_errors(tmp_path):
    # without classes.txt the fixture's palette masks (256 non-black colours) name classes 0..254
    assert len(FolderDataset(_folder_tree(tmp_path / "a", classes=None)).classes) == 255
    with pytest.raises(DatasetError, match=_match("classes.txt", "no class names")):
        FolderDataset(_folder_tree(tmp_path / "b", classes="\n  \n"))


def test_folder_dataset_classes_from_the_palette_without_classes_txt(tmp_path):
    root = tmp_path / "pal"
    mask = np.array([[0, 1, 2, 255, 0, 0, 0, 0, 0, 0]] * H, np.uint8)
    im = Image.frombytes("P", (W, H), mask.tobytes())
    im.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [0, 0, 0] * 252 + [255, 255, 255])  # 3 classes; 255 white
    (root / "masks").mkdir(parents=True)
    im.save(root / "masks" / "x.png")
    _save(root / "images" / "x.png", _image())
    ds = FolderDataset(root)
    assert ds.classes == ["class 0", "class 1", "class 2"] and ds.palette == [(0, 0, 0), (128, 0, 0), (0, 128, 0)]
    assert ds.load(0)[1][0, :4].tolist() == [0, 1, 2, 255]
    _save(root / "masks" / "x.png", mask)  # mode L: no palette to name the classes
    with pytest.raises(DatasetError, match=_match("classes.txt", "one class name per line", "x.png", "no palette")):
        FolderDataset(root)

def test_folder_dataset_pixel_errors(tmp_path):
    root = _folder_tree(tmp_path, classes="sky\nroad\n")  # x.png holds label 2: out of range for 2 classes
    ds = FolderDataset(root)
    with pytest.raises(DatasetError, match=_match("x.png", "[2]", "0..1")):
        ds.load(0)
    _save(root / "masks" / "y.png", np.zeros((H + 1, W), np.uint8))
    with pytest.raises(DatasetError, match=_match("y.jpeg", f"{H}x{W}", "y.png", f"{H + 1}x{W}")):
        ds.load(1)
    _save(root / "masks" / "y.png", np.zeros((H, W, 3), np.uint8))
    with pytest.raises(DatasetError, match=_match("y.png", "mode RGB", "single-channel")):
        ds.load(1)
    (root / "images" / "y.jpeg").write_bytes(b"not an image")
    with pytest.raises(DatasetError, match=_match("cannot read image", "y.jpeg")):
        ds.load(1)


def test_folder_dataset_missing_mask_and_empty(tmp_path):
    root = _folder_tree(tmp_path)
    (root / "masks" / "y.png").unlink()
    with pytest.raises(DatasetError, match=_match("y.jpeg", "no mask", "y.png")):
        FolderDataset(root)
    for p in (root / "images").iterdir():
        p.unlink()
    with pytest.raises(DatasetError, match=_match("no images found", "images")):
        FolderDataset(root)


# ---------------------------------------------------------------- transforms


def _scene(h=37, w=53, seed=0):
    """A uint8 (h, w, 3) image and an int64 mask with labels {0, 3, 7, 255} in blocks."""
    mask = np.zeros((h, w), np.int64)
    mask[:, w // 3:] = 3
    mask[h // 2:, 2 * w // 3:] = 7
    mask[:3, :3] = 255
    return _image(h, w, seed), mask


def test_train_pipeline_is_deterministic_given_the_generator():
    pipeline = train_pipeline(crop_size=(32, 24), scale=(128, 64))
    image, mask = _scene()
    a = pipeline(image, mask, np.random.default_rng(1))
    b = pipeline(image, mask, np.random.default_rng(1))
    c = pipeline(image, mask, np.random.default_rng(2))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert a[0].shape == (3, 32, 24) and a[0].dtype == torch.float32
    assert a[1].shape == (32, 24) and a[1].dtype == torch.int64
    assert set(a[1].unique().tolist()) <= {0, 3, 7, 255}


def test_random_resize_follows_the_rescale_rule():
    resize = RandomResize(scale=(100, 40), ratio_range=(0.5, 2.0))
    image, mask = _scene()
    for seed in range(20):
        ratio = np.random.default_rng(seed).uniform(0.5, 2.0)  # the draw RandomResize makes first
        out_image, out_mask = resize(image, mask, np.random.default_rng(seed))
        h, w = out_mask.shape
        assert out_image.shape == (h, w, 3) and (h, w) == resize.output_size(37, 53, ratio)
        long_t, short_t = int(100 * ratio), int(40 * ratio)
        assert max(h, w) <= long_t + 0.5 and min(h, w) <= short_t + 0.5  # fits the target
        assert max(h, w) >= long_t - 1 or min(h, w) >= short_t - 1  # and touches it on one side
        assert abs(w / h - 53 / 37) < 0.1  # aspect ratio kept
        assert set(np.unique(out_mask)) <= {0, 3, 7, 255}  # nearest: no new labels
    assert RandomResize((100, 40), None, keep_ratio=False)(image, mask, np.random.default_rng(0))[1].shape == (40, 100)


def test_random_crop_pads_small_images_with_ignore():
    image, mask = _scene(h=10, w=7)
    out_image, out_mask = RandomCrop((16, 12))(image, mask, np.random.default_rng(0))
    assert out_image.shape == (16, 12, 3) and out_mask.shape == (16, 12)
    np.testing.assert_array_equal(out_mask[:10, :7], mask)  # nothing to choose: the crop is the padded image
    assert (out_mask[10:] == 255).all() and (out_mask[:, 7:] == 255).all()
    assert (out_image[10:] == 0).all() and (out_image[:, 7:] == 0).all()


def test_random_crop_size_and_cat_max_ratio():
    image, mask = _scene(h=40, w=60)
    crop = RandomCrop((20, 20), cat_max_ratio=0.75)
    for seed in range(10):
        out_image, out_mask = crop(image, mask, np.random.default_rng(seed))
        assert out_image.shape == (20, 20, 3) and out_mask.shape == (20, 20)
    dominant = np.zeros((40, 60), np.int64)
    dominant[0, 0] = 1  # one class covers almost everything: no crop passes, the last try is kept
    out_image, out_mask = crop(image, dominant, np.random.default_rng(0))
    assert out_image.shape == (20, 20, 3) and out_mask.shape == (20, 20)
    # A crop that passes the test is preferred: with cat_max_ratio the chosen crops mix classes more often.
    balanced = [RandomCrop((20, 20), 0.75)(image, mask, np.random.default_rng(s))[1] for s in range(30)]
    assert np.mean([len(np.unique(m[m != 255])) > 1 for m in balanced]) > 0.9


def test_random_flip_flips_image_and_mask_together():
    image, mask = _scene()
    flipped = [RandomFlip(0.5)(image, mask, np.random.default_rng(s)) for s in range(10)]
    assert any(np.array_equal(m, mask) for _, m in flipped) and any(not np.array_equal(m, mask) for _, m in flipped)
    for out_image, out_mask in flipped:
        was_flipped = not np.array_equal(out_mask, mask)
        np.testing.assert_array_equal(out_image, image[:, ::-1] if was_flipped else image)
        np.testing.assert_array_equal(out_mask, mask[:, ::-1] if was_flipped else mask)


def test_photometric_distortion_keeps_shape_and_mask_changes_pixels():
    image, mask = _scene()
    distort = PhotoMetricDistortion()
    outputs = [distort(image, mask, np.random.default_rng(s)) for s in range(8)]
    for out_image, out_mask in outputs:
        assert out_image.dtype == np.uint8 and out_image.shape == image.shape
        assert out_mask is mask
    assert sum(not np.array_equal(o, image) for o, _ in outputs) >= 6  # all four steps skipped: p = 1/16


def test_rgb_hsv_round_trip():
    rgb = np.random.default_rng(0).integers(0, 256, (50, 50, 3)).astype(np.float32)
    rgb[0, :3] = [[0, 0, 0], [255, 255, 255], [128, 128, 128]]  # greys: zero chroma
    hsv = rgb_to_hsv(rgb)
    assert hsv.dtype == np.float32
    assert (0 <= hsv[..., 0]).all() and (hsv[..., 0] < 360).all()
    assert (0 <= hsv[..., 1]).all() and (hsv[..., 1] <= 1).all()
    np.testing.assert_allclose(hsv_to_rgb(hsv), rgb, atol=1e-3)
    np.testing.assert_allclose(rgb_to_hsv(np.array([[255.0, 0, 0], [0, 255, 0], [0, 0, 255]])),
                               [[0, 1, 255], [120, 1, 255], [240, 1, 255]], atol=1e-4)


def test_normalize_and_to_tensors():
    image, mask = _scene()
    out_image, out_mask = Compose([Normalize(), to_tensors])(image, mask)
    assert out_image.dtype == torch.float32 and out_image.shape == (3, 37, 53)
    assert out_mask.dtype == torch.int64 and out_mask.shape == (37, 53)
    expected = (image[5, 7, 1] - 116.28) / 57.12  # green channel of pixel (5, 7)
    assert out_image[1, 5, 7].item() == pytest.approx(expected, abs=1e-5)
    assert torch.equal(out_mask, torch.from_numpy(mask))
    eval_image, eval_mask = eval_pipeline()(image, mask)
    assert torch.equal(eval_image, out_image) and torch.equal(eval_mask, out_mask)


def test_transform_argument_errors():
    with pytest.raises(ValueError, match="ratio_range"):
        RandomResize(ratio_range=(2.0, 0.5))
    with pytest.raises(ValueError, match="cat_max_ratio"):
        RandomCrop((8, 8), cat_max_ratio=0)
    with pytest.raises(ValueError, match=r"size.*\(8,\)"):
        RandomCrop((8,))
    with pytest.raises(ValueError, match="prob"):
        RandomFlip(1.5)
    with pytest.raises(ValueError, match="contrast_range"):
        PhotoMetricDistortion(contrast_range=(1.5, 0.5))
    with pytest.raises(ValueError, match="std"):
        Normalize(std=(1.0, 0.0, 1.0))
    with pytest.raises(TypeError, match="RandomFlip needs rng"):
        Compose([RandomFlip()])(*_scene())
    with pytest.raises(ValueError, match=r"mask must be \(H, W\)"):
        Compose([])(_image(), np.zeros((3, 3), np.int64))

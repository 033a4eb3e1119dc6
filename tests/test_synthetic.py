"""The embedded benchmark: determinism, the two kinds of resolution change, classes and errors."""
import numpy as np
import pytest

from segformer_lab.data.synthetic import (CLASSES, PALETTE, STUFF_CLASSES, THING_CLASSES, Scene, SyntheticScenes,
                                          WorldConfig)


def test_classes_names_and_palette():
    assert len(CLASSES) >= 8 and len(PALETTE) == len(CLASSES)
    assert sorted(STUFF_CLASSES + THING_CLASSES) == list(range(len(CLASSES)))


def test_deterministic_per_seed_and_index():
    a, b = SyntheticScenes("train", 10, seed=3), SyntheticScenes("train", 10, seed=3)
    for i in (0, 7):
        (ia, ma), (ib, mb) = a.load(i), b.load(i)
        assert np.array_equal(ia, ib) and np.array_equal(ma, mb)
    assert not np.array_equal(a.load(0)[1], a.load(1)[1])
    assert not np.array_equal(a.load(0)[0], SyntheticScenes("train", 10, seed=4).load(0)[0])
    img, mask = a.load(2)
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8
    assert mask.shape == (128, 128) and mask.dtype == np.int64 and mask.max() < len(CLASSES)


def test_training_window_follows_rng():
    ds = SyntheticScenes("train", 4, crop=64)
    first = ds.load(1, np.random.default_rng(0))
    again = ds.load(1, np.random.default_rng(0))
    other = ds.load(1, np.random.default_rng(1))
    assert np.array_equal(first[1], again[1]) and not np.array_equal(first[1], other[1])


def test_larger_canvas_same_pixel_scale_shows_more_of_the_same_world():
    scene = Scene(0, 5)
    _, small = scene.render(200, 150, 64, 64)
    _, large = scene.render(168, 118, 128, 192)  # same zoom: the small view sits at rows 32:96, cols 32:96
    assert np.array_equal(large[32:96, 32:96], small)


def test_zoom_changes_pixel_density_of_the_same_view():
    scene = Scene(0, 6)
    _, base = scene.render(100, 100, 96, 96, zoom=1.0)
    _, zoomed = scene.render(100, 100, 192, 192, zoom=2.0)  # same world window, twice the pixels
    assert (zoomed[::2, ::2] == base).mean() > 0.9  # same content, objects twice as large in pixels
    assert not np.array_equal(zoomed[:96, :96], base)


def test_validation_views_hold_stuff_and_things_at_many_sizes():
    ds = SyntheticScenes("val", 24, canvas=(128, 128))
    counts = np.zeros(len(CLASSES), np.int64)
    for i in range(len(ds)):
        counts += np.bincount(ds.load(i)[1].ravel(), minlength=len(CLASSES))
    assert (counts > 0).all(), dict(zip(CLASSES, counts))
    sizes = [2 * t[3] for i in range(5) for t in Scene(0, i).things]
    assert min(sizes) < 6 and max(sizes) > 56  # a few pixels to about half a 128-pixel view


def test_val_and_train_scenes_differ():
    train, val = SyntheticScenes("train", 3), SyntheticScenes("val", 3)
    assert train.scene(0).things != val.scene(0).things


def test_errors():
    with pytest.raises(ValueError, match="split='valid'"):
        SyntheticScenes("valid")
    with pytest.raises(ValueError, match="a 1024-pixel view at zoom 1.0 is larger than the 512.0-unit scene"):
        SyntheticScenes("val", canvas=(512, 1024), world=WorldConfig())
    with pytest.raises(IndexError, match="index 5 outside"):
        SyntheticScenes("val", 5).load(5)

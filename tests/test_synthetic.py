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
    with pytest.raises(ValueError, match=r"a 1024-pixel canvas at zoom 1.0 is larger than the 512-unit aerial scene "
                                         r"\(WorldConfig.world_size\); expected at most 512 pixels"):
        SyntheticScenes("val", canvas=(512, 1024), world=WorldConfig())
    with pytest.raises(IndexError, match="index 5 outside"):
        SyntheticScenes("val", 5).load(5)


# Street family ---------------------------------------------------------------------------------------------------

def test_street_frames_have_the_layout_and_1_to_2_aspect_at_any_scale():
    from segformer_lab.data.synthetic import STREET_CLASSES, STREET_THING_CLASSES, S_ROAD, S_SKY, StreetScene
    assert len(STREET_CLASSES) >= 8 and len(STREET_THING_CLASSES) >= 3
    scene = StreetScene(0, 3)
    for zoom in (0.5, 1.0, 2.0):
        image, mask = scene.render(0, 0, int(256 * zoom), int(512 * zoom), zoom)
        assert image.shape == (256 * zoom, 512 * zoom, 3) and mask.shape == (256 * zoom, 512 * zoom)
    _, mask = scene.render(0, 0, 256, 512, 1.0)
    top, bottom = mask[:20], mask[-20:]
    assert (top == S_SKY).mean() > (bottom == S_SKY).mean() == 0  # sky above, never at the bottom
    assert (bottom == S_ROAD).mean() > 0.3 and (top == S_ROAD).mean() == 0
    _, fine = scene.render(0, 0, 512, 1024, 2.0)  # the same frame at twice the pixel density
    assert (fine[::2, ::2] == mask).mean() > 0.95


def test_street_things_grow_toward_the_bottom_with_perspective():
    from segformer_lab.data.synthetic import S_CAR, S_PERSON, StreetScene
    for cls in (S_CAR, S_PERSON):
        rows = [(t[0], t[6]) for i in range(10) for t in StreetScene(0, i).things if t[1] == cls and t[2] == "rect"]
        depth, half_height = np.array(rows).T
        ratio = half_height / depth  # size proportional to depth, up to the spread of heights (persons 1.55-1.9 m)
        assert ratio.max() / ratio.min() < 1.25
        assert half_height.max() > 20 * half_height.min()


def test_street_classes_all_appear_and_training_crops_come_from_resized_frames():
    from segformer_lab.data.synthetic import STREET_CLASSES
    val = SyntheticScenes("val", 12, canvas=(256, 512), family="street")
    counts = sum(np.bincount(val.load(i)[1].ravel(), minlength=len(STREET_CLASSES)) for i in range(len(val)))
    assert (counts > 0).all(), dict(zip(STREET_CLASSES, counts))
    assert val.classes == STREET_CLASSES and val.thing_classes == (5, 6, 7, 8)
    train = SyntheticScenes("train", 4, crop=128, family="street")
    image, mask = train.load(1, np.random.default_rng(3))
    assert image.shape == (128, 128, 3) and mask.shape == (128, 128)
    again = train.load(1, np.random.default_rng(3))
    assert np.array_equal(image, again[0]) and np.array_equal(mask, again[1])
    # The crop is a window of frame 1 resized by a ratio in [0.5, 2]: the same rng draws the same ratio and window.
    rng = np.random.default_rng(3)
    ratio = rng.uniform(0.5, 2.0)
    x0, y0 = rng.uniform(0, 512 - 128 / ratio), rng.uniform(0, 256 - 128 / ratio)
    assert np.array_equal(train.scene(1).render(x0, y0, 128, 128, ratio)[1], mask)


def test_street_errors_name_the_field_and_allowed_values():
    with pytest.raises(ValueError, match=r"family='city'; expected one of \('aerial', 'street', 'context', 'fine'\)"):
        SyntheticScenes("train", family="city")
    with pytest.raises(ValueError, match=r"crop 160 is larger than the 128-pixel frame height at the smallest resize "
                                         r"\(0.5 x 256.*expected crop <= 128"):
        SyntheticScenes("train", crop=160, family="street")
    with pytest.raises(ValueError, match="a 300x512 canvas at zoom 1.0 is larger than the 256x512-unit street frame"):
        SyntheticScenes("val", canvas=(300, 512), family="street")


def test_aerial_scenes_unchanged_by_the_street_family():
    """The aerial renders the committed results were trained on: a fingerprint of two samples."""
    image, mask = SyntheticScenes("train", 4, seed=0).load(2)
    assert (int(image.astype(np.int64).sum()), int(mask.sum())) == AERIAL_FINGERPRINT


AERIAL_FINGERPRINT = (6847256, 33751)  # measured before the street family existed

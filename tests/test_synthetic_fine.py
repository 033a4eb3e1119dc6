"""The "fine" family: the aerial world in 36 classes, each aerial class split into four sub-classes that only a
tint tells apart (decoder_width's *_fine runs train on it)."""
import numpy as np
import pytest

from segformer_lab.data.synthetic import (CLASSES, FINE_CLASSES, FINE_PALETTE, FINE_SPLIT, FINE_STUFF_CLASSES,
                                          FINE_THING_CLASSES, FINE_TINTS, GRASS, SAND, THING_CLASSES, WATER,
                                          FineScene, SyntheticScenes)
from segformer_lab.engine import TrainConfig, open_datasets, pretrain_config
from segformer_lab.names import name
from segformer_lab.repo import load_experiment
from segformer_lab.runner import planned_runs, run_id


def test_fine_classes_names_palette_and_thing_split():
    assert len(FINE_CLASSES) == len(CLASSES) * FINE_SPLIT == 36 and FINE_SPLIT == len(FINE_TINTS) == 4
    assert FINE_CLASSES[:4] == ("water_a", "water_b", "water_c", "water_d") and FINE_CLASSES[-1] == "rock_d"
    assert len(set(FINE_PALETTE)) == 36 and all(0 <= v <= 255 for rgb in FINE_PALETTE for v in rgb)
    assert sorted(FINE_STUFF_CLASSES + FINE_THING_CLASSES) == list(range(36))
    assert {c // FINE_SPLIT for c in FINE_THING_CLASSES} == set(THING_CLASSES)  # things inherit their parent's kind
    scenes = SyntheticScenes("val", 2, family="fine")
    assert (scenes.classes, scenes.palette, scenes.thing_classes) == (FINE_CLASSES, FINE_PALETTE, FINE_THING_CLASSES)


def test_fine_labels_in_range_and_many_classes_over_a_few_scenes():
    val = SyntheticScenes("val", 8, family="fine")
    counts = np.zeros(36, np.int64)
    for i in range(len(val)):
        image, mask = val.load(i)
        assert image.shape == (128, 128, 3) and mask.dtype == np.int64 and 0 <= mask.min() and mask.max() < 36
        counts += np.bincount(mask.ravel(), minlength=36)
    assert (counts > 0).sum() >= 32, dict(zip(FINE_CLASSES, counts))
    # every sub-class index is used, on stuff and on things alike
    assert (counts.reshape(9, FINE_SPLIT).sum(0) > 0).all() and (counts[list(FINE_THING_CLASSES)] > 0).sum() >= 12


@pytest.mark.parametrize("split", ["train", "val"])
def test_fine_scenes_are_the_aerial_scenes_with_a_tint(split):
    """The same layout as the aerial scene of the same (split, index, seed): fine class // 4 is the aerial class;
    sub-class "a" (untinted) is the aerial image pixel for pixel, the others change it."""
    fine, aerial = SyntheticScenes(split, 4, seed=2, family="fine"), SyntheticScenes(split, 4, seed=2)
    changed = []
    for i in range(len(fine)):
        (fine_image, fine_mask), (aerial_image, aerial_mask) = fine.load(i), aerial.load(i)
        assert np.array_equal(fine_mask // FINE_SPLIT, aerial_mask)
        plain = fine_mask % FINE_SPLIT == 0
        assert np.array_equal(fine_image[plain], aerial_image[plain])
        changed.append((fine_image[~plain] != aerial_image[~plain]).any(-1).mean())
    assert min(changed) > 0.8  # only outlines (the same in both) and chance coincidences stay


def patch_features(image: np.ndarray, mask: np.ndarray, side: int = 8) -> tuple:
    """Non-overlapping side x side patches that lie inside one class: (labels (N,), texture (N, 2): log std and
    lag-2 autocorrelation of the grey levels, colour (N, 3): mean RGB)."""
    h, w = (s // side * side for s in mask.shape)

    def blocks(a):  # (H, W, ...) -> (N, side, side, ...)
        a = a[:h, :w].reshape(h // side, side, w // side, side, *a.shape[2:]).swapaxes(1, 2)
        return a.reshape(-1, side, side, *a.shape[4:])
    labels, pixels = blocks(mask), blocks(image.astype(np.float64))
    whole = (labels == labels[:, :1, :1]).all(axis=(1, 2))
    labels, pixels = labels[whole, 0, 0], pixels[whole]
    d = pixels.mean(-1) - pixels.mean(axis=(1, 2, 3))[:, None, None]
    var = (d ** 2).mean(axis=(1, 2)) + 1e-6
    lag2 = ((d[:, :, 2:] * d[:, :, :-2]).mean(axis=(1, 2)) + (d[:, 2:] * d[:, :-2]).mean(axis=(1, 2))) / (2 * var)
    return labels, np.stack([0.5 * np.log(var), lag2], 1), pixels.mean(axis=(1, 2))


def nearest_centroid_accuracy(train_x, train_y, test_x, test_y) -> float:
    """Accuracy on (test_x, test_y) of the nearest of the per-class means of train_x, features standardised."""
    scale = train_x.std(0)
    centroids = np.stack([train_x[train_y == k].mean(0) for k in range(FINE_SPLIT)])
    pred = (((test_x[:, None] - centroids[None]) / scale) ** 2).sum(-1).argmin(1)
    return float((pred == test_y).mean())


def test_sub_classes_are_told_apart_by_local_colour_not_by_texture():
    """Within one parent, the mean colour of an 8x8 patch names the sub-class far above chance (1/4) on scenes of
    another seed, while the patch's texture statistics do not: the cue is local, learnable and only the tint
    (the per-scene colour gain keeps it from being certain)."""
    def parent_patches(seed, parent):
        labels, texture, colour = (np.concatenate(p) for p in zip(
            *(patch_features(*FineScene(seed, i).render(0, 0, 384, 384)) for i in range(3))))
        keep = labels // FINE_SPLIT == parent
        return labels[keep] % FINE_SPLIT, texture[keep], colour[keep]
    for parent in (WATER, SAND, GRASS):
        (y0, tex0, col0), (y1, tex1, col1) = parent_patches(0, parent), parent_patches(1, parent)
        assert min(np.bincount(y0, minlength=FINE_SPLIT)) >= 50 and len(y1) >= 200
        assert nearest_centroid_accuracy(col0, y0, col1, y1) > 0.55, CLASSES[parent]
        assert nearest_centroid_accuracy(tex0, y0, tex1, y1) < 0.5, CLASSES[parent]


def test_fine_scenes_deterministic_per_split_index_and_seed():
    for split in ("train", "val"):
        a, b = SyntheticScenes(split, 6, seed=3, family="fine"), SyntheticScenes(split, 6, seed=3, family="fine")
        for i in (0, 5):
            (ia, ma), (ib, mb) = a.load(i), b.load(i)
            assert np.array_equal(ia, ib) and np.array_equal(ma, mb)
        assert not np.array_equal(a.load(0)[1], a.load(1)[1])
        assert not np.array_equal(a.load(0)[1], SyntheticScenes(split, 6, seed=4, family="fine").load(0)[1])
    image, mask = SyntheticScenes("train", 4, seed=0, family="fine").load(2)
    assert (int(image.astype(np.int64).sum()), int(mask.sum())) == FINE_FINGERPRINT


FINE_FINGERPRINT = (6787039, 157802)  # measured when the fine family was made


def test_fine_views_must_fit_the_world():
    with pytest.raises(ValueError, match=r"a 1024-pixel canvas at zoom 1.0 is larger than the 512-unit fine scene "
                                         r"\(WorldConfig.world_size\); expected at most 512 pixels"):
        SyntheticScenes("val", canvas=1024, family="fine")
    with pytest.raises(ValueError, match=r"a 600-pixel crop at zoom 1.0 is larger than the 512-unit fine scene"):
        SyntheticScenes("train", crop=600, family="fine")


def test_fine_runs_open_36_classes_and_start_from_the_aerial_pretraining():
    cfg = TrainConfig(scene_family="fine", encoder_weights="embedded", train_scenes=4, val_scenes=2)
    train, val, classes, things = open_datasets(cfg)
    assert classes == list(FINE_CLASSES) and things == list(FINE_THING_CLASSES)
    assert train.load(0)[1].max() < 36 and val.load(1)[1].max() < 36
    aerial = TrainConfig(encoder_weights="embedded", train_scenes=4, val_scenes=2)
    assert len(open_datasets(aerial)[2]) == 9
    assert pretrain_config(cfg) == pretrain_config(aerial)  # the same cached encoder weights
    assert run_id(cfg) != run_id(aerial)


def test_decoder_width_fine_variants():
    module = load_experiment("decoder_width")
    runs = {(variant, seed): cfg for variant, seed, cfg in planned_runs(module, "default")}
    for c in (64, 256, 768):
        fine, aerial = runs[(f"c{c}_fine", 0)], runs[(f"c{c}", 0)]
        assert fine.scene_family == "fine" and aerial.scene_family == "aerial"
        assert (fine.model, fine.model_overrides, fine.encoder_weights) == \
               (aerial.model, aerial.model_overrides, aerial.encoder_weights)
        assert name(f"c{c}_fine") == f"C = {c}, 36 fine classes"
    assert runs[("c256_fine", 0)].model_overrides == {}  # B0's own width
    assert {v for v, _, _ in planned_runs(module, "quick")} == {"c64", "c256"}  # quick stays one cheap run

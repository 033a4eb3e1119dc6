"""Table 5's corruptions: names and severities, determinism, parity with the published definitions, the cache,
and the corrupted evaluation of a run from Python and the command line."""
import json

import numpy as np
import pytest

from segformer_lab.cli import main
from segformer_lab.corruptions import (CORRUPTIONS, GROUPS, CorruptedSource, corrupt, corruption_seed,
                                       parse_corruptions, parse_severities)
from segformer_lab.data.synthetic import SyntheticScenes
from segformer_lab.engine import TrainConfig, evaluate_run, train


@pytest.fixture(scope="module")
def image():
    return SyntheticScenes("val", 2, canvas=(64, 96), seed=3).load(0)[0]


def test_names_groups_and_severities():
    assert len(CORRUPTIONS) == 16 and all(len(v) == 4 for v in GROUPS.values())
    assert parse_corruptions(["all"]) == CORRUPTIONS
    assert parse_corruptions(["fog", "noise", "fog"]) == ("gaussian_noise", "impulse_noise", "shot_noise",
                                                          "speckle_noise", "fog")
    assert parse_severities([3, 1, 3]) == (1, 3)
    with pytest.raises(ValueError, match=r"unknown corruption\(s\) \['gauss'\]; valid: all, blur.*frost"):
        parse_corruptions(["gauss"])
    for bad in ([0], [6], [2.5], []):
        with pytest.raises(ValueError, match=r"outside the valid ones \[1, 2, 3, 4, 5\]"):
            parse_severities(bad)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_every_corruption_is_deterministic_and_changes_the_image(image, name):
    state = np.random.get_state()
    a = corrupt(image, name, 5, seed=0, index=7)
    assert a.dtype == np.uint8 and a.shape == image.shape
    assert np.array_equal(a, corrupt(image, name, 5, seed=0, index=7))
    assert np.abs(a.astype(int) - image).mean() > 1  # severity 5 visibly alters a scene
    assert np.array_equal(np.random.get_state()[1], state[1])  # the global generator is left as it was


@pytest.mark.parametrize("name", ["gaussian_noise", "impulse_noise", "glass_blur", "snow"])
def test_random_corruptions_differ_between_images_and_seeds(image, name):
    a = corrupt(image, name, 3, seed=0, index=0)
    assert not np.array_equal(a, corrupt(image, name, 3, seed=0, index=1))
    assert not np.array_equal(a, corrupt(image, name, 3, seed=1, index=0))


@pytest.mark.parametrize("name", ["gaussian_noise", "gaussian_blur", "contrast", "jpeg_compression"])
def test_damage_grows_with_severity(image, name):
    damage = [np.abs(corrupt(image, name, s).astype(int) - image).mean() for s in range(1, 6)]
    assert all(a < b for a, b in zip(damage, damage[1:])), damage


def test_parity_with_the_published_definitions(image):
    """ImageNet-C's gaussian noise (std .08 .12 .18 .26 .38 on the 0-1 scale) and contrast (scale about the
    mean by .4 .3 .2 .1 .05), written out here from the paper's definitions."""
    x = image / 255.0
    for severity, (std, scale) in enumerate(zip((.08, .12, .18, .26, .38), (.4, .3, .2, .1, .05)), start=1):
        rng = np.random.RandomState(corruption_seed(0, 0, "gaussian_noise", severity))
        noisy = np.clip(x + rng.normal(size=x.shape, scale=std), 0, 1) * 255
        assert np.array_equal(corrupt(image, "gaussian_noise", severity), noisy.astype(np.uint8))
        means = x.mean(axis=(0, 1), keepdims=True)
        low = np.clip((x - means) * scale + means, 0, 1) * 255
        assert np.array_equal(corrupt(image, "contrast", severity), low.astype(np.uint8))


def test_bad_image_is_refused():
    with pytest.raises(ValueError, match=r"uint8 \(H, W, 3\) image with H, W >= 32, got uint8 \(16, 64, 3\)"):
        corrupt(np.zeros((16, 64, 3), np.uint8), "fog", 1)
    with pytest.raises(ValueError, match="unknown corruption"):
        CorruptedSource(SyntheticScenes("val", 1, canvas=(64, 64)), "rain", 1)


def test_cached_source_computes_each_image_once(tmp_path):
    scenes = SyntheticScenes("val", 3, canvas=(64, 64), seed=1)
    first = CorruptedSource(scenes, "shot_noise", 2, cache_dir=tmp_path)
    images = [first.load(i) for i in range(len(first))]
    assert len(list(tmp_path.glob("shot_noise_s2_*.npy"))) == 3 and first.seconds > 0
    again = CorruptedSource(scenes, "shot_noise", 2, cache_dir=tmp_path)
    for i, (img, mask) in enumerate(images):
        cached, cached_mask = again.load(i)
        assert np.array_equal(cached, img) and np.array_equal(cached_mask, mask)
        assert np.array_equal(img, corrupt(scenes.load(i)[0], "shot_noise", 2, index=i))
    assert again.seconds == 0  # every image came from the cache


def test_a_shared_cache_never_serves_another_validation_sets_image(tmp_path):
    """Runs of different seeds draw different validation scenes at the same index: each gets the corruption of its
    own image from a cache they share (seed 1 once read seed 0's images, whose masks did not fit)."""
    sets = [SyntheticScenes("val", 2, canvas=(64, 64), seed=seed) for seed in (0, 1)]
    assert not np.array_equal(sets[0].load(0)[0], sets[1].load(0)[0])
    for scenes in sets + sets:  # the second pass reads the cache
        source = CorruptedSource(scenes, "gaussian_noise", 1, cache_dir=tmp_path)
        for i in range(len(scenes)):
            assert np.array_equal(source.load(i)[0], corrupt(scenes.load(i)[0], "gaussian_noise", 1, index=i))
    assert len(list(tmp_path.glob("gaussian_noise_s1_*.npy"))) == 4


def test_evaluate_a_run_under_corruptions(tmp_path, capsys):
    cfg = TrainConfig(model="segformer_tiny", crop_size=64, batch_size=4, train_scenes=8, val_scenes=3,
                      val_canvas=(64, 64), iterations=2, warmup_iters=1)
    train(cfg, tmp_path / "r", progress=False)
    clean = evaluate_run(tmp_path / "r")
    foggy = evaluate_run(tmp_path / "r", corruption="fog", severity=5)
    assert foggy["eval"]["corruption"] == "fog" and foggy["eval"]["severity"] == 5
    assert foggy["confusion"] != clean["confusion"] and foggy["seconds_per_image"] > 0
    assert main(["evaluate", str(tmp_path / "r"), "--corruptions", "fog", "contrast", "--severities", "5",
                 "--out", str(tmp_path / "c.json")]) == 0
    rows = json.loads((tmp_path / "c.json").read_text())
    assert [(r["corruption"], r["severity"]) for r in rows] == [("contrast", 5), ("fog", 5)]
    assert rows[1]["miou"] == foggy["miou"]
    assert "fog" in capsys.readouterr().out


def test_cli_refuses_bad_corruptions_before_anything_runs(tmp_path, cli_error):
    missing = tmp_path / "no_such_run"  # never opened: the names are checked first
    assert "unknown corruption(s) ['smog']; valid: all, blur, noise" in cli_error(
        ["evaluate", missing, "--corruptions", "smog"])
    assert "severity [6] outside the valid ones" in cli_error(
        ["evaluate", missing, "--corruptions", "all", "--severities", "3", "6"])

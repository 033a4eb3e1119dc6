"""The scene bank (`TrainConfig(loader="bank")`): its windows are the scenes the per-sample loader draws, cut on
the device, and a run trained from it is deterministic and resumes to the same metrics."""
import numpy as np
import pytest
import torch

from segformer_lab import engine
from segformer_lab.data import bank as bank_module
from segformer_lab.data.bank import SceneBank, _quiet, bank_key, cached_bank
from segformer_lab.data.synthetic import ContextConfig, SyntheticScenes, WorldConfig
from segformer_lab.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from segformer_lab.engine import TrainConfig, train
from segformer_lab.runner import run_id

KEYS = [(0, 1), (0, 3), (1, 2), (4, 0)]


def pixels(images: torch.Tensor) -> torch.Tensor:
    """Normalised (B, 3, H, W) -> the 0..255 values (B, H, W, 3)."""
    std, mean = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    return (images * std + mean).permute(0, 2, 3, 1)


def direct(bank: SceneBank, key) -> tuple:
    """The window of `key` rendered directly from the scene, without noise, flipped as the bank flips it."""
    index, top, left, step, flip = bank.window(key, 0)
    image, mask = _quiet(bank.source).scene(index).render(left / bank.scale, top / bank.scale, bank.source.crop,
                                                          bank.source.crop, bank.scale / step)
    if flip:
        image, mask = image[:, ::-1], mask[:, ::-1]
    return torch.from_numpy(image.astype(np.float32)), torch.from_numpy(mask.copy())


@pytest.mark.parametrize("family", ["aerial", "fine", "context"])
def test_windows_on_the_grid_are_the_scenes_own_pixels(family):
    bank = SceneBank(SyntheticScenes("train", 5, 0, crop=64, family=family))
    bank.sigma = 0.0  # no noise: the bank's window against the scene rendered directly
    images, masks = bank.batch(KEYS, 0)
    assert images.shape == (4, 3, 64, 64) and images.dtype == torch.float32 and masks.dtype == torch.int64
    for k, key in enumerate(KEYS):
        image, mask = direct(bank, key)
        assert torch.equal(masks[k], mask)
        assert torch.allclose(pixels(images)[k], image, atol=1e-3)
    assert len({bank.window(k, 0)[4] for k in KEYS}) == 2  # some windows flipped, some not


def test_street_windows_are_resampled_from_the_bank():
    """A street window is resized by its ratio (0.5-2) from the bank drawn at the largest: its mask is the
    direct render's (but for the odd pixel at a boundary), its image within a few grey levels."""
    bank = SceneBank(SyntheticScenes("train", 4, 0, crop=64, family="street"))
    bank.sigma = 0.0
    assert (bank.height, bank.width) == (512, 1024)  # 256x512 frames at ratio 2
    images, masks = bank.batch(KEYS, 0)
    steps = {bank.window(k, 0)[3] for k in KEYS}
    assert len(steps) == 4 and all(1 <= s <= 4 for s in steps)  # four ratios, each at most 2x below the bank
    for k, key in enumerate(KEYS):
        image, mask = direct(bank, key)
        assert (masks[k] == mask).float().mean() > 0.98
        assert (pixels(images)[k] - image).abs().mean() < 8


def test_the_same_keys_give_the_same_batch_and_noise_is_added():
    source = SyntheticScenes("train", 5, 0, crop=32)
    bank = SceneBank(source)
    a, b = bank.batch(KEYS, 0), bank.batch(KEYS, 0)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    other = bank.batch(KEYS, 1)
    assert not torch.equal(a[0], other[0])
    quiet = SceneBank(source)
    quiet.sigma = 0.0
    noise = pixels(a[0]) - pixels(quiet.batch(KEYS, 0)[0])
    assert 3 < noise.std() < 8  # the world's pixel noise, sigma 6 grey levels (clipped and floored)
    parallel = SceneBank(source, workers=2)
    assert torch.equal(parallel.images, bank.images) and torch.equal(parallel.masks, bank.masks)
    with pytest.raises(ValueError, match="SceneBank holds the embedded world's training scenes"):
        SceneBank(SyntheticScenes("val", 2, 0))


def test_a_cached_bank_is_drawn_once_and_read_back_for_the_same_scenes(tmp_path, monkeypatch):
    source = SyntheticScenes("train", 3, 0, crop=32)
    drawn = SceneBank(source)
    first = SceneBank(source, cache=tmp_path)
    assert torch.equal(first.images, drawn.images) and torch.equal(first.masks, drawn.masks)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".npy") == [
        f"{bank_key(source)}.images.npy", f"{bank_key(source)}.masks.npy"]
    monkeypatch.setattr(bank_module, "draw_bank", lambda *a, **k: pytest.fail("the cached bank was drawn again"))
    wider = SceneBank(SyntheticScenes("train", 3, 0, crop=64), cache=tmp_path)  # another crop cuts the same scenes
    assert torch.equal(wider.images, drawn.images) and torch.equal(wider.masks, drawn.masks)
    # what the pixels depend on names another bank; the world's pixel noise (added per batch) does not
    others = [SyntheticScenes("train", 3, 1, crop=32), SyntheticScenes("train", 4, 0, crop=32),
              SyntheticScenes("train", 3, 0, crop=32, world=WorldConfig(world_size=400.0)),
              SyntheticScenes("train", 3, 0, crop=32, family="street"),
              SyntheticScenes("train", 3, 0, crop=32, family="context", context=ContextConfig(distance=8.0))]
    assert len({bank_key(s) for s in [source, *others]}) == 6
    assert bank_key(SyntheticScenes("train", 3, 0, crop=32, world=WorldConfig(noise_sigma=9.0))) == bank_key(source)


def test_runs_starting_together_draw_a_bank_once(tmp_path, monkeypatch):
    """Two processes (here threads, each with its own lock handle) asking for the same missing bank: one draws it,
    the other waits and reads it."""
    import threading
    import time
    calls, draw = [], bank_module.draw_bank

    def slow_draw(*args, **kwargs):
        calls.append(1)
        time.sleep(0.5)
        return draw(*args, **kwargs)
    monkeypatch.setattr(bank_module, "draw_bank", slow_draw)
    source, got = SyntheticScenes("train", 2, 0, crop=32), []
    threads = [threading.Thread(target=lambda: got.append(cached_bank(source, tmp_path))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(got) == 2 and np.array_equal(got[0][0], got[1][0])
    assert not list(tmp_path.glob("*.part"))


def test_a_bank_run_resumes_to_the_same_metrics_and_has_its_own_id(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(tmp_path / "cache"))  # the run keeps its bank there
    tiny = dict(model="segformer_tiny", crop_size=64, batch_size=2, train_scenes=4, val_scenes=2, val_canvas=(64, 64),
                warmup_iters=1, iterations=4, checkpoint_every=2, loader="bank")
    cfg = TrainConfig(**tiny)
    straight = train(cfg, tmp_path / "straight", progress=False)
    assert len(list((tmp_path / "cache" / "banks").glob("aerial-*.images.npy"))) == 1
    real = engine.lr_at

    def stop_at_3(it, config):  # Ctrl-C at iteration 3: the checkpoint of iteration 2 is on disk
        if it == 3:
            raise KeyboardInterrupt
        return real(it, config)
    monkeypatch.setattr(engine, "lr_at", stop_at_3)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "resumed", progress=False)
    monkeypatch.setattr(engine, "lr_at", real)
    resumed = train(cfg, tmp_path / "resumed", progress=False)
    assert resumed["resumed_from"] == 2 and resumed["miou"] == straight["miou"]
    assert run_id(cfg) != run_id(TrainConfig(**{**tiny, "loader": "samples"}))
    assert run_id(TrainConfig(**{**tiny, "loader": "samples"})) == run_id(TrainConfig(**{
        k: v for k, v in tiny.items() if k != "loader"}))  # the field's default leaves earlier run ids as they were
    with pytest.raises(ValueError, match="TrainConfig.loader='disk'; expected one of"):
        TrainConfig(loader="disk")
    with pytest.raises(ValueError, match="loader='bank' holds the embedded world's scenes; dataset 'folder'"):
        TrainConfig(loader="bank", dataset="folder", data_root="x")

"""Encoder pretraining on the embedded world: equal budget, caching, reuse, loading."""
import torch

from segformer_lab import build_model, load_encoder_weights
from segformer_lab.engine import TrainConfig, train
from segformer_lab.pretrain import PretrainConfig, encoder_key, presence_targets, pretrain

SMALL = dict(crop_size=64, scenes=16, iterations=4, batch_size=4, warmup_iters=2)


def test_presence_targets():
    masks = torch.zeros(2, 10, 10, dtype=torch.long)
    masks[0, :5] = 3  # class 3 covers half of crop 0
    masks[1, 0, 0] = 2  # class 2 covers 1% of crop 1
    t = presence_targets(masks, 5, min_fraction=0.02)
    assert t.tolist() == [[1, 0, 0, 1, 0], [1, 0, 0, 0, 0]]


def test_cache_key_shared_by_decoder_ablations_only():
    base = encoder_key(PretrainConfig(model="segformer_b0"))
    assert encoder_key(PretrainConfig(model="segformer_b0", model_overrides={"decoder_stages": (4,)})) == base
    assert encoder_key(PretrainConfig(model="segformer_b0", model_overrides={"pos_encoding": "learned"})) != base
    assert encoder_key(PretrainConfig(model="segformer_b0", iterations=7)) != base
    assert encoder_key(PretrainConfig(model="resnet18_mlp")) != base
    # DeepLabV3 dilates the same ResNet: it shares the undilated ResNet's pretraining.
    resnet = encoder_key(PretrainConfig(model="resnet18_mlp", model_overrides={"decoder_dim": 256}))
    assert encoder_key(PretrainConfig(model="deeplabv3_r18", model_overrides={"output_stride": 16})) == resnet
    assert resnet.startswith("resnet18-") and encoder_key(PretrainConfig(model="resnet34_mlp")) != resnet


def test_pretrain_is_cached_reused_and_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(tmp_path))
    for name in ("segformer_tiny", "resnet_tiny_mlp", "setr_naive_tiny"):
        cfg = PretrainConfig(model=name, **SMALL)
        path = pretrain(cfg, progress=False)
        assert path.parent == tmp_path / "pretrained"
        stamp = path.stat().st_mtime_ns
        assert pretrain(cfg, progress=False) == path and path.stat().st_mtime_ns == stamp  # reused
        model = build_model(name, 3)
        before = [p.clone() for p in model.backbone.parameters()]
        load_encoder_weights(model, path)
        assert any(not torch.equal(a, b) for a, b in zip(before, model.backbone.parameters()))
    # Same seed, same budget: the same weights.
    again = pretrain(PretrainConfig(model="segformer_tiny", **SMALL), progress=False, force=True)
    assert again.exists()


def test_training_from_embedded_pretraining(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(tmp_path / "cache"))
    cfg = TrainConfig(model="segformer_tiny", crop_size=64, batch_size=4, train_scenes=8, val_scenes=2,
                      val_canvas=(64, 64), iterations=2, encoder_weights="embedded", pretrain_iterations=3)
    metrics = train(cfg, tmp_path / "run", progress=False)
    assert 0 <= metrics["miou"] <= 100
    assert len(list((tmp_path / "cache" / "pretrained").glob("segformer_tiny-*.pt"))) == 1

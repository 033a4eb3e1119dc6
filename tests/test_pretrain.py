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


def test_region_presence_targets_say_where_each_class_is():
    masks = torch.zeros(1, 8, 8, dtype=torch.long)
    masks[0, :4, :4] = 2  # top-left cell: class 2 only
    masks[0, 4:, 4:] = 1  # bottom-right cell: class 1 only
    t = presence_targets(masks, 3, min_fraction=0.5, regions=2).reshape(2, 2, 3)  # (row, column, class)
    assert t[0, 0].tolist() == [0, 0, 1] and t[1, 1].tolist() == [0, 1, 0]
    assert t[0, 1].tolist() == [1, 0, 0] and t[1, 0].tolist() == [1, 0, 0]
    assert presence_targets(masks, 3, 0.1).tolist() == [[1, 1, 1]]  # the whole crop: regions=1


def test_cache_keys_made_before_the_new_fields_are_unchanged():
    """Fields added later (scene family, pretext) at their old behaviour leave the cache key as it was."""
    import dataclasses
    import hashlib
    import json

    from segformer_lab.pretrain import encoder_spec
    cfg = PretrainConfig(model="segformer_b0")
    kind, encoder = encoder_spec(cfg)
    old = {k: v for k, v in dataclasses.asdict(cfg).items()
           if k not in ("model", "model_overrides", "scene_family", "pretext", "regions")}
    blob = json.dumps({"type": kind, "encoder": encoder, "budget": old}, sort_keys=True, default=list)
    assert encoder_key(cfg) == f"segformer_b0-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"
    street = PretrainConfig(model="segformer_b0", scene_family="street")
    region = PretrainConfig(model="segformer_b0", pretext="region_presence")
    assert len({encoder_key(cfg), encoder_key(street), encoder_key(region)}) == 3


def test_region_pretraining_on_street_scenes_and_errors(tmp_path, monkeypatch):
    import pytest
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(tmp_path))
    cfg = PretrainConfig(model="segformer_tiny", scene_family="street", pretext="region_presence",
                         model_overrides={"pos_encoding": "learned", "pe_train_size": (64, 64)}, **SMALL)
    saved = torch.load(pretrain(cfg, progress=False), weights_only=False)
    assert saved["pretrain_config"]["pretext"] == "region_presence" and 0 < saved["final_loss"] < 1
    assert saved["state_dict"]["backbone.pos_embed1"].shape == (1, 8, 16, 16)
    with pytest.raises(ValueError, match=r"pretext='where'; expected one of \('presence', 'region_presence'\)"):
        PretrainConfig(pretext="where")
    with pytest.raises(ValueError, match="regions=3; expected a positive divisor of crop_size 128"):
        PretrainConfig(regions=3)
    with pytest.raises(ValueError, match="scene_family='city'"):
        PretrainConfig(scene_family="city")

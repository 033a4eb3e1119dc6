"""segformer_lab.explore: loading runs, rendering, predicting, a pixel's ERF and its attention maps, checked
against a direct computation."""
import numpy as np
import pytest
import torch

from segformer_lab import build_model, explore
from segformer_lab.engine import TrainConfig


@pytest.fixture(scope="module")
def scene():
    return explore.render("aerial", 1, canvas=(64, 96))


def test_render_is_deterministic_and_corruptible(scene):
    again = explore.render("aerial", 1, canvas=(64, 96))
    assert scene.image.shape == (64, 96, 3) and scene.mask.shape == (64, 96) and len(scene.classes) == 9
    assert np.array_equal(scene.image, again.image) and np.array_equal(scene.mask, again.mask)
    foggy = explore.render("aerial", 1, canvas=(64, 96), corruption="fog", severity=4)
    assert np.array_equal(foggy.mask, scene.mask) and not np.array_equal(foggy.image, scene.image)
    assert explore.render("street", 0, canvas=(64, 128), zoom=0.25).classes != scene.classes


def test_predict_whole_and_slide(scene):
    model = build_model("segformer_tiny", 9)
    labels, probs = explore.predict(model, scene.image)
    assert labels.shape == (64, 96) and probs.shape == (9, 64, 96)
    assert np.allclose(probs.sum(0), 1, atol=1e-5) and np.array_equal(labels, probs.argmax(0))
    slid, _ = explore.predict(model, scene.image, mode="slide", crop=64, stride=32)
    assert slid.shape == (64, 96)


def test_pixel_erf_of_a_cnn_stage_is_local(scene):
    model = build_model("resnet_tiny_mlp", 9)
    erf = explore.pixel_erf(model, scene.image, (10, 12), target="stage1")
    assert erf.shape == (64, 96) and erf[10, 12] > 0
    assert erf[40:, 50:].sum() == 0  # far outside stage 1's receptive field
    with pytest.raises(ValueError, match=r"pixel \(64, 0\) outside the 64x96 image"):
        explore.pixel_erf(model, scene.image, (64, 0))


def test_attention_maps_match_a_direct_computation(scene):
    torch.manual_seed(0)
    model = build_model("segformer_tiny", 9).eval()
    maps = explore.attention_maps(model, scene.image, (30, 70))
    cfg = model.backbone.cfg
    assert len(maps) == sum(cfg.depths) and [m["stage"] for m in maps] == sorted(m["stage"] for m in maps)
    first = maps[0]
    assert first["grid"] == (16, 24) and first["query"] == (7, 17)
    sr = cfg.sr_ratios[0]
    assert first["maps"].shape == (cfg.num_heads[0], 16 // sr, 24 // sr)
    assert np.allclose(first["maps"].sum(axis=(1, 2)), 1, atol=1e-5)
    # stage 1, block 0 by hand: patch embedding, LayerNorm, q of the query token, keys from the reduced sequence
    with torch.no_grad():
        x, h, w = model.backbone.patch_embed1(explore._tensor(scene.image))
        blk = model.backbone.block1[0]
        t = blk.norm1(x)
        attn = blk.attn
        heads, c = attn.num_heads, t.shape[-1]
        q = attn.q(t)[0, 7 * w + 17].reshape(heads, c // heads)
        kv_in = attn.norm(attn.sr(t.transpose(1, 2).reshape(1, c, h, w)).flatten(2).transpose(1, 2)) if sr > 1 else t
        k = attn.kv(kv_in)[0, :, :c].reshape(-1, heads, c // heads).transpose(0, 1)  # (heads, N/R, d)
        expected = ((q[:, None, :] * attn.scale) @ k.transpose(1, 2))[:, 0].softmax(-1)
    assert np.allclose(first["maps"].reshape(heads, -1), expected.numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="attention maps need a MiT encoder"):
        explore.attention_maps(build_model("resnet_tiny_mlp", 9), scene.image, (0, 0))


def test_quick_run_trains_once_then_finds_it(tmp_path, monkeypatch):
    tiny = TrainConfig(model="segformer_tiny", crop_size=64, batch_size=2, train_scenes=4, val_scenes=2,
                       val_canvas=(64, 64), iterations=2, warmup_iters=1)
    monkeypatch.setattr(explore, "QUICK_B0", tiny)
    assert explore.find_run(tmp_path) is None
    run = explore.quick_run(tmp_path, progress=False)
    assert run == tmp_path / "explore" / "quick_b0" and explore.find_run(tmp_path) == run
    model, cfg = explore.load_run(run)
    assert cfg == tiny and not model.training
    model2, none = explore.load_run(run / "model.pt")  # a checkpoint file: no TrainConfig
    assert none is None and type(model2) is type(model)
    with pytest.raises(FileNotFoundError, match="no run directory"):
        explore.load_run(tmp_path / "absent")


def test_finished_runs_lists_only_segformer_runs_the_attention_view_can_read(tmp_path):
    import json
    for name, model in [("setr", "setr_naive_vit_s8"), ("cnn", "resnet_tiny_mlp"), ("b0", "segformer_b0")]:
        run = tmp_path / "exp" / name
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps(TrainConfig(model=model).to_dict()))
        (run / "metrics.json").write_text("{}")
        (run / "model.pt").write_bytes(b"")
    assert explore.finished_runs(tmp_path) == [tmp_path / "exp" / "b0"]
    assert explore.find_run(tmp_path) == tmp_path / "exp" / "b0"

"""Loading weights users hold: transformers (4.x and 5.x names), NVlabs/mmseg, MiT backbones, our own files;
parity with transformers' independent implementation; error messages for checkpoints that do not fit."""
import json
import re

import pytest
import torch

from segformer_lab import build_model
from segformer_lab.checkpoints import CheckpointError, from_pretrained, load_encoder_weights, save_pretrained

transformers = pytest.importorskip("transformers")

# transformers 5.x -> 4.x names, written from the documented 4.x layout, to fake a 4.x checkpoint.
TO_V4 = [
    (r"stages\.(\d)\.patch_embeddings\.", r"encoder.patch_embeddings.\1."),
    (r"stages\.(\d)\.blocks\.", r"encoder.block.\1."),
    (r"stages\.(\d)\.layer_norm\.", r"encoder.layer_norm.\1."),
    (r"attention\.q_proj", "attention.self.query"),
    (r"attention\.k_proj", "attention.self.key"),
    (r"attention\.v_proj", "attention.self.value"),
    (r"attention\.o_proj", "attention.output.dense"),
    (r"attention\.sequence_reduction\.sequence_reduction", "attention.self.sr"),
    (r"attention\.sequence_reduction\.layer_norm", "attention.self.layer_norm"),
    (r"mlp\.fc1", "mlp.dense1"),
    (r"mlp\.fc2", "mlp.dense2"),
    (r"layernorm_before", "layer_norm_1"),
    (r"layernorm_after", "layer_norm_2"),
    (r"decode_head\.linear_projections\.", "decode_head.linear_c."),
]

SIZES = [(97, 131), (128, 200)]


def hf_model(**config):
    from transformers import SegformerConfig, SegformerForSemanticSegmentation
    torch.manual_seed(0)
    model = SegformerForSemanticSegmentation(SegformerConfig(**config)).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so that the decoder's BN is exercised
        model.decode_head.batch_norm.running_mean.normal_()
        model.decode_head.batch_norm.running_var.uniform_(0.5, 2.0)
    return model


def assert_parity(hf, ours, sizes=SIZES):
    ours.eval()
    for h, w in sizes:
        x = torch.randn(2, 3, h, w)
        with torch.no_grad():
            expected = hf(pixel_values=x).logits
            got = ours(x)
        assert got.shape == expected.shape == (2, hf.config.num_labels, -(-h // 4), -(-w // 4))
        assert torch.allclose(got, expected, atol=1e-4, rtol=0), (got - expected).abs().max()


def test_transformers_v5_directory_parity(tmp_path):
    hf = hf_model(num_labels=7)
    hf.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    ours = from_pretrained(tmp_path)
    assert ours.variant == "segformer_b0" and ours.checkpoint_format == "hf"
    assert_parity(hf, ours)


def test_transformers_custom_shape_parity(tmp_path):
    hf = hf_model(num_labels=4, hidden_sizes=[16, 32, 48, 64], depths=[1, 2, 1, 1], num_attention_heads=[1, 2, 3, 4],
                  sr_ratios=[4, 2, 2, 1], mlp_ratios=[2, 4, 4, 2], decoder_hidden_size=40)
    hf.save_pretrained(tmp_path)
    ours = from_pretrained(tmp_path)
    assert ours.config.num_heads == (1, 2, 3, 4) and ours.variant == "segformer_custom"
    assert_parity(hf, ours)


def test_transformers_v4_names_parity(tmp_path):
    hf = hf_model(num_labels=5)
    state = {}
    for key, value in hf.state_dict().items():
        for pattern, repl in TO_V4:
            key = re.sub(pattern, repl, key)
        state[key] = value
    assert "segformer.encoder.block.0.0.attention.self.query.weight" in state
    torch.save(state, tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_text(json.dumps(hf.config.to_dict()))
    assert_parity(hf, from_pretrained(tmp_path))


def test_nvlabs_mmseg_round_trip(tmp_path):
    model = build_model("segformer_b0", 19).eval()
    with torch.no_grad():
        model.decode_head.linear_fuse.bn.running_mean.normal_()
    save_pretrained(model, tmp_path / "ours.pth", format="nvlabs")
    # An official checkpoint also carries mmseg's unused conv_seg and a meta dict.
    official = torch.load(tmp_path / "ours.pth")
    official["state_dict"]["decode_head.conv_seg.weight"] = torch.zeros(19, 256, 1, 1)
    official["state_dict"]["decode_head.conv_seg.bias"] = torch.zeros(19)
    official["meta"] = {"CLASSES": [str(i) for i in range(19)], "iter": 160000}
    torch.save(official, tmp_path / "segformer.b0.1024x1024.city.160k.pth")
    loaded = from_pretrained(tmp_path / "segformer.b0.1024x1024.city.160k.pth").eval()
    assert loaded.checkpoint_format == "mmseg" and loaded.variant == "segformer_b0"
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    x = torch.randn(1, 3, 97, 131)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_mit_imagenet_backbone(tmp_path):
    source = build_model("segformer_b1", 1000)
    state = {k: v for k, v in source.backbone.state_dict().items()}
    state["head.weight"], state["head.bias"] = torch.randn(1000, 512), torch.randn(1000)
    torch.save(state, tmp_path / "mit_b1.pth")
    with pytest.raises(CheckpointError, match="mit_b1.pth: holds an encoder only.*num_classes"):
        from_pretrained(tmp_path / "mit_b1.pth")
    model = from_pretrained(tmp_path / "mit_b1.pth", num_classes=19)
    assert model.variant == "segformer_b1" and model.config.num_classes == 19
    assert torch.equal(model.backbone.block2[1].attn.kv.weight, source.backbone.block2[1].attn.kv.weight)
    # The same file loads into an existing model's encoder.
    fresh = build_model("segformer_b1", 19)
    load_encoder_weights(fresh, tmp_path / "mit_b1.pth")
    assert torch.equal(fresh.backbone.norm4.weight, source.backbone.norm4.weight)


def test_torchvision_layout_resnet_into_encoder(tmp_path):
    source = build_model("resnet18_mlp", 3).backbone.state_dict()
    source["fc.weight"], source["fc.bias"] = torch.randn(1000, 512), torch.randn(1000)
    torch.save(source, tmp_path / "resnet18.pth")
    model = build_model("resnet18_mlp", 3)
    load_encoder_weights(model, tmp_path / "resnet18.pth")
    assert torch.equal(model.backbone.layer3[1].conv2.weight, source["layer3.1.conv2.weight"])
    with pytest.raises(CheckpointError, match=r"fit ResNet\n  missing keys \(96\): layer1.2.conv1.weight"):
        load_encoder_weights(build_model("resnet34_mlp", 3), tmp_path / "resnet18.pth")


@pytest.mark.parametrize("name, overrides", [
    ("segformer_tiny", {"pos_encoding": "learned", "pe_train_size": (64, 96)}),
    ("resnet_tiny_mlp", {}), ("deeplabv3_tiny", {"output_stride": 16}), ("setr_mla_tiny", {}),
])
def test_own_format_round_trip(tmp_path, name, overrides):
    model = build_model(name, 6, **overrides).eval()
    path = save_pretrained(model, tmp_path / "model.pt")
    loaded = from_pretrained(path).eval()
    assert type(loaded) is type(model) and loaded.config == model.config and loaded.variant == name
    x = torch.randn(1, 3, 70, 90)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


@pytest.fixture
def b0_file(tmp_path):
    model = build_model("segformer_b0", 19)
    path = save_pretrained(model, tmp_path / "b0.pth", format="nvlabs")
    return path, torch.load(path)


def test_missing_key_is_named(b0_file, tmp_path):
    path, ckpt = b0_file
    del ckpt["state_dict"]["backbone.block2.1.attn.q.weight"]
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match=r"b0.pth: checkpoint does not fit SegFormer\n  missing keys \(1\): backbone.block2.1.attn.q.weight"):
        from_pretrained(path)


def test_extra_key_is_named(b0_file):
    path, ckpt = b0_file
    ckpt["state_dict"]["decode_head.aux_head.weight"] = torch.zeros(3)
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match=r"unexpected keys \(1\): decode_head.aux_head.weight"):
        from_pretrained(path)


def test_shape_conflict_is_named(b0_file):
    path, ckpt = b0_file
    ckpt["state_dict"]["backbone.block1.0.mlp.dwconv.dwconv.weight"] = torch.zeros(128, 1, 5, 5)
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match=r"shape conflicts.*dwconv.weight: checkpoint \(128, 1, 5, 5\) "
                                              r"vs model \(128, 1, 3, 3\)"):
        from_pretrained(path)


def test_num_classes_mismatch_and_reset(b0_file):
    path, _ = b0_file
    with pytest.raises(CheckpointError, match="linear_pred.weight: checkpoint \\(19, 256, 1, 1\\) vs model \\(7"):
        from_pretrained(path, num_classes=7)
    model = from_pretrained(path, num_classes=7, reset_classifier=True)
    assert model.decode_head.linear_pred.weight.shape == (7, 256, 1, 1)


def test_unreadable_and_unknown_files(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.pth: cannot read checkpoint"):
        from_pretrained(tmp_path / "junk.pth")
    with pytest.raises(CheckpointError, match="nothing.pth: no such checkpoint file"):
        from_pretrained(tmp_path / "nothing.pth")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match=r"other.pth: unrecognised checkpoint layout; first keys: \['fc.weight'\]"):
        from_pretrained(tmp_path / "other.pth")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(CheckpointError, match="empty_dir: a checkpoint directory needs model.safetensors"):
        from_pretrained(tmp_path / "empty_dir")


def test_save_is_atomic_and_format_checked(tmp_path):
    with pytest.raises(ValueError, match="unknown checkpoint format 'onnx'"):
        save_pretrained(build_model("segformer_tiny", 2), tmp_path / "x.pt", format="onnx")
    with pytest.raises(ValueError, match="SegFormer models only, not SETR"):
        save_pretrained(build_model("setr_naive_tiny", 2), tmp_path / "x.pt", format="nvlabs")
    assert list(tmp_path.iterdir()) == []

"""Shapes at odd sizes for every variant, gradients to every parameter, ablation switches, determinism."""
import math

import numpy as np

import pytest
import torch

from segformer_lab import VARIANTS, build_model, upsample_logits
from segformer_lab.models.cnn import FCN, DeepLabV3
from segformer_lab.models.segformer import stage_grid
from segformer_lab.models.setr import SETR

TINY = [n for n in VARIANTS if "tiny" in n]
# Every ablation switch of SegFormerConfig, on the tiny model.
ABLATIONS = {
    "released": {},
    "learned_pe": {"pos_encoding": "learned", "pe_train_size": (64, 64)},
    "no_pe": {"pos_encoding": "none"},
    "non_overlapping": {"overlap_patch_embed": False},
    "full_attention": {"sr_ratios": (1, 1, 1, 1)},
    "aggressive_sr": {"sr_ratios": (16, 8, 4, 2)},
    "paper_mlp_ratios": {"mlp_ratios": (8, 8, 4, 4)},
    "s4_only": {"decoder_stages": (4,)},
    "s4_no_fuse": {"decoder_stages": (4,), "decoder_fuse": False},
    "explicit_attention": {"attention": "explicit"},
    "decoder_width": {"decoder_dim": 48},
}


def expected_shape(model, h, w):
    k = model.config.num_classes
    if isinstance(model, (DeepLabV3, FCN)):
        s = model.config.output_stride
        return (k, math.ceil(h / s), math.ceil(w / s))
    if isinstance(model, SETR):
        return (k, h, w)
    return (k, math.ceil(h / 4), math.ceil(w / 4))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_97x131(name):
    model = build_model(name, 5).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 97, 131))
    assert out.shape == (1, *expected_shape(model, 97, 131))
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("ablation", list(ABLATIONS))
@pytest.mark.parametrize("size", [(97, 131), (64, 64), (130, 67)])
def test_segformer_ablations_shapes(ablation, size):
    model = build_model("segformer_tiny", 3, **ABLATIONS[ablation]).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, *size))
    assert out.shape == (2, 3, math.ceil(size[0] / 4), math.ceil(size[1] / 4))


def _assert_every_parameter_gets_gradient(model, size=(65, 97)):
    model.train()
    x = torch.randn(2, 3, *size)
    aux = []
    if len(getattr(model, "aux_heads", ())):  # SETR's auxiliary heads train through their own losses
        out, aux = model(x, return_aux=True)
    else:
        out = model(x)
    loss = upsample_logits(out, size).logsumexp(dim=1).mean() + out.pow(2).mean() + sum(a.pow(2).mean() for a in aux)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} received no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name} has an all-zero gradient"


@pytest.mark.parametrize("name", TINY)
def test_gradient_reaches_every_parameter(name):
    _assert_every_parameter_gets_gradient(build_model(name, 4))


@pytest.mark.parametrize("ablation", list(ABLATIONS))
def test_gradient_reaches_every_parameter_ablations(ablation):
    _assert_every_parameter_gets_gradient(build_model("segformer_tiny", 4, drop_path_rate=0.0, **ABLATIONS[ablation]))


def test_gradient_reaches_every_parameter_b0():
    _assert_every_parameter_gets_gradient(build_model("segformer_b0", 4), size=(64, 96))


def test_folded_decoder_equals_released_order():
    model = build_model("segformer_b0", 7).eval()
    with torch.no_grad():
        bn = model.decode_head.linear_fuse.bn
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
        x = torch.randn(2, 3, 97, 131)
        folded = model(x)
        model.decode_head.fold = False
        released = model(x)
    assert torch.allclose(folded, released, atol=1e-5, rtol=1e-4)


def test_sdpa_equals_explicit_attention_and_maps_are_returned():
    torch.manual_seed(1)
    a = build_model("segformer_b0", 7).eval()
    torch.manual_seed(1)
    b = build_model("segformer_b0", 7, attention="explicit").eval()
    x = torch.randn(1, 3, 97, 131)
    with torch.no_grad():
        assert torch.allclose(a(x), b(x), atol=1e-5)
        feats, maps = a.backbone(x, need_weights=True)
    cfg = a.config
    assert len(maps) == sum(cfg.depths)
    grids = [(stage_grid(97, i), stage_grid(131, i)) for i in range(1, 5)]
    first = maps[0]  # stage 1, block 0: (B, heads, N, N / R)
    h, w = grids[0]
    r = cfg.sr_ratios[0]
    assert first.shape == (1, cfg.num_heads[0], h * w, (h // r) * (w // r))
    assert torch.allclose(first.sum(-1), torch.ones(()), atol=1e-5)
    assert [f.shape[-2:] for f in feats] == [torch.Size(g) for g in grids]


def test_learned_pe_made_for_training_size_and_interpolated():
    model = build_model("segformer_tiny", 3, pos_encoding="learned", pe_train_size=(96, 128)).eval()
    for i in range(1, 5):
        pos = getattr(model.backbone, f"pos_embed{i}")
        assert pos.shape[-2:] == (stage_grid(96, i), stage_grid(128, i))
        assert model.backbone.block1[0].mlp.dwconv is None
    with torch.no_grad():
        out = model(torch.randn(1, 3, 200, 72))  # another size: the embedding is resized
    assert out.shape == (1, 3, 50, 18)
    # The embedding matters: changing it changes the output.
    with torch.no_grad():
        x = torch.randn(1, 3, 96, 128)
        before = model(x)
        model.backbone.pos_embed1.add_(1.0)
        assert not torch.allclose(before, model(x))


def test_non_overlapping_patch_embed_uses_kernel_equal_stride():
    model = build_model("segformer_tiny", 3, overlap_patch_embed=False)
    assert model.backbone.patch_embed1.proj.kernel_size == (4, 4)
    assert model.backbone.patch_embed1.proj.padding == (0, 0)
    assert model.backbone.patch_embed2.proj.kernel_size == (2, 2)


def test_sr_ratio_one_has_no_reduction():
    model = build_model("segformer_tiny", 3, sr_ratios=(1, 1, 1, 1))
    assert not any(name.endswith("attn.sr.weight") for name, _ in model.named_parameters())


def test_deeplab_output_stride_16_and_setr_mla_layers():
    model = build_model("deeplabv3_tiny", 3, output_stride=16).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 97, 131)).shape == (1, 3, 7, 9)
    assert build_model("setr_mla_tiny", 3).config.mla_layers == (1, 2, 3, 4)
    assert VARIANTS["setr_mla_vit_l"]().mla_layers == (6, 12, 18, 24)


def test_setr_auxiliary_heads():
    """SETR's auxiliary heads: its layers 10/15/20 of 24 (scaled to the depth; MLA's own four layers), logits at
    the input size, the main output unchanged by asking for them, and none built at weight 0."""
    assert VARIANTS["setr_pup_vit_l"]().aux_layers == (10, 15, 20)
    assert VARIANTS["setr_naive_vit_s"]().aux_layers == (5, 8, 10)
    assert VARIANTS["setr_mla_vit_s"]().aux_layers == (3, 6, 9, 12)
    model = build_model("setr_naive_tiny", 3).eval()
    x = torch.randn(1, 3, 40, 56)
    with torch.no_grad():
        logits, aux = model(x, return_aux=True)
        assert torch.equal(logits, model(x)) and [a.shape for a in aux] == [(1, 3, 40, 56)] * 2
    assert len(build_model("setr_pup_tiny", 3, aux_weight=0.0).aux_heads) == 0
    with pytest.raises(ValueError, match=r"SETRConfig.aux_layers=\(0, 5\); expected layers within 1..4"):
        build_model("setr_pup_tiny", 3, aux_layers=(0, 5))


def test_same_seed_same_model_and_outputs():
    torch.manual_seed(123)
    a = build_model("segformer_tiny", 5)
    torch.manual_seed(123)
    b = build_model("segformer_tiny", 5)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    x = torch.randn(2, 3, 64, 80)
    a.eval(), b.eval()
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
    torch.manual_seed(124)
    c = build_model("segformer_tiny", 5)
    assert not torch.equal(a.backbone.patch_embed1.proj.weight, c.backbone.patch_embed1.proj.weight)


def test_unknown_variant_lists_valid_ones():
    with pytest.raises(KeyError, match="segformer_b9.*segformer_b0"):
        build_model("segformer_b9")


def test_unknown_override_lists_fields():
    with pytest.raises(TypeError, match=r"\['sr_ratio'\].*sr_ratios"):
        build_model("segformer_b0", 10, sr_ratio=(1, 1, 1, 1))


@pytest.mark.parametrize("overrides, message", [
    ({"pos_encoding": "sinusoidal"}, "pos_encoding='sinusoidal'"),
    ({"attention": "flash"}, "attention='flash'"),
    ({"depths": (2, 2, 2)}, "depths must have 4 entries"),
    ({"decoder_stages": (5,)}, "decoder_stages"),
    ({"decoder_fuse": False}, "decoder_fuse=False needs a single decoder stage"),
    ({"num_heads": (3, 2, 5, 8)}, "stage 1 has 32 channels, not divisible by 3 heads"),
])
def test_bad_config_values(overrides, message):
    with pytest.raises(ValueError, match=message):
        build_model("segformer_b0", 10, **overrides)


# Absolute position encodings ------------------------------------------------------------------------------------

def _sincos_reference(channels: int, height: int, width: int) -> np.ndarray:
    """An independent 2-D sin-cos table, one entry at a time: rows in the first half, columns in the second."""
    quarter = channels // 4
    out = np.zeros((channels, height, width))
    for k in range(quarter):
        omega = 10000.0 ** (-k / quarter)
        for i in range(height):
            for j in range(width):
                out[k, i, j], out[quarter + k, i, j] = math.sin(i * omega), math.cos(i * omega)
                out[2 * quarter + k, i, j], out[3 * quarter + k, i, j] = math.sin(j * omega), math.cos(j * omega)
    return out


def test_sincos_table_matches_an_entrywise_reference():
    from segformer_lab.models.segformer import sincos_2d
    table = sincos_2d(16, 5, 7)
    assert table.shape == (1, 16, 5, 7)
    np.testing.assert_allclose(table[0].numpy(), _sincos_reference(16, 5, 7), atol=1e-6)


def test_sincos_pe_is_fixed_resized_like_the_learned_one_and_not_saved():
    model = build_model("segformer_tiny", 5, pos_encoding="sincos", pe_train_size=(64, 64))
    backbone = model.backbone
    assert backbone.pos_embed1.shape == (1, 8, 16, 16) and backbone.pos_embed4.shape == (1, 32, 2, 2)
    assert not any("pos_embed" in k for k in model.state_dict())  # recomputed from the config
    assert not any("pos_embed" in n for n, _ in model.named_parameters())
    x = torch.randn(2, 3, 45, 70)  # not the training grid: the table is bilinearly resized
    assert model(x).shape == (2, 5, 12, 18)
    tokens = torch.zeros(1, 12 * 18, 8)
    resized = backbone.add_position(tokens, 1, 12, 18).transpose(1, 2).reshape(1, 8, 12, 18)
    expected = torch.nn.functional.interpolate(backbone.pos_embed1, size=(12, 18), mode="bilinear",
                                               align_corners=False)
    torch.testing.assert_close(resized, expected)
    model.train()
    model(torch.randn(1, 3, 64, 64)).sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_learned_pe_can_start_from_the_sincos_table_and_is_learned_and_saved():
    from segformer_lab.models.segformer import sincos_2d
    model = build_model("segformer_tiny", 5, pos_encoding="learned", pe_init="sincos", pe_train_size=(64, 64))
    torch.testing.assert_close(model.backbone.pos_embed1.detach(), sincos_2d(8, 16, 16))
    torch.testing.assert_close(model.backbone.pos_embed4.detach(), sincos_2d(32, 2, 2))
    assert "backbone.pos_embed1" in model.state_dict()  # a parameter, saved with the model
    model.train()
    model(torch.randn(1, 3, 64, 64)).sum().backward()
    assert model.backbone.pos_embed1.grad is not None and model.backbone.pos_embed1.grad.abs().sum() > 0
    default = build_model("segformer_tiny", 5, pos_encoding="learned", pe_train_size=(64, 64))
    assert default.backbone.pos_embed1.std() < 0.05  # trunc-normal, std 0.02
    with pytest.raises(ValueError, match="pe_init='zeros'; expected one of"):
        build_model("segformer_tiny", 5, pos_encoding="learned", pe_init="zeros", pe_train_size=(64, 64))
    with pytest.raises(ValueError, match=r"embed_dims=\(6, 16, 24, 32\); pe_init='sincos' needs channels"):
        build_model("segformer_tiny", 5, pos_encoding="learned", pe_init="sincos", embed_dims=(6, 16, 24, 32),
                    num_heads=(1, 1, 2, 2), pe_train_size=(64, 64))


def test_setr_pe_can_start_from_the_sincos_table_and_is_still_interpolated():
    from segformer_lab.models.common import sincos_2d
    small = dict(embed_dim=32, num_heads=2, decoder_dim=16, img_size=(64, 64))
    model = build_model("setr_naive_vit_s8", 5, pe_init="sincos", **small)
    torch.testing.assert_close(model.backbone.pos_embed.detach(), sincos_2d(32, 4, 4))
    model.train()
    out = model(torch.randn(1, 3, 96, 64))  # a 6x4 grid: the 4x4 table interpolated
    (out[0] if isinstance(out, (tuple, list)) else out).sum().backward()
    assert model.backbone.pos_embed.grad.abs().sum() > 0
    assert build_model("setr_naive_vit_s8", 5, **small).backbone.pos_embed.std() < 0.05  # ViT's start by default
    with pytest.raises(ValueError, match="SETRConfig.pe_init='zeros'; expected one of"):
        build_model("setr_naive_vit_s8", 5, pe_init="zeros", **small)
    with pytest.raises(ValueError, match="SETRConfig.embed_dim=30; pe_init='sincos' needs channels divisible by 4"):
        build_model("setr_naive_vit_s8", 5, pe_init="sincos", **{**small, "embed_dim": 30})


def test_absolute_pe_needs_a_grid_and_sincos_channels_divisible_by_4():
    with pytest.raises(ValueError, match=r"pe_train_size=\(\); pos_encoding='learned' needs the \(H, W\)"):
        build_model("segformer_tiny", 5, pos_encoding="learned", pe_train_size=())
    with pytest.raises(ValueError, match=r"embed_dims=\(6, 16, 24, 32\); pos_encoding='sincos' needs channels"):
        build_model("segformer_tiny", 5, pos_encoding="sincos", embed_dims=(6, 16, 24, 32), num_heads=(1, 1, 2, 2),
                    pe_train_size=(64, 64))
    with pytest.raises(ValueError, match="pos_encoding='rope'; expected one of"):
        build_model("segformer_tiny", 5, pos_encoding="rope")

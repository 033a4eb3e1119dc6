"""Parameter counts against the paper's Table 1 and against torchvision / timm's published counts."""
import pytest

from segformer_lab import build_model
from segformer_lab.analysis import read_paper

PAPER = {(r["table"], r["model"], r["metric"]): r["value"] for r in read_paper().to_dict("records") if r["table"] == "1a"}
SIZES = ["b0", "b1", "b2", "b3", "b4", "b5"]


def count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("size", SIZES)
def test_segformer_params_match_table_1a(size):
    model = build_model(f"segformer_{size}", 150)
    name = f"segformer_{size}"
    total, enc, dec = count(model), count(model.backbone), count(model.decode_head)
    assert round(total / 1e6, 1) == PAPER[("1a", name, "params")]
    assert round(dec / 1e6, 1) == PAPER[("1a", name, "decoder_params")]
    # The encoder column of Table 1a is not self-consistent with its totals (B0: 3.4 + 0.4 vs 3.8 total);
    # the released encoders have 3.32 / 13.15 / 24.20 / 44.07 / 60.84 / 81.44 M, each within 0.1 M of it.
    assert abs(enc / 1e6 - PAPER[("1a", name, "encoder_params")]) <= 0.1


def test_released_encoder_counts_exactly():
    expected = {"b0": 3_319_392, "b1": 13_151_424, "b2": 24_196_288, "b5": 81_443_008}
    for size, n in expected.items():
        assert count(build_model(f"segformer_{size}").backbone) == n


# torchvision's published ResNet counts (with the 1000-class fc layer) minus that fc layer.
@pytest.mark.parametrize("depth, with_fc, fc", [(18, 11_689_512, 513_000), (34, 21_797_672, 513_000),
                                                (50, 25_557_032, 2_049_000), (101, 44_549_160, 2_049_000)])
def test_resnet_encoder_matches_torchvision_counts(depth, with_fc, fc):
    assert count(build_model(f"resnet{depth}_mlp").backbone) == with_fc - fc


def test_vit_large_encoder_matches_timm_count():
    # timm's vit_large_patch16_224 has 304,326,632 parameters: minus its head (1,025,000), class token (1,024)
    # and 197-token embedding (201,728), plus our 32x32-token embedding (1,048,576).
    assert count(build_model("setr_pup_vit_l").backbone) == 304_326_632 - 1_025_000 - 1_024 - 201_728 + 1_048_576

"""Effective receptive field maps and their high-contribution area ratios."""
import numpy as np
import pytest
import torch
from torch import nn

from segformer_lab import build_model
from segformer_lab.erf import area_ratios, erf_map, normalise_for_display


class LocalConv(nn.Module):
    """A 'backbone' whose only stage is one 3x3 convolution: its ERF is exactly the 3x3 neighbourhood."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1)
        self.backbone = lambda x: [self.conv(x)]

    def forward(self, x):
        return self.conv(x)


def test_erf_of_a_3x3_conv_is_its_kernel_support():
    model = LocalConv()
    erf = erf_map(model, [torch.randn(2, 3, 9, 11)], "stage1")
    assert erf.shape == (9, 11)
    support = np.argwhere(erf > 0)
    assert support.min(0).tolist() == [3, 4] and support.max(0).tolist() == [5, 6]
    expected = model.conv.weight.detach().sum(0).abs().sum(0).numpy()  # linear: |sum over output channels|
    assert np.allclose(erf[3:6, 4:7], expected, atol=1e-6)


def test_area_ratios_of_a_point_and_a_uniform_map():
    point = np.zeros((21, 21))
    point[10, 10] = 1.0
    assert area_ratios(point)[0.99] == (1 / 21, 1 / 441)
    uniform = np.ones((21, 21))
    ratios = area_ratios(uniform)
    side50 = ratios[0.5][0] * 21
    assert (side50 - 2) ** 2 < 0.5 * 441 <= side50 ** 2  # smallest odd square holding half the mass
    assert ratios[0.99][0] == 1.0
    assert all(ratios[a][1] <= ratios[b][1] for a, b in ((0.2, 0.3), (0.3, 0.5), (0.5, 0.99)))


def test_segformer_stage4_erf_is_wider_than_stage1():
    torch.manual_seed(0)
    model = build_model("segformer_tiny", 3)
    # The channel sum of a LayerNorm output with equal scales is constant, so its gradient is zero up to rounding;
    # give the stage norms unequal scales, as training does, so that the map is not rounding noise.
    with torch.no_grad():
        for i in range(1, 5):
            getattr(model.backbone, f"norm{i}").weight.uniform_(0.5, 1.5)
    images = [torch.randn(2, 3, 64, 64)]
    s1, s4 = erf_map(model, images, "stage1"), erf_map(model, images, "stage4")
    assert area_ratios(s4)[0.5][1] > area_ratios(s1)[0.5][1]
    head = erf_map(model, images, "head")
    assert head.shape == (64, 64) and head.max() > 0
    shown = normalise_for_display(head)
    assert shown.max() == pytest.approx(1.0) and shown.min() >= 0


def test_unknown_target():
    with pytest.raises(ValueError, match="ERF target 'stage5'"):
        erf_map(build_model("segformer_tiny", 3), [torch.randn(1, 3, 32, 32)], "stage5")

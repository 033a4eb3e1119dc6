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
    # By hand: per image, |sum of the kernels of the output channels positive at the centre|, summed over input
    # channels, averaged over the images.
    images = torch.randn(2, 3, 9, 11, generator=torch.Generator().manual_seed(1))
    erf = erf_map(model, [images], "stage1")
    weight = model.conv.weight.detach()  # (2 out, 3 in, 3, 3)
    with torch.no_grad():
        positive = model.conv(images)[:, :, 4, 5] > 0  # (B, 2)
    expected = np.mean([(weight * on[:, None, None, None]).sum(0).abs().sum(0).numpy() for on in positive], axis=0)
    assert np.allclose(erf[3:6, 4:7], expected, atol=1e-6) and erf.sum() > 0


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


def test_a_stage_ending_in_layernorm_has_a_measurable_erf_at_initialisation():
    """The channel sum of a LayerNorm output with equal scales is constant: without rectifying, its gradient is
    rounding noise. The rectified sum gives a map of the size of the others."""
    torch.manual_seed(0)
    model = build_model("segformer_tiny", 3)
    images = torch.randn(2, 3, 64, 64, requires_grad=True)
    out = model.backbone(images)[3]
    plain, = torch.autograd.grad(out[:, :, out.shape[2] // 2, out.shape[3] // 2].sum(), images)
    assert plain.abs().sum() < 1e-3  # the unrectified channel sum: nothing but rounding
    erf = erf_map(model, [images.detach()], "stage4")
    assert erf.sum() > 1e3 * plain.abs().sum().item() / 2  # /2: erf_map averages over the two images

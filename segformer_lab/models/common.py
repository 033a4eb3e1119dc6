"""Small building blocks shared by the model families."""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class DropPath(nn.Module):
    """Stochastic depth: drops the whole residual branch per sample with probability `p` while training."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


def linear_rates(last: float, n: int) -> list:
    """n stochastic-depth rates rising linearly from 0 to `last` (plain floats: works under a meta device)."""
    return [last * i / (n - 1) if n > 1 else 0.0 for i in range(n)]


def init_weights(module: nn.Module) -> None:
    """The released SegFormer initialisation: truncated normal linears, He-normal (fan-out) convs."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.LayerNorm, nn.BatchNorm2d, nn.GroupNorm)):
        if module.weight is not None:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv2d):
        fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels // module.groups
        nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class ConvBNReLU(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d -> ReLU; keys `conv.*` and `bn.*` as mmcv's ConvModule."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 1, padding: int = 0, dilation: int = 1,
                 stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride, padding=padding, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)


def upsample_logits(logits: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinearly resize logits (B, K, h, w) -> (B, K, *size), as the loss and the evaluation do."""
    size = tuple(int(s) for s in size)
    if tuple(logits.shape[-2:]) == size:
        return logits
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad (B, C, H, W) on the bottom and right so that H and W are multiples of `multiple`."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    return F.pad(x, (0, pw, 0, ph)) if ph or pw else x


PE_INITS = ("trunc_normal", "sincos")  # how a learned PE starts: ViT's std 0.02, or the 2-D table


def sincos_2d(channels: int, height: int, width: int) -> torch.Tensor:
    """Fixed 2-D sin-cos position encoding (Vaswani et al.'s 1-D table on rows and on columns, as MAE's 2-D
    table): (1, channels, height, width), the first half of the channels encode the row, the second the column,
    each as sin and cos of the token index at channels / 4 frequencies from 1 to 1/10000. Every entry is in
    [-1, 1], so a token's encoding has RMS 1/sqrt(2), the scale of the LayerNorm-ed tokens (RMS 1) it is added to."""
    quarter = channels // 4
    freq = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)  # (C/4,)
    rows = torch.arange(height, dtype=torch.float64)[:, None] * freq  # (H, C/4)
    cols = torch.arange(width, dtype=torch.float64)[:, None] * freq  # (W, C/4)
    row_code = torch.cat([rows.sin(), rows.cos()], dim=1).T[:, :, None].expand(-1, -1, width)  # (C/2, H, W)
    col_code = torch.cat([cols.sin(), cols.cos()], dim=1).T[:, None, :].expand(-1, height, -1)  # (C/2, H, W)
    return torch.cat([row_code, col_code], dim=0)[None].float()  # (1, C, H, W)

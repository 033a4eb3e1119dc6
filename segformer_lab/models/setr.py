"""SETR (Zheng et al., 2021): a plain ViT encoder with the Naive, PUP and MLA decoders.

The ViT uses 16x16 patches and a learned positional embedding made for `img_size`; at any other input size the
embedding is bilinearly interpolated to the input's token grid. Module names follow timm's ViT
(`patch_embed.proj`, `blocks.{i}.attn.qkv`, ...). SETR trains with auxiliary heads on intermediate layers
(loss weight 0.4 each); `forward(x, return_aux=True)` returns their logits beside the main ones, and the
training engine adds their losses. Counted with them, SETR-PUP on ViT-L has about the 318.3 M params of the
paper's Table 2 (the model without them: 308.3 M).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .common import PE_INITS, ConvBNReLU, DropPath, init_weights, linear_rates, pad_to_multiple, sincos_2d

SETR_DECODERS = ("naive", "pup", "mla")


@dataclass
class SETRConfig:
    """SETR hyperparameters; the defaults are ViT-L/16 with the PUP decoder and a 150-class head."""

    num_classes: int = 150  # K
    decoder: str = "pup"  # "naive", "pup" (progressive upsampling) or "mla" (multi-level aggregation)
    embed_dim: int = 1024  # D, token width (ViT-L)
    depth: int = 24  # Transformer layers
    num_heads: int = 16  # attention heads
    mlp_ratio: float = 4.0  # MLP expansion
    patch_size: int = 16  # P, patch side
    img_size: tuple = (512, 512)  # (H, W) the positional embedding is made for
    pe_init: str = "trunc_normal"  # the learned PE's start: "trunc_normal" (std 0.02, as ViT) or "sincos" (2-D table)
    in_channels: int = 3  # image channels
    drop_path_rate: float = 0.1  # stochastic depth, rising linearly over the layers
    layer_norm_eps: float = 1e-6  # LayerNorm epsilon
    decoder_dim: int = 256  # channels of the decoder convs
    mla_layers: Optional[tuple] = None  # 1-based layers feeding MLA; None = 4 evenly spaced (6/12/18/24 for 24)
    aux_layers: Optional[tuple] = None  # 1-based layers with an auxiliary head in training; None = SETR's: the
    # MLA layers for MLA, else layers 10/15/20 of 24 scaled to the depth; () = none
    aux_weight: float = 0.4  # weight of each auxiliary loss

    def __post_init__(self):
        self.img_size = tuple(self.img_size)
        if self.decoder not in SETR_DECODERS:
            raise ValueError(f"SETRConfig.decoder={self.decoder!r}; expected one of {SETR_DECODERS}")
        if self.pe_init not in PE_INITS:
            raise ValueError(f"SETRConfig.pe_init={self.pe_init!r}; expected one of {PE_INITS}")
        if self.pe_init == "sincos" and self.embed_dim % 4:
            raise ValueError(f"SETRConfig.embed_dim={self.embed_dim}; pe_init='sincos' needs channels divisible "
                             "by 4 (sin and cos of rows and columns)")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"SETRConfig.embed_dim={self.embed_dim} is not divisible by num_heads={self.num_heads}")
        if self.mla_layers is None:
            self.mla_layers = tuple(self.depth * k // 4 for k in range(1, 5))
        self.mla_layers = tuple(self.mla_layers)
        if len(self.mla_layers) != 4 or not all(1 <= i <= self.depth for i in self.mla_layers):
            raise ValueError(f"SETRConfig.mla_layers={self.mla_layers}; expected 4 layers within 1..{self.depth}")
        if self.aux_layers is None:
            scaled = sorted({max(1, round(self.depth * k / 24)) for k in (10, 15, 20)})
            self.aux_layers = self.mla_layers if self.decoder == "mla" else tuple(scaled)
        self.aux_layers = tuple(self.aux_layers)
        if not all(1 <= i <= self.depth for i in self.aux_layers):
            raise ValueError(f"SETRConfig.aux_layers={self.aux_layers}; expected layers within 1..{self.depth}")


class Attention(nn.Module):
    """Multi-head self-attention over all tokens: (B, N, D) -> (B, N, D)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads, self.use_sdpa = num_heads, True
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # (B, heads, N, d_h) each
        if self.use_sdpa:
            out = F.scaled_dot_product_attention(q, k, v)
        else:  # explicit matmuls, so that FLOP counters see them
            out = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class ViTBlock(nn.Module):
    """Pre-norm Transformer layer."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, drop_path: float, eps: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class VisionTransformer(nn.Module):
    """ViT encoder: (B, 3, H, W) -> the outputs of the requested layers as maps (B, D, ceil(H/P), ceil(W/P)).

    The input is zero-padded on the bottom and right to a multiple of the patch size."""

    def __init__(self, cfg: SETRConfig):
        super().__init__()
        self.patch_size = cfg.patch_size
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(cfg.in_channels, cfg.embed_dim, cfg.patch_size, cfg.patch_size)
        grid = [s // cfg.patch_size for s in cfg.img_size]
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.embed_dim, *grid))  # (1, D, H/P, W/P)
        if cfg.pe_init == "sincos":  # the fixed table's positions, then learned
            with torch.no_grad():
                self.pos_embed.copy_(sincos_2d(cfg.embed_dim, *grid))
        else:
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        dpr = linear_rates(cfg.drop_path_rate, cfg.depth)
        self.blocks = nn.ModuleList(ViTBlock(cfg.embed_dim, cfg.num_heads, cfg.mlp_ratio, p, cfg.layer_norm_eps)
                                    for p in dpr)
        self.norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, layers: tuple = ()) -> list:
        """`layers`: 1-based layer indices to return (default: the last); the last layer's output passes the
        final LayerNorm."""
        layers = layers or (len(self.blocks),)
        x = self.patch_embed.proj(pad_to_multiple(x, self.patch_size))  # (B, D, h, w)
        b, d, h, w = x.shape
        pos = self.pos_embed
        if pos.shape[-2:] != (h, w):
            pos = F.interpolate(pos, size=(h, w), mode="bilinear", align_corners=False)
        x = (x + pos).flatten(2).transpose(1, 2)  # (B, D, h, w) -> (B, N, D)
        outs = []
        for i, blk in enumerate(self.blocks, start=1):
            x = blk(x)
            if i in layers:
                y = self.norm(x) if i == len(self.blocks) else x
                outs.append(y.transpose(1, 2).reshape(b, d, h, w))  # (B, N, D) -> (B, D, h, w)
        return outs


class NaiveHead(nn.Module):
    """1x1 conv -> BN/ReLU -> 1x1 conv to classes, at 1/16: (B, D, h, w) -> (B, K, h, w)."""

    def __init__(self, dim: int, channels: int, num_classes: int):
        super().__init__()
        self.conv = ConvBNReLU(dim, channels, 1)
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)

    def forward(self, feats: list) -> torch.Tensor:
        return self.conv_seg(self.conv(feats[-1]))


class PUPHead(nn.Module):
    """Progressive upsampling: 4 x (3x3 conv -> BN/ReLU -> 2x bilinear), then a 1x1 classifier. -> 16x the grid."""

    def __init__(self, dim: int, channels: int, num_classes: int):
        super().__init__()
        self.convs = nn.ModuleList(ConvBNReLU(dim if i == 0 else channels, channels, 3, padding=1) for i in range(4))
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)

    def forward(self, feats: list) -> torch.Tensor:
        x = feats[-1]
        for conv in self.convs:
            x = F.interpolate(conv(x), scale_factor=2, mode="bilinear", align_corners=False)
        return self.conv_seg(x)


class MLAHead(nn.Module):
    """Multi-level aggregation: four layers -> 1x1 conv -> top-down sums -> 3x3 conv each,
    then per level 3x3 conv x2 and 4x upsample, concat, 1x1 classifier. -> 4x the grid."""

    def __init__(self, dim: int, channels: int, num_classes: int):
        super().__init__()
        self.reduce = nn.ModuleList(ConvBNReLU(dim, channels, 1) for _ in range(4))
        self.aggregate = nn.ModuleList(ConvBNReLU(channels, channels, 3, padding=1) for _ in range(4))
        half = channels // 2
        self.heads = nn.ModuleList(nn.Sequential(ConvBNReLU(channels, half, 3, padding=1),
                                                 ConvBNReLU(half, half, 3, padding=1)) for _ in range(4))
        self.conv_seg = nn.Conv2d(4 * half, num_classes, 1)

    def forward(self, feats: list) -> torch.Tensor:
        reduced = [r(f) for r, f in zip(self.reduce, feats)]
        top_down, acc = [], None
        for x in reversed(reduced):  # deepest first: p4 = f4, p3 = f3 + p4, ...
            acc = x if acc is None else acc + x
            top_down.append(acc)
        outs = [F.interpolate(h(a(p)), scale_factor=4, mode="bilinear", align_corners=False)
                for h, a, p in zip(self.heads, self.aggregate, reversed(top_down))]
        return self.conv_seg(torch.cat(outs, dim=1))  # (B, 4 * C/2, 4h, 4w) -> (B, K, 4h, 4w)


class AuxHead(nn.Module):
    """An auxiliary head on one layer: two conv -> BN/ReLU (1x1 for Naive, as SETR's, 3x3 otherwise), then a
    1x1 classifier: (B, D, h, w) -> (B, K, h, w). (A simplification of SETR's auxiliary heads, which also
    upsample inside the head; here the logits are upsampled with the main ones.)"""

    def __init__(self, dim: int, channels: int, num_classes: int, kernel: int):
        super().__init__()
        self.convs = nn.Sequential(ConvBNReLU(dim, channels, kernel, padding=kernel // 2),
                                   ConvBNReLU(channels, channels, kernel, padding=kernel // 2))
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_seg(self.convs(x))


class SETR(nn.Module):
    """ViT + Naive/PUP/MLA decoder: (B, 3, H, W) -> logits (B, K, H, W) at the full input size
    (each decoder's output is bilinearly resized, or cropped where it covers the padded input exactly)."""

    def __init__(self, cfg: SETRConfig):
        super().__init__()
        self.config = cfg
        self.backbone = VisionTransformer(cfg)
        head = {"naive": NaiveHead, "pup": PUPHead, "mla": MLAHead}[cfg.decoder]
        self.decode_head = head(cfg.embed_dim, cfg.decoder_dim, cfg.num_classes)
        self.layers = cfg.mla_layers if cfg.decoder == "mla" else (cfg.depth,)
        kernel = 1 if cfg.decoder == "naive" else 3
        self.aux_heads = nn.ModuleList(AuxHead(cfg.embed_dim, cfg.decoder_dim, cfg.num_classes, kernel)
                                       for _ in (cfg.aux_layers if cfg.aux_weight > 0 else ()))
        for m in self.modules():
            init_weights(m)

    def _to_input_size(self, logits: torch.Tensor, h: int, w: int) -> torch.Tensor:
        p = self.config.patch_size
        padded = (-(-h // p) * p, -(-w // p) * p)
        if tuple(logits.shape[-2:]) == padded:  # PUP: the padded canvas at full resolution
            return logits[..., :h, :w]
        scale = padded[0] / logits.shape[-2]
        logits = F.interpolate(logits, scale_factor=scale, mode="bilinear", align_corners=False)
        return logits[..., :h, :w]

    def forward(self, x: torch.Tensor, return_aux: bool = False):
        """-> logits (B, K, H, W); with return_aux, (logits, [auxiliary logits (B, K, H, W), one per aux layer])."""
        h, w = x.shape[-2:]
        aux_layers = self.config.aux_layers[:len(self.aux_heads)]
        wanted = tuple(sorted(set(self.layers) | (set(aux_layers) if return_aux else set())))
        feats = dict(zip(wanted, self.backbone(x, wanted)))
        logits = self._to_input_size(self.decode_head([feats[i] for i in self.layers]), h, w)
        if not return_aux:
            return logits
        aux = [self._to_input_size(head(feats[i]), h, w) for head, i in zip(self.aux_heads, aux_layers)]
        return logits, aux

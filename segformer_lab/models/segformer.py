"""SegFormer: the Mix Transformer (MiT) encoder and the All-MLP decoder (Xie et al., 2021).

Reads in the order of the paper's Figure 2:
OverlapPatchEmbed -> EfficientSelfAttention -> MixFFN -> Block -> MixVisionTransformer -> SegFormerHead.
Module names follow the NVlabs checkpoint keys (`patch_embed1`, `block1.0.attn.kv`, `decode_head.linear_c4`,
...), so official weights load without renaming. Every ablation of the paper is a field of SegFormerConfig.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .common import PE_INITS, ConvBNReLU, DropPath, init_weights, linear_rates, pad_to_multiple, sincos_2d

POS_ENCODINGS = ("mixffn", "learned", "sincos", "none")
ABSOLUTE_PE = ("learned", "sincos")  # added to the tokens after each patch embedding
ATTENTION_PATHS = ("sdpa", "explicit")


@dataclass
class SegFormerConfig:
    """SegFormer hyperparameters; the defaults are the released MiT-B0 with a 150-class (ADE20K) head."""

    num_classes: int = 150  # K, classes of the segmentation head
    embed_dims: tuple = (32, 64, 160, 256)  # C_i, channels of encoder stage i
    depths: tuple = (2, 2, 2, 2)  # L_i, Transformer blocks in stage i
    num_heads: tuple = (1, 2, 5, 8)  # N_i, attention heads in stage i
    sr_ratios: tuple = (8, 4, 2, 1)  # sqrt(R_i): K and V come from a sequence shrunk by sr_ratio^2; 1 = full
    mlp_ratios: tuple = (4, 4, 4, 4)  # E_i, Mix-FFN expansion; released code 4,4,4,4, paper's Table 6 8,8,4,4
    in_channels: int = 3  # image channels
    qkv_bias: bool = True  # bias in the q and kv linears
    drop_rate: float = 0.0  # dropout after the attention and Mix-FFN projections
    attn_drop_rate: float = 0.0  # dropout on the attention probabilities
    drop_path_rate: float = 0.1  # stochastic depth, rising linearly over all blocks
    layer_norm_eps: float = 1e-6  # blocks and stage norms (patch-embed and reduction norms keep 1e-5, as released)
    overlap_patch_embed: bool = True  # True: K7/S4/P3 then K3/S2/P1; False: K=S (4/4/0 then 2/2/0)
    pos_encoding: str = "mixffn"  # "mixffn" (3x3 depthwise conv in the FFN), "learned" or "sincos" absolute PE, "none"
    pe_train_size: tuple = (512, 512)  # (H, W) the absolute PE grid is made for; other sizes interpolate it
    pe_init: str = "trunc_normal"  # learned PE's start: "trunc_normal" (std 0.02, as ViT) or "sincos" (the 2-D table)
    attention: str = "sdpa"  # "sdpa" (fused kernel) or "explicit" (matmul + softmax; can return maps)
    decoder_dim: int = 256  # C, width of the All-MLP decoder (256 for B0/B1, 768 for B2-B5)
    decoder_stages: tuple = (1, 2, 3, 4)  # encoder stages feeding the decoder: (1, 2, 3, 4) or (4,)
    decoder_fuse: bool = True  # the 1x1 conv + BN + ReLU after the concat; False: linear_c -> classifier
    decoder_dropout: float = 0.1  # dropout before the classifier

    def __post_init__(self):
        for name in ("embed_dims", "depths", "num_heads", "sr_ratios", "mlp_ratios", "pe_train_size", "decoder_stages"):
            setattr(self, name, tuple(getattr(self, name)))
        for name in ("embed_dims", "depths", "num_heads", "sr_ratios", "mlp_ratios"):
            if len(getattr(self, name)) != 4:
                raise ValueError(f"SegFormerConfig.{name} must have 4 entries (one per stage), got {getattr(self, name)}")
        if self.pos_encoding not in POS_ENCODINGS:
            raise ValueError(f"SegFormerConfig.pos_encoding={self.pos_encoding!r}; expected one of {POS_ENCODINGS}")
        if self.pos_encoding in ABSOLUTE_PE and (len(self.pe_train_size) != 2 or min(self.pe_train_size) < 1):
            raise ValueError(f"SegFormerConfig.pe_train_size={self.pe_train_size}; pos_encoding="
                             f"{self.pos_encoding!r} needs the (H, W) its grid is made for, e.g. (128, 128)")
        if self.pe_init not in PE_INITS:
            raise ValueError(f"SegFormerConfig.pe_init={self.pe_init!r}; expected one of {PE_INITS}")
        sincos = self.pos_encoding == "sincos" or (self.pos_encoding == "learned" and self.pe_init == "sincos")
        if sincos and any(c % 4 for c in self.embed_dims):
            field = "pos_encoding" if self.pos_encoding == "sincos" else "pe_init"
            raise ValueError(f"SegFormerConfig.embed_dims={self.embed_dims}; {field}='sincos' needs channels "
                             "divisible by 4 (sin and cos of rows and columns)")
        if self.attention not in ATTENTION_PATHS:
            raise ValueError(f"SegFormerConfig.attention={self.attention!r}; expected one of {ATTENTION_PATHS}")
        if not self.decoder_stages or not set(self.decoder_stages) <= {1, 2, 3, 4}:
            raise ValueError(f"SegFormerConfig.decoder_stages={self.decoder_stages}; expected stages from 1-4, e.g. (1, 2, 3, 4) or (4,)")
        if not self.decoder_fuse and len(self.decoder_stages) > 1:
            raise ValueError("SegFormerConfig.decoder_fuse=False needs a single decoder stage, e.g. decoder_stages=(4,)")
        for i, (c, h) in enumerate(zip(self.embed_dims, self.num_heads)):
            if c % h:
                raise ValueError(f"SegFormerConfig: stage {i + 1} has {c} channels, not divisible by {h} heads")
        if min(self.sr_ratios) < 1:
            raise ValueError(f"SegFormerConfig.sr_ratios={self.sr_ratios}; each must be >= 1")


def tokens_to_map(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(B, N, C) tokens of an h x w grid -> (B, C, h, w) in channels-last memory: a view, no copy."""
    return x.reshape(x.shape[0], h, w, x.shape[-1]).permute(0, 3, 1, 2)


def map_to_tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) -> (B, hw, C) tokens: a view where the map is channels-last (convolutions keep their input's
    layout), a copy otherwise."""
    b, c, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(b, h * w, c)


def stage_grid(size: int, stage: int) -> int:
    """Side of stage `stage`'s token grid for an input side `size`: ceil(size / 2^(stage+1))."""
    side = -(-size // 4)
    for _ in range(stage - 1):
        side = -(-side // 2)
    return side


class OverlapPatchEmbed(nn.Module):
    """Overlapped patch merging: strided conv + LayerNorm. (B, C_in, H, W) -> (B, H'W', C), H', W'."""

    def __init__(self, patch_size: int, stride: int, in_chans: int, embed_dim: int, overlap: bool = True):
        super().__init__()
        # The non-overlapping ablation uses kernel = stride and pads the input to a multiple of the stride,
        # so both variants give ceil(H / stride) rows.
        self.overlap, self.stride = overlap, stride
        kernel, padding = (patch_size, patch_size // 2) if overlap else (stride, 0)
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel, stride, padding)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: torch.Tensor):
        if not self.overlap:
            x = pad_to_multiple(x, self.stride)
        x = self.proj(x)  # (B, C, H', W'), channels-last where its input is
        b, c, h, w = x.shape
        x = x.permute(0, 2, 3, 1).reshape(b, h * w, c)  # (B, C, H', W') -> (B, H'W', C): a view if channels-last
        return self.norm(x), h, w


class EfficientSelfAttention(nn.Module):
    """Multi-head self-attention whose keys and values come from a sequence reduced by sr_ratio^2.

    (B, N, C) -> (B, N, C); with need_weights also the attention maps (B, heads, N, N / sr_ratio^2).
    """

    def __init__(self, dim: int, num_heads: int, sr_ratio: int, qkv_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0, use_sdpa: bool = True):
        super().__init__()
        self.num_heads, self.sr_ratio, self.use_sdpa = num_heads, sr_ratio, use_sdpa
        self.scale = (dim // num_heads) ** -0.5
        self.attn_drop = attn_drop
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)  # k then v, fused as released
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, kernel_size=sr_ratio, stride=sr_ratio)  # the reduction, R = sr_ratio^2
            self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, h: int, w: int, need_weights: bool = False):
        b, n, c = x.shape
        heads = self.num_heads
        q = self.q(x).reshape(b, n, heads, c // heads).transpose(1, 2)  # (B, heads, N, d)
        if self.sr_ratio > 1:
            x = tokens_to_map(x, h, w)  # (B, N, C) -> (B, C, H, W), channels-last: no copy
            x = map_to_tokens(self.sr(x))  # (B, C, H/r, W/r) -> (B, N/R, C)
            x = self.norm(x)
        kv = self.kv(x).reshape(b, -1, 2, heads, c // heads).permute(2, 0, 3, 1, 4)  # (2, B, heads, N/R, d)
        k, v = kv.unbind(0)
        drop = self.attn_drop if self.training else 0.0
        weights = None
        if self.use_sdpa and not need_weights:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        else:
            weights = (q * self.scale) @ k.transpose(-2, -1)  # (B, heads, N, N/R)
            weights = weights.softmax(dim=-1)
            out = F.dropout(weights, drop, self.training) @ v
        out = out.transpose(1, 2).reshape(b, n, c)  # (B, heads, N, d) -> (B, N, C)
        return self.proj_drop(self.proj(out)), weights


class DWConv(nn.Module):
    """3x3 depthwise conv on a token sequence: (B, N, C) -> (B, N, C)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        return map_to_tokens(self.dwconv(tokens_to_map(x, h, w)))  # (B, N, C) -> (B, C, H, W) -> (B, N, C)


class MixFFN(nn.Module):
    """x -> fc2(GELU(DWConv3x3(fc1(x)))). Without the depthwise conv it is a plain ViT MLP (the PE ablations)."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0, depthwise: bool = True):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = DWConv(hidden) if depthwise else None
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = self.fc1(x)
        if self.dwconv is not None:
            x = self.dwconv(x, h, w)
        return self.drop(self.fc2(self.drop(self.act(x))))


class Block(nn.Module):
    """Pre-norm Transformer block: x + DropPath(Attn(LN(x))), then x + DropPath(MixFFN(LN(x)))."""

    def __init__(self, cfg: SegFormerConfig, stage: int, drop_path: float):
        super().__init__()
        dim = cfg.embed_dims[stage]
        self.norm1 = nn.LayerNorm(dim, eps=cfg.layer_norm_eps)
        self.attn = EfficientSelfAttention(dim, cfg.num_heads[stage], cfg.sr_ratios[stage], cfg.qkv_bias,
                                           cfg.attn_drop_rate, cfg.drop_rate, use_sdpa=cfg.attention == "sdpa")
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=cfg.layer_norm_eps)
        self.mlp = MixFFN(dim, int(dim * cfg.mlp_ratios[stage]), cfg.drop_rate,
                          depthwise=cfg.pos_encoding == "mixffn")

    def forward(self, x: torch.Tensor, h: int, w: int, need_weights: bool = False):
        y, weights = self.attn(self.norm1(x), h, w, need_weights)
        x = x + self.drop_path(y)
        x = x + self.drop_path(self.mlp(self.norm2(x), h, w))
        return x, weights


class MixVisionTransformer(nn.Module):
    """The MiT encoder: (B, 3, H, W) -> four maps (B, C_i, ceil(H / 2^(i+1)), ceil(W / 2^(i+1)))."""

    def __init__(self, cfg: SegFormerConfig):
        super().__init__()
        self.cfg = cfg
        dpr = linear_rates(cfg.drop_path_rate, sum(cfg.depths))
        start = 0
        for i in range(4):
            cin = cfg.in_channels if i == 0 else cfg.embed_dims[i - 1]
            patch, stride = (7, 4) if i == 0 else (3, 2)
            setattr(self, f"patch_embed{i + 1}",
                    OverlapPatchEmbed(patch, stride, cin, cfg.embed_dims[i], cfg.overlap_patch_embed))
            grid = [stage_grid(s, i + 1) for s in cfg.pe_train_size]
            if cfg.pos_encoding == "learned":
                # Ablation: an absolute embedding per stage for pe_train_size, bilinearly resized to other grids.
                pos = nn.Parameter(torch.zeros(1, cfg.embed_dims[i], *grid))
                if cfg.pe_init == "sincos":  # the fixed table's positions, at the scale of the tokens, then learned
                    with torch.no_grad():
                        pos.copy_(sincos_2d(cfg.embed_dims[i], *grid))
                else:
                    nn.init.trunc_normal_(pos, std=0.02)
                setattr(self, f"pos_embed{i + 1}", pos)
            elif cfg.pos_encoding == "sincos":
                # Ablation: a fixed table for the training grid, resized to other grids exactly as the learned PE
                # is (bilinear, from the training grid), so that the two differ only in learned vs fixed; a table
                # recomputed per grid would instead give a token its index, which no resized image keeps either.
                self.register_buffer(f"pos_embed{i + 1}", sincos_2d(cfg.embed_dims[i], *grid), persistent=False)
            setattr(self, f"block{i + 1}", nn.ModuleList(
                Block(cfg, i, dpr[start + j]) for j in range(cfg.depths[i])))
            setattr(self, f"norm{i + 1}", nn.LayerNorm(cfg.embed_dims[i], eps=cfg.layer_norm_eps))
            start += cfg.depths[i]

    def add_position(self, x: torch.Tensor, stage: int, h: int, w: int) -> torch.Tensor:
        """Absolute-PE ablations: add the stage's embedding, resized to the (h, w) grid. x: (B, N, C)."""
        pos = getattr(self, f"pos_embed{stage}")
        if pos.shape[-2:] != (h, w):
            pos = F.interpolate(pos, size=(h, w), mode="bilinear", align_corners=False)
        return x + pos.flatten(2).transpose(1, 2)  # (1, C, h, w) -> (1, N, C)

    def forward(self, x: torch.Tensor, need_weights: bool = False):
        """Returns the four stage maps; with need_weights also each block's attention maps, stage by stage."""
        feats, attentions = [], []
        for i in range(1, 5):
            x, h, w = getattr(self, f"patch_embed{i}")(x)  # (B, N_i, C_i)
            if self.cfg.pos_encoding in ABSOLUTE_PE:
                x = self.add_position(x, i, h, w)
            for blk in getattr(self, f"block{i}"):
                x, weights = blk(x, h, w, need_weights)
                attentions.append(weights)
            x = getattr(self, f"norm{i}")(x)
            x = tokens_to_map(x, h, w)  # (B, N_i, C_i) -> (B, C_i, H_i, W_i), channels-last
            feats.append(x)
        return (feats, attentions) if need_weights else feats


class MLP(nn.Module):
    """The decoder's per-stage linear layer on a map: (B, C_i, h, w) -> (B, C, h, w)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.proj = nn.Linear(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        x = self.proj(x.flatten(2).transpose(1, 2))  # (B, hw, C_i) -> (B, hw, C)
        return x.transpose(1, 2).reshape(b, -1, h, w)  # -> (B, C, h, w)


class SegFormerHead(nn.Module):
    """All-MLP decoder: per-stage linear to C, bilinear upsample to 1/4, concat [c4, c3, c2, c1],
    1x1 conv + BN + ReLU (the paper's Linear(4C -> C)), dropout, 1x1 classifier. -> (B, K, H/4, W/4).

    With `fold` (the default) the same function is computed in a cheaper order: bilinear resizing commutes
    with per-pixel affine maps (its weights sum to 1), so each stage's linear_c and its slice of linear_fuse
    are multiplied into one (C x C_i) map applied before the upsampling, and the upsampled maps are summed
    instead of concatenated. Same outputs up to float rounding, about 5x fewer decoder FLOPs at B0 sizes.
    `fold = False` runs the released order (FLOP counts use it, to count the paper's architecture)."""

    def __init__(self, in_dims: tuple, stages: tuple, dim: int, num_classes: int, dropout: float = 0.1,
                 fuse: bool = True):
        super().__init__()
        self.fold = True
        self.stages = tuple(sorted(stages, reverse=True))  # released concat order: c4, c3, c2, c1
        for s in self.stages:
            setattr(self, f"linear_c{s}", MLP(in_dims[s - 1], dim))
        # Without the fuse layer the decoder is linear; Table 1d's "S4" params and FLOPs fit that form.
        self.linear_fuse = ConvBNReLU(len(self.stages) * dim, dim, kernel_size=1) if fuse else None
        self.dropout = nn.Dropout2d(dropout)
        self.linear_pred = nn.Conv2d(dim, num_classes, kernel_size=1)

    def forward(self, feats: list) -> torch.Tensor:
        x = self.fused_folded(feats) if self.fold and self.linear_fuse is not None else self.fused(feats)
        return self.linear_pred(self.dropout(x))

    def fused(self, feats: list) -> torch.Tensor:
        """The released order: project, upsample, concat, 1x1 conv + BN + ReLU."""
        size = feats[0].shape[-2:]  # 1/4 of the input
        outs = []
        for s in self.stages:
            y = getattr(self, f"linear_c{s}")(feats[s - 1])  # (B, C, H_s, W_s)
            if y.shape[-2:] != size:
                y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
            outs.append(y)
        if self.linear_fuse is None:
            return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)
        return self.linear_fuse(torch.cat(outs, dim=1))  # (B, n*C, H/4, W/4) -> (B, C, H/4, W/4)

    def fused_folded(self, feats: list) -> torch.Tensor:
        """The same function with linear_c and linear_fuse multiplied together before upsampling. The stage maps
        are summed in place into the first (no full-size temporary per stage); in evaluation the BatchNorm's
        per-channel affine is folded into the stage weights too, so no pass over the 1/4-scale map is left but
        the ReLU."""
        size = feats[0].shape[-2:]
        fuse = self.linear_fuse.conv.weight.flatten(1)  # (C, n*C)
        dim = fuse.shape[0]
        bn = self.linear_fuse.bn
        fold_bn = bn.running_var is not None and not bn.training  # the BN normalises with its running statistics
        if fold_bn:  # BN(x) = x * scale + shift
            scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
            shift = bn.bias - bn.running_mean * scale
            fuse = fuse * scale[:, None]
        x = None
        for k, s in enumerate(self.stages):
            proj = getattr(self, f"linear_c{s}").proj
            block = fuse[:, k * dim:(k + 1) * dim]  # (C, C): the slice of linear_fuse that reads stage s
            weight, bias = block @ proj.weight, block @ proj.bias  # (C, C_s), (C,)
            if fold_bn and k == 0:
                bias = bias + shift
            y = F.conv2d(feats[s - 1], weight[:, :, None, None], bias)  # (B, C_s, h, w) -> (B, C, h, w)
            if y.shape[-2:] != size:
                y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
            x = y if x is None else x.add_(y)  # x is this method's own temporary
        return torch.relu_(x) if fold_bn else self.linear_fuse.relu(bn(x))


class SegFormer(nn.Module):
    """MiT encoder + All-MLP decoder: (B, 3, H, W) -> logits (B, K, ceil(H/4), ceil(W/4)) for any H, W."""

    def __init__(self, cfg: SegFormerConfig):
        super().__init__()
        self.config = cfg
        self.backbone = MixVisionTransformer(cfg)
        self.decode_head = SegFormerHead(cfg.embed_dims, cfg.decoder_stages, cfg.decoder_dim,
                                         cfg.num_classes, cfg.decoder_dropout, cfg.decoder_fuse)
        for m in self.modules():
            init_weights(m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_head(self.backbone(x))

    def encoder_parameters(self):
        return self.backbone.parameters()

    def decoder_parameters(self):
        return self.decode_head.parameters()


# Released MiT-B0..B5 (NVlabs code). The paper's Table 6 lists stage-2 depth 3 for B2/B3 and mlp ratios 8,8,4,4;
# the released weights use the values below, so they are the defaults here.
_WIDE = (64, 128, 320, 512)
MIT_SIZES = {
    "b0": dict(embed_dims=(32, 64, 160, 256), depths=(2, 2, 2, 2), decoder_dim=256),
    "b1": dict(embed_dims=_WIDE, depths=(2, 2, 2, 2), decoder_dim=256),
    "b2": dict(embed_dims=_WIDE, depths=(3, 4, 6, 3), decoder_dim=768),
    "b3": dict(embed_dims=_WIDE, depths=(3, 4, 18, 3), decoder_dim=768),
    "b4": dict(embed_dims=_WIDE, depths=(3, 8, 27, 3), decoder_dim=768),
    "b5": dict(embed_dims=_WIDE, depths=(3, 6, 40, 3), decoder_dim=768),
    # Not in the paper: a few-thousand-parameter model for tests.
    "tiny": dict(embed_dims=(8, 16, 24, 32), depths=(1, 1, 1, 1), num_heads=(1, 1, 2, 2), decoder_dim=32),
}


def segformer_config(size: str, **fields) -> SegFormerConfig:
    """The config of MiT-`size` (b0..b5, tiny) with `fields` replaced."""
    return SegFormerConfig(**{**MIT_SIZES[size], **fields})


def mit_size_of(embed_dims: tuple, depths: tuple) -> Optional[str]:
    """Name of the released size with these widths and depths, or None."""
    for name, spec in MIT_SIZES.items():
        if tuple(spec["embed_dims"]) == tuple(embed_dims) and tuple(spec["depths"]) == tuple(depths):
            return name
    return None


__all__ = ["SegFormerConfig", "SegFormer", "MixVisionTransformer", "SegFormerHead", "MIT_SIZES",
           "segformer_config", "mit_size_of", "stage_grid", "sincos_2d"]

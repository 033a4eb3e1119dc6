"""CNN baselines: ResNet encoders with SegFormer's All-MLP decoder, DeepLabV3 (ResNet + ASPP), DeepLabV3+
(mmsegmentation's, the paper's Table 5 and Figure 3 baseline) and FCN (torchvision's).

The ResNet keeps torchvision's module names (`conv1`, `bn1`, `layer1.0.conv1`, `layer1.0.downsample.0`, ...)
so that a torchvision-layout ImageNet state dict loads as it is. Its stem is torchvision's 7x7 conv; with
`deep_stem` it is mmsegmentation's ResNetV1c stem (three 3x3 convs, keys `stem.*`), which the paper's
Table 1d used: about 19k more parameters and 1.25 GMACs more at 512x512.
With `output_stride` 8 or 16 the last stages trade their stride for dilation, the first block of a dilated
stage keeping the previous dilation: torchvision's `replace_stride_with_dilation` and mmseg's
`contract_dilation=True` (dilations (1, 1, 2, 4) -> first blocks 1, 1, 1, 2) build the same network.
The heads name their modules after the official keys (mmcv's ConvModule is `conv` + `bn`), so that the key
tables of `segformer_lab.checkpoints_cnn` stay short.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .common import ConvBNReLU, init_weights
from .segformer import SegFormerHead

RESNET_LAYERS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual (ResNet-18/34)."""

    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1, dilation: int = 1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided, ResNet v1.5) -> 1x1 x4 with a residual (ResNet-50/101)."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1, dilation: int = 1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNet(nn.Module):
    """ResNet encoder: (B, 3, H, W) -> four maps at strides 4, 8, 16, 32 (or 4, 8, 8, 8 / 4, 8, 16, 16
    when `output_stride` is 8 / 16: the later strides become dilations, as DeepLabV3 does)."""

    def __init__(self, depth: int = 50, base_width: int = 64, output_stride: int = 32, in_channels: int = 3,
                 deep_stem: bool = False):
        super().__init__()
        if depth not in RESNET_LAYERS:
            raise ValueError(f"ResNet depth={depth}; expected one of {sorted(RESNET_LAYERS)}")
        if output_stride not in (8, 16, 32):
            raise ValueError(f"ResNet output_stride={output_stride}; expected 8, 16 or 32")
        block = BasicBlock if depth < 50 else Bottleneck
        if deep_stem:  # ResNetV1c: 3x3 convs (stride 2, 1, 1) with widths w/2, w/2, w
            half = base_width // 2
            self.stem = nn.Sequential(ConvBNReLU(in_channels, half, 3, padding=1, stride=2),
                                      ConvBNReLU(half, half, 3, padding=1), ConvBNReLU(half, base_width, 3, padding=1))
        else:
            self.stem = None
            self.conv1 = nn.Conv2d(in_channels, base_width, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(base_width)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        dilate = {8: (False, True, True), 16: (False, False, True), 32: (False, False, False)}[output_stride]
        self.channels, cin, dilation = [], base_width, 1
        for i, n in enumerate(RESNET_LAYERS[depth]):
            width, stride = base_width * 2 ** i, 1 if i == 0 else 2
            prev_dilation = dilation
            if i > 0 and dilate[i - 1]:
                dilation, stride = dilation * stride, 1
            downsample = None
            if stride != 1 or cin != width * block.expansion:
                downsample = nn.Sequential(nn.Conv2d(cin, width * block.expansion, 1, stride, bias=False),
                                           nn.BatchNorm2d(width * block.expansion))
            layers = [block(cin, width, stride, prev_dilation, downsample)]
            cin = width * block.expansion
            layers += [block(cin, width, 1, dilation) for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
            self.channels.append(cin)

    def forward(self, x: torch.Tensor) -> list:
        x = self.stem(x) if self.stem is not None else self.relu(self.bn1(self.conv1(x)))  # (B, w, H/2, W/2)
        x = self.maxpool(x)  # (B, w, ceil(H/4), ceil(W/4))
        feats = []
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
            feats.append(x)
        return feats


@dataclass
class ResNetMLPConfig:
    """ResNet encoder + SegFormer's All-MLP decoder (the paper's Table 1d)."""

    num_classes: int = 150  # K
    depth: int = 50  # ResNet depth: 18, 34, 50 or 101
    base_width: int = 64  # channels of the stem and layer1 (64 in the standard ResNets)
    deep_stem: bool = False  # False: torchvision's 7x7 stem; True: mmseg's ResNetV1c stem (Table 1d)
    in_channels: int = 3  # image channels
    decoder_dim: int = 768  # C of the MLP decoder (768 as for MiT-B2, the paper's comparison)
    decoder_stages: tuple = (1, 2, 3, 4)  # stages feeding the decoder: (1, 2, 3, 4) or (4,)
    decoder_dropout: float = 0.1  # dropout before the classifier

    def __post_init__(self):
        self.decoder_stages = tuple(self.decoder_stages)
        if not self.decoder_stages or not set(self.decoder_stages) <= {1, 2, 3, 4}:
            raise ValueError(f"ResNetMLPConfig.decoder_stages={self.decoder_stages}; expected stages from 1-4")


class ResNetMLP(nn.Module):
    """ResNet + All-MLP decoder: (B, 3, H, W) -> logits (B, K, ceil(H/4), ceil(W/4)), as SegFormer."""

    def __init__(self, cfg: ResNetMLPConfig):
        super().__init__()
        self.config = cfg
        self.backbone = ResNet(cfg.depth, cfg.base_width, 32, cfg.in_channels, cfg.deep_stem)
        self.decode_head = SegFormerHead(tuple(self.backbone.channels), cfg.decoder_stages, cfg.decoder_dim,
                                         cfg.num_classes, cfg.decoder_dropout)
        for m in self.decode_head.modules():
            init_weights(m)
        init_resnet(self.backbone)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_head(self.backbone(x))


@dataclass
class DeepLabV3Config:
    """DeepLabV3: dilated ResNet + Atrous Spatial Pyramid Pooling (Chen et al., 2017)."""

    num_classes: int = 150  # K
    depth: int = 50  # ResNet depth: 18, 34, 50 or 101
    base_width: int = 64  # channels of the stem and layer1
    deep_stem: bool = False  # False: torchvision's 7x7 stem; True: mmseg's ResNetV1c stem
    in_channels: int = 3  # image channels
    output_stride: int = 8  # 8 (rates 12/24/36) or 16 (rates 6/12/18)
    aspp_dim: int = 256  # channels of each ASPP branch and of the head
    dropout: float = 0.1  # dropout before the classifier

    def __post_init__(self):
        if self.output_stride not in (8, 16):
            raise ValueError(f"DeepLabV3Config.output_stride={self.output_stride}; expected 8 or 16")


class ASPP(nn.Module):
    """Image pooling + 1x1 + three dilated 3x3 branches, concatenated and projected: (B, Cin, h, w) -> (B, C, h, w).
    The pooled branch comes first, as in mmseg; torchvision's ASPP puts it last (its loader permutes `project`)."""

    def __init__(self, cin: int, dim: int, rates: tuple):
        super().__init__()
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), ConvBNReLU(cin, dim, 1))
        self.branches = nn.ModuleList([ConvBNReLU(cin, dim, 1)] +
                                      [ConvBNReLU(cin, dim, 3, padding=r, dilation=r) for r in rates])
        self.project = ConvBNReLU(dim * (len(rates) + 2), dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.image_pool(x).expand(-1, -1, *x.shape[-2:])  # (B, C, 1, 1) -> (B, C, h, w)
        return self.project(torch.cat([pooled] + [b(x) for b in self.branches], dim=1))


class DeepLabV3(nn.Module):
    """(B, 3, H, W) -> logits (B, K, ceil(H/os), ceil(W/os)) at the output stride os (8 or 16);
    `upsample_logits` brings them to any size."""

    def __init__(self, cfg: DeepLabV3Config):
        super().__init__()
        self.config = cfg
        self.backbone = ResNet(cfg.depth, cfg.base_width, cfg.output_stride, cfg.in_channels, cfg.deep_stem)
        rates = (12, 24, 36) if cfg.output_stride == 8 else (6, 12, 18)
        self.decode_head = nn.Sequential()
        self.decode_head.add_module("aspp", ASPP(self.backbone.channels[-1], cfg.aspp_dim, rates))
        self.decode_head.add_module("bottleneck", ConvBNReLU(cfg.aspp_dim, cfg.aspp_dim, 3, padding=1))
        self.decode_head.add_module("dropout", nn.Dropout2d(cfg.dropout))
        self.decode_head.add_module("conv_seg", nn.Conv2d(cfg.aspp_dim, cfg.num_classes, 1))
        for m in self.decode_head.modules():
            init_weights(m)
        init_resnet(self.backbone)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_head(self.backbone(x)[-1])


@dataclass
class DeepLabV3PlusConfig:
    """DeepLabV3+ (Chen et al., 2018) as mmseg's `deeplabv3plus_r50-d8` config: dilated ResNetV1c, an ASPP of
    depthwise-separable convs, and a decoder that fuses a stride-4 skip from stage 1."""

    num_classes: int = 19  # K (19: Cityscapes, the paper's Table 5 baseline; 150: ADE20K)
    depth: int = 50  # ResNet depth: 50 or 101 (mmseg's); 18 or 34 use our BasicBlock, which mmseg's is not
    base_width: int = 64  # channels of the stem and layer1
    deep_stem: bool = True  # True: mmseg's ResNetV1c stem (three 3x3 convs); False: torchvision's 7x7 conv
    in_channels: int = 3  # image channels
    output_stride: int = 8  # 8 ("d8": stage dilations 1, 1, 2, 4) or 16
    channels: int = 512  # channels of each ASPP branch and of the decoder
    dilations: tuple = (1, 12, 24, 36)  # ASPP branches: 1 is a 1x1 conv, the others depthwise-separable 3x3
    c1_channels: int = 48  # channels of the stage-1 skip after its 1x1 conv
    dropout: float = 0.1  # dropout before the classifier

    def __post_init__(self):
        self.dilations = tuple(self.dilations)
        if self.output_stride not in (8, 16):
            raise ValueError(f"DeepLabV3PlusConfig.output_stride={self.output_stride}; expected 8 or 16")


class DepthwiseSeparableConv(nn.Module):
    """mmcv's DepthwiseSeparableConvModule: a depthwise kxk conv + BN + ReLU, then a pointwise 1x1 conv + BN + ReLU,
    (B, Cin, h, w) -> (B, Cout, h, w)."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, padding: int = 1, dilation: int = 1):
        super().__init__()
        self.depthwise_conv = nn.Sequential(OrderedDict(
            conv=nn.Conv2d(cin, cin, kernel_size, padding=padding, dilation=dilation, groups=cin, bias=False),
            bn=nn.BatchNorm2d(cin), relu=nn.ReLU(inplace=True)))
        self.pointwise_conv = ConvBNReLU(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_conv(self.depthwise_conv(x))


class DepthwiseSeparableASPPHead(nn.Module):
    """DeepLabV3+'s head, mmseg's `DepthwiseSeparableASPPHead`: stage maps [c1 (stride 4), ..., c4 (stride 8)] ->
    logits (B, K, h1, w1) at c1's size."""

    def __init__(self, in_channels: int, c1_in_channels: int, channels: int, dilations: tuple, c1_channels: int,
                 num_classes: int, dropout: float):
        super().__init__()
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), ConvBNReLU(in_channels, channels, 1))
        self.aspp_modules = nn.ModuleList([
            ConvBNReLU(in_channels, channels, 1) if d == 1 else DepthwiseSeparableConv(in_channels, channels, 3, d, d)
            for d in dilations])
        self.bottleneck = ConvBNReLU((len(dilations) + 1) * channels, channels, 3, padding=1)
        self.c1_bottleneck = ConvBNReLU(c1_in_channels, c1_channels, 1)
        self.sep_bottleneck = nn.Sequential(DepthwiseSeparableConv(channels + c1_channels, channels),
                                            DepthwiseSeparableConv(channels, channels))
        self.dropout = nn.Dropout2d(dropout)
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)

    def forward(self, feats: list) -> torch.Tensor:
        c1, x = feats[0], feats[-1]
        # mmseg resizes the pooled (B, C, 1, 1) map bilinearly to (h, w): the same constant as expanding it
        pooled = self.image_pool(x).expand(-1, -1, *x.shape[-2:])
        aspp = torch.cat([pooled] + [branch(x) for branch in self.aspp_modules], dim=1)  # (B, 5C, h, w), pooled first
        out = self.bottleneck(aspp)  # (B, C, h, w)
        out = F.interpolate(out, size=c1.shape[-2:], mode="bilinear", align_corners=False)  # stride 8 -> 4
        out = torch.cat([out, self.c1_bottleneck(c1)], dim=1)  # (B, C + 48, h1, w1)
        return self.conv_seg(self.dropout(self.sep_bottleneck(out)))


class DeepLabV3Plus(nn.Module):
    """(B, 3, H, W) -> logits (B, K, ceil(H/4), ceil(W/4)); `upsample_logits` brings them to any size."""

    def __init__(self, cfg: DeepLabV3PlusConfig):
        super().__init__()
        self.config = cfg
        self.backbone = ResNet(cfg.depth, cfg.base_width, cfg.output_stride, cfg.in_channels, cfg.deep_stem)
        self.decode_head = DepthwiseSeparableASPPHead(self.backbone.channels[-1], self.backbone.channels[0],
                                                      cfg.channels, cfg.dilations, cfg.c1_channels, cfg.num_classes,
                                                      cfg.dropout)
        for m in self.decode_head.modules():
            init_weights(m)
        init_resnet(self.backbone)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_head(self.backbone(x))


@dataclass
class FCNConfig:
    """FCN (Long et al., 2015) as torchvision's `fcn_resnet50/101`: dilated ResNet + one 3x3 conv and a classifier."""

    num_classes: int = 21  # K (21: torchvision's released weights, COCO images with the VOC classes)
    depth: int = 50  # ResNet depth: 18, 34, 50 or 101
    base_width: int = 64  # channels of the stem and layer1
    in_channels: int = 3  # image channels
    output_stride: int = 8  # 8 (torchvision's) or 16
    dropout: float = 0.1  # dropout before the classifier

    def __post_init__(self):
        if self.output_stride not in (8, 16):
            raise ValueError(f"FCNConfig.output_stride={self.output_stride}; expected 8 or 16")


class FCN(nn.Module):
    """(B, 3, H, W) -> logits (B, K, ceil(H/os), ceil(W/os)). The head keeps torchvision's FCNHead indices:
    0 conv 3x3 (C -> C/4, no bias), 1 BN, 2 ReLU, 3 dropout, 4 conv 1x1 (C/4 -> K)."""

    def __init__(self, cfg: FCNConfig):
        super().__init__()
        self.config = cfg
        self.backbone = ResNet(cfg.depth, cfg.base_width, cfg.output_stride, cfg.in_channels)
        cin = self.backbone.channels[-1]
        self.decode_head = nn.Sequential(nn.Conv2d(cin, cin // 4, 3, padding=1, bias=False), nn.BatchNorm2d(cin // 4),
                                         nn.ReLU(inplace=True), nn.Dropout(cfg.dropout),
                                         nn.Conv2d(cin // 4, cfg.num_classes, 1))
        for m in self.decode_head.modules():
            init_weights(m)
        init_resnet(self.backbone)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_head(self.backbone(x)[-1])


def init_resnet(net: nn.Module) -> None:
    """He-normal (fan-out) convs and unit BatchNorms, as torchvision initialises ResNets."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


__all__ = ["ResNet", "ResNetMLP", "ResNetMLPConfig", "DeepLabV3", "DeepLabV3Config", "ASPP", "DeepLabV3Plus",
           "DeepLabV3PlusConfig", "DepthwiseSeparableASPPHead", "DepthwiseSeparableConv", "FCN", "FCNConfig"]

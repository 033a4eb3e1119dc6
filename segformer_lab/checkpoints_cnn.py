"""Key tables of the CNN checkpoints a user may hold: torchvision's DeepLabV3 and FCN, mmseg's DeepLabV3+.

One `Layout` per format, as data: prefix pairs from the checkpoint's names to ours (the first pair that matches
wins; `{i}` stands for a block number and is carried over), the few tensor transforms, the key prefixes that
inference does not use (auxiliary heads: declared here, so that any other stray key is still reported), the keys
that tell the format apart, and how the weights give our config. Checked against the real libraries' layouts
(tests/layouts/, written from torchvision 0.29 and mmsegmentation 1.2).
`checkpoints.read_checkpoint` tries these layouts after its SegFormer formats.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .models.cnn import RESNET_LAYERS, DeepLabV3Config, DeepLabV3PlusConfig, FCNConfig


@dataclass(frozen=True)
class Layout:
    """How one checkpoint format's keys and tensors become ours."""

    name: str  # the loaded model's `checkpoint_format`
    family: str  # the variant is f"{family}_r{depth}"
    markers: tuple  # checkpoint keys that together identify the format
    renames: tuple  # (checkpoint prefix, our prefix) pairs, first match wins; `{i}` matches a block number
    ignored: tuple  # checkpoint key prefixes that inference does not use
    transforms: tuple  # (our key, function of the tensor, why) applied after renaming
    classifier: str  # our prefix of the last 1x1 conv (K outputs)
    config: Callable  # checkpoint state dict (its own names) -> our config


def pooled_branch_first(weight: torch.Tensor) -> torch.Tensor:
    """ASPP `project` conv (C, 5C, 1, 1): torchvision concatenates [1x1, rate 12, 24, 36, pooling], ours
    [pooling, 1x1, rate 12, 24, 36]; move the last C input channels to the front."""
    return torch.roll(weight, shifts=weight.shape[0], dims=1)


def _shape(state: dict, key: str) -> tuple:
    if key not in state:
        raise ValueError(f"missing key {key}, which tells the model's shape")
    return tuple(state[key].shape)


def _resnet_fields(state: dict) -> dict:
    """depth, base_width, in_channels and deep_stem of the bottleneck ResNet under `backbone.` (torchvision's and
    mmseg's names agree there, but for mmseg's deep stem)."""
    blocks = tuple(len({k.split(".")[2] for k in state if k.startswith(f"backbone.layer{i}.")}) for i in range(1, 5))
    depth = next((d for d, n in RESNET_LAYERS.items() if d >= 50 and n == blocks), None)
    if depth is None or "backbone.layer1.0.conv3.weight" not in state:
        # mmseg's BasicBlock dilates only its first conv (ours both): its ResNet-18/34 would load and compute otherwise
        raise ValueError(f"the backbone has {blocks} blocks in layers 1-4: not a bottleneck ResNet-50 (3, 4, 6, 3) "
                         "or ResNet-101 (3, 4, 23, 3)")
    deep_stem = "backbone.stem.0.weight" in state
    stem = _shape(state, "backbone.stem.0.weight" if deep_stem else "backbone.conv1.weight")
    return dict(depth=depth, base_width=_shape(state, "backbone.layer1.0.conv1.weight")[0], in_channels=stem[1],
                deep_stem=deep_stem)


def _torchvision_deeplabv3_config(state: dict) -> DeepLabV3Config:
    """torchvision builds output stride 8 (rates 12, 24, 36) and a 256-channel ASPP."""
    return DeepLabV3Config(num_classes=_shape(state, "classifier.4.weight")[0], output_stride=8,
                           aspp_dim=_shape(state, "classifier.0.project.0.weight")[0], **_resnet_fields(state))


def _torchvision_fcn_config(state: dict) -> FCNConfig:
    fields = _resnet_fields(state)
    del fields["deep_stem"]  # always torchvision's 7x7 stem
    return FCNConfig(num_classes=_shape(state, "classifier.4.weight")[0], output_stride=8, **fields)


def _mmseg_deeplabv3plus_config(state: dict) -> DeepLabV3PlusConfig:
    """Weights cannot tell d8 from d16 (dilations (1, 6, 12, 18)): d8 is assumed, the released models' setting."""
    return DeepLabV3PlusConfig(num_classes=_shape(state, "decode_head.conv_seg.weight")[0],
                               channels=_shape(state, "decode_head.bottleneck.conv.weight")[0],
                               c1_channels=_shape(state, "decode_head.c1_bottleneck.conv.weight")[0],
                               **_resnet_fields(state))


TORCHVISION_DEEPLABV3 = Layout(
    name="torchvision_deeplabv3", family="deeplabv3",
    markers=("backbone.conv1.weight", "classifier.0.convs.0.0.weight"),
    renames=(
        ("backbone.", "backbone."),  # torchvision's ResNet names are ours
        ("classifier.0.convs.4.1.", "decode_head.aspp.image_pool.1.conv."),  # ASPPPooling: 0 pool, 1 conv, 2 BN
        ("classifier.0.convs.4.2.", "decode_head.aspp.image_pool.1.bn."),
        ("classifier.0.convs.{i}.0.", "decode_head.aspp.branches.{i}.conv."),  # 0: 1x1; 1-3: rates 12, 24, 36
        ("classifier.0.convs.{i}.1.", "decode_head.aspp.branches.{i}.bn."),
        ("classifier.0.project.0.", "decode_head.aspp.project.conv."),  # project.3: Dropout(0.5), none at eval
        ("classifier.0.project.1.", "decode_head.aspp.project.bn."),
        ("classifier.1.", "decode_head.bottleneck.conv."),
        ("classifier.2.", "decode_head.bottleneck.bn."),
        ("classifier.4.", "decode_head.conv_seg."),  # torchvision has no dropout before it (ours: none at eval)
    ),
    ignored=("aux_classifier.",),  # FCNHead on layer3, a training loss only
    transforms=(("decode_head.aspp.project.conv.weight", pooled_branch_first, "pooling branch last -> first"),),
    classifier="decode_head.conv_seg.", config=_torchvision_deeplabv3_config)

TORCHVISION_FCN = Layout(
    name="torchvision_fcn", family="fcn",
    markers=("backbone.conv1.weight", "classifier.0.weight", "classifier.4.weight"),
    renames=(("backbone.", "backbone."), ("classifier.", "decode_head.")),  # our FCN head keeps FCNHead's indices
    ignored=("aux_classifier.",),
    transforms=(), classifier="decode_head.4.", config=_torchvision_fcn_config)

MMSEG_DEEPLABV3PLUS = Layout(
    name="mmseg_deeplabv3plus", family="deeplabv3plus",
    markers=("decode_head.c1_bottleneck.conv.weight", "decode_head.sep_bottleneck.0.depthwise_conv.conv.weight"),
    renames=(
        # ResNetV1c's stem is one Sequential (conv, BN, ReLU) x 3; ours three ConvBNReLU
        ("backbone.stem.0.", "backbone.stem.0.conv."), ("backbone.stem.1.", "backbone.stem.0.bn."),
        ("backbone.stem.3.", "backbone.stem.1.conv."), ("backbone.stem.4.", "backbone.stem.1.bn."),
        ("backbone.stem.6.", "backbone.stem.2.conv."), ("backbone.stem.7.", "backbone.stem.2.bn."),
        ("backbone.", "backbone."),  # layers: bottleneck conv1-3 / bn1-3 / downsample.0-1, as torchvision's
        ("decode_head.", "decode_head."),  # our head has mmseg's module names
    ),
    ignored=("auxiliary_head.",),  # FCNHead on stage 3, a training loss only
    transforms=(), classifier="decode_head.conv_seg.", config=_mmseg_deeplabv3plus_config)

LAYOUTS = {layout.name: layout for layout in (TORCHVISION_DEEPLABV3, TORCHVISION_FCN, MMSEG_DEEPLABV3PLUS)}


def _match(template: str, key: str) -> re.Match | None:
    pattern = re.escape(template).replace(re.escape("{i}"), r"(?P<i>\d+)")
    return re.match(pattern, key)


def _rename(key: str, pairs) -> str | None:
    """`key` through the first (from, to) prefix pair that matches it; None when none does."""
    for source, target in pairs:
        m = _match(source, key)
        if m:
            return target.replace("{i}", m.groupdict().get("i") or "") + key[m.end():]
    return None


def checkpoint_key(layout: Layout, key: str) -> str:
    """The checkpoint's name for our `key` (the table read backwards), for messages."""
    return _rename(key, [(ours, theirs) for theirs, ours in layout.renames]) or key


@dataclass
class CNNCheckpoint:
    """A checkpoint recognised by a layout: our config, the state dict in our names, and their original names."""

    layout: Layout
    config: object  # DeepLabV3Config, FCNConfig or DeepLabV3PlusConfig read from the weights
    state: dict  # our key -> tensor (ignored keys dropped, transforms applied)
    names: dict  # our key -> the checkpoint's key

    @property
    def variant(self) -> str:
        """e.g. "deeplabv3plus_r101"; mmseg names its DeepLabV3+ on a 7x7-stem ResNet (V1b) "r101b"."""
        v1b = isinstance(self.config, DeepLabV3PlusConfig) and not self.config.deep_stem
        return f"{self.layout.family}_r{self.config.depth}" + ("b" if v1b else "")

    def name_of(self, key: str) -> str:
        """The checkpoint's name for our `key`, present or missing."""
        return self.names.get(key) or checkpoint_key(self.layout, key)


def detect_layout(state: dict) -> Layout | None:
    """The layout whose marker keys are all in `state` (checkpoint names), or None."""
    return next((layout for layout in LAYOUTS.values() if all(k in state for k in layout.markers)), None)


def convert_state(layout: Layout, state: dict) -> CNNCheckpoint:
    """Rename a state dict of `layout` to ours. Keys that no pair matches are kept as they are, so that loading
    reports them as unexpected; raises ValueError when the weights do not tell a config we can build."""
    config = layout.config(state)
    out, names = {}, {}
    for key, value in state.items():
        if key.startswith(layout.ignored):
            continue
        ours = _rename(key, layout.renames) or key
        out[ours], names[ours] = value, key
    for key, transform, _ in layout.transforms:
        if key in out:
            out[key] = transform(out[key])
    return CNNCheckpoint(layout, config, out, names)

"""Loading the CNN checkpoints users hold: torchvision's DeepLabV3 and FCN, mmseg's DeepLabV3+. The key lists and
reference outputs in tests/layouts/ were written by the real torchvision 0.29 and mmsegmentation 1.2 (the scripts
there); the tests rebuild the same stand-in weights from them, so nothing is downloaded."""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from segformer_lab import build_model, variant_config
from segformer_lab.checkpoints import CheckpointError, from_pretrained, save_pretrained
from segformer_lab.checkpoints_cnn import LAYOUTS, checkpoint_key, convert_state
from segformer_lab.models.cnn import DeepLabV3Plus, ResNet
from segformer_lab.models.common import upsample_logits

HERE = Path(__file__).parent / "layouts"
_spec = importlib.util.spec_from_file_location("standin", HERE / "standin.py")
standin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(standin)

# layout file -> (checkpoint_format, variant, num_classes, auxiliary head prefix)
OFFICIAL = {
    "torchvision_deeplabv3_resnet50": ("torchvision_deeplabv3", "deeplabv3_r50", 21, "aux_classifier."),
    "torchvision_deeplabv3_resnet101": ("torchvision_deeplabv3", "deeplabv3_r101", 21, "aux_classifier."),
    "torchvision_fcn_resnet50": ("torchvision_fcn", "fcn_r50", 21, "aux_classifier."),
    "torchvision_fcn_resnet101": ("torchvision_fcn", "fcn_r101", 21, "aux_classifier."),
    "mmseg_deeplabv3plus_r50_cityscapes": ("mmseg_deeplabv3plus", "deeplabv3plus_r50", 19, "auxiliary_head."),
    "mmseg_deeplabv3plus_r101_cityscapes": ("mmseg_deeplabv3plus", "deeplabv3plus_r101", 19, "auxiliary_head."),
    "mmseg_deeplabv3plus_r50_ade20k": ("mmseg_deeplabv3plus", "deeplabv3plus_r50", 150, "auxiliary_head."),
    "mmseg_deeplabv3plus_r101_ade20k": ("mmseg_deeplabv3plus", "deeplabv3plus_r101", 150, "auxiliary_head."),
}


def official_state(name: str, seed=None) -> dict:
    """The layout's state dict: `standin.fill_state` values with a seed, else zero-stride zeros (keys and shapes
    only, a few kB on disk)."""
    layout = standin.read_layout(name)
    if seed is not None:
        return {k: torch.from_numpy(v) for k, v in standin.fill_state(layout, seed).items()}
    return {k: torch.zeros((), dtype=getattr(torch, dtype)).expand(shape) for k, shape, dtype in layout["keys"]}


def write_official(path: Path, name: str, state: dict) -> Path:
    """Save as the library does: torchvision a plain state dict, mmseg {"state_dict", "meta"}."""
    if name.startswith("mmseg"):
        state = {"state_dict": state, "meta": {"iter": 80000, "mmseg_version": "0.16.0"}}
    torch.save(state, path)
    return path


@pytest.mark.parametrize("name", list(OFFICIAL))
def test_official_layout_loads_with_no_missing_or_extra_key(tmp_path, name):
    fmt, variant, num_classes, aux = OFFICIAL[name]
    state = official_state(name)
    assert any(k.startswith(aux) for k in state)  # the auxiliary head is in the file and ignored by declaration
    model = from_pretrained(write_official(tmp_path / f"{name}.pth", name, state))
    assert (model.checkpoint_format, model.variant, model.config.num_classes) == (fmt, variant, num_classes)
    assert model.config == variant_config(variant, num_classes)  # the registered variant, as released
    layout = LAYOUTS[fmt]
    assert layout.ignored == (aux,)
    converted = convert_state(layout, state)
    assert set(converted.state) == set(model.state_dict())
    # The table read backwards gives the checkpoint's names: messages name the keys the user holds.
    assert all(checkpoint_key(layout, ours) == theirs for ours, theirs in converted.names.items())


def test_torchvision_deeplabv3_parity(tmp_path):
    name = "torchvision_deeplabv3_resnet50"
    model = from_pretrained(write_official(tmp_path / "dlv3.pth", name, official_state(name, seed=0))).eval()
    ref = np.load(HERE / f"{name}_logits.npz")
    _assert_torchvision_parity(model, ref)
    # Without the declared permutation of `project`'s inputs (pooling branch last -> first) the outputs differ.
    with torch.no_grad():
        weight = model.decode_head.aspp.project.conv.weight
        weight.copy_(torch.roll(weight, -weight.shape[0], dims=1))
        out = upsample_logits(model(torch.from_numpy(standin.image(1, (45, 61)))), (45, 61))
    assert not torch.allclose(out, torch.from_numpy(ref["logits"]), atol=1e-2)


def test_torchvision_fcn_parity(tmp_path):
    name = "torchvision_fcn_resnet50"
    model = from_pretrained(write_official(tmp_path / "fcn.pth", name, official_state(name, seed=0))).eval()
    _assert_torchvision_parity(model, np.load(HERE / f"{name}_logits.npz"))


def _assert_torchvision_parity(model, ref):
    """torchvision's model(x)["out"] on the small input (its logits upsampled bilinearly to the input), and for
    DeepLabV3 its classifier's stride-8 logits on the large input (where the rate-12 and 24 taps reach inside)."""
    for x_size, key in (((45, 61), "logits"), ((201, 233), "head_logits")):
        if key not in ref:
            continue
        expected = torch.from_numpy(ref[key])
        with torch.no_grad():
            got = model(torch.from_numpy(standin.image(1, x_size)))
        if key == "logits":
            got = upsample_logits(got, x_size)
        assert got.shape == expected.shape
        assert expected.std() > 0.05 * expected.abs().max()  # the logits vary over the image, not one constant
        scale = expected.abs().max()
        assert torch.allclose(got, expected, atol=1e-4 * scale, rtol=0), (got - expected).abs().max() / scale


def test_mmseg_deeplabv3plus_parity(tmp_path):
    name = "mmseg_deeplabv3plus_r50_cityscapes"
    model = from_pretrained(write_official(tmp_path / "dlv3plus.pth", name, official_state(name, seed=0))).eval()
    expected = torch.from_numpy(np.load(HERE / f"{name}_logits.npz")["logits"])
    with torch.no_grad():
        got = model(torch.from_numpy(standin.image(1, (97, 131))))  # mmseg's decode_head output, at stride 4
    assert got.shape == expected.shape == (1, 19, 25, 33)
    scale = expected.abs().max()
    assert torch.allclose(got, expected, atol=1e-4 * scale, rtol=0), (got - expected).abs().max() / scale


@pytest.mark.parametrize("name, key", [
    ("torchvision_deeplabv3_resnet50", "classifier.0.convs.2.0.weight"),
    ("torchvision_deeplabv3_resnet50", "classifier.0.convs.4.2.running_var"),
    ("torchvision_fcn_resnet101", "backbone.layer3.22.bn2.bias"),
    ("mmseg_deeplabv3plus_r101_cityscapes", "backbone.stem.4.running_mean"),
    ("mmseg_deeplabv3plus_r50_ade20k", "decode_head.sep_bottleneck.1.depthwise_conv.bn.weight"),
])
def test_dropped_key_is_named(tmp_path, name, key):
    state = official_state(name)
    del state[key]
    path = write_official(tmp_path / "ckpt.pth", name, state)
    with pytest.raises(CheckpointError, match=rf"ckpt.pth: checkpoint does not fit \w+\n  missing keys \(1\): "
                                              rf"{key.replace('.', '[.]')}$"):
        from_pretrained(path)


@pytest.mark.parametrize("name, key", [
    ("torchvision_deeplabv3_resnet101", "classifier.0.convs.5.0.weight"),
    ("torchvision_fcn_resnet50", "classifier.5.weight"),
    ("mmseg_deeplabv3plus_r50_cityscapes", "decode_head.aspp_modules.4.conv.weight"),
    ("mmseg_deeplabv3plus_r50_cityscapes", "neck.lateral.weight"),
])
def test_added_key_is_named(tmp_path, name, key):
    state = official_state(name)
    state[key] = torch.zeros(4)
    path = write_official(tmp_path / "ckpt.pth", name, state)
    with pytest.raises(CheckpointError, match=rf"\n  unexpected keys \(1\): {key.replace('.', '[.]')}$"):
        from_pretrained(path)


def test_shapes_and_classes(tmp_path):
    name = "torchvision_fcn_resnet50"
    path = write_official(tmp_path / "fcn.pth", name, official_state(name))
    state = official_state(name)
    state["classifier.1.running_mean"] = torch.zeros(100)
    with pytest.raises(CheckpointError, match=r"shape conflicts \(1\): classifier[.]1[.]running_mean: checkpoint "
                                              r"\(100,\) vs model \(512,\)"):
        from_pretrained(write_official(tmp_path / "bad.pth", name, state))
    with pytest.raises(CheckpointError, match=r"classifier[.]4[.]weight: checkpoint \(21, 512, 1, 1\) vs model \(7"):
        from_pretrained(path, num_classes=7)
    model = from_pretrained(path, num_classes=7, reset_classifier=True)
    assert model.decode_head[4].weight.shape == (7, 512, 1, 1) and model.variant == "fcn_r50"


def test_mmseg_resnet_v1b_stem(tmp_path):
    """mmseg's "r50b"/"r101b" DeepLabV3+ configs use a ResNet with torchvision's 7x7 stem (`conv1`, `bn1`; checked
    on mmseg 1.2.2's deeplabv3plus_r101b-d8 config) instead of ResNetV1c's `stem.*`."""
    name = "mmseg_deeplabv3plus_r50_cityscapes"
    state = {k: v for k, v in official_state(name).items() if not k.startswith("backbone.stem.")}
    state["backbone.conv1.weight"] = torch.zeros(64, 3, 7, 7)
    for leaf, value in (("weight", torch.ones(64)), ("bias", torch.zeros(64)), ("running_mean", torch.zeros(64)),
                        ("running_var", torch.ones(64)), ("num_batches_tracked", torch.tensor(0))):
        state[f"backbone.bn1.{leaf}"] = value
    model = from_pretrained(write_official(tmp_path / "r50b.pth", name, state))
    assert model.variant == "deeplabv3plus_r50b" and not model.config.deep_stem


def test_checkpoints_without_auxiliary_head_and_unsupported_depths(tmp_path):
    name = "mmseg_deeplabv3plus_r50_cityscapes"
    state = {k: v for k, v in official_state(name).items() if not k.startswith("auxiliary_head.")}
    assert from_pretrained(write_official(tmp_path / "noaux.pth", name, state)).variant == "deeplabv3plus_r50"
    # A ResNet-152 (3, 8, 36, 3) is refused by its block counts, not loaded into a ResNet-101.
    state = official_state("torchvision_deeplabv3_resnet101")
    for j in range(23, 36):
        for leaf in ("conv1.weight", "conv2.weight", "conv3.weight"):
            state[f"backbone.layer3.{j}.{leaf}"] = state[f"backbone.layer3.1.{leaf}"]
    with pytest.raises(CheckpointError, match=r"r152.pth: a torchvision_deeplabv3 checkpoint, but the backbone has "
                                              r"\(3, 4, 36, 3\) blocks"):
        from_pretrained(write_official(tmp_path / "r152.pth", "torchvision", state))
    state = official_state("torchvision_deeplabv3_resnet50")
    del state["classifier.4.weight"]
    with pytest.raises(CheckpointError, match="missing key classifier.4.weight, which tells the model's shape"):
        from_pretrained(write_official(tmp_path / "nohead.pth", "torchvision", state))


def test_resnet_dilations_agree_with_torchvision_and_mmseg():
    """Output stride 8: torchvision's replace_stride_with_dilation=[False, True, True] and mmseg's strides (1, 2, 1, 1),
    dilations (1, 1, 2, 4) with contract_dilation (a stage's first block at half its dilation) give these 3x3 convs."""
    net = ResNet(101, output_stride=8, deep_stem=True)
    expected = {1: [1] * 3, 2: [1] * 4, 3: [1] + [2] * 22, 4: [2, 4, 4]}
    strides = {1: 1, 2: 2, 3: 1, 4: 1}
    for i, dilations in expected.items():
        layer = getattr(net, f"layer{i}")
        assert [block.conv2.dilation[0] for block in layer] == dilations
        assert [block.conv2.padding[0] for block in layer] == dilations
        assert layer[0].conv2.stride[0] == strides[i] and layer[0].downsample[0].stride[0] == strides[i]


@pytest.fixture(scope="module")
def deeplabv3plus_r50():
    torch.manual_seed(0)
    return build_model("deeplabv3plus_r50", 19)


@pytest.mark.parametrize("size", [(97, 131), (70, 45)])
def test_deeplabv3plus_shapes(deeplabv3plus_r50, size):
    model = deeplabv3plus_r50.eval()
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        feats = model.backbone(x)
        out = model(x)
    h4, w4 = math.ceil(size[0] / 4), math.ceil(size[1] / 4)
    h8, w8 = math.ceil(size[0] / 8), math.ceil(size[1] / 8)
    assert [tuple(f.shape[1:]) for f in feats] == [(256, h4, w4), (512, h8, w8), (1024, h8, w8), (2048, h8, w8)]
    assert out.shape == (1, 19, h4, w4) and torch.isfinite(out).all()


def test_deeplabv3plus_every_parameter_gets_gradient(deeplabv3plus_r50):
    model = deeplabv3plus_r50.train()
    model.zero_grad()
    out = model(torch.randn(2, 3, 33, 41))
    (upsample_logits(out, (33, 41)).logsumexp(dim=1).mean() + out.pow(2).mean()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{name} received no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"


@pytest.mark.parametrize("name", ["deeplabv3plus_r50", "fcn_r50", "deeplabv3plus_tiny", "fcn_tiny"])
def test_own_format_round_trip(tmp_path, name):
    model = build_model(name, 6).eval()
    loaded = from_pretrained(save_pretrained(model, tmp_path / "model.pt")).eval()
    assert type(loaded) is type(model) and loaded.config == model.config and loaded.variant == name
    assert loaded.checkpoint_format == "segformer_lab"
    assert isinstance(loaded, DeepLabV3Plus) == name.startswith("deeplabv3plus")
    theirs = loaded.state_dict()
    assert all(torch.equal(value, theirs[key]) for key, value in model.state_dict().items())
    if name.endswith("tiny"):  # the same outputs (the large ones compute the same modules)
        x = torch.randn(1, 3, 37, 53)
        with torch.no_grad():
            assert torch.equal(model(x), loaded(x))

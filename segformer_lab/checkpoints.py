"""Load the weights a user already holds, and save ours. Nothing is downloaded.

Formats `from_pretrained` recognises:
- segformer_lab: what `save_pretrained` writes (config + state dict, any model family);
- NVlabs/mmseg SegFormer checkpoints: `{"state_dict": {"backbone.*", "decode_head.*"}, "meta": ...}`;
- NVlabs ImageNet MiT backbones (`mit_b*.pth`): `patch_embed1.proj.weight`, ..., `head.*`;
- transformers SegFormer checkpoints, 4.x or 5.x key names: a directory with `config.json` and
  `model.safetensors` or `pytorch_model.bin` (or one of those files alone);
- CNN baselines: torchvision's `deeplabv3_resnet50/101` and `fcn_resnet50/101` state dicts, mmseg's DeepLabV3+
  R50/R101 checkpoints (their key tables are in `checkpoints_cnn`).
Our module names are NVlabs', so only the transformers formats need a renaming table here.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from .checkpoints_cnn import CNNCheckpoint, convert_state, detect_layout
from .models.segformer import SegFormer, SegFormerConfig, mit_size_of
from .registry import build_from_config, config_from_dict

FORMAT_KEY = "segformer_lab"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model; the message names the file and the keys."""


# transformers -> NVlabs names. Applied in order to keys without the `segformer.` prefix; `{n}` stage numbers
# are 0-based in transformers and 1-based in NVlabs. attn.k and attn.v are fused into attn.kv afterwards.
_HF_RENAMES = [
    # 4.x
    (r"^encoder\.patch_embeddings\.(\d)\.layer_norm\.", "backbone.patch_embed{n}.norm."),
    (r"^encoder\.patch_embeddings\.(\d)\.", "backbone.patch_embed{n}."),
    (r"^encoder\.block\.(\d)\.", "backbone.block{n}."),
    (r"^encoder\.layer_norm\.(\d)\.", "backbone.norm{n}."),
    (r"\.attention\.self\.query\.", ".attn.q."),
    (r"\.attention\.self\.key\.", ".attn.k."),
    (r"\.attention\.self\.value\.", ".attn.v."),
    (r"\.attention\.self\.sr\.", ".attn.sr."),
    (r"\.attention\.self\.layer_norm\.", ".attn.norm."),
    (r"\.attention\.output\.dense\.", ".attn.proj."),
    (r"\.layer_norm_1\.", ".norm1."),
    (r"\.layer_norm_2\.", ".norm2."),
    (r"\.mlp\.dense1\.", ".mlp.fc1."),
    (r"\.mlp\.dense2\.", ".mlp.fc2."),
    (r"^decode_head\.linear_c\.(\d)\.", "decode_head.linear_c{n}."),
    # 5.x
    (r"^stages\.(\d)\.patch_embeddings\.layer_norm\.", "backbone.patch_embed{n}.norm."),
    (r"^stages\.(\d)\.patch_embeddings\.", "backbone.patch_embed{n}."),
    (r"^stages\.(\d)\.blocks\.", "backbone.block{n}."),
    (r"^stages\.(\d)\.layer_norm\.", "backbone.norm{n}."),
    (r"\.layernorm_before\.", ".norm1."),
    (r"\.layernorm_after\.", ".norm2."),
    (r"\.attention\.q_proj\.", ".attn.q."),
    (r"\.attention\.k_proj\.", ".attn.k."),
    (r"\.attention\.v_proj\.", ".attn.v."),
    (r"\.attention\.o_proj\.", ".attn.proj."),
    (r"\.attention\.sequence_reduction\.sequence_reduction\.", ".attn.sr."),
    (r"\.attention\.sequence_reduction\.layer_norm\.", ".attn.norm."),
    (r"^decode_head\.linear_projections\.(\d)\.", "decode_head.linear_c{n}."),
    # both
    (r"^decode_head\.linear_fuse\.weight$", "decode_head.linear_fuse.conv.weight"),
    (r"^decode_head\.batch_norm\.", "decode_head.linear_fuse.bn."),
    (r"^decode_head\.classifier\.", "decode_head.linear_pred."),
]


def _rename_hf_key(key: str) -> str:
    key = re.sub(r"^segformer\.", "", key)
    for pattern, target in _HF_RENAMES:
        m = re.search(pattern, key)
        if m:
            repl = target.format(n=int(m.group(1)) + 1) if m.groups() else target
            key = key[:m.start()] + repl + key[m.end():]
    return key


def convert_hf_state_dict(state: dict) -> dict:
    """transformers SegFormer state dict (4.x or 5.x names) -> NVlabs names, k and v fused into kv."""
    out = {_rename_hf_key(k): v for k, v in state.items()}
    for key in [k for k in out if ".attn.k." in k]:
        v_key = key.replace(".attn.k.", ".attn.v.")
        if v_key in out:
            out[key.replace(".attn.k.", ".attn.kv.")] = torch.cat([out.pop(key), out.pop(v_key)], dim=0)
    return out


def _read(path: Path, trust: bool) -> object:
    """Read a .safetensors or torch pickle file; errors name the file."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        if path.suffix == ".safetensors":
            try:
                from safetensors.torch import load_file
            except ImportError as e:
                raise CheckpointError(f"{path}: reading .safetensors needs the `safetensors` package "
                                      "(pip install safetensors)") from e
            return load_file(str(path))
        return torch.load(path, map_location="cpu", weights_only=not trust)
    except CheckpointError:
        raise
    except Exception as e:  # torch and safetensors raise many types for a bad file
        hint = "" if trust else (" (if it is a pickle you trust that holds more than tensors: --trust on the "
                                 "command line, trust=True in Python)")
        raise CheckpointError(f"{path}: cannot read checkpoint: {type(e).__name__}: {e}{hint}") from e


def _hf_files(path: Path):
    """(config.json or None, weights file) of a transformers checkpoint directory or weights file."""
    if path.is_dir():
        for name in ("model.safetensors", "pytorch_model.bin"):
            if (path / name).is_file():
                config = path / "config.json"
                return (config if config.is_file() else None), path / name
        found = sorted(p.name for p in path.iterdir())
        raise CheckpointError(f"{path}: a checkpoint directory needs model.safetensors or pytorch_model.bin "
                              f"(beside config.json); found {found}")
    config = path.parent / "config.json"
    return (config if config.is_file() else None), path


def _strip(state: dict, prefix: str) -> dict:
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state.items()}


def read_checkpoint(path, trust: bool = False):
    """Read any supported checkpoint: returns (kind, state dict in our names, extra), where kind is one of
    'segformer_lab', 'mmseg', 'mit_backbone', 'hf' or a CNN layout's name ('torchvision_deeplabv3',
    'torchvision_fcn', 'mmseg_deeplabv3plus'), and extra is the saved config (ours), the transformers
    config.json dict (hf), the `CNNCheckpoint` (CNN layouts: config and the checkpoint's key names), or None."""
    path = Path(path)
    hf_config = None
    if path.is_dir():
        config_file, path = _hf_files(path)
        hf_config = json.loads(config_file.read_text()) if config_file else None
    obj = _read(path, trust)
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors, got {type(obj).__name__}")
    if FORMAT_KEY in obj:
        return FORMAT_KEY, obj["state_dict"], obj
    state = obj.get("state_dict", obj.get("model", obj))
    state = _strip(state, "module.")
    keys = list(state)
    if any(k.startswith(("segformer.", "encoder.patch_embeddings.", "stages.0.")) for k in keys):
        if hf_config is None and (path.parent / "config.json").is_file():
            hf_config = json.loads((path.parent / "config.json").read_text())
        state = {k: v for k, v in state.items() if not k.startswith("classifier.")}  # image-classification head
        return "hf", convert_hf_state_dict(state), hf_config
    if "backbone.patch_embed1.proj.weight" in state:
        # mmseg's decode_head.conv_seg is built by the base class and never used by SegFormerHead.
        return "mmseg", {k: v for k, v in state.items() if not k.startswith("decode_head.conv_seg.")}, None
    if "patch_embed1.proj.weight" in state:
        body = {"backbone." + k: v for k, v in state.items() if not k.startswith("head.")}
        return "mit_backbone", body, None
    layout = detect_layout(state)
    if layout is not None:
        try:
            cnn = convert_state(layout, state)
        except ValueError as e:
            raise CheckpointError(f"{path}: a {layout.name} checkpoint, but {e}") from e
        return layout.name, cnn.state, cnn
    raise CheckpointError(f"{path}: unrecognised checkpoint layout; first keys: {keys[:6]}. Expected a "
                          "segformer_lab file, an NVlabs/mmseg SegFormer or MiT checkpoint, a transformers one, "
                          "or a torchvision DeepLabV3 / FCN or mmseg DeepLabV3+ one")


def infer_segformer_config(state: dict, **overrides) -> SegFormerConfig:
    """A SegFormerConfig that fits a state dict in NVlabs names. Head counts cannot be read from weights:
    the released (1, 2, 5, 8) is assumed unless `num_heads` is given."""
    def w(key):
        return state[key].shape
    dims = tuple(w(f"backbone.patch_embed{i}.proj.weight")[0] for i in range(1, 5))
    depths = tuple(len({k.split(".")[2] for k in state if k.startswith(f"backbone.block{i}.")}) for i in range(1, 5))
    srs = tuple(w(f"backbone.block{i}.0.attn.sr.weight")[-1] if f"backbone.block{i}.0.attn.sr.weight" in state
                else 1 for i in range(1, 5))
    mlp = tuple(w(f"backbone.block{i}.0.mlp.fc1.weight")[0] // dims[i - 1] for i in range(1, 5))
    fields = dict(embed_dims=dims, depths=depths, sr_ratios=srs, mlp_ratios=mlp,
                  in_channels=w("backbone.patch_embed1.proj.weight")[1],
                  overlap_patch_embed=w("backbone.patch_embed1.proj.weight")[-1] != 4)
    if "backbone.pos_embed1" in state:
        fields["pos_encoding"] = "learned"
        fields["pe_train_size"] = tuple(4 * s for s in w("backbone.pos_embed1")[-2:])
    elif "backbone.block1.0.mlp.dwconv.dwconv.weight" not in state:
        fields["pos_encoding"] = "none"
    stages = tuple(s for s in (1, 2, 3, 4) if f"decode_head.linear_c{s}.proj.weight" in state)
    if stages:
        fields.update(decoder_stages=stages, decoder_dim=w(f"decode_head.linear_c{stages[0]}.proj.weight")[0])
        fields["num_classes"] = w("decode_head.linear_pred.weight")[0]
    else:
        size = mit_size_of(dims, depths)
        fields["decoder_dim"] = 256 if size in ("b0", "b1") else 768
    return SegFormerConfig(**{**fields, **overrides})


def _hf_overrides(hf: dict) -> dict:
    """Config fields read from a transformers config.json."""
    fields = dict(embed_dims=hf["hidden_sizes"], depths=hf["depths"], num_heads=hf["num_attention_heads"],
                  sr_ratios=hf["sr_ratios"], mlp_ratios=hf["mlp_ratios"], decoder_dim=hf["decoder_hidden_size"],
                  in_channels=hf.get("num_channels", 3), drop_path_rate=hf.get("drop_path_rate", 0.1),
                  layer_norm_eps=hf.get("layer_norm_eps", 1e-6))
    if "id2label" in hf:
        fields["num_classes"] = len(hf["id2label"])
    return fields


def check_and_load(model: nn.Module, state: dict, source, allow_missing: tuple = (), name_of=None) -> None:
    """Load `state` into `model` only if every key and shape fits; otherwise raise CheckpointError listing
    missing keys, unexpected keys and shape conflicts. Keys starting with `allow_missing` may be absent.
    name_of: our key -> the name the checkpoint uses for it, shown in the message (default: our key)."""
    own = model.state_dict()
    shown = name_of or (lambda k: k)
    missing = [shown(k) for k in own if k not in state and not k.startswith(allow_missing)]
    unexpected = [shown(k) for k in state if k not in own]
    conflicts = [f"{shown(k)}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                 for k in state if k in own and state[k].shape != own[k].shape]
    if missing or unexpected or conflicts:
        lines = [f"{source}: checkpoint does not fit {type(model).__name__}"]
        for title, items in (("missing keys", missing), ("unexpected keys", unexpected),
                             ("shape conflicts", conflicts)):
            if items:
                lines.append(f"  {title} ({len(items)}): " + ", ".join(items[:20]) + (" ..." if len(items) > 20 else ""))
        raise CheckpointError("\n".join(lines))
    model.load_state_dict(state, strict=False)


def from_pretrained(path, num_classes: Optional[int] = None, reset_classifier: bool = False,
                    trust: bool = False, **overrides) -> nn.Module:
    """Build the matching model and load a checkpoint the user holds (see the module docstring for formats).

    num_classes: required for backbone-only checkpoints; for full ones it must match unless
        reset_classifier=True, which keeps a freshly initialised classifier.
    overrides: config fields that weights cannot tell (e.g. num_heads; a d16 DeepLabV3+'s output_stride=16 and
        dilations=(1, 6, 12, 18)) or training-time ones (drop_path_rate).
    """
    kind, state, extra = read_checkpoint(path, trust)
    classifier, name_of = "decode_head.linear_pred.", None
    if kind == FORMAT_KEY:
        fields = {**extra["config"], **overrides}
        if num_classes is not None:
            fields["num_classes"] = num_classes
        model = build_from_config(config_from_dict(extra["config_type"], fields))
        model.variant = extra.get("variant")
    elif isinstance(extra, CNNCheckpoint):
        cfg = dataclasses.replace(extra.config, **overrides)
        if num_classes is not None:
            cfg = dataclasses.replace(cfg, num_classes=num_classes)
        model = build_from_config(cfg)
        model.variant = extra.variant
        classifier, name_of = extra.layout.classifier, extra.name_of
    else:
        if kind == "hf" and extra is not None:
            overrides = {**_hf_overrides(extra), **overrides}
        cfg = infer_segformer_config(state, **overrides)
        has_head = "decode_head.linear_pred.weight" in state
        if not has_head and num_classes is None:
            raise CheckpointError(f"{path}: holds an encoder only ({kind}); pass num_classes for the new decoder")
        if num_classes is not None:
            cfg = dataclasses.replace(cfg, num_classes=num_classes)
        model = SegFormer(cfg)
        size = mit_size_of(cfg.embed_dims, cfg.depths)
        model.variant = f"segformer_{size}" if size else "segformer_custom"
    allow = ()
    if kind == "mit_backbone" or (kind == "hf" and "decode_head.linear_pred.weight" not in state):
        allow = ("decode_head.",)
    if reset_classifier:
        state = {k: v for k, v in state.items() if not k.startswith(classifier)}
        allow += (classifier,)
    check_and_load(model, state, path, allow, name_of)
    model.checkpoint_format = kind
    return model


def atomic_save(obj, path: Path) -> None:
    """torch.save to a temporary file beside `path`, then rename: a kill never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_pretrained(model: nn.Module, path, format: str = FORMAT_KEY) -> Path:
    """Save `model` to the file `path`: format 'segformer_lab' (config + weights, any family) or 'nvlabs'
    (mmseg-style `{"state_dict", "meta"}`, SegFormer only), readable by `from_pretrained`."""
    path = Path(path)
    cfg = model.config
    if format == FORMAT_KEY:
        from .version import __version__
        obj = {FORMAT_KEY: __version__, "config_type": type(cfg).__name__, "config": dataclasses.asdict(cfg),
               "variant": getattr(model, "variant", None), "state_dict": model.state_dict()}
    elif format == "nvlabs":
        if not isinstance(model, SegFormer):
            raise ValueError(f"format='nvlabs' holds SegFormer models only, not {type(model).__name__}")
        obj = {"state_dict": model.state_dict(), "meta": {"num_classes": cfg.num_classes}}
    else:
        raise ValueError(f"unknown checkpoint format {format!r}; expected '{FORMAT_KEY}' or 'nvlabs'")
    atomic_save(obj, path)
    return path


def load_encoder_weights(model: nn.Module, path, trust: bool = False) -> None:
    """Load ImageNet (or our pretraining's) encoder weights into `model.backbone`: an NVlabs `mit_b*.pth`, a
    torchvision-layout ResNet state dict (its `fc.*` is dropped), or a checkpoint of our own model."""
    path = Path(path)
    obj = _read(path, trust)
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors, got {type(obj).__name__}")
    state = obj["state_dict"] if FORMAT_KEY in obj else obj.get("state_dict", obj.get("model", obj))
    state = _strip(state, "module.")
    if any(k.startswith("backbone.") for k in state):
        state = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    state = {k: v for k, v in state.items() if not k.startswith(("head.", "fc."))}
    check_and_load(model.backbone, state, path)

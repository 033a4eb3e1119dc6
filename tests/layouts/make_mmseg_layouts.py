"""Write the key-and-shape lists of mmsegmentation's DeepLabV3+ checkpoints, and an output on stand-in weights.

Needs mmsegmentation (1.2.2 from PyPI) with mmengine and mmcv-lite, which lacks mmcv's compiled ops: `mmcv.ops` is
replaced by a stub whose names fail only when used (DeepLabV3+ uses none of them). Run by hand from the repository
root:

    python tests/layouts/make_mmseg_layouts.py

The files it wrote are committed (mmsegmentation 1.2.2, mmcv-lite 2.1.0, mmengine 0.10.7, torch 2.14.1) and read
by tests/test_checkpoints_cnn.py:
- `mmseg_deeplabv3plus_r{50,101}_{cityscapes,ade20k}.json`: every key of `EncoderDecoder.state_dict()` with its
  shape, the model built from mmseg's own configs (below) with SyncBN as plain BN (same keys);
- `mmseg_deeplabv3plus_r50_cityscapes_logits.npz`: in eval mode, with the weights `standin.fill_state(layout,
  STATE_SEED)`, `logits` = decode_head(backbone(x)) on `image(INPUT_SEED, SIZE)` at stride 4, before mmseg resizes
  them to the image.
"""
from __future__ import annotations

import os
import sys
import types

import numpy as np
import torch


def stub_mmcv_ops() -> None:
    """Stand in for `mmcv.ops`: any name is a class that fails when built."""
    ops = types.ModuleType("mmcv.ops")
    ops.__file__, ops.__path__ = __file__, []

    def missing(name):
        if name.startswith("__"):
            raise AttributeError(name)

        def fail(self, *args, **kwargs):
            raise RuntimeError(f"mmcv.ops.{name} is not available in mmcv-lite")
        return type(name, (), {"__init__": fail})
    ops.__getattr__ = missing
    sys.modules["mmcv.ops"] = ops


stub_mmcv_ops()
import mmcv
import mmengine
import mmseg
from mmengine.config import Config
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules
from standin import fill_state, image, read_layout, write_layout

STATE_SEED, INPUT_SEED = 0, 1
SIZE = (97, 131)  # input size (H, W): not multiples of 8; the stride-8 map (13, 17) lets rate-12 taps reach inside
CONFIGS = {  # layout name -> mmseg config (configs/deeplabv3plus/)
    "mmseg_deeplabv3plus_r50_cityscapes": "deeplabv3plus_r50-d8_4xb2-80k_cityscapes-512x1024.py",
    "mmseg_deeplabv3plus_r101_cityscapes": "deeplabv3plus_r101-d8_4xb2-80k_cityscapes-512x1024.py",
    "mmseg_deeplabv3plus_r50_ade20k": "deeplabv3plus_r50-d8_4xb4-160k_ade20k-512x512.py",
    "mmseg_deeplabv3plus_r101_ade20k": "deeplabv3plus_r101-d8_4xb4-160k_ade20k-512x512.py",
}
PARITY = "mmseg_deeplabv3plus_r50_cityscapes"


def build(config: str) -> torch.nn.Module:
    cfg = Config.fromfile(os.path.join(os.path.dirname(mmseg.__file__), ".mim", "configs", "deeplabv3plus", config))
    text = cfg.pretty_text.replace("SyncBN", "BN")  # SyncBN needs a process group; its keys are BN's
    model_cfg = Config.fromstring(text, ".py").model
    model_cfg.pretrained = None  # nothing downloaded
    return MODELS.build(model_cfg).eval()


def main() -> None:
    register_all_modules()
    versions = (f"mmsegmentation {mmseg.__version__}, mmcv-lite {mmcv.__version__}, mmengine {mmengine.__version__}, "
                f"torch {torch.__version__}")
    for name, config in CONFIGS.items():
        print(write_layout(name, f"{versions}: configs/deeplabv3plus/{config}, SyncBN as BN; "
                           "EncoderDecoder.state_dict()", build(config).state_dict()))
    model = build(CONFIGS[PARITY])
    state = {k: torch.from_numpy(v) for k, v in fill_state(read_layout(PARITY), STATE_SEED).items()}
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        logits = model.decode_head(model.extract_feat(torch.from_numpy(image(INPUT_SEED, SIZE))))
    assert torch.isfinite(logits).all()
    path = f"tests/layouts/{PARITY}_logits.npz"
    np.savez(path, logits=logits.numpy())
    print(path, tuple(logits.shape), float(logits.abs().max()))


if __name__ == "__main__":
    main()

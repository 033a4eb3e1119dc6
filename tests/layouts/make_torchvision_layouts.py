"""Write the key-and-shape lists of torchvision's segmentation models, and their outputs on stand-in weights.

Needs torchvision (nothing is downloaded: weights=None) and is run by hand from the repository root:

    python tests/layouts/make_torchvision_layouts.py

The files it wrote are committed (torchvision 0.29.1, torch 2.14.1) and read by tests/test_checkpoints_cnn.py:
- `torchvision_{deeplabv3,fcn}_resnet{50,101}.json`: every state-dict key with its shape, as the model builders
  make them with 21 classes and the auxiliary head (`aux_loss=True`), i.e. the layout of the released files;
- `torchvision_{deeplabv3,fcn}_resnet50_logits.npz`: in eval mode, with the weights `standin.fill_state(layout,
  STATE_SEED)`, `logits` = model(x)["out"] on `image(INPUT_SEED, SMALL)` (already upsampled to the input size by
  torchvision), and for DeepLabV3 `head_logits` = classifier(backbone(x)["out"]) at stride 8 on
  `image(INPUT_SEED, LARGE)`, large enough that the ASPP's rate-12 and rate-24 taps reach inside the feature map.
"""
from __future__ import annotations

import numpy as np
import torch
import torchvision
from standin import fill_state, image, read_layout, write_layout
from torchvision.models import segmentation

STATE_SEED, INPUT_SEED = 0, 1
SMALL, LARGE = (45, 61), (201, 233)  # input sizes (H, W): not multiples of 8
BUILDERS = {f"torchvision_{arch}_resnet{depth}": getattr(segmentation, f"{arch}_resnet{depth}")
            for arch in ("deeplabv3", "fcn") for depth in (50, 101)}
PARITY = ("torchvision_deeplabv3_resnet50", "torchvision_fcn_resnet50")


def build(name: str) -> torch.nn.Module:
    return BUILDERS[name](weights=None, weights_backbone=None, num_classes=21, aux_loss=True).eval()


def main() -> None:
    versions = f"torchvision {torchvision.__version__}, torch {torch.__version__}"
    for name, builder in BUILDERS.items():
        call = f"{builder.__name__}(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)"
        print(write_layout(name, f"{versions}: torchvision.models.segmentation.{call}.state_dict()",
                           build(name).state_dict()))
    for name in PARITY:
        model = build(name)
        state = {k: torch.from_numpy(v) for k, v in fill_state(read_layout(name), STATE_SEED).items()}
        model.load_state_dict(state, strict=True)
        with torch.no_grad():
            arrays = {"logits": model(torch.from_numpy(image(INPUT_SEED, SMALL)))["out"]}
            if "deeplabv3" in name:
                features = model.backbone(torch.from_numpy(image(INPUT_SEED, LARGE)))["out"]
                arrays["head_logits"] = model.classifier(features)
        assert all(torch.isfinite(a).all() for a in arrays.values())
        path = f"tests/layouts/{name}_logits.npz"
        np.savez(path, **{k: a.numpy() for k, a in arrays.items()})
        print(path, {k: tuple(a.shape) for k, a in arrays.items()}, float(arrays["logits"].abs().max()))


if __name__ == "__main__":
    main()

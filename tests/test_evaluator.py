"""The one evaluator: a lab run scored under a real dataset's protocol and a held checkpoint under the embedded one,
each against a plain computation written here, and the lab's and the held path giving the same numbers."""
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from segformer_lab import build_model, save_pretrained
from segformer_lab.engine import TrainConfig, evaluate_model, evaluate_run, open_datasets
from segformer_lab.evaluator import evaluate
from segformer_lab.protocols import PROTOCOLS, protocol_for
from segformer_lab.standins import make_ade20k_tree, make_nvlabs_checkpoint
from segformer_lab.study import evaluate_source, load_source
from test_study import plain_logits, plain_resize, plain_scores


def plain_ade20k_ms_flip(model, image, ratios):
    """NVlabs' ADE20K test at each ratio of (2048, 512) (keep-ratio fit, sides up to multiples of 32), each ratio and
    its mirror image: softmax at the original size, averaged; then argmax."""
    h, w = image.shape[:2]
    total = 0
    for r in ratios:
        long, short = int(2048 * r), int(512 * r)
        f = min(long / max(h, w), short / min(h, w))
        fitted = (int(h * f + 0.5), int(w * f + 0.5))
        aligned = (-(-fitted[0] // 32) * 32, -(-fitted[1] // 32) * 32)
        x = plain_resize(plain_resize(image, fitted), aligned)
        for flipped in (False, True):
            logits = plain_logits(model, x[:, ::-1].copy() if flipped else x)
            logits = logits.flip(-1) if flipped else logits
            total = total + F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False).softmax(1)
    return (total / (2 * len(ratios)))[0].argmax(0).numpy()


def plain_slide(model, image, crop, stride):
    """Windows of `crop` every `stride` over the image as stored (the last one shifted back), logits summed and
    divided by the count; then argmax."""
    h, w = image.shape[:2]
    total, count = None, np.zeros((h, w))
    for r in range(max(h - crop + stride - 1, 0) // stride + 1):
        for c in range(max(w - crop + stride - 1, 0) // stride + 1):
            y2, x2 = min(r * stride + crop, h), min(c * stride + crop, w)
            y1, x1 = max(y2 - crop, 0), max(x2 - crop, 0)
            logits = plain_logits(model, image[y1:y2, x1:x2].astype(np.float64))[0].numpy()
            total = np.zeros((logits.shape[0], h, w)) if total is None else total
            total[:, y1:y2, x1:x2] += logits
            count[y1:y2, x1:x2] += 1
    return (total / count).argmax(0)


def plain_iou(predictions, targets, k):
    """Per-class IoU (%) over the confusion matrix, NaN where a class is absent from both."""
    return plain_scores(predictions, targets, k)[0]


def ade_pairs(root):
    for image_path in sorted((root / "images" / "validation").glob("*.jpg")):
        image = np.array(Image.open(image_path).convert("RGB"))
        stored = np.array(Image.open(root / "annotations" / "validation" / f"{image_path.stem}.png")).astype(np.int64)
        yield image, np.where(stored == 0, 255, stored - 1)


def test_a_lab_run_under_ade20k_multi_scale_flip_matches_the_held_path_and_a_plain_computation(tmp_path):
    """A registry model saved as a lab run trained on (stand-in) ADE20K, evaluated under NVlabs' ADE20K protocol
    with two ratios and flip: `evaluate_run` and `evaluate_source` give the same numbers, those of the plain
    computation."""
    root = make_ade20k_tree(tmp_path / "ADE")
    make_ade20k_tree(root, split="training")  # a run opens its training split too
    cfg = TrainConfig(model="segformer_tiny", dataset="ade20k", data_root=str(root), crop_size=64)
    torch.manual_seed(0)
    model = build_model("segformer_tiny", 150).eval()
    with torch.no_grad():
        model.decode_head.linear_pred.weight.normal_()  # a spread of classes in the predictions, not one
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(cfg.to_dict()))
    save_pretrained(model, run / "model.pt")

    lab = evaluate_run(run, protocol="ade20k", scales=(0.5, 1.0), flip=True)
    assert lab["eval"]["protocol"] == "ade20k" and lab["eval"]["scales"] == [0.5, 1.0] and lab["eval"]["flip"]
    (held,) = evaluate_source(run, f"ade20k:{root}", out=tmp_path / "held", ratios=(0.5, 1.0), flip=True,
                              progress=False, log=lambda *a: None)
    assert held["miou"] == lab["miou"] and held["aacc"] == lab["aacc"]

    predictions, targets = zip(*[(plain_ade20k_ms_flip(model, image, (0.5, 1.0)), target)
                                 for image, target in ade_pairs(root)])
    iou = plain_iou(predictions, targets, 150)
    np.testing.assert_allclose(list(lab["iou"].values()), iou, rtol=1e-9, equal_nan=True)
    assert math.isclose(lab["miou"], np.nanmean(iou), rel_tol=1e-9) and np.isfinite(iou).sum() >= 2


@pytest.mark.parametrize("window", [None, (48, 32)])
def test_a_held_checkpoint_under_the_embedded_protocol_is_scored_as_a_lab_run(tmp_path, window):
    """An NVlabs-layout checkpoint, loaded as a held one, on the embedded benchmark's validation views under the
    "embedded" protocol (whole, or slide windows): the one evaluator, the lab's evaluate_model (the one train
    runs) and a plain computation agree to the pixel."""
    model, info = load_source(make_nvlabs_checkpoint(tmp_path / "b0.pth", 9, seed=2))
    assert info["format"] == "mmseg"  # NVlabs released its weights in mmseg's layout
    cfg = TrainConfig(model="segformer_tiny", val_scenes=3, val_canvas=(64, 96), crop_size=64,
                      **({"eval_mode": "slide", "eval_crop": window[0], "eval_stride": window[1]} if window else {}))
    _, val, classes, things = open_datasets(cfg)
    protocol = (protocol_for("synthetic", mode="slide", crop=(window[0],) * 2, stride=(window[1],) * 2) if window
                else PROTOCOLS["embedded"])

    held = evaluate(model, val, protocol, classes, things)
    lab = evaluate_model(model, val, cfg, classes, things)  # the run's own protocol from its TrainConfig
    assert held["confusion"].tolist() == lab["confusion"] and held["miou"] == lab["miou"]

    pairs = [val.load(i) for i in range(len(val))]
    if window:
        predictions = [plain_slide(model, image, *window) for image, _ in pairs]
    else:
        predictions = [plain_logits(model, image.astype(np.float64))[0].argmax(0).numpy() for image, _ in pairs]
    iou = plain_iou(predictions, [mask for _, mask in pairs], len(classes))
    np.testing.assert_allclose(held["iou"], iou, rtol=1e-9, equal_nan=True)
    assert np.isfinite(iou).sum() >= 2 and held["images"] == 3


def test_the_lab_run_s_own_protocol():
    """A run's TrainConfig names its protocol: whole views as drawn on the embedded benchmark, slide windows of
    eval_crop (default the crop size) every eval_stride (default 2/3 of the window); other datasets as stored."""
    assert PROTOCOLS["embedded"].mode == "whole" and PROTOCOLS["embedded"].scale is None
    from segformer_lab.evaluator import run_protocol
    own = run_protocol(TrainConfig(crop_size=96, eval_mode="slide"))
    assert (own.name, own.mode, own.crop, own.stride) == ("embedded", "slide", (96, 96), (64, 64))
    assert run_protocol(TrainConfig(eval_mode="slide", eval_crop=64, eval_stride=48)).stride == (48, 48)
    as_stored = run_protocol(TrainConfig(dataset="ade20k", data_root="x"))
    assert (as_stored.dataset, as_stored.scale, as_stored.mode) == ("ade20k", None, "whole")
    assert run_protocol(TrainConfig(dataset="ade20k", data_root="x"), "ade20k", flip=True).flip
    with pytest.raises(ValueError, match="protocol 'ade20k' is for ade20k, not synthetic"):
        run_protocol(TrainConfig(), "ade20k")

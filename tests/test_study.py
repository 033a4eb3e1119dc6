"""`segformer-lab evaluate SOURCE --data NAME:ROOT`: released-layout stand-ins on made-up ADE20K and Cityscapes
trees, scored against a plain computation of each protocol written here; the studies; every bad input."""
import csv
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from segformer_lab import from_pretrained
from segformer_lab.cli import main
from segformer_lab.data.real import CITYSCAPES_LABEL_TO_TRAIN_ID
from segformer_lab.protocols import PROTOCOLS, protocol_for, rescale_size, resize_steps
from segformer_lab.standins import make_ade20k_tree, make_cityscapes_tree, make_nvlabs_checkpoint

MEAN = np.array([123.675, 116.28, 103.53])
STD = np.array([58.395, 57.12, 57.375])


@pytest.fixture(scope="module")
def held(tmp_path_factory):
    """Made-up trees and NVlabs-layout checkpoints, built once."""
    root = tmp_path_factory.mktemp("held")
    return {"ade": make_ade20k_tree(root / "ADEChallengeData2016"),
            "city": make_cityscapes_tree(root / "cityscapes"),
            "city_train_ids": make_cityscapes_tree(root / "cityscapes_tid", train_ids=True),
            "ade_ckpt": make_nvlabs_checkpoint(root / "b0_ade.pth", 150),
            "city_ckpt": make_nvlabs_checkpoint(root / "b0_city.pth", 19, seed=1)}


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------- the protocol, computed plainly


def plain_resize(image, size):
    x = torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)[None]
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return x.round().clamp(0, 255)[0].permute(1, 2, 0).numpy()


def plain_logits(model, image):
    """Normalise a float (h, w, 3) image, run the model, bring the logits to (h, w)."""
    x = torch.from_numpy(((image - MEAN) / STD).astype(np.float32)).permute(2, 0, 1)[None]
    with torch.no_grad():
        logits = model(x)
    return F.interpolate(logits, size=image.shape[:2], mode="bilinear", align_corners=False)


def plain_ade20k_prediction(model, image):
    """NVlabs' ADE20K test: fit (2048, 512) keeping the ratio, then each side up to a multiple of 32, whole."""
    h, w = image.shape[:2]
    f = min(2048 / max(h, w), 512 / min(h, w))
    fitted = (int(h * f + 0.5), int(w * f + 0.5))
    aligned = (int(np.ceil(fitted[0] / 32)) * 32, int(np.ceil(fitted[1] / 32)) * 32)
    x = plain_resize(plain_resize(image, fitted), aligned)
    logits = plain_logits(model, x)
    return F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)[0].argmax(0).numpy()


def plain_slide_prediction(model, image, fit, crop, stride):
    """Fit (long, short) keeping the ratio, windows of `crop` every `stride` (the last one shifted back), logits
    summed and divided by the count, then resized to the original size."""
    h, w = image.shape[:2]
    f = min(max(fit) / max(h, w), min(fit) / min(h, w))
    size = (int(h * f + 0.5), int(w * f + 0.5))
    x = plain_resize(image, size)
    total, count = None, np.zeros(size)
    rows = max(size[0] - crop + stride - 1, 0) // stride + 1
    cols = max(size[1] - crop + stride - 1, 0) // stride + 1
    for r in range(rows):
        for c in range(cols):
            y2, x2 = min(r * stride + crop, size[0]), min(c * stride + crop, size[1])
            y1, x1 = max(y2 - crop, 0), max(x2 - crop, 0)
            logits = plain_logits(model, x[y1:y2, x1:x2])[0].numpy()
            total = np.zeros((logits.shape[0], *size)) if total is None else total
            total[:, y1:y2, x1:x2] += logits
            count[y1:y2, x1:x2] += 1
    logits = torch.from_numpy(total / count)[None].float()
    return F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)[0].argmax(0).numpy()


def plain_scores(predictions, targets, k):
    """Per-class IoU and Acc (%) over the split's confusion matrix, NaN where undefined; mIoU over the rest."""
    cm = np.zeros((k, k))
    for pred, gt in zip(predictions, targets):
        keep = gt != 255
        np.add.at(cm, (gt[keep], pred[keep]), 1)
    inter = np.diag(cm)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = 100 * inter / (cm.sum(0) + cm.sum(1) - inter)
        acc = 100 * inter / cm.sum(1)
    return iou, acc, np.nanmean(iou)


def ade_pairs(root):
    for image_path in sorted((root / "images" / "validation").glob("*.jpg")):
        image = np.array(Image.open(image_path).convert("RGB"))
        stored = np.array(Image.open(root / "annotations" / "validation" / f"{image_path.stem}.png")).astype(np.int64)
        yield image_path.stem, image, np.where(stored == 0, 255, stored - 1)


def city_pairs(root, kind="labelIds"):
    lut = np.full(256, 255)
    for label_id, train_id in CITYSCAPES_LABEL_TO_TRAIN_ID.items():
        lut[label_id] = train_id
    for image_path in sorted((root / "leftImg8bit" / "val").glob("*/*_leftImg8bit.png")):
        stem = image_path.name[: -len("_leftImg8bit.png")]
        raw = np.array(Image.open(root / "gtFine" / "val" / image_path.parent.name / f"{stem}_gtFine_{kind}.png"))
        yield image_path.stem, np.array(Image.open(image_path).convert("RGB")), (lut[raw] if kind == "labelIds" else raw)


def assert_same_scores(out, iou, acc, miou):
    (row,) = read_csv(out / "evaluations.csv")
    assert math.isclose(float(row["miou"]), miou, rel_tol=1e-9)
    per_class = read_csv(out / "evaluations_per_class.csv")
    got_iou = np.array([float(r["iou"]) for r in per_class])
    got_acc = np.array([float(r["acc"]) for r in per_class])
    np.testing.assert_allclose(got_iou, iou, rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(got_acc, acc, rtol=1e-9, equal_nan=True)
    assert np.isfinite(got_iou).sum() >= 2  # several classes present: the comparison is not vacuous
    return row


# ---------------------------------------------------------------- the command against the plain computation


def test_ade20k_protocol_matches_a_plain_computation_and_predictions_pixel_for_pixel(held, tmp_path, capsys):
    out, preds = tmp_path / "out", tmp_path / "preds"
    assert main(["evaluate", str(held["ade_ckpt"]), "--data", f"ade20k:{held['ade']}", "--results", str(out),
                 "--save-predictions", str(preds), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "keep-ratio resize to fit 2048x512, sides aligned up to multiples of 32; whole image" in printed
    model = from_pretrained(held["ade_ckpt"]).eval()
    stems, predictions, targets = [], [], []
    for stem, image, target in ade_pairs(held["ade"]):
        stems.append(stem)
        predictions.append(plain_ade20k_prediction(model, image))
        targets.append(target)
        saved = np.array(Image.open(preds / "labels" / f"{stem}.png"))
        assert saved.shape == image.shape[:2] and np.array_equal(saved, predictions[-1])
        assert Image.open(preds / "overlays" / f"{stem}.png").size == (image.shape[1], image.shape[0])
    iou, acc, miou = plain_scores(predictions, targets, 150)
    row = assert_same_scores(out, iou, acc, miou)
    assert row["protocol"] == "ade20k" and row["split"] == "validation" and row["images"] == "3"
    assert len(row["sha256"]) == 64 and row["format"] == "mmseg"
    assert sorted(p.name for p in out.iterdir()) == sorted(["evaluations.csv", "evaluations_per_class.csv",
                                                            f"{row['eval_id']}.md"])
    assert "| wall |" in (out / f"{row['eval_id']}.md").read_text()


@pytest.mark.parametrize("kind", ["labelIds", "labelTrainIds"])
def test_cityscapes_slide_matches_a_plain_computation(held, tmp_path, kind):
    root = held["city"] if kind == "labelIds" else held["city_train_ids"]
    out = tmp_path / "out"
    assert main(["evaluate", str(held["city_ckpt"]), "--data", f"cityscapes:{root}", "--results", str(out),
                 "--resize", "256", "128", "--crop", "96", "--stride", "64", "--quiet"]) == 0
    model = from_pretrained(held["city_ckpt"]).eval()
    predictions, targets = [], []
    for _, image, target in city_pairs(root, kind):
        predictions.append(plain_slide_prediction(model, image, (256, 128), 96, 64))
        targets.append(target)
    iou, acc, miou = plain_scores(predictions, targets, 19)
    row = assert_same_scores(out, iou, acc, miou)
    assert (row["mode"], row["crop"], row["stride"], row["scale"]) == ("slide", "96x96", "64x64", "256x128")


def test_the_two_cityscapes_label_files_give_the_same_scores(held, tmp_path):
    rows = []
    for root in (held["city"], held["city_train_ids"]):
        out = tmp_path / root.name
        main(["evaluate", str(held["city_ckpt"]), "--data", f"cityscapes:{root}", "--results", str(out), "--quiet",
              "--resize", "128", "64", "--crop", "64"])
        rows.append(read_csv(out / "evaluations.csv")[0])
    assert rows[0]["miou"] == rows[1]["miou"] and rows[0]["aacc"] == rows[1]["aacc"]


def test_protocols_as_data():
    assert rescale_size(683, 512, (2048, 512)) == (683, 512)
    assert rescale_size(300, 400, (2048, 512)) == (512, 683)  # int(400 * 512 / 300 + 0.5)
    assert rescale_size(100, 1000, (2048, 512)) == (205, 2048)  # the long side binds
    assert resize_steps(PROTOCOLS["ade20k"], 300, 400) == [(512, 683), (512, 704)]
    assert resize_steps(PROTOCOLS["ade20k_mmseg"], 300, 400) == [(512, 683)]
    assert resize_steps(PROTOCOLS["cityscapes"], 1024, 2048) == []  # Cityscapes is tested as stored
    assert resize_steps(PROTOCOLS["cityscapes"], 1024, 2048, 0.5) == [(512, 1024)]
    c = PROTOCOLS["cityscapes"]
    assert (c.mode, c.crop, c.stride, c.split) == ("slide", (1024, 1024), (768, 768), "val")
    assert protocol_for("cityscapes", mode="whole").mode == "whole"
    assert protocol_for("ade20k", crop=(64, 64), mode="slide").stride == (64, 64)
    with pytest.raises(ValueError, match="protocol 'cityscapes' is for cityscapes, not ade20k"):
        protocol_for("ade20k", "cityscapes")
    with pytest.raises(ValueError, match="--mode slide needs --crop"):
        protocol_for("ade20k", mode="slide")


# ---------------------------------------------------------------- studies and resuming


def test_studies_one_row_each_and_a_rerun_resumes(held, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["evaluate", str(held["ade_ckpt"]), "--data", f"ade20k:{held['ade']}", "--results", str(out), "--quiet",
            "--max-images", "2", "--corruptions", "brightness", "--severities", "1", "5", "--resolutions", "0.5", "1"]
    assert main(argv) == 0
    rows = read_csv(out / "evaluations.csv")
    studies = [(r["corruption"], r["severity"], r["resolution"]) for r in rows]
    assert studies == [("", "", "1.0"), ("brightness", "1", "1.0"), ("brightness", "5", "1.0"), ("", "", "0.5")]
    assert all(r["images"] == "2" for r in rows) and len({r["miou"] for r in rows}) > 1
    assert len(read_csv(out / "evaluations_per_class.csv")) == 4 * 150
    capsys.readouterr()
    assert main(argv) == 0
    assert capsys.readouterr().out.count("done before") == 4
    assert read_csv(out / "evaluations.csv") == rows


def test_multi_scale_flip_averages_probabilities(held, tmp_path):
    from segformer_lab.protocols import predict_scores
    model = from_pretrained(held["ade_ckpt"]).eval()
    image = next(ade_pairs(held["ade"]))[1]
    protocol = protocol_for("ade20k", ratios=(0.5, 1.0), flip=True)
    scores = predict_scores(model, image, protocol)
    assert scores.shape == (150, *image.shape[:2])
    assert torch.allclose(scores.sum(0), torch.ones(image.shape[:2]), atol=1e-5)


# ---------------------------------------------------------------- bad input: one line, exit 2, nothing written


def _corrupt_copy(src, dst, damage):
    import shutil
    shutil.copytree(src, dst)
    damage(dst)
    return dst


def test_bad_inputs_are_one_line_and_write_nothing(held, tmp_path, cli_error):
    out, preds = tmp_path / "out", tmp_path / "preds"
    ade, ckpt = held["ade"], held["ade_ckpt"]
    base = ["--results", str(out), "--save-predictions", str(preds), "--quiet"]

    def run(source, data, *extra):
        return cli_error(["evaluate", str(source), "--data", data, *base, *extra])

    assert "predicts 19 classes but ade20k" in run(held["city_ckpt"], f"ade20k:{ade}")
    missing = _corrupt_copy(ade, tmp_path / "no_ann", lambda d: __import__("shutil").rmtree(d / "annotations"))
    assert "annotations" in run(ckpt, f"ade20k:{missing}") and "validation" in run(ckpt, f"ade20k:{missing}")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    assert str(garbage) in run(garbage, f"ade20k:{ade}")
    assert "no such checkpoint" in run(tmp_path / "absent.pth", f"ade20k:{ade}")
    stem = "ADE_val_00000002"
    unreadable = _corrupt_copy(ade, tmp_path / "bad_jpg",
                               lambda d: (d / "images" / "validation" / f"{stem}.jpg").write_bytes(b"\x00" * 10))
    assert f"{stem}.jpg" in run(ckpt, f"ade20k:{unreadable}")
    no_mask = _corrupt_copy(ade, tmp_path / "no_mask",
                            lambda d: (d / "annotations" / "validation" / f"{stem}.png").unlink())
    assert f"{stem}.png" in run(ckpt, f"ade20k:{no_mask}")

    def resize_mask(d):
        Image.fromarray(np.ones((7, 9), np.uint8)).save(d / "annotations" / "validation" / f"{stem}.png")
    sized = _corrupt_copy(ade, tmp_path / "sized", resize_mask)
    assert "but its mask" in run(ckpt, f"ade20k:{sized}")

    def bad_label(d):
        path = d / "annotations" / "validation" / f"{stem}.png"
        mask = np.array(Image.open(path))
        mask[0, 0] = 200
        Image.fromarray(mask).save(path)
    labelled = _corrupt_copy(ade, tmp_path / "label", bad_label)
    assert "label(s) [199]" in run(ckpt, f"ade20k:{labelled}")
    assert "unknown dataset 'coco'" in run(ckpt, f"coco:{ade}")
    assert "unknown protocol 'ade21k'" in run(ckpt, f"ade20k:{ade}", "--protocol", "ade21k")
    assert "--resolutions: -1.0" in run(ckpt, f"ade20k:{ade}", "--resolutions", "-1")
    assert "unknown corruption(s) ['haze']" in run(ckpt, f"ade20k:{ade}", "--corruptions", "haze")
    assert "--max-images 0" in run(ckpt, f"ade20k:{ade}", "--max-images", "0")
    assert "split 'train' is not one of" in run(ckpt, f"ade20k:{ade}:train")
    assert not out.exists() and not preds.exists()
    assert not (tmp_path / "preds.partial").exists()


def test_a_checkpoint_without_data_is_told_to_name_it(held, cli_error):
    assert "--data NAME:ROOT[:SPLIT]" in cli_error(["evaluate", str(held["ade_ckpt"])])


def test_transformers_folder_stand_in_matches_transformers_forward(tmp_path):
    transformers = pytest.importorskip("transformers")
    from segformer_lab.standins import make_transformers_folder
    from segformer_lab.study import load_source
    folder = make_transformers_folder(tmp_path / "hf", 150)
    hf = transformers.SegformerForSemanticSegmentation.from_pretrained(folder).eval()
    ours, info = load_source(folder)
    assert info["format"] == "hf" and info["num_classes"] == 150
    x = torch.randn(1, 3, 96, 160)
    with torch.no_grad():
        assert torch.allclose(ours(x), hf(pixel_values=x).logits, atol=1e-4)


# ---------------------------------------------------------------- erf SOURCE --data


def test_erf_of_a_held_checkpoint_averages_the_prepared_images(held, tmp_path):
    from segformer_lab.erf import TARGETS, erf_map
    from segformer_lab.protocols import protocol_input
    from segformer_lab.study import erf_source
    out = tmp_path / "erf"
    assert main(["erf", str(held["ade_ckpt"]), "--data", f"ade20k:{held['ade']}", "--images", "2", "--canvas", "64",
                 "96", "--results", str(out), "--quiet"]) == 0
    (row,) = read_csv(out / "erf_held.csv")
    tag = f"{held['ade_ckpt'].stem}_{row['erf_id']}"
    assert (row["images"], row["skipped"], row["canvas_h"], row["canvas_w"]) == ("2", "0", "64", "96")
    assert (out / f"{tag}_erf.png").is_file()
    # by hand: the protocol's input of each image, its centred 64x96, the mean of the single-image maps
    model = from_pretrained(held["ade_ckpt"]).eval()
    for target in TARGETS:
        expected = 0
        for _, image, _ in list(ade_pairs(held["ade"]))[:2]:
            x = protocol_input(image, PROTOCOLS["ade20k"])
            top, left = (x.shape[2] - 64) // 2, (x.shape[3] - 96) // 2
            expected = expected + erf_map(model, [x[..., top:top + 64, left:left + 96]], target) / 2
        saved = np.load(out / f"{tag}_{target}.npy")
        assert saved.shape == (64, 96) and np.allclose(saved, expected, rtol=1e-4, atol=1e-8)
    assert 1 <= int(row["erf_stage1_t0.5_px"]) <= int(row["erf_head_t0.99_px"]) <= 64
    with pytest.raises(ValueError, match="covers the 4000x4000 canvas"):
        erf_source(held["ade_ckpt"], f"ade20k:{held['ade']}", out=tmp_path / "none", images=1, canvas=(4000, 4000),
                   progress=False, log=lambda *_: None)
    assert not (tmp_path / "none").exists()


def test_a_cnn_baseline_in_mmseg_layout_is_evaluated_and_its_erf_measured(held, tmp_path):
    from segformer_lab.standins import make_mmseg_deeplabv3plus
    ckpt = make_mmseg_deeplabv3plus(tmp_path / "deeplabv3plus_r50-d8_512x1024_80k_cityscapes.pth", 19)
    out = tmp_path / "out"
    assert main(["evaluate", str(ckpt), "--data", f"cityscapes:{held['city']}", "--results", str(out), "--quiet",
                 "--mode", "whole", "--resize", "256", "128"]) == 0
    (row,) = read_csv(out / "evaluations.csv")
    assert (row["format"], row["variant"], row["mode"]) == ("mmseg_deeplabv3plus", "deeplabv3plus_r50", "whole")
    assert main(["erf", str(ckpt), "--data", f"cityscapes:{held['city']}", "--images", "1", "--canvas", "64", "128",
                 "--results", str(out), "--quiet", "--protocol", "cityscapes"]) == 0
    (erf,) = read_csv(out / "erf_held.csv")
    assert erf["variant"] == "deeplabv3plus_r50" and int(erf["erf_head_t0.99_px"]) > 0

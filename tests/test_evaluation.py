"""Metrics against hand-computed and independent numpy values; the whole / slide / multi-scale + flip
inference modes against each other and against fake models whose answer is known by construction."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from segformer_lab import build_model
from segformer_lab.evaluation import SegMetrics, boundary_band, evaluate, infer, miou_over, slide_windows

H, W = 97, 131  # not multiples of 32


class ConstantQuarter(nn.Module):
    """Constant logits at 1/4 resolution, as SegFormer's head returns; counts its calls."""

    def __init__(self, num_classes=3, value=2.5):
        super().__init__()
        self.num_classes, self.value, self.calls = num_classes, value, 0

    def forward(self, x):
        self.calls += 1
        b, _, h, w = x.shape
        return x.new_full((b, self.num_classes, math.ceil(h / 4), math.ceil(w / 4)), self.value)


class Oracle(nn.Module):
    """Full-size one-hot logits of the label stored in the image's first channel."""

    def __init__(self, num_classes):
        super().__init__()
        self.num_classes = num_classes

    def forward(self, x):
        return F.one_hot(x[:, 0].long(), self.num_classes).permute(0, 3, 1, 2).float()


def pointwise(num_classes=4):
    """A 1x1 conv: commutes with horizontal flips and is unaffected by zero padding elsewhere."""
    return nn.Conv2d(3, num_classes, 1).eval()


# ---- metrics ----

def test_metrics_hand_computed():
    target = torch.tensor([[0, 0, 1], [1, 2, 255]])
    pred = torch.tensor([[0, 1, 1], [1, 0, 2]])  # the last pixel is ignored whatever it predicts
    m = SegMetrics(3)
    m.update(pred, target)
    # confusion (gt rows): class 0 -> [1, 1, 0], class 1 -> [0, 2, 0], class 2 -> [1, 0, 0]
    assert m.confusion.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert m.confusion.dtype == torch.int64
    r = m.compute()
    # IoU = intersect / (gt + pred - intersect): 1/(2+2-1), 2/(2+3-2), 0/(1+0-0)
    assert r["iou"] == pytest.approx([100 / 3, 200 / 3, 0.0])
    assert r["acc"] == pytest.approx([50.0, 100.0, 0.0])
    assert r["miou"] == pytest.approx(100 / 3)
    assert r["macc"] == pytest.approx(50.0)
    assert r["aacc"] == pytest.approx(60.0)  # 3 of the 5 non-ignored pixels


def test_metrics_nan_for_absent_classes():
    m = SegMetrics(4)
    m.update(torch.tensor([0, 3, 0]), torch.tensor([0, 1, 255]))
    r = m.compute()
    # class 2 absent everywhere: NaN IoU and acc; class 3 only predicted: IoU 0, acc NaN
    assert r["iou"][:2] == [100.0, 0.0] and math.isnan(r["iou"][2]) and r["iou"][3] == 0.0
    assert r["acc"][:2] == [100.0, 0.0] and math.isnan(r["acc"][2]) and math.isnan(r["acc"][3])
    assert r["miou"] == pytest.approx(100 / 3)
    assert r["macc"] == pytest.approx(50.0)
    assert r["aacc"] == pytest.approx(50.0)
    assert miou_over(r, [0, 2]) == pytest.approx(100.0)
    assert math.isnan(miou_over(r, [2]))


def test_metrics_merge_equals_single_accumulation_and_reset():
    pred, target = torch.randint(0, 5, (4, 20, 30)), torch.randint(0, 5, (4, 20, 30))
    target[:, :3] = 255
    whole, a, b = SegMetrics(5), SegMetrics(5), SegMetrics(5)
    whole.update(pred, target)
    a.update(pred[:1], target[:1])
    b.update(pred[1:], target[1:])
    assert torch.equal(a.merge(b).confusion, whole.confusion)
    assert a.compute() == whole.compute()
    whole.reset()
    assert whole.confusion.sum() == 0
    with pytest.raises(ValueError, match="cannot merge 3-class"):
        whole.merge(SegMetrics(3))


def test_metrics_errors():
    m = SegMetrics(3)
    with pytest.raises(ValueError, match=r"prediction shape \(2, 3\) != target shape \(3, 2\)"):
        m.update(torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"target values \[3, 7\] outside \[0, 3\) and not ignore_index 255"):
        m.update(torch.zeros(4, dtype=torch.long), torch.tensor([0, 3, 7, 255]))
    with pytest.raises(ValueError, match=r"prediction values \[-1\] outside \[0, 3\)"):
        m.update(torch.tensor([0, -1, 2]), torch.tensor([0, 1, 2]))
    with pytest.raises(TypeError, match="integer"):
        m.update(torch.zeros(3), torch.zeros(3, dtype=torch.long))
    assert m.confusion.sum() == 0  # rejected updates leave no trace


def test_metrics_match_independent_numpy():
    rng = np.random.default_rng(0)
    k = 6
    target = rng.integers(0, k, (3, 40, 50))
    pred = np.where(rng.random(target.shape) < 0.6, target, rng.integers(0, k, target.shape))
    target[rng.random(target.shape) < 0.1] = 255
    pred[target == 4] = 0  # class 4 then has gt but no prediction; class 5 is removed entirely
    pred[pred == 5], target[target == 5] = 1, 2
    valid = target != 255
    iou, acc = [], []
    for c in range(k):
        p, t = (pred == c) & valid, (target == c) & valid
        union = (p | t).sum()
        iou.append(100 * (p & t).sum() / union if union else np.nan)
        acc.append(100 * (p & t).sum() / t.sum() if t.sum() else np.nan)
    m = SegMetrics(k)
    m.update(torch.from_numpy(pred), torch.from_numpy(target))
    r = m.compute()
    np.testing.assert_allclose(r["iou"], iou)
    np.testing.assert_allclose(r["acc"], acc)
    assert r["miou"] == pytest.approx(np.nanmean(iou))
    assert r["macc"] == pytest.approx(np.nanmean(acc))
    assert r["aacc"] == pytest.approx(100 * (pred == target)[valid].mean())


# ---- inference ----

@pytest.mark.parametrize("name", ["segformer_tiny", "deeplabv3_tiny", "setr_naive_tiny"])
def test_whole_full_size_for_odd_sizes(name):
    model = build_model(name, num_classes=5).eval()
    assert infer(model, torch.randn(2, 3, H, W)).shape == (2, 5, H, W)


def test_whole_size_divisor_pads_and_crops_back():
    model, image = pointwise(), torch.randn(1, 3, H, W)
    padded = infer(model, image, size_divisor=32)
    assert padded.shape == (1, 4, H, W)
    torch.testing.assert_close(padded, infer(model, image))


def test_slide_with_large_window_equals_whole():
    model, image = build_model("resnet_tiny_mlp", num_classes=5).eval(), torch.randn(1, 3, H, W)
    whole = infer(model, image)
    torch.testing.assert_close(infer(model, image, "slide", crop_size=(H, W), stride=(H, W)), whole)
    torch.testing.assert_close(infer(model, image, "slide", crop_size=160, stride=100), whole)


def test_slide_windows_cover_every_pixel():
    count = torch.zeros(H, W)
    windows = slide_windows(H, W, 64, 48)
    assert len(windows) == 2 * 3  # grids = (97 - 64 + 47) // 48 + 1 = 2, (131 - 64 + 47) // 48 + 1 = 3
    for y1, y2, x1, x2 in windows:
        assert (y2 - y1, x2 - x1) == (64, 64) and y2 <= H and x2 <= W
        count[y1:y2, x1:x2] += 1
    assert count.min() >= 1
    model = ConstantQuarter(value=2.5)
    out = infer(model, torch.randn(2, 3, H, W), "slide", crop_size=64, stride=48)
    assert model.calls == len(windows)
    assert out.shape == (2, 3, H, W)
    torch.testing.assert_close(out, torch.full_like(out, 2.5))


def test_slide_shape_with_a_real_model():
    model = build_model("segformer_tiny", num_classes=5).eval()
    out = infer(model, torch.randn(1, 3, H, W), "slide", crop_size=64, stride=48)
    assert out.shape == (1, 5, H, W) and torch.isfinite(out).all()


def test_infer_errors():
    model, image = pointwise(), torch.randn(1, 3, 16, 16)
    with pytest.raises(ValueError, match=r"unknown inference mode 'sliding'; valid modes: \['whole', 'slide'\]"):
        infer(model, image, "sliding")
    with pytest.raises(ValueError, match="needs crop_size"):
        infer(model, image, "slide")
    with pytest.raises(ValueError, match=r"stride \(16, 16\) must be positive and no larger than crop_size"):
        infer(model, image, "slide", crop_size=8, stride=16)
    with pytest.raises(ValueError, match="returned 4 classes, expected 5"):
        infer(model, image, num_classes=5)


def test_single_scale_without_flip_is_whole():
    model, image = build_model("segformer_tiny", num_classes=5).eval(), torch.randn(1, 3, H, W)
    torch.testing.assert_close(infer(model, image, scales=(1.0,), flip=False), infer(model, image))


def test_flip_of_a_flip_equivariant_model_changes_nothing():
    model, image = pointwise(), torch.randn(2, 3, H, W)
    expected = infer(model, image).softmax(1)
    torch.testing.assert_close(infer(model, image, flip=True), expected)


def test_flip_averages_softmax_with_logits_flipped_back():
    model, image = build_model("segformer_tiny", num_classes=5).eval(), torch.randn(1, 3, H, W)
    with torch.no_grad():
        plain = infer(model, image).softmax(1)
        flipped = infer(model, image.flip(-1)).flip(-1).softmax(1)
    torch.testing.assert_close(infer(model, image, flip=True), (plain + flipped) / 2)


@pytest.mark.parametrize("mode", ["whole", "slide"])
def test_multi_scale_probabilities_sum_to_one(mode):
    model = build_model("segformer_tiny", num_classes=5).eval()
    probs = infer(model, torch.randn(1, 3, H, W), mode, crop_size=64, stride=48, scales=(0.5, 0.75, 1.25),
                  flip=True)
    assert probs.shape == (1, 5, H, W) and probs.min() >= 0
    torch.testing.assert_close(probs.sum(1), torch.ones(1, H, W))


# ---- evaluate ----

def test_evaluate_oracle_scores_100():
    samples = []
    for h, w in [(20, 30), (17, 23)]:
        mask = torch.randint(0, 4, (h, w))
        image = mask.float().expand(3, h, w).clone()  # the oracle reads the label from the image
        mask[:2] = 255
        samples.append((image, mask))
    samples[1] = (samples[1][0].unsqueeze(0), samples[1][1])  # both (3, H, W) and (1, 3, H, W) images
    r = evaluate(Oracle(4), samples, num_classes=4)
    assert r["miou"] == 100.0 and r["macc"] == 100.0 and r["aacc"] == 100.0
    r = evaluate(Oracle(4), samples, num_classes=4, mode="slide", crop_size=16, stride=8)
    assert r["miou"] == 100.0


def test_boundary_band_marks_pixels_near_a_label_change():
    mask = torch.zeros(6, 10, dtype=torch.int64)
    mask[:, 5:] = 3  # one vertical edge between columns 4 and 5
    band = boundary_band(mask, 2)
    assert band[:, 3:7].all() and not band[:, :3].any() and not band[:, 7:].any()  # 2 px on each side
    assert not boundary_band(torch.full((5, 5), 7), 1).any()  # one label: no boundary, the border is none
    with pytest.raises(ValueError, match="boundary width must be a positive number of pixels, got 0"):
        boundary_band(mask, 0)


def test_boundary_miou_counts_only_the_band(tmp_path):
    """An error far from every boundary leaves the boundary mIoU at 100; one on the edge lowers it."""
    from segformer_lab.engine import TrainConfig, evaluate_model

    class Source:
        def __init__(self, mask):
            self.mask = mask

        def __len__(self):
            return 1

        def load(self, i):
            return np.zeros((*self.mask.shape, 3), np.uint8), self.mask

    class Oracle(torch.nn.Module):
        """Predicts `pred` whatever the image."""

        def __init__(self, pred):
            super().__init__()
            self.pred, self.w = pred, torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return torch.nn.functional.one_hot(self.pred, 4).permute(2, 0, 1)[None].float() + self.w

    mask = np.zeros((32, 32), np.int64)
    mask[:, 16:] = 1
    far, near = torch.from_numpy(mask.copy()), torch.from_numpy(mask.copy())
    far[0:4, 0:4] = 2  # 12 px from the edge
    near[0:4, 15:17] = 2  # on it
    cfg, classes = TrainConfig(), ["a", "b", "c", "d"]
    m_far = evaluate_model(Oracle(far), Source(mask), cfg, classes, [])
    m_near = evaluate_model(Oracle(near), Source(mask), cfg, classes, [])
    assert m_far["miou"] < 100 and m_far["boundary_miou"] == 100
    assert m_near["boundary_miou"] < 100

"""Figures are built from data and saved; colours map classes and the ignore index."""
import json

import numpy as np
import pandas as pd

from segformer_lab import plotting


def test_colorize_maps_classes_and_ignore():
    mask = np.array([[0, 1], [255, 1]])
    out = plotting.colorize(mask, [(10, 20, 30), (40, 50, 60)])
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    assert out[0, 0].tolist() == [10, 20, 30] and out[1, 1].tolist() == [40, 50, 60]
    assert out[1, 0].tolist() == [255, 255, 255]


def test_figures_from_runs_and_rows(tmp_path):
    for run, offset in (("a_seed0", 0), ("a_seed1", 2), ("b_seed0", 10)):
        (tmp_path / run).mkdir()
        lines = [json.dumps({"iteration": i, "miou": i / 10 + offset, "thing_miou": offset}) for i in (10, 20)]
        (tmp_path / run / "curve.jsonl").write_text("\n".join(lines))
    curves = plotting.read_curves({tmp_path / r: r.split("_seed")[0] for r in ("a_seed0", "a_seed1", "b_seed0")})
    assert len(curves) == 6 and set(curves["group"]) == {"a", "b"}
    path = plotting.save(plotting.learning_curves(curves), tmp_path / "figs" / "curves.png")
    assert path.stat().st_size > 1000
    rows = pd.DataFrame({"variant": ["a", "a", "b"], "seed": [0, 1, 0], "iou_x": [1.0, 2.0, 3.0],
                         "iou_y": [4.0, 5.0, 6.0]})
    assert plotting.save(plotting.per_class_iou(rows, ["x", "y"]), tmp_path / "iou.png").stat().st_size > 1000
    image = np.zeros((8, 8, 3), np.uint8)
    fig = plotting.sample_grid([(image, np.zeros((8, 8), int))] * 2, ["x", "y"], [(0, 0, 0), (9, 9, 9)], "t")
    assert len(fig.axes) == 4
    plotting.save(fig, tmp_path / "grid.png")


def test_metric_by_setting(tmp_path):
    frame = pd.DataFrame({"variant": ["a", "a", "b"], "seed": [0, 1, 0], "miou": [50.0, 51.0, 40.0],
                          "whole_256x512_miou": [49.0, 50.0, 30.0]})
    fig = plotting.metric_by_setting(frame, {"128 whole": "", "256x512 whole": "whole_256x512_"})
    ticks = [t.get_text().replace("\n", " ") for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["128x128 (training size)", "256x512, whole frame"]  # display names, wrapped
    assert "axis\u00a0not\u00a0from\u00a00" in fig.axes[0].get_ylabel()  # dots, not bars from zero
    mean, bars = fig.axes[0].containers[0].lines[0], fig.axes[0].containers[0].lines[2][0]
    assert mean.get_ydata().tolist() == [50.5, 49.5]  # variant a: mean of its two seeds per setting
    assert [seg[:, 1].tolist() for seg in bars.get_segments()] == [[50.0, 51.0], [49.0, 50.0]]  # the seed range
    assert plotting.save(fig, tmp_path / "pe.png").stat().st_size > 1000


def test_context_reach_and_gap_figures(tmp_path):
    from segformer_lab.repo import load_module
    budget_table = load_module("decoder_vs_cnn").budget_table
    rows = [{"variant": f"{e}_d{d}", "seed": s, "context_distance": float(d), "context_choice_accuracy": a,
             "erf_head_within_d": min(1.0, d / 40), "erf_head_r50": r}
            for e, a, r in (("mit_b1", 0.95, 30.0), ("resnet18_mlp", 0.6, 20.0)) for d in (8, 24, 48) for s in (0, 1)]
    fig = plotting.context_reach(pd.DataFrame(rows), {"mit_b1": "MiT-B1", "resnet18_mlp": "ResNet-18"})
    assert [line.get_label() for line in fig.axes[0].get_lines() if not line.get_label().startswith("_")] == [
        "MiT-B1", "ResNet-18"]
    assert sorted(line.get_xdata()[0] for line in fig.axes[0].get_lines() if line.get_linestyle() == "--") == [20, 30]
    assert plotting.save(fig, tmp_path / "reach.png").stat().st_size > 1000
    budget = pd.DataFrame([{"variant": f"{e}_{b}", "seed": 0, "iterations": i, "crop_size": c, "miou": m}
                           for b, i, c in (("i250", 250, 128), ("i1000", 1000, 128), ("i1000_256px", 1000, 256))
                           for e, m in (("mit_b1", 50.0), ("resnet18_mlp", 60.0))])
    fig = plotting.gap_vs_budget(budget_table(budget))
    assert fig.axes[0].get_xscale() == "log" and len(fig.legends[0].get_texts()) == 2
    assert plotting.save(fig, tmp_path / "gap.png").stat().st_size > 1000


def test_loss_curves_severity_curves_and_corruption_examples(tmp_path):
    curves = pd.DataFrame([{"variant": v, "seed": s, "iteration": i, "loss": 1 / i + s}
                           for v in ("a", "b") for s in (0, 1) for i in range(10, 101, 10)])
    fig = plotting.loss_curves(curves)
    assert len(fig.axes[0].lines) == 2 and fig.axes[0].get_yscale() == "log"
    rows = pd.DataFrame([{"variant": v, "seed": s, "group": g, "severity": k, "relative": 1 - k / 10}
                         for v in ("a", "b") for s in (0, 1) for g in ("noise", "blur") for k in (1, 2, 3)])
    fig = plotting.severity_curves(rows)
    assert len(fig.axes) == 2 and [a.get_title() for a in fig.axes] == ["noise", "blur"]
    images = {("clean", 0): np.zeros((40, 48, 3), np.uint8),
              **{(n, k): np.full((40, 48, 3), 50 * k, np.uint8) for n in ("fog", "snow") for k in (1, 2)}}
    fig = plotting.corruption_examples(images, ["fog", "snow"], [1, 2])
    mosaic = fig.axes[0].images[0].get_array()
    assert mosaic.shape == (2 * 40 + 4, 3 * 48 + 2 * 4, 3)  # 2 rows, clean + 2 severities, 4 px gaps
    assert plotting.save(fig, tmp_path / "m.png").stat().st_size > 500

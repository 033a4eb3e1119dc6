"""benchmarks/bench_evaluate.py: the ADE20K protocol written with transformers matches the lab's (the sizes, the
predictions, the mIoU), and a run writes one row of the declared columns. No timing is asserted."""
import csv
import math

import pytest
from test_cost import load_benchmark

from segformer_lab.protocols import PROTOCOLS, resize_steps


def test_transformers_side_resizes_as_the_ade20k_protocol():
    bench = load_benchmark("bench_evaluate")
    for h, w in [(512, 683), (683, 512), (375, 500), (480, 640), (61, 97), (512, 512), (300, 2500), (1024, 2048)]:
        current, applied = (h, w), []  # the resizes transformers_predict applies: those that change the size
        for size in bench.fit_and_align(h, w):
            if size != current:
                applied.append(size)
                current = size
        assert applied == resize_steps(PROTOCOLS["ade20k"], h, w), (h, w)


def test_benchmark_agrees_with_transformers_and_writes_one_row(tmp_path, capsys):
    pytest.importorskip("transformers")
    bench = load_benchmark("bench_evaluate")
    out = tmp_path / "bench_evaluate.csv"
    bench.main(["--variants", "tiny", "--images", "2", "--image-sizes", "61x97", "97x61", "--rounds", "1",
                "--threads", "2", "--out", str(out)])
    with open(out, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == bench.COLUMNS and len(rows) == 1
    row = rows[0]
    assert row["benchmark"] == "evaluate_ade20k" and row["variant"] == "segformer_tiny"
    assert (row["images"], row["rounds"], row["threads"]) == ("2", "1", "2")
    assert float(row["pixel_agreement"]) >= 0.999
    if float(row["pixel_agreement"]) == 1.0:
        assert math.isclose(float(row["miou_ours"]), float(row["miou_transformers"]), rel_tol=1e-9, abs_tol=1e-12)
    assert float(row["ours_images_per_s"]) > 0 and float(row["transformers_images_per_s"]) > 0
    assert float(row["ratio_min"]) <= float(row["ratio_ours_over_transformers"]) <= float(row["ratio_max"])
    assert "SegFormer-TINY: pixel agreement" in capsys.readouterr().out

"""benchmarks/bench_scaling.py: one row per (model, size, implementation) with the declared columns, our logits
checked against transformers' on the same weights, resumed where it stopped, and its figure. No timing is
asserted."""
import csv

import pytest
from test_cost import load_benchmark


def test_scaling_benchmark_writes_its_rows_and_resumes(tmp_path, capsys):
    pytest.importorskip("transformers")
    bench = load_benchmark("bench_scaling")
    out, figure = tmp_path / "scaling.csv", tmp_path / "scaling.png"
    argv = ["--models", "b0", "deeplabv3_r50", "--sizes", "64x64", "32x96", "--repeats", "1", "--out", str(out),
            "--figure", str(figure)]
    bench.main(argv)
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == bench.COLUMNS
    assert [(r["model"], r["implementation"], r["height"], r["width"]) for r in rows] == [
        ("segformer_b0", "ours", "64", "64"), ("segformer_b0", "transformers", "64", "64"),
        ("segformer_b0", "ours", "32", "96"), ("segformer_b0", "transformers", "32", "96"),
        ("deeplabv3_r50", "ours", "64", "64"), ("deeplabv3_r50", "ours", "32", "96")]
    for r in rows:
        assert float(r["latency_ms"]) > 0 and float(r["peak_mem_mb"]) > 0 and r["pixels"] == str(
            int(r["height"]) * int(r["width"]))
        assert float(r["roofline_fraction"]) == pytest.approx(
            float(r["gflop_per_s"]) / float(r["matmul_peak_gflop_per_s"]))
    assert float(rows[0]["max_abs_diff"]) < 1e-3 and rows[0]["gflops"] == rows[1]["gflops"]
    assert figure.is_file() and figure.stat().st_size > 10_000
    bench.main(argv)  # everything measured already: no new row
    with open(out, newline="") as f:
        assert len(list(csv.DictReader(f))) == 6
    with pytest.raises(SystemExit):
        bench.main(["--sizes", "512", "--out", str(out)])

"""benchmarks/bench_gpu.py, dry-run on the CPU at tiny sizes: every path runs and writes its rows with the declared
columns (the figures themselves come from a GPU; no timing is asserted)."""
import csv
import math

import pytest
import torch
from test_cost import load_benchmark


def test_bench_gpu_runs_dry_on_the_cpu(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(tmp_path / "cache"))
    bench = load_benchmark("bench_gpu")
    out = tmp_path / "bench_gpu.csv"
    bench.main(["--device", "cpu", "--tiny", "--models", "resnet18_mlp", "segformer_b0", "--out", str(out)])
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == bench.COLUMNS
    assert [(r["benchmark"], r["model"], r["crop"], r["batch"]) for r in rows] == [
        ("step_128", "resnet18_mlp", "64", "2"), ("train_512", "segformer_b0", "64", "1")]
    step, versus = rows
    assert float(step["step_img_s"]) > 0 and float(step["preset_img_s"]) > 0 and step["loader"] == "bank"
    assert float(versus["step_img_s"]) > 0 and float(versus["transformers_img_s"]) > 0
    assert math.isnan(float(versus["peak_mem_mb"]))  # the allocator's peak is CUDA's; not measured on the CPU
    if not torch.cuda.is_available():  # asked for a GPU where there is none: one line, nothing measured
        with pytest.raises(SystemExit):
            bench.main(["--device", "cuda", "--out", str(out)])

"""`run --time-budget`: estimates from the runs measured on this machine, priority order, and runs that would
not finish left unstarted (with a fake clock and tiny runs)."""
import fnmatch
import json
import math

import pytest

from segformer_lab.ablation import Experiment
from segformer_lab.budget import MARGIN, TRAIN_FLOPS_PER_FORWARD, TimeBudget, priority_first, resolved_device
from segformer_lab.cost import count_flops
from segformer_lab.engine import TrainConfig, run_model
from segformer_lab.results import read_rows, write_csv
from segformer_lab.runner import run_experiment

BASE = TrainConfig(model="segformer_tiny", crop_size=64, batch_size=2, train_scenes=4, val_scenes=2,
                   val_canvas=(64, 64), warmup_iters=1, iterations=2)
COLUMNS = ["model", "model_overrides", "iterations", "batch_size", "crop_size", "train_seconds", "gflops", "device"]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def measured(results, name, rows) -> None:
    """A results CSV of earlier runs: (cfg, train seconds, device)."""
    write_csv(results / f"{name}.csv", [
        {"model": cfg.model, "model_overrides": json.dumps(cfg.model_overrides), "iterations": cfg.iterations,
         "batch_size": cfg.batch_size, "crop_size": cfg.crop_size, "train_seconds": seconds,
         "gflops": count_flops(run_model(cfg), cfg.crop_size)["flops"] / 1e9, "device": device}
        for cfg, seconds, device in rows], COLUMNS)


def toy(**fields):
    declared = dict(name="toy", base=BASE, variants={"mixffn": {}, "no_pe": {"model_overrides": {"pos_encoding": "none"}}},
                    seeds={"smoke": (0,), "quick": (0,), "default": (0,), "gpu": (0,)},
                    presets={p: {} for p in ("smoke", "quick", "default", "gpu")})
    return Experiment(**{**declared, **fields})


def test_estimates_measured_then_by_flop_rate_then_unknown(tmp_path):
    cpu = resolved_device("cpu")
    no_pe = TrainConfig(**{**BASE.to_dict(), "model_overrides": {"pos_encoding": "none"}})
    measured(tmp_path, "a", [(BASE, 30.0, cpu), (BASE, 50.0, cpu), (BASE, 40.0, cpu), (BASE, 10.0, "NVIDIA H100 80GB HBM3")])
    budget = TimeBudget(10, tmp_path)
    assert budget.estimate(BASE).how == "measured" and budget.estimate(BASE).seconds == pytest.approx(40.0)
    longer = TrainConfig(**{**BASE.to_dict(), "iterations": 8})  # 4x the images of the measured runs
    assert budget.estimate(longer).how == "estimated" and budget.estimate(longer).seconds == pytest.approx(160.0)
    other = budget.estimate(no_pe)  # another model config: this device's rate over its own FLOPs
    flops = [count_flops(run_model(c), 64)["flops"] for c in (BASE, no_pe)]
    assert other.how == "estimated" and other.seconds == pytest.approx(40.0 * flops[1] / flops[0])
    assert TimeBudget(10, tmp_path / "empty").estimate(BASE).how == "unknown"
    with pytest.raises(ValueError, match="time budget 0 min; expected a positive number of minutes"):
        TimeBudget(0, tmp_path)


def test_a_missing_pretraining_counts_in_the_estimate(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(tmp_path / "cache"))
    measured(tmp_path, "a", [(BASE, 40.0, resolved_device("cpu"))])
    pretrained = TrainConfig(**{**BASE.to_dict(), "encoder_weights": "embedded", "pretrain_iterations": 2,
                                "pretrain_crop": 64})
    budget = TimeBudget(10, tmp_path)
    # the pretraining's 2 steps of 16 crops, at the measured rate of 2 steps of 2 crops in 40 s
    assert budget.estimate(pretrained).seconds == pytest.approx(40.0 + 40.0 * 16 / 2, rel=0.02)


def test_priority_first_keeps_each_group_in_order():
    items = [("a", 0), ("b_sincos", 0), ("c", 0), ("b_sincos", 1)]
    assert priority_first(items, ["*_sincos"]) == [("b_sincos", 0), ("b_sincos", 1), ("a", 0), ("c", 0)]
    assert priority_first(items, []) == items


def test_runs_that_would_not_finish_are_left_and_priority_runs_go_first(tmp_path):
    cpu = resolved_device("cpu")
    no_pe = TrainConfig(**{**BASE.to_dict(), "model_overrides": {"pos_encoding": "none"}})
    results = tmp_path / "results"
    measured(results, "earlier", [(BASE, 600.0, cpu), (no_pe, 20.0, cpu)])  # mixffn: 10 min, no_pe: 20 s
    clock = Clock()
    budget = TimeBudget(5, results, clock=clock)
    out = run_experiment(toy(priority=["no_pe"]), "smoke", results, tmp_path / "runs", progress=False,
                         budget=budget)
    assert [r["variant"] for r in read_rows(out)] == ["no_pe"]
    assert [(x, v, s, e.how) for x, v, s, e in budget.left] == [("toy", "mixffn", 0, "measured")]
    assert "1 run(s) left" in budget.summary() and "toy mixffn s0" in budget.summary()
    # a larger budget: the priority run first, then the other
    both = TimeBudget(20, results, clock=Clock())
    run_experiment(toy(priority=["mixffn"]), "smoke", tmp_path / "r2", tmp_path / "runs2", progress=False,
                   budget=both)
    assert [r["variant"] for r in read_rows(tmp_path / "r2" / "toy.csv")] == ["mixffn", "no_pe"]
    assert not both.left and "no run left" in both.summary()


def test_the_clock_decides_each_start(tmp_path):
    """A run is started only while MARGIN x its estimate fits in what the clock says is left."""
    cpu = resolved_device("cpu")
    no_pe = TrainConfig(**{**BASE.to_dict(), "model_overrides": {"pos_encoding": "none"}})
    measured(tmp_path, "earlier", [(BASE, 60.0, cpu), (no_pe, 60.0, cpu)])
    clock = Clock()
    budget = TimeBudget(2 * MARGIN, tmp_path, clock=clock)  # room for two 60 s runs with the margin
    assert budget.admits("toy", "mixffn", 0, BASE)
    clock.now += 80  # the first run took 80 s
    assert not budget.admits("toy", "no_pe", 0, no_pe)
    assert budget.remaining() == pytest.approx(2 * MARGIN * 60 - 80)


def test_parallel_runs_under_a_budget(tmp_path):
    cpu = resolved_device("cpu")
    no_pe = TrainConfig(**{**BASE.to_dict(), "model_overrides": {"pos_encoding": "none"}})
    results = tmp_path / "results"
    measured(results, "earlier", [(BASE, 20.0, cpu), (no_pe, 6000.0, cpu)])
    module = toy(seeds={"smoke": (0, 1), "quick": (0,), "default": (0,), "gpu": (0,)})
    budget = TimeBudget(5, results, clock=Clock())
    out = run_experiment(module, "smoke", results, tmp_path / "runs", progress=False, jobs=2, budget=budget)
    assert sorted((r["variant"], r["seed"]) for r in read_rows(out)) == [("mixffn", "0"), ("mixffn", "1")]
    assert sorted((v, s) for _, v, s, _ in budget.left) == [("no_pe", 0), ("no_pe", 1)]


def test_cli_time_budget_says_what_is_left(tmp_path, capsys, cli_error):
    from segformer_lab.cli import main
    results = tmp_path / "results"
    # this machine measured as very slow: every smoke run of the experiment would take far beyond the budget
    slow = TrainConfig(**{**BASE.to_dict(), "model": "segformer_b0"})
    measured(results, "earlier", [(slow, 1e7, resolved_device("cpu"))])
    argv = ["run", "setr_vs_segformer", "--preset", "smoke", "--results", results, "--runs", tmp_path / "runs",
            "--quiet", "--time-budget", "1"]
    assert main([str(a) for a in argv]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("estimate before starting: 2 run(s) to train (1 measured, 1 estimated)")  # before any
    assert out[0].endswith("the first 0 fit in the 1 min budget")  # run starts
    last = out[-1]
    assert last.startswith("time budget 1 min:") and "2 run(s) left" in last
    assert "setr_vs_segformer segformer_b0 s0" in last and not (results / "setr_vs_segformer.csv").exists()
    assert "time budget -3.0 min; expected a positive number" in cli_error(argv[:-1] + ["-3"])


def test_the_gpu_sitting_script_runs_dry_on_the_cpu(tmp_path):
    """benchmarks/gpu_sitting.sh dry: every step of a sitting (device check, CUDA tests, runs under a time budget,
    benchmark rows, bundle) on the CPU at the smoke preset, so that a loan of a GPU wastes no minute on a typo."""
    import os
    import subprocess
    import sys
    import tarfile
    from segformer_lab.repo import repo_root
    env = {**os.environ, "OUT": str(tmp_path / "out"), "PYTHON": sys.executable,
           "SITTING_EXPERIMENTS": "setr_vs_segformer", "SEGFORMER_LAB_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(["bash", str(repo_root() / "benchmarks" / "gpu_sitting.sh"), "dry"], env=env,
                          capture_output=True, text=True, timeout=600)
    log = (tmp_path / "out" / "sitting.log").read_text()
    assert done.returncode == 0, done.stderr + log
    for line in ("bench_gpu exit status 0", "estimate before starting:", "runs exit status 0",
                 "bench train exit status 0", "bench inference exit status 0", "time budget 2 min:"):
        assert line in log, log
    with tarfile.open(tmp_path / "out" / "sitting.tar.gz") as tar:
        names = tar.getnames()
    assert {"results_dry/setr_vs_segformer.csv", "results_dry/bench_vs_transformers.csv",
            "results_dry/bench_gpu.csv"} <= set(names)
    rows = (tmp_path / "out" / "results_dry" / "setr_vs_segformer.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",smoke," in r for r in rows[1:])  # segformer_b0 and setr_naive, one seed
    usage = subprocess.run(["bash", str(repo_root() / "benchmarks" / "gpu_sitting.sh"), "sit"], env=env,
                           capture_output=True, text=True)
    assert usage.returncode == 2 and "usage: bash benchmarks/gpu_sitting.sh prepare | run" in usage.stderr


def test_every_priority_pattern_names_runs_the_gpu_and_default_presets_plan():
    """The runs behind the claims not tested yet (PRIORITY) are planned where a sitting or the default run trains
    them: a pattern that matches no planned variant would leave its claim untested however long the budget."""
    from segformer_lab.repo import experiment_names, load_experiment
    from segformer_lab.runner import planned_runs
    declared = 0
    for name in experiment_names():
        module = load_experiment(name)
        patterns = getattr(module, "priority", ())  # a Script declares none
        declared += len(patterns)
        for preset in ("default", "gpu") if patterns else ():
            planned = {variant for variant, _, _ in planned_runs(module, preset)}
            for pattern in patterns:
                assert fnmatch.filter(planned, pattern), \
                    f"{name}: PRIORITY pattern {pattern!r} matches no variant planned under {preset!r}"
    assert declared >= 2  # budget_sweep's and setr_vs_segformer's


def bench(results, rows, date="") -> None:
    """A bench_gpu.csv: (benchmark, model, step images/s, engine images/s, step TFLOP/s, device), made on `date`."""
    write_csv(results / "bench_gpu.csv", [
        {"benchmark": b, "model": m, "step_img_s": step, "preset_img_s": preset, "tflops": tflops, "device": device,
         "date": date} for b, m, step, preset, tflops, device in rows],
        ["benchmark", "model", "step_img_s", "preset_img_s", "tflops", "device", "date"])


def test_a_benchmarked_rate_sizes_the_runs_until_a_run_is_measured(tmp_path):
    """Where this device has no run's row, the engine's rate that bench_gpu.py measured (the step's FLOP rate
    times the engine's share of the step's images/s) sizes a run: of the same model, else the median of models."""
    cpu = resolved_device("cpu")
    flops = TRAIN_FLOPS_PER_FORWARD * count_flops(run_model(BASE), 64)["flops"] * BASE.iterations * BASE.batch_size
    bench(tmp_path, [("step_128", "segformer_tiny", 100.0, 50.0, 2.0, cpu),  # the engine at 1 TFLOP/s
                     ("step_128", "segformer_b1", 100.0, 100.0, 8.0, cpu),
                     ("train_512", "segformer_b0", 10.0, "nan", 50.0, cpu),  # no engine rate: not used
                     ("step_128", "segformer_tiny", 100.0, 100.0, 90.0, "NVIDIA H100 80GB HBM3")])
    estimate = TimeBudget(10, tmp_path).estimate(BASE)
    assert estimate.how == "benchmarked" and estimate.seconds == pytest.approx(flops / 1e12)
    other = TrainConfig(**{**BASE.to_dict(), "model": "segformer_b0"})  # not benchmarked: the median of both
    b0 = TRAIN_FLOPS_PER_FORWARD * count_flops(run_model(other), 64)["flops"] * 4
    assert TimeBudget(10, tmp_path).estimate(other).seconds == pytest.approx(b0 / 4.5e12)
    measured(tmp_path, "runs", [(BASE, 40.0, cpu)])  # a run's own row wins
    assert TimeBudget(10, tmp_path).estimate(BASE).how == "measured"


def test_a_later_benchmark_supersedes_the_rates_of_earlier_runs(tmp_path):
    """Runs made before the device's latest bench_gpu row (other code: an earlier loader) give no rate for other
    configs; the runs made since do."""
    cpu = resolved_device("cpu")
    longer = TrainConfig(**{**BASE.to_dict(), "iterations": 8})
    bench(tmp_path, [("step_128", "segformer_tiny", 100.0, 50.0, 2.0, cpu)], date="2026-12-01T10:00:00+00:00")
    write_csv(tmp_path / "runs.csv", [
        {"model": BASE.model, "model_overrides": "{}", "iterations": 2, "batch_size": 2, "crop_size": 64,
         "train_seconds": 1000.0, "gflops": count_flops(run_model(BASE), 64)["flops"] / 1e9, "device": cpu,
         "date": "2026-11-23T10:00:00+00:00"}],
        COLUMNS + ["date"])
    assert TimeBudget(10, tmp_path).estimate(longer).how == "benchmarked"
    assert TimeBudget(10, tmp_path).estimate(BASE).seconds == pytest.approx(1000.0)  # its own config: measured
    rows = read_rows(tmp_path / "runs.csv") + [{**read_rows(tmp_path / "runs.csv")[0], "train_seconds": 10.0,
                                                 "date": "2026-12-01T10:05:00+00:00"}]
    write_csv(tmp_path / "runs.csv", rows, COLUMNS + ["date"])
    estimate = TimeBudget(10, tmp_path).estimate(longer)  # 4x the images of the run made since: 4 x 10 s
    assert estimate.how == "estimated" and estimate.seconds == pytest.approx(40.0)


def test_the_forecast_counts_the_runs_that_fit_in_the_order_they_start(tmp_path):
    cpu = resolved_device("cpu")
    measured(tmp_path, "a", [(BASE, 60.0, cpu)])
    budget = TimeBudget(3, tmp_path)  # 180 s: two runs of 60 s x MARGIN one after the other
    runs = [("toy", "mixffn", seed, BASE) for seed in range(4)]
    line = budget.forecast(runs, 1, first=1)
    assert line.startswith("estimate before starting: 4 run(s) to train (4 measured), the first 1 behind the claims "
                           "not tested yet, 4.0 min of training by estimate; the first 2 fit in the 3 min budget")
    assert budget.forecast(runs, 2).endswith("(2 at once: about 2.0 min); the first 4 fit in the 3 min budget")
    assert TimeBudget(math.inf, tmp_path).forecast(runs).endswith("4.0 min of training by estimate")  # no budget
    blind = TimeBudget(3, tmp_path / "none").forecast(runs, 1)
    assert "(4 unknown)" in blind and f"from run 1 on no estimate on {cpu}" in blind


def test_the_gpu_preset_feeds_from_the_scene_bank_and_trains_table_1d_wider_than_the_cnn_reaches():
    """The gpu preset: scenes kept on the device for every embedded run (a real dataset is read per sample), and
    decoder_vs_cnn (with erf, on the same runs) at 256 px crops from the 128 px pretraining, where ResNet-18's
    measured reach leaves context beyond it; the experiments beside it stay at 128 px."""
    from segformer_lab.repo import load_experiment
    from segformer_lab.report import ablation_names
    from segformer_lab.runner import on_data, planned_runs, run_id
    trained = 0
    for name in tuple(ablation_names()) + ("context_distance", "budget_sweep"):
        for _, _, cfg in planned_runs(load_experiment(name), "gpu"):
            assert cfg.loader == "bank" and on_data(cfg, "cityscapes:/data").loader == "samples", name
            trained += 1
    assert trained > 100
    table_1d = {v: cfg for v, s, cfg in planned_runs(load_experiment("decoder_vs_cnn"), "gpu") if s == 0}
    cfg = table_1d["resnet18_mlp_pretrained"]
    assert (cfg.crop_size, cfg.pretrain_crop, cfg.batch_size, tuple(cfg.val_canvas)) == (256, 128, 16, (256, 256))
    erf = {run_id(cfg) for _, s, cfg in planned_runs(load_experiment("erf"), "gpu") if s < 3}  # the rest: ERF's seeds
    assert erf <= {run_id(cfg) for _, _, cfg in planned_runs(load_experiment("decoder_vs_cnn"), "gpu")}
    extra = {(v, s) for v, s, _ in planned_runs(load_experiment("erf"), "gpu") if s >= 3}
    assert extra == {(v, s) for v in ("mit_b0_pretrained", "resnet18_mlp_pretrained") for s in range(3, 20)}
    beside = {cfg.crop_size for _, _, cfg in planned_runs(load_experiment("robustness"), "gpu")}
    assert beside == {128}


def test_a_gpu_run_prints_its_estimate_before_it_starts(tmp_path, capsys):
    """`run --preset gpu` says what it will take before anything starts, with or without a time budget."""
    from segformer_lab.cli import main
    results = tmp_path / "results"
    bench(results, [("step_128", "segformer_b1", 100.0, 80.0, 5.0, resolved_device("cpu"))])
    argv = ["run", "decoder_vs_cnn", "--preset", "gpu", "--results", results, "--runs", tmp_path / "runs", "--plan"]
    assert main([str(a) for a in argv]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("estimate before starting: 27 run(s) to train (27 benchmarked), the first 6 behind the "
                           "claims not tested yet, ") and line.endswith("min of training by estimate")
    assert main([str(a) for a in argv + ["--time-budget", "7", "--jobs", "4"]]) == 0
    assert "(4 at once: about" in capsys.readouterr().out and not (results / "decoder_vs_cnn.csv").exists()

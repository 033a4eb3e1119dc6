"""The CUDA path: bf16 autocast training, a killed run resumed on the GPU, pretraining and evaluation there.

These run only where CUDA exists (the CPU tests cover everything else); on a GPU the other tests run there too,
since TrainConfig.device defaults to "auto"."""
import json
import math
import os
import subprocess
import sys

import pytest
import torch

from segformer_lab.engine import TrainConfig, evaluate_run, train
from segformer_lab.pretrain import PretrainConfig, pretrain

from test_engine import ROOT, TINY, cli_args, kill_after_first_checkpoint

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def losses(run) -> list:
    return [json.loads(line)["loss"] for line in (run / "log.jsonl").read_text().splitlines()]


def test_bf16_training_steps_learn_and_match_fp32_at_the_start(tmp_path):
    cfg = dict(TINY, iterations=40, log_every=1, device="cuda")
    bf16 = train(TrainConfig(**cfg), tmp_path / "bf16", progress=False)
    fp32 = train(TrainConfig(**cfg, amp=False), tmp_path / "fp32", progress=False)
    a, b = losses(tmp_path / "bf16"), losses(tmp_path / "fp32")
    assert all(math.isfinite(x) for x in a) and len(a) == 40
    assert abs(a[0] - b[0]) < 0.02 * b[0]  # the same first batch and weights: bf16 rounding only
    assert sum(a[-5:]) / 5 < sum(a[:5]) / 5  # it learns
    assert math.isfinite(bf16["miou"]) and abs(bf16["miou"] - fp32["miou"]) < 3.0  # mIoU in %


def test_killed_cuda_run_resumes_from_its_checkpoint(tmp_path):
    cfg = dict(TINY, iterations=600, checkpoint_every=20, log_every=20, device="cuda")  # about 30 s on an H100
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "segformer_lab.cli", "train", "--quiet", *cli_args(cfg)]
    run = tmp_path / "killed"
    saved = kill_after_first_checkpoint(command, env, run, wait_s=300, linger_s=0.5)
    stopped_at = saved["iteration"]
    assert 0 < stopped_at < 600 and stopped_at % 20 == 0
    subprocess.run(command + [str(run)], env=env, check=True)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["resumed_from"] == stopped_at and metrics["iterations"] == 600
    assert metrics["train_seconds"] > saved["train_seconds"] and math.isfinite(metrics["miou"])
    logged = [json.loads(line)["iteration"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert logged[-1] == 600 and all(math.isfinite(x) for x in losses(run))


def test_pretraining_runs_on_the_gpu_and_its_weights_load_on_the_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(tmp_path))
    cfg = PretrainConfig(model="segformer_tiny", iterations=20, warmup_iters=2, scenes=16, batch_size=8, crop_size=64)
    path = pretrain(cfg, progress=False, device="cuda")
    saved = torch.load(path, map_location="cpu", weights_only=False)
    assert all(v.device.type == "cpu" for v in saved["state_dict"].values())
    assert math.isfinite(saved["final_loss"]) and math.isfinite(saved["heldout_loss"])


def test_cuda_and_cpu_evaluations_of_one_model_agree(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(**dict(TINY, iterations=20, device="cuda")), run, progress=False)
    gpu, cpu = evaluate_run(run, device="cuda"), evaluate_run(run, device="cpu")
    # mIoU in %; fp32 inference (TF32 convolutions): a few pixels may differ
    assert abs(gpu["miou"] - cpu["miou"]) < 0.5


def test_the_scene_bank_and_compile_train_on_the_gpu(tmp_path):
    """The gpu preset's loader (scenes on the GPU, batches cut there) and torch.compile: finite losses, a model
    that learns, and compiled training within a few mIoU of eager (same batches; kernels differ in rounding)."""
    cfg = dict(TINY, iterations=40, log_every=1, device="cuda", loader="bank")
    eager = train(TrainConfig(**cfg), tmp_path / "bank", progress=False)
    a = losses(tmp_path / "bank")
    assert all(math.isfinite(x) for x in a) and sum(a[-5:]) < sum(a[:5])
    compiled = train(TrainConfig(**cfg, compile=True), tmp_path / "compiled", progress=False)
    assert math.isfinite(compiled["miou"]) and abs(compiled["miou"] - eager["miou"]) < 5.0

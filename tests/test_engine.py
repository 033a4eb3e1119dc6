"""The training engine: schedule, parameter groups, data order, determinism, exact resume after a kill,
two-process DistributedDataParallel on gloo, the command line and its errors."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from segformer_lab import build_model, from_pretrained
from segformer_lab.cli import main
from segformer_lab.engine import IterationBatches, TrainConfig, evaluate_run, lr_at, param_groups, train

ROOT = Path(__file__).resolve().parents[1]
# On the CPU, where the same seed gives bit-identical runs (CUDA kernels need not: tests/test_cuda.py covers it)
TINY = dict(model="segformer_tiny", crop_size=64, batch_size=4, train_scenes=16, val_scenes=4, val_canvas=(64, 96),
            warmup_iters=3, lr=1e-3, device="cpu")


def same(a, b) -> bool:
    """Equal metrics, NaN equal to NaN (a class absent from both prediction and ground truth)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def cli_args(cfg: dict) -> list:
    args = []
    for key, value in cfg.items():
        args.append("--" + key.replace("_", "-"))
        args += [str(v) for v in value] if isinstance(value, tuple) else [str(value)]
    return args


def test_lr_schedule_warmup_then_poly():
    cfg = TrainConfig(iterations=100, warmup_iters=10, lr=1e-3, warmup_ratio=1e-6)
    assert lr_at(0, cfg) == pytest.approx(1e-9)
    assert lr_at(10, cfg) == pytest.approx(1e-3 * 0.9)
    assert lr_at(55, cfg) == pytest.approx(1e-3 * 0.45)
    assert lr_at(100, cfg) == 0.0
    assert all(lr_at(i, cfg) > lr_at(i + 1, cfg) for i in range(10, 99))


def test_param_groups_head_lr_and_no_decay_on_norms_biases():
    model = build_model("segformer_tiny", 3, pos_encoding="learned")
    groups = param_groups(model, TrainConfig(weight_decay=0.01, head_lr_mult=10))
    names = {id(p): n for n, p in model.named_parameters()}
    assert sum(len(g["params"]) for g in groups) == len(names)
    for g in groups:
        for p in g["params"]:
            n = names[id(p)]
            assert g["lr_mult"] == (10 if n.startswith("decode_head.") else 1), n
            no_decay = n.endswith(".bias") or ".norm" in n or "pos_embed" in n or ".bn." in n
            assert (g["weight_decay"] == 0.0) == no_decay, n


def test_iteration_batches_resume_and_shard():
    full = list(IterationBatches(10, 4, seed=1, start=0, stop=8))
    tail = list(IterationBatches(10, 4, seed=1, start=5, stop=8))
    assert full[5:] == tail
    keys = [k for batch in full for k in batch]
    assert sorted(i for e, i in keys if e == 0) == list(range(10))  # each epoch a permutation
    ranks = [list(IterationBatches(10, 4, 1, 0, 8, rank=r, world=2)) for r in (0, 1)]
    for t in range(8):
        assert ranks[0][t] + ranks[1][t] == full[t]


def test_same_seed_same_metrics_and_weights(tmp_path):
    cfg = TrainConfig(iterations=6, **TINY)
    a, b = train(cfg, tmp_path / "a", progress=False), train(cfg, tmp_path / "b", progress=False)
    assert a["miou"] == b["miou"] and same(a["iou"], b["iou"])
    wa, wb = torch.load(tmp_path / "a" / "model.pt"), torch.load(tmp_path / "b" / "model.pt")
    assert all(torch.equal(wa["state_dict"][k], v) for k, v in wb["state_dict"].items())
    c = train(TrainConfig(iterations=6, seed=1, **TINY), tmp_path / "c", progress=False)
    assert not same(c["iou"], a["iou"])
    run = tmp_path / "a"
    assert {"config.json", "log.jsonl", "checkpoint.pt", "metrics.json", "model.pt"} <= {p.name for p in run.iterdir()}
    assert json.loads((run / "log.jsonl").read_text().splitlines()[-1])["iteration"] == 6


def kill_after_first_checkpoint(command: list, env: dict, run: Path, wait_s: float, linger_s: float) -> dict:
    """Start the training `command` on `run` in its own process group, kill the group `linger_s` after the first
    checkpoint lands (waiting at most `wait_s` for it) and return that checkpoint, loaded on the CPU."""
    proc = subprocess.Popen(command + [str(run)], env=env, start_new_session=True)
    deadline = time.time() + wait_s
    while not (run / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(linger_s)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "metrics.json").exists(), "the run finished before it could be killed"
    return torch.load(run / "checkpoint.pt", map_location="cpu")


def test_killed_run_resumes_to_identical_result(tmp_path):
    cfg = dict(TINY, iterations=150, checkpoint_every=5, log_every=5)
    # the conftest's 2 threads in the subprocesses too: CPU sums in another thread count round differently
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="2")
    command = [sys.executable, "-m", "segformer_lab.cli", "train", "--quiet", *cli_args(cfg)]
    killed = tmp_path / "killed"
    saved = kill_after_first_checkpoint(command, env, killed, wait_s=120, linger_s=0.3)
    stopped_at = saved["iteration"]
    assert 0 < stopped_at < 150 and saved["train_seconds"] > 0
    subprocess.run(command + [str(killed)], env=env, check=True)
    resumed = json.loads((killed / "metrics.json").read_text())
    assert resumed["resumed_from"] == stopped_at
    assert resumed["train_seconds"] > saved["train_seconds"]  # the seconds before the kill are counted
    straight = train(TrainConfig(**cfg), tmp_path / "straight", progress=False)
    assert same(resumed["iou"], straight["iou"]) and resumed["miou"] == straight["miou"]
    wa, wb = torch.load(killed / "model.pt"), torch.load(tmp_path / "straight" / "model.pt")
    assert all(torch.equal(wa["state_dict"][k], v) for k, v in wb["state_dict"].items())


def test_two_process_ddp_on_gloo(tmp_path):
    cfg = dict(TINY, iterations=4, checkpoint_every=2)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    run = tmp_path / "ddp"
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29561",
                    "-m", "segformer_lab.cli", "train", "--quiet", *cli_args(cfg), str(run)],
                   env=env, check=True, timeout=300)
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 <= metrics["miou"] <= 100 and metrics["iterations"] == 4
    assert torch.load(run / "checkpoint.pt")["iteration"] == 4
    assert from_pretrained(run / "model.pt").config.num_classes == 9


def test_evaluate_run_other_canvas_zoom_and_slide(tmp_path, capsys):
    train(TrainConfig(iterations=3, **TINY), tmp_path / "r", progress=False)
    bigger = evaluate_run(tmp_path / "r", canvas=(96, 192))
    assert bigger["eval"]["canvas"] == [96, 192] and 0 <= bigger["miou"] <= 100
    slide = evaluate_run(tmp_path / "r", mode="slide", zoom=0.5, out=tmp_path / "e.json")
    assert slide["eval"]["mode"] == "slide" and slide["eval"]["crop_size"] == 64 and slide["eval"]["zoom"] == 0.5
    assert json.loads((tmp_path / "e.json").read_text())["miou"] == slide["miou"]
    assert main(["evaluate", str(tmp_path / "r"), "--scales", "0.75", "1.0", "--flip"]) == 0
    assert '"miou"' in capsys.readouterr().out


def test_cli_train_help_shows_every_default(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    for field in ("--iterations", "--lr", "--head-lr-mult", "--warmup-iters", "--checkpoint-every", "--seed"):
        assert field in out
    assert out.count("(default:") >= 30


def test_config_errors(tmp_path, cli_error):
    with pytest.raises(ValueError, match=r"unknown TrainConfig field\(s\) \['iters'\]"):
        TrainConfig.from_dict({"iters": 3})
    with pytest.raises(ValueError, match="dataset='imagenet'"):
        TrainConfig(dataset="imagenet")
    assert "augment='cutmix'" in cli_error(["train", tmp_path / "x", "--augment", "cutmix"])
    with pytest.raises(ValueError, match="data_root is empty; dataset 'ade20k' needs its root folder"):
        train(TrainConfig(dataset="ade20k", **{k: v for k, v in TINY.items()}), tmp_path / "y", progress=False)
    train(TrainConfig(iterations=1, **TINY), tmp_path / "z", progress=False)
    with pytest.raises(ValueError, match="holds a run with another config"):
        train(TrainConfig(iterations=2, **TINY), tmp_path / "z", progress=False)
    assert not (tmp_path / "y").exists()  # the bad dataset failed before anything was written
    with pytest.raises(FileNotFoundError, match="y/config.json: missing; is .* a finished training run"):
        evaluate_run(tmp_path / "y")


def test_train_on_a_folder_dataset_with_mmseg_augmentation(tmp_path):
    import numpy as np
    from PIL import Image
    root = tmp_path / "data"
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "masks" / split).mkdir(parents=True)
        for i in range(3):
            rng = np.random.default_rng(i)
            Image.fromarray(rng.integers(0, 255, (72, 90, 3), dtype=np.uint8)).save(root / "images" / split / f"{i}.png")
            Image.fromarray(rng.integers(0, 3, (72, 90), dtype=np.uint8)).save(root / "masks" / split / f"{i}.png")
    (root / "classes.txt").write_text("a\nb\nc\n")
    cfg = TrainConfig(model="segformer_tiny", dataset="folder", data_root=str(root), train_split="train",
                      val_split="val", augment="mmseg", resize_scale=(128, 96), crop_size=64, batch_size=2,
                      iterations=2, warmup_iters=1)
    metrics = train(cfg, tmp_path / "run", progress=False)
    assert set(metrics["iou"]) == {"a", "b", "c"}
    Image.fromarray(np.full((72, 90), 7, np.uint8)).save(root / "masks" / "train" / "1.png")
    with pytest.raises(ValueError, match=r"1.png has label\(s\) \[7\] outside the valid range 0..2"):
        train(TrainConfig(**{**cfg.to_dict(), "iterations": 3}), tmp_path / "run2", progress=False)


def test_street_config_errors_before_anything_is_written(tmp_path, cli_error):
    assert "scene_family='city'; expected one of ('aerial', 'street', 'context', 'fine')" in cli_error(
        ["train", tmp_path / "a", "--scene-family", "city"])
    with pytest.raises(ValueError, match=r"pos_encoding='sincos' needs pe_train_size, the \(H, W\) its grid is made "
                                         r"for, e.g. \[64, 64\] for crop_size 64"):
        TrainConfig(model_overrides={"pos_encoding": "sincos"}, crop_size=64)
    with pytest.raises(ValueError, match="crop 192 is larger than the 128-pixel frame height"):
        train(TrainConfig(**{**TINY, "crop_size": 192, "scene_family": "street"}), tmp_path / "b", progress=False)
    with pytest.raises(ValueError, match="pretrain_pretext='where'"):
        TrainConfig(pretrain_pretext="where")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_train_on_street_scenes_with_a_sincos_pe(tmp_path):
    cfg = TrainConfig(**{**TINY, "scene_family": "street", "val_canvas": (128, 256), "val_zoom": 0.5,
                         "model_overrides": {"pos_encoding": "sincos", "pe_train_size": [64, 64]}}, iterations=2)
    metrics = train(cfg, tmp_path / "s", progress=False)
    assert set(metrics["iou"]) == {"road", "sidewalk", "building", "vegetation", "sky", "car", "person", "pole", "sign"}
    whole = evaluate_run(tmp_path / "s", canvas=(256, 512), zoom=1.0)
    assert whole["eval"]["canvas"] == [256, 512] and 0 <= whole["thing_miou"] <= 100


def test_setr_trains_with_its_auxiliary_losses(tmp_path):
    """Each auxiliary head adds aux_weight x its cross-entropy: at the start every head is near chance, so two
    heads at 0.4 make the first loss about 1.8 times that of the same run without them."""
    base = dict(TINY, model="setr_naive_tiny", iterations=1, log_every=1)
    first = {}
    for name, overrides in (("aux", {}), ("plain", {"aux_weight": 0.0})):
        train(TrainConfig(model_overrides=overrides, **base), tmp_path / name, progress=False)
        first[name] = json.loads((tmp_path / name / "log.jsonl").read_text().splitlines()[0])["loss"]
    assert 1.5 < first["aux"] / first["plain"] < 2.1

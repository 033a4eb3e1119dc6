"""Benchmark: what a GPU sitting can train, measured in about 3 minutes: the model's own training rate against the
rate the gpu preset reaches through the engine, and SegFormer against transformers at 512 px.

Rows (results/gpu/bench_gpu.csv, one per benchmark and model):
- `step_128`: MiT-B1 + MLP decoder and ResNet-18 + MLP at 128 px crops, 9 classes: `step_img_s`, a training step
  alone (the batch already on the device; bf16 autocast on CUDA, cross-entropy, backward, AdamW), and
  `preset_img_s`, the engine's own training loop (`segformer_lab.engine.train`, from scratch, with the loader
  given: the scene bank by default) over the same batch, images per second of its training time;
- `train_512`: SegFormer-B0, B2 and B5 (150 classes) at 512 px, ours beside transformers' implementation with the
  same weights (`transformers_img_s`), each with its peak memory (CUDA's allocator peak; not measured on the CPU).
`tflops` is the training FLOP rate of ours (3x the forward's FLOPs per image, 2 per multiply-accumulate).

    python benchmarks/bench_gpu.py --device cuda                       # on the GPU (about 3 minutes)
    python benchmarks/bench_gpu.py --device cpu --tiny --out /tmp/b.csv  # the dry run: every path, tiny sizes
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from segformer_lab.checkpoints import from_pretrained
from segformer_lab.cost import count_flops
from segformer_lab.engine import TrainConfig, train
from segformer_lab.registry import build_model
from segformer_lab.results import append_csv, provenance
from segformer_lab.presets import BUDGETS
from segformer_lab.standins import transformers_fields

COLUMNS = ["benchmark", "model", "crop", "batch", "step_img_s", "preset_img_s", "transformers_img_s", "peak_mem_mb",
           "transformers_peak_mem_mb", "tflops", "loader", "git_commit", "torch_version", "device", "cpu_model", "date"]
HF_SIZES = ("segformer_b0", "segformer_b2", "segformer_b5")  # measured beside transformers at 512 px
# (crop, batch, steps) of each benchmark on a GPU (step_128 at the gpu preset's batch, so that `run --time-budget`
# sizes a sitting's first runs by this rate), and in the dry run
FULL = {"step_128": (128, BUDGETS["gpu"]["batch_size"], 20), "train_512": (512, 16, 10), "preset_iterations": 60}
TINY = {"step_128": (64, 2, 2), "train_512": (64, 1, 1), "preset_iterations": 2}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_mb(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan")


def step_rate(model, forward, crop: int, batch: int, steps: int, classes: int, device) -> tuple:
    """(images/s of `steps` training steps after two untimed ones, peak memory in MiB) on a fixed batch."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=6e-5)
    x = torch.randn(batch, 3, crop, crop, device=device)
    y = torch.randint(0, classes, (batch, crop, crop), device=device)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = forward(x)
        logits = F.interpolate(logits.float(), size=(crop, crop), mode="bilinear", align_corners=False)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    for _ in range(2):
        step()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return batch * steps / (time.perf_counter() - t0), peak_mb(device)


def preset_rate(model: str, crop: int, batch: int, iterations: int, loader: str, device: str, workers: int) -> float:
    """Images/s of the engine's training loop (`train`, its own training time) on the embedded world."""
    cfg = TrainConfig(model=model, crop_size=crop, batch_size=batch, iterations=iterations, warmup_iters=1,
                      train_scenes=max(8, min(512, batch * iterations)), val_scenes=2, val_canvas=(crop, crop),
                      checkpoint_every=iterations, device=device, loader=loader, num_workers=workers)
    with tempfile.TemporaryDirectory() as tmp:
        metrics = train(cfg, Path(tmp) / "run", progress=False)
    return batch * iterations / metrics["train_seconds"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="torch device (default cuda)")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: the dry run of every path on the CPU")
    parser.add_argument("--loader", choices=["bank", "samples"], default="bank", help="the preset's loader")
    parser.add_argument("--workers", type=int, default=8, help="processes drawing the scenes (default 8)")
    parser.add_argument("--models", nargs="+", default=["segformer_b1", "resnet18_mlp", *HF_SIZES],
                        help="which of the models to measure (default: all five)")
    parser.add_argument("--out", default="results/gpu/bench_gpu.csv", help="CSV to append to")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            parser.error("--device cuda: no CUDA device here (the dry run: --device cpu --tiny)")
        torch.backends.cudnn.benchmark = True  # fixed shapes
    sizes = TINY if args.tiny else FULL
    for name in [m for m in args.models if m in ("segformer_b1", "resnet18_mlp")]:
        crop, batch, steps = sizes["step_128"]
        torch.manual_seed(0)
        model = build_model(name, 9).to(device)
        rate, mem = step_rate(model, model, crop, batch, steps, 9, device)
        flops = 3 * count_flops(model, crop)["flops"]
        del model
        preset = preset_rate(name, crop, batch, sizes["preset_iterations"], args.loader, args.device,
                             0 if args.tiny else args.workers)
        row = {"benchmark": "step_128", "model": name, "crop": crop, "batch": batch, "step_img_s": rate,
               "preset_img_s": preset, "transformers_img_s": float("nan"), "peak_mem_mb": mem,
               "transformers_peak_mem_mb": float("nan"), "tflops": flops * rate / 1e12, "loader": args.loader,
               **provenance(str(device))}
        append_csv(args.out, row, COLUMNS)
        print(f"{name:14s} {crop} px, batch {batch}: step {rate:8.0f} img/s, preset ({args.loader}) {preset:8.0f} "
              f"img/s ({preset / rate:.0%})")
    for name in [m for m in args.models if m in HF_SIZES]:
        from transformers import SegformerConfig, SegformerForSemanticSegmentation
        crop, batch, steps = sizes["train_512"]
        batch = max(1, batch // 2) if name == "segformer_b5" else batch
        torch.manual_seed(0)
        theirs = SegformerForSemanticSegmentation(SegformerConfig(num_labels=150, **transformers_fields(name.removeprefix("segformer_"))))
        with tempfile.TemporaryDirectory() as tmp:
            theirs.save_pretrained(tmp)
            ours = from_pretrained(tmp)
        flops = 3 * count_flops(ours, crop)["flops"]
        ours = ours.to(device)
        rate, mem = step_rate(ours, ours, crop, batch, steps, 150, device)
        del ours
        theirs = theirs.to(device)
        their_rate, their_mem = step_rate(theirs, lambda t, model=theirs: model(pixel_values=t).logits, crop, batch,
                                          steps, 150, device)
        del theirs
        row = {"benchmark": "train_512", "model": name, "crop": crop, "batch": batch, "step_img_s": rate,
               "preset_img_s": float("nan"), "transformers_img_s": their_rate, "peak_mem_mb": mem,
               "transformers_peak_mem_mb": their_mem, "tflops": flops * rate / 1e12, "loader": "",
               **provenance(str(device))}
        append_csv(args.out, row, COLUMNS)
        print(f"{name:14s} {crop} px, batch {batch}: ours {rate:7.1f} img/s, transformers {their_rate:7.1f} img/s "
              f"({rate / their_rate:.2f}x); peak memory {mem:.0f} vs {their_mem:.0f} MiB")
    print(f"appended to {args.out}")


if __name__ == "__main__":
    main()

"""Benchmark: how inference time and memory grow with the input, from 512x512 to full Cityscapes frames.

For SegFormer-B0, B2 and B5 (150 classes), ours beside transformers' implementation with the same weights (a
randomly initialised `SegformerForSemanticSegmentation`, saved and loaded with `from_pretrained`; their logits
are checked to agree), and DeepLabV3 / DeepLabV3+ on ResNet-50 as the CNN reference (ours only), at 512x512,
1024x1024, 512x2048 (ADE20K's 2048x512 scale) and 1024x2048 (a Cityscapes frame), batch 1, under
`torch.inference_mode`:
- latency: the median over `--repeats` rounds, ours and transformers' timed in turn within each round (A B A B),
  so that drift in the machine's speed touches both alike;
- peak memory: the peak of the live bytes of the tensors a forward pass creates (`segformer_lab.cost.peak_memory`,
  a dispatch-level tracker; measured, not estimated), beyond the weights and the input;
- FLOPs (2 per multiply-accumulate, torch.utils.flop_counter on our model run as the paper draws it: the decoder
  in its released order) and the fraction of the matmul roofline reached: those FLOPs / latency over the machine's
  fp32 matmul rate, measured in the same run (a 2048^3 `torch.mm`, median of 10). Ours computes the decoder folded
  (`SegFormerHead.fold`: the same function in fewer FLOPs), so its fraction is an effective one and passes 1 where
  the decoder is wide (B2 and B5, C = 768).

Each (model, size) appends rows to results/bench_scaling.csv (one per implementation) as it finishes, so an
interrupted sweep resumes where it stopped (`--force` measures again); the figure of time and memory against
pixels goes to results/figures/bench_scaling.png. Run on an otherwise idle machine. Needs the `hf` extra.

    python benchmarks/bench_scaling.py [--models b0 b2 b5 deeplabv3_r50 deeplabv3plus_r50]
                                       [--sizes 512x512 1024x1024 512x2048 1024x2048] [--repeats 3]
    python benchmarks/bench_scaling.py --models b0 --sizes 64x64 --repeats 1 --out /tmp/s.csv   # a dry run
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from segformer_lab.checkpoints import from_pretrained
from segformer_lab.cost import count_flops, latency_round_robin, peak_memory
from segformer_lab.registry import build_model
from segformer_lab.results import append_csv, provenance, read_rows
from segformer_lab.standins import transformers_fields

COLUMNS = ["benchmark", "model", "implementation", "height", "width", "pixels", "batch", "threads", "repeats",
           "latency_ms", "latency_min_ms", "latency_max_ms", "peak_mem_mb", "gflops", "gflop_per_s",
           "matmul_peak_gflop_per_s", "roofline_fraction", "max_abs_diff", "transformers_version", "git_commit",
           "torch_version", "device", "cpu_model", "date"]
HF_SIZES = ("b0", "b2", "b5")  # SegFormer sizes measured beside transformers
CNN = ("deeplabv3_r50", "deeplabv3plus_r50")
SIZES = ("512x512", "1024x1024", "512x2048", "1024x2048")


def matmul_rate(n: int = 2048, repeats: int = 10) -> float:
    """This machine's fp32 matmul rate in GFLOP/s: the median of `repeats` n x n x n products."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times) / 1e9


def models_for(name: str) -> tuple[dict, float, str]:
    """({implementation: model}, max |difference| of their logits at 64 px, transformers' version) for a
    SegFormer size (ours and transformers', same weights) or a CNN of our registry (ours only)."""
    if name in CNN:
        torch.manual_seed(0)
        return {"ours": build_model(name, 150).eval()}, float("nan"), ""
    import transformers
    from transformers import SegformerConfig, SegformerForSemanticSegmentation
    torch.manual_seed(0)
    theirs = SegformerForSemanticSegmentation(SegformerConfig(num_labels=150, **transformers_fields(name))).eval()
    with tempfile.TemporaryDirectory() as tmp:
        theirs.save_pretrained(tmp)
        ours = from_pretrained(tmp).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        diff = (theirs(pixel_values=x).logits - ours(x)).abs().max().item()
    if diff > 1e-3:
        raise SystemExit(f"segformer_{name}: outputs disagree with transformers' (max |difference| {diff:.3g})")
    return {"ours": ours, "transformers": _Logits(theirs)}, diff, transformers.__version__


class _Logits(torch.nn.Module):
    """transformers' model as images -> logits (its output object holds them)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(pixel_values=x).logits


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["b0", "b2", "b5", *CNN], choices=[*HF_SIZES, *CNN])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), help="HxW, e.g. 1024x2048")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--out", default="results/bench_scaling.csv", help="CSV to append to")
    parser.add_argument("--figure", default="results/figures/bench_scaling.png", help="figure to write ('' for none)")
    parser.add_argument("--force", action="store_true", help="measure again what the CSV already holds")
    args = parser.parse_args(argv)
    try:
        sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes]
    except ValueError:
        sizes = []
    if not sizes or any(len(s) != 2 or min(s) < 1 for s in sizes):
        parser.error(f"--sizes takes HxW, e.g. 1024x2048; got {args.sizes}")
    done = {(r["model"], int(r["height"]), int(r["width"])) for r in read_rows(args.out)}
    peak = matmul_rate()
    print(f"fp32 matmul rate: {peak:.0f} GFLOP/s, {torch.get_num_threads()} threads")
    for name in args.models:
        label = name if name in CNN else f"segformer_{name}"
        todo = [s for s in sizes if args.force or (label, *s) not in done]
        if not todo:
            continue
        models, diff, version = models_for(name)
        for h, w in todo:
            flops = count_flops(models["ours"], (h, w))["flops"]
            latency = latency_round_robin(models, (h, w), warmup=1, repeats=args.repeats)
            for impl, model in models.items():
                mem = peak_memory(model, (h, w))["peak_bytes"] / 2**20
                ms = latency[impl]["latency_ms"]
                rate = flops / (ms / 1e3) / 1e9
                row = {"benchmark": "scaling", "model": label, "implementation": impl, "height": h, "width": w,
                       "pixels": h * w, "batch": 1, "threads": torch.get_num_threads(), "repeats": args.repeats,
                       **latency[impl], "peak_mem_mb": mem, "gflops": flops / 1e9, "gflop_per_s": rate,
                       "matmul_peak_gflop_per_s": peak, "roofline_fraction": rate / peak, "max_abs_diff": diff,
                       "transformers_version": version, **provenance()}
                append_csv(args.out, row, COLUMNS)
                print(f"{label:18s} {impl:12s} {h}x{w}: {ms:9.1f} ms  {mem:8.0f} MiB  {flops / 1e9:8.1f} GFLOP  "
                      f"{rate / peak:5.1%} of the matmul rate")
        del models
    if args.figure:
        figure(args.out, args.figure)


def figure(csv_path, out) -> None:
    """Latency and peak memory against pixels, one line per model and implementation (log-log)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    frame = pd.read_csv(csv_path).drop_duplicates(["model", "implementation", "height", "width"], keep="last")
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    colours = {m: f"C{i}" for i, m in enumerate(dict.fromkeys(frame["model"]))}  # one colour per model
    for (model, impl), rows in frame.sort_values("pixels").groupby(["model", "implementation"], sort=False):
        style = dict(marker="o" if impl == "ours" else "s", linestyle="-" if impl == "ours" else "--",
                     color=colours[model], label=f"{model} ({impl})")
        axes[0].plot(rows["pixels"] / 1e6, rows["latency_ms"] / 1e3, **style)
        axes[1].plot(rows["pixels"] / 1e6, rows["peak_mem_mb"] / 1024, **style)
    for ax, ylabel in zip(axes, ("latency (s), batch 1", "peak memory of the forward (GiB)")):
        ax.set(xscale="log", yscale="log", xlabel="input pixels (millions)", ylabel=ylabel)
        ax.xaxis.set_major_locator(FixedLocator(sorted(set(frame["pixels"] / 1e6))))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=7, loc="upper left")
    threads, device = frame["threads"].iloc[-1], frame["device"].iloc[-1]
    fig.suptitle(f"Inference cost against input size ({device}, {threads} threads; solid: ours, dashed: transformers;\n"
                 "0.26 M pixels: 512x512; 1.05 M: 1024x1024 and 512x2048; 2.10 M: 1024x2048)", fontsize=10)
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    print(f"figure: {out}")


if __name__ == "__main__":
    main()

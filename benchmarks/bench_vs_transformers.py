"""Benchmark: SegFormer inference or one training step, ours against transformers' implementation, same weights.

Builds a randomly initialised `transformers.SegformerForSemanticSegmentation` (B0, B1, B2 or B5; 150 classes
unless `--classes`) offline, saves it, loads it with `segformer_lab.from_pretrained`, checks that both give the
same logits, then times the two in turn (A B A B ...) and prints each median and the per-pair ratio
transformers / ours.
`--mode train` times one training step instead (bf16 autocast on CUDA, cross-entropy on the logits upsampled
to the input, backward, AdamW step). Appends one row to results/bench_vs_transformers.csv. Needs the `hf`
extra (transformers, safetensors).

    python benchmarks/bench_vs_transformers.py --size 512 --repeats 20
    python benchmarks/bench_vs_transformers.py --variant b2 --mode train --batch 8 --device cuda
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from segformer_lab.checkpoints import from_pretrained
from segformer_lab.results import append_csv, provenance
from segformer_lab.standins import transformers_fields

COLUMNS = ["benchmark", "variant", "height", "width", "batch", "classes", "optimizer", "threads", "repeats",
           "ours_ms", "transformers_ms", "ratio_transformers_over_ours", "ratio_min", "ratio_max", "max_abs_diff",
           "transformers_version", "transformers_attention", "git_commit", "torch_version", "device", "cpu_model", "date"]


def timed(fn, x, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1e3


SIZES = ("b0", "b1", "b2", "b5")
OPTIMIZERS = ("loop", "foreach", "fused")  # torch AdamW implementations; both models get the same one


def train_step(model, forward, target, device, optimizer="loop"):
    """One training step of `model` (forward: images -> logits at 1/4 scale) as a function of the images, with
    torch's AdamW in the named implementation (per-parameter loop, foreach, or fused)."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=6e-5, foreach=optimizer == "foreach",
                                  fused=optimizer == "fused")

    def step(x):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = forward(x)
        logits = torch.nn.functional.interpolate(logits.float(), size=target.shape[-2:], mode="bilinear",
                                                 align_corners=False)
        loss = torch.nn.functional.cross_entropy(logits, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512, help="input side (default 512)")
    parser.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    parser.add_argument("--repeats", type=int, default=20, help="timed pairs (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed pairs first (default 3)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--variant", choices=sorted(SIZES), default="b0", help="SegFormer size (default b0)")
    parser.add_argument("--mode", choices=["inference", "train"], default="inference",
                        help="time a forward pass, or a training step (default inference)")
    parser.add_argument("--classes", type=int, default=150, help="output classes (default 150, ADE20K's)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="loop",
                        help="torch AdamW implementation for both models in --mode train (default loop, torch's "
                             "CPU default; transformers' Trainer uses fused on torch >= 2.8)")
    parser.add_argument("--out", default="results/bench_vs_transformers.csv", help="CSV to append to")
    args = parser.parse_args(argv)

    import transformers
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    device = torch.device(args.device)
    torch.manual_seed(0)
    config = SegformerConfig(num_labels=args.classes, **transformers_fields(args.variant))
    theirs = SegformerForSemanticSegmentation(config).eval()
    with tempfile.TemporaryDirectory() as tmp:
        theirs.save_pretrained(tmp)
        ours = from_pretrained(tmp).eval()
    theirs, ours = theirs.to(device), ours.to(device)
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)

    with torch.inference_mode():
        diff = (theirs(pixel_values=x).logits - ours(x)).abs().max().item()
    if diff > 1e-3:
        raise SystemExit(f"outputs disagree: max |difference| {diff:.3g} > 1e-3")
    forward_theirs = lambda t: theirs(pixel_values=t).logits  # noqa: E731
    if args.mode == "train":
        target = torch.randint(0, args.classes, (args.batch, args.size, args.size), device=device)
        run_ours = train_step(ours, ours, target, device, args.optimizer)
        run_theirs = train_step(theirs, forward_theirs, target, device, args.optimizer)
    else:
        run_ours, run_theirs = torch.inference_mode()(ours), torch.inference_mode()(forward_theirs)
    pairs = []
    for i in range(args.warmup + args.repeats):
        t_ours, t_theirs = timed(run_ours, x, device), timed(run_theirs, x, device)
        if i >= args.warmup:
            pairs.append((t_ours, t_theirs))
    ours_ms = statistics.median(p[0] for p in pairs)
    theirs_ms = statistics.median(p[1] for p in pairs)
    ratios = [t / o for o, t in pairs]
    print(f"SegFormer-{args.variant.upper()} {args.mode}, {args.size}x{args.size}, batch {args.batch}, "
          f"{args.classes} classes{', AdamW ' + args.optimizer if args.mode == 'train' else ''}, {device}, "
          f"{torch.get_num_threads()} threads")
    print(f"  outputs agree: max |difference| = {diff:.2e}")
    print(f"  ours          median {ours_ms:8.1f} ms")
    print(f"  transformers  median {theirs_ms:8.1f} ms  ({transformers.__version__}, "
          f"attention {theirs.config._attn_implementation})")
    print(f"  transformers / ours: median {statistics.median(ratios):.2f}x "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f}) over {len(pairs)} pairs")

    row = {"benchmark": f"{args.variant}_{args.mode}_vs_transformers", "variant": f"segformer_{args.variant}",
           "height": args.size, "width": args.size, "batch": args.batch, "classes": args.classes,
           "optimizer": args.optimizer if args.mode == "train" else "", "threads": torch.get_num_threads(),
           "repeats": args.repeats,
           "ours_ms": ours_ms, "transformers_ms": theirs_ms, "ratio_transformers_over_ours": statistics.median(ratios),
           "ratio_min": min(ratios), "ratio_max": max(ratios), "max_abs_diff": diff,
           "transformers_version": transformers.__version__,
           "transformers_attention": theirs.config._attn_implementation, **provenance(args.device)}
    append_csv(args.out, row, COLUMNS)
    print(f"appended to {args.out}")


if __name__ == "__main__":
    main()

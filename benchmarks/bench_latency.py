"""Benchmark: CPU inference latency of the models of the architecture ablations, measured side by side.

The experiments record a latency as each run finishes, beside whatever else the machine is doing (the other
training run with `--jobs 2`), so those figures can rank models wrongly. This benchmark builds each variant of
the experiments named (their default preset's configs, 9 classes, untrained weights: latency does not depend on
them) and times one forward pass of batch 1 per model in turn, round after round, so that drift in the machine's
speed touches every model alike. Run it on an otherwise idle machine. One row per (experiment, variant, size) is
appended to results/bench_latency.csv: the median, min and max over the rounds, in milliseconds.

    python benchmarks/bench_latency.py [--experiments decoder_width model_size setr_vs_segformer]
                                       [--sizes 128 512] [--rounds 7] [--threads N]
"""
from __future__ import annotations

import argparse
import json

import torch

from segformer_lab.cost import latency_round_robin
from segformer_lab.registry import build_model
from segformer_lab.repo import load_experiment
from segformer_lab.results import append_csv, provenance
from segformer_lab.runner import planned_runs

COLUMNS = ["benchmark", "experiment", "variant", "model", "size", "threads", "rounds", "latency_ms",
           "latency_min_ms", "latency_max_ms", "git_commit", "torch_version", "device", "cpu_model", "date"]
EXPERIMENTS = ("decoder_width", "model_size", "setr_vs_segformer")


def models_of(experiment: str, preset: str = "default") -> dict:
    """{variant: model} for the variants an experiment plans at `preset` (one per distinct model, under the first
    variant that builds it: decoder_width's `*_fine` runs are its 9-class networks on other scenes;
    `model.variant` names the registry's model)."""
    out, built = {}, set()
    for variant, _, cfg in planned_runs(load_experiment(experiment), preset):
        key = (cfg.model, json.dumps(cfg.model_overrides, sort_keys=True))
        if key not in built:
            built.add(key)
            out[variant] = build_model(cfg.model, 9, **cfg.model_overrides).eval()
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS), choices=EXPERIMENTS)
    parser.add_argument("--sizes", nargs="+", type=int, default=[128, 512], help="square input sides (pixels)")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--out", default="results/bench_latency.csv", help="CSV to append to")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    for experiment in args.experiments:
        models = models_of(experiment)
        for size in args.sizes:
            for variant, latency in latency_round_robin(models, size, repeats=args.rounds).items():
                row = {"benchmark": "latency", "experiment": experiment, "variant": variant,
                       "model": models[variant].variant, "size": size, "threads": torch.get_num_threads(),
                       "rounds": args.rounds, **latency, **provenance()}
                print(f"{experiment:18s} {variant:14s} {size:4d} px: {row['latency_ms']:8.1f} ms "
                      f"(min {row['latency_min_ms']:.1f}, max {row['latency_max_ms']:.1f})")
                append_csv(args.out, row, COLUMNS)


if __name__ == "__main__":
    main()

"""Benchmark: generation speed of the embedded benchmark on one core (images per second at 128 px).

Renders training crops (scene construction included) of one scene family in one thread and appends a row to
results/bench_synthetic.csv. The target is at least 200 images/s at 128 px.

    python benchmarks/bench_synthetic.py --count 400 [--family street]
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one core: set before numpy loads its BLAS

import argparse
import time

import numpy as np

from segformer_lab.data.synthetic import SyntheticScenes
from segformer_lab.results import append_csv, provenance

COLUMNS = ["benchmark", "crop", "count", "repeats", "images_per_s", "images_per_s_min", "images_per_s_max",
           "git_commit", "torch_version", "device", "cpu_model", "date"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crop", type=int, default=128, help="crop side in pixels (default 128)")
    parser.add_argument("--count", type=int, default=400, help="images per timed pass (default 400)")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes (default 5)")
    parser.add_argument("--family", default="aerial", choices=["aerial", "street"], help="scene family")
    parser.add_argument("--out", default="results/bench_synthetic.csv", help="CSV to append to")
    args = parser.parse_args(argv)
    rates = []
    for r in range(args.repeats):
        ds = SyntheticScenes("train", args.count, seed=r, crop=args.crop, family=args.family)
        t0 = time.perf_counter()
        for i in range(len(ds)):
            ds.load(i)
        rates.append(args.count / (time.perf_counter() - t0))
    median = float(np.median(rates))
    print(f"embedded benchmark ({args.family}), {args.crop} px crops, one thread: median {median:.0f} images/s "
          f"(min {min(rates):.0f}, max {max(rates):.0f}, {args.repeats} passes of {args.count})")
    name = "synthetic_generation" + ("" if args.family == "aerial" else f"_{args.family}")
    row = {"benchmark": name, "crop": args.crop, "count": args.count, "repeats": args.repeats,
           "images_per_s": median, "images_per_s_min": min(rates), "images_per_s_max": max(rates), **provenance()}
    append_csv(args.out, row, COLUMNS)


if __name__ == "__main__":
    main()

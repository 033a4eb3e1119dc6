"""Check: a sweep through submitit's local executor and through Slurm writes the rows `--jobs 1` writes.

Runs `segformer-lab run EXPERIMENTS --preset smoke` three ways into a temporary folder, each from an empty
pretraining cache: `--jobs 1`, `--executor local`, and `--executor slurm` against the stand-in sbatch / srun /
sacct / scancel of tests/slurm_standin.py (they run each submitted script on this machine). Then every CSV of each
is compared with `--jobs 1`'s, row by row, on every column but the timings (train_seconds, seconds_per_image,
corrupt_seconds_per_image, peak_mem_mb), the date and the commit. One row per (CSV, way) is appended to
results/executor_parity.csv: rows, columns compared, equal or not, the way's wall seconds and --jobs 1's (with
nproc and the CPU model); exits 1 if any differs.
Needs the cluster extra (pip install -e ".[cluster]").

    python benchmarks/executor_parity.py [--experiments pe_vs_mixffn robustness]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from segformer_lab.results import cpu_model

ROOT = Path(__file__).resolve().parents[1]
STANDIN = ROOT / "tests" / "slurm_standin.py"
TIMINGS = {"train_seconds", "seconds_per_image", "corrupt_seconds_per_image", "peak_mem_mb", "date", "git_commit"}
WAYS = {"jobs1": ["--jobs", "1"], "local": ["--executor", "local"],
        "slurm": ["--executor", "slurm", "--slurm", "gpus=0", "--slurm", "partition=cpu"]}


def standin_bin(folder: Path) -> Path:
    """sbatch, srun, sacct and scancel in `folder`, each the stand-in."""
    folder.mkdir(parents=True, exist_ok=True)
    for command in ("sbatch", "srun", "sacct", "scancel"):
        path = folder / command
        path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" {command} "$@"\n')
        path.chmod(0o755)
    return folder


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", nargs="+", default=["pe_vs_mixffn", "robustness"])
    parser.add_argument("--out", default=str(ROOT / "results" / "executor_parity.csv"))
    args = parser.parse_args(argv)
    rows, seconds = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, PATH=f"{standin_bin(tmp / 'bin')}{os.pathsep}{os.environ['PATH']}",
                   SLURM_STANDIN_DIR=str(tmp / "slurm"))
        for way, extra in WAYS.items():
            env["SEGFORMER_LAB_CACHE"] = str(tmp / way / "cache")  # each from an empty pretraining cache
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "segformer_lab.cli", "run", *args.experiments, "--preset", "smoke",
                            "--quiet", "--results", str(tmp / way / "results"), "--runs", str(tmp / way / "runs"),
                            *extra], env=env, check=True, stdout=subprocess.DEVNULL)
            seconds[way] = time.perf_counter() - start
            print(f"{way}: {seconds[way]:.0f} s", flush=True)
        for reference in sorted((tmp / "jobs1" / "results").glob("*.csv")):
            a = pd.read_csv(reference)
            keys = [c for c in a.columns if c not in TIMINGS]
            for way in ("local", "slurm"):
                b = pd.read_csv(tmp / way / "results" / reference.name)
                order = keys[:8]
                equal = (len(a) == len(b) and a[keys].sort_values(order).reset_index(drop=True).equals(
                    b[keys].sort_values(order).reset_index(drop=True)))
                rows.append({"csv": reference.name, "way": way, "rows": len(b), "columns_compared": len(keys),
                             "equal_to_jobs1": equal, "seconds": round(seconds[way], 1),
                             "jobs1_seconds": round(seconds["jobs1"], 1), "nproc": os.cpu_count(),
                             "cpu_model": cpu_model(),
                             "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
                print(f"{reference.name} {way}: {len(b)} rows, {len(keys)} columns, equal to --jobs 1: {equal}")
    out = Path(args.out)
    table = pd.DataFrame(rows)
    table.to_csv(out, mode="a", header=not out.is_file(), index=False)
    return 0 if table["equal_to_jobs1"].all() else 1


if __name__ == "__main__":
    sys.exit(main())

"""The time budget of `run --time-budget`: how long a pending run will take on this machine, from the runs it
has already measured, and which runs start first.

A run's estimate is, in this order of preference:
- "measured": the median training time of the rows in the results folder with the same model, model config,
  iterations, batch and crop on the same device;
- "estimated": its training FLOPs (3x the forward's, per image, times iterations x batch) over the median
  training FLOP rate of that model's rows on this device, else of every row on this device: of the rows made
  since the device's latest bench_gpu row, where it has one;
- "benchmarked": where this device has no run's row since then, the same FLOPs over the training rate that
  benchmarks/bench_gpu.py measured on it (`bench_gpu.csv` in the results folder: the engine's own loop,
  `preset_img_s`, of the same model, else the median of its models): a GPU sitting runs that benchmark first,
  so its first runs are sized by the rate it has just measured, not by the rates of runs made with other code
  (an earlier loader), and each run it finishes then sizes the next;
- "unknown" where this device has neither: the run starts (nothing says it cannot finish), and once it
  has finished its row gives the next runs a measured rate.
A missing embedded pretraining the run needs adds its images at the same rate. A run starts only when MARGIN
times its estimate fits in the time left; a run already finished elsewhere (copied, not trained) always counts.

Priority: an experiment may declare `priority`, shell patterns of the variants behind the report's claims that are
not tested yet; `run` trains those first (in every experiment of the command), then the rest.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import json
import math
import statistics
import time
from pathlib import Path

import torch

from .cost import count_flops
from .engine import TrainConfig, pretrain_config, run_model
from .pretrain import pretrained_path
from .results import read_rows

MARGIN = 1.2  # the evaluations after training and the spread of training times between runs of one config
TRAIN_FLOPS_PER_FORWARD = 3  # a training step's forward and backward, counted as 3 forwards


def train_flop_rate(gflops, iterations, batch_size, seconds):
    """Training FLOPs per second of a run (numbers or columns): TRAIN_FLOPS_PER_FORWARD forwards of `gflops` per
    image, iterations x batch_size images, in `seconds`."""
    return TRAIN_FLOPS_PER_FORWARD * gflops * 1e9 * iterations * batch_size / seconds


def resolved_device(device: str) -> str:
    """The name a results row gives `device` ("cpu", or the GPU's name)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(device)
    return device


def priority_first(items: list, patterns) -> list:
    """`items` (tuples whose first entry is a variant name) with those matching one of `patterns` first, each
    group in its own order."""
    def first(item):
        return any(fnmatch.fnmatchcase(item[0], p) for p in patterns)
    return [i for i in items if first(i)] + [i for i in items if not first(i)]


@dataclasses.dataclass
class Estimate:
    seconds: float | None  # None: unknown
    how: str  # "measured", "estimated" or "unknown"


class TimeBudget:
    """A wall-clock budget shared by every run of one command (`clock` is replaceable, for tests)."""

    def __init__(self, minutes: float, results_dir, clock=time.monotonic):
        if not minutes > 0:
            raise ValueError(f"time budget {minutes} min; expected a positive number of minutes")
        self.seconds, self.results_dir, self.clock = 60.0 * minutes, Path(results_dir), clock
        self.start = clock()
        self.left: list = []  # (experiment, variant, seed, Estimate) of the runs not started
        self._flops: dict = {}

    def remaining(self) -> float:
        return self.seconds - (self.clock() - self.start)

    def admits(self, experiment: str, variant: str, seed: int, cfg: TrainConfig) -> bool:
        """Whether the run fits in the time left (else it is recorded in `left`)."""
        estimate = self.estimate(cfg)
        if estimate.seconds is None or MARGIN * estimate.seconds <= self.remaining():
            return True
        self.left.append((experiment, variant, seed, estimate))
        return False

    def summary(self) -> str:
        """One line: the time used and the runs left, with their estimated total."""
        used = (self.seconds - self.remaining()) / 60
        if not self.left:
            return f"time budget {self.seconds / 60:g} min: {used:.1f} min used, no run left"
        known = [e.seconds for *_, e in self.left if e.seconds is not None]
        names = ", ".join(f"{x} {v} s{s}" for x, v, s, _ in self.left)
        return (f"time budget {self.seconds / 60:g} min: {used:.1f} min used, {len(self.left)} run(s) left that "
                f"would not finish in it (about {sum(known) / 60:.0f} min by estimate): {names}")

    # estimates
    def estimate(self, cfg: TrainConfig) -> Estimate:
        device = resolved_device(cfg.device)
        rows = [r for r in self._rows() if r["device"] == device]
        same_model = [r for r in rows if r["model"] == cfg.model and r["overrides"] == cfg.model_overrides]
        exact = [r["train_seconds"] for r in same_model
                 if (r["iterations"], r["batch_size"], r["crop_size"]) == (cfg.iterations, cfg.batch_size,
                                                                           cfg.crop_size)]
        bench = [b for b in self._bench_rates() if b["device"] == device]
        since = max((b["date"] for b in bench), default="")  # a later benchmark supersedes the rates of earlier runs
        recent = [r for r in rows if r["date"] >= since]
        rates = [r["rate"] for r in ([r for r in same_model if r["date"] >= since] or recent)]
        how = "estimated"
        if not rates:
            rates, how = [b["rate"] for b in ([b for b in bench if b["model"] == cfg.model] or bench)], "benchmarked"
        pretraining = self._pretraining_flops(cfg)
        if exact:
            extra = pretraining / statistics.median(rates) if pretraining else 0.0
            return Estimate(statistics.median(exact) + extra, "measured")
        if not rates:
            return Estimate(None, "unknown")
        flops = TRAIN_FLOPS_PER_FORWARD * self._forward_flops(cfg, cfg.crop_size) * cfg.iterations * cfg.batch_size
        return Estimate((flops + pretraining) / statistics.median(rates), how)

    def forecast(self, runs: list, jobs: int = 1, first: int = 0) -> str:
        """One line, printed before a command starts: the estimated training time of `runs` ([(experiment,
        variant, seed, cfg)], in the order they would start, the `first` of them behind the claims not tested
        yet) against the budget, and how many of them, in that order, fit in it (each run's estimate times MARGIN,
        `jobs` running at once; an infinite budget: the estimate alone)."""
        estimates = [self.estimate(cfg) for *_, cfg in runs]
        known = [e.seconds for e in estimates if e.seconds is not None]
        hows = ", ".join(f"{n} {how}" for how in ("measured", "estimated", "benchmarked", "unknown")
                         if (n := sum(e.how == how for e in estimates)))
        slots, fit, blind = [0.0] * jobs, 0, False
        for e in estimates:  # each run to the first process free, as the runner starts them
            if e.seconds is None:
                blind = True
                break
            slot = min(range(jobs), key=slots.__getitem__)
            if slots[slot] + MARGIN * e.seconds > self.seconds:
                break
            slots[slot] += MARGIN * e.seconds
            fit += 1
        line = f"estimate before starting: {len(runs)} run(s) to train ({hows or 'none'})"
        if first:
            line += f", the first {first} behind the claims not tested yet"
        if known:
            line += (f", {sum(known) / 60:.1f} min of training by estimate"
                     + (f" ({jobs} at once: about {sum(known) / 60 / jobs:.1f} min)" if jobs > 1 else ""))
        if not blind:
            fits = f"; the first {fit} fit in the {self.seconds / 60:g} min budget"
            return line if math.isinf(self.seconds) else line + fits
        line += (f"; from run {fit + 1} on no estimate on {resolved_device(runs[fit][-1].device)} (no run or "
                 "bench_gpu row of its device)")
        return line if math.isinf(self.seconds) else line + (": those start while time is left, and each finished "
                                                              "run's row sizes the next")

    def _pretraining_flops(self, cfg: TrainConfig) -> float:
        """The training FLOPs of the embedded pretraining `cfg` needs, 0 where it is cached (or not needed)."""
        if cfg.encoder_weights != "embedded":
            return 0.0
        pcfg = pretrain_config(cfg)
        if pretrained_path(pcfg).is_file():
            return 0.0
        return (TRAIN_FLOPS_PER_FORWARD * self._forward_flops(cfg, pcfg.crop_size) * pcfg.iterations
                * pcfg.batch_size)

    def _forward_flops(self, cfg: TrainConfig, crop: int) -> float:
        key = (cfg.model, json.dumps(cfg.model_overrides, sort_keys=True), cfg.dataset, cfg.scene_family, crop)
        if key not in self._flops:
            self._flops[key] = count_flops(run_model(cfg), crop)["flops"]
        return self._flops[key]

    def _bench_rates(self) -> list:
        """[{"model", "device", "rate"}]: the engine's training FLOP rate per model that bench_gpu.py measured
        (its `step_128` rows: the pure step's FLOP rate scaled by the engine's images/s over the step's)."""
        rates = []
        for r in read_rows(self.results_dir / "bench_gpu.csv"):
            try:
                step, preset, tflops = float(r["step_img_s"]), float(r["preset_img_s"]), float(r["tflops"])
            except (KeyError, TypeError, ValueError):
                continue
            if step > 0 and preset > 0 and tflops > 0:  # NaN compares false: rows without the engine's rate
                rates.append({"model": r["model"], "device": r["device"], "date": r.get("date") or "",
                              "rate": tflops * 1e12 * preset / step})
        return rates

    def _rows(self) -> list:
        """Every row of the results folder's CSVs with a training time, FLOPs and a device, parsed, with its
        training FLOP rate."""
        rows = []
        for path in sorted(self.results_dir.glob("*.csv")):
            for r in read_rows(path):
                try:
                    row = {"model": r["model"], "overrides": json.loads(r["model_overrides"] or "{}"),
                           "device": r["device"], "iterations": int(r["iterations"]),
                           "batch_size": int(r["batch_size"]), "crop_size": int(r["crop_size"]),
                           "train_seconds": float(r["train_seconds"]), "gflops": float(r["gflops"]),
                           "date": r.get("date") or ""}
                except (KeyError, TypeError, ValueError):  # not a run's row (a benchmark, a cost table)
                    continue
                if row["train_seconds"] > 0 and row["gflops"] > 0:
                    row["rate"] = train_flop_rate(row["gflops"], row["iterations"], row["batch_size"],
                                                  row["train_seconds"])
                    rows.append(row)
        return rows

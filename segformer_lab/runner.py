"""Run an experiment declared as data and append one tidy CSV row per finished run.

An experiment is `experiments/<name>.py` declaring one `segformer_lab.ablation.Experiment` (or Ablation): a
base TrainConfig, its variants, the fields of each preset, seeds, extra evaluations (`evals`: an entry with
"families": (...) applies only to runs on those scene families, the others get NaN), `extra_metrics`,
`condition_rows` (several rows per run, one per test condition) and `analysis` (work beyond single runs),
called after the runs.

`run_experiment` trains what is missing (resuming an interrupted run from its checkpoint, or copying a finished
run of the same config from another experiment), skips runs whose run id (a hash of the full config) is already
in `results/<experiment>.csv`, and rewrites that CSV atomically after each run, so a kill at any moment leaves
a valid file with no partial or duplicate row.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import math
import os
import shutil
import threading
import time
from pathlib import Path

from .ablation import Experiment
from .budget import priority_first
from .cost import count_flops, count_params, peak_memory
from .engine import TrainConfig, evaluate_run, pretrain_config, run_model, train
from .pretrain import SHARED_RECIPE, pretrained_path, recipe_for
from .presets import PRESETS
from .results import git_commit, provenance, read_rows, rerun_number, write_csv

IDENTITY = ["experiment", "variant", "seed", "preset", "run_id", "rerun"]  # rerun: results.rerun_number
CONFIG_COLUMNS = ["model", "model_overrides", "scene_family", "iterations", "batch_size", "crop_size", "lr",
                  "encoder_weights"]
METRICS = ["miou", "thing_miou", "stuff_miou", "macc", "aacc"]
COST = ["params", "gflops", "train_seconds", "peak_mem_mb"]
PROVENANCE = ["git_commit", "torch_version", "device", "cpu_model", "date"]  # cpu_model: empty in rows made before it


# TrainConfig fields added after results were committed: left out of the run id at these values, so the ids of
# runs made before them stay valid (the runner skips them instead of training them again).
LATER_FIELDS = {"scene_family": "aerial", "pretrain_pretext": "presence", "context_distance": 24.0,
                "pretrain_recipe": "shared", "pretrain_crop": 0, "loader": "samples",
                "compile": False}


def run_id(cfg: TrainConfig) -> str:
    """A short hash of the full training config. For "embedded" encoder weights pretrain_recipe="family" stands
    for the family's recipe itself (its lr and weight decay), so a new choice of recipe gives new run ids, and a
    family whose recipe is the shared one has the ids of its "shared" runs; for other weights the recipe plays
    no part."""
    values = {k: v for k, v in cfg.to_dict().items() if not (k in LATER_FIELDS and v == LATER_FIELDS[k])}
    if cfg.encoder_weights != "embedded":
        values.pop("pretrain_recipe", None)
    elif cfg.pretrain_recipe == "family":
        recipe = recipe_for(cfg.model, cfg.model_overrides)
        if recipe == SHARED_RECIPE:  # the same pretraining as "shared": the same run, the same id
            values.pop("pretrain_recipe", None)
        else:
            values["pretrain_recipe"] = recipe
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


def columns(experiment) -> list:
    """The fixed column order of an experiment's CSV."""
    evals = [f"{name}_{m}" for name in experiment.evals for m in ("miou", "thing_miou")]
    extra = list(experiment.extra_columns)
    return IDENTITY + CONFIG_COLUMNS + METRICS + evals + extra + COST + PROVENANCE


def planned_runs(experiment, preset: str, declared: bool = False) -> list:
    """[(variant, seed, TrainConfig)] of an experiment under a preset, seed by seed (every variant of seed 0
    first), so that an interrupted sweep already compares all variants. With declared=True, every declared
    variant at the preset's settings, also those its preset_variants leaves out (rows kept, not trained again)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {PRESETS}")
    runs = []
    names = (list(experiment.variants) if declared
             else experiment.preset_variants.get(preset, list(experiment.variants)))
    unknown = sorted(set(names) - set(experiment.variants))
    if unknown:
        raise ValueError(f"{experiment.name}: preset_variants[{preset!r}] names unknown variant(s) {unknown}; "
                         f"variants: {list(experiment.variants)}")
    fewer = experiment.variant_seeds.get(preset, {})
    for seed in experiment.seeds[preset]:
        for variant in names:
            if seed not in fewer.get(variant, (seed,)):
                continue
            fields = experiment.variants[variant]
            values = {**experiment.base.to_dict(), **experiment.presets[preset], **fields, "seed": seed}
            runs.append((variant, seed, TrainConfig.from_dict(values, f"{experiment.name}/{variant}")))
    return runs


def priority_variants(experiment, preset: str) -> tuple:
    """The variants of `experiment` planned under `preset` that match its `priority` patterns, in plan order."""
    patterns = experiment.priority
    names = dict.fromkeys(v for v, _, _ in planned_runs(experiment, preset))
    return tuple(v for v in names if any(fnmatch.fnmatchcase(v, p) for p in patterns))


def run_experiment(experiment, preset: str = "quick", results_dir="results", runs_dir="runs", data: str = "",
                   progress: bool = True, only: tuple = (), jobs: int = 1, budget=None) -> Path:
    """Run every missing (variant, seed) of `experiment` under `preset` (with `only`, the variants matching one of
    these shell patterns, e.g. "*_street"); returns the CSV path. With jobs > 1, that many runs train at once in
    separate processes (each embedded pretraining they need made once, by the first run that needs it), and each
    row is written as its run finishes: for a GPU, which small models leave mostly idle (four MiT-B0 runs at once
    train 2.2x as many images per second on an H100 as one). Each process gets an equal share of the CPU threads
    and, on a machine with several GPUs, its own GPU (round-robin: `worker_devices`). With `budget` (a
    `budget.TimeBudget`), the experiment's priority variants come first and a run starts only if its estimate
    fits in the time left; the others are recorded in `budget.left`."""
    if jobs < 1:
        raise ValueError(f"jobs={jobs}; expected a positive number of runs at once")
    out = Path(results_dir) / f"{experiment.name}.csv"
    commit = git_commit()  # the code this process runs, even if the checkout changes while it runs
    cols = columns(experiment)
    rows = read_rows(out)
    todo = missing_runs(experiment, preset, rows, runs_dir, data, only)
    if budget is not None:
        todo = priority_first(todo, experiment.priority)

    def record(variant, seed, cfg, rid, run_dir, metrics) -> None:
        write_rows(out, rows, measure(experiment, preset, variant, seed, cfg, rid, run_dir, metrics, results_dir,
                                      runs_dir, commit), results_dir, cols, metrics["miou"])

    def admits(item) -> bool:
        return budget is None or budget.admits(experiment.name, *item[:3])

    if jobs == 1:
        for variant, seed, cfg, rid, run_dir in todo:
            metrics = reuse_finished(runs_dir, rid, run_dir)
            if metrics is None and not admits((variant, seed, cfg)):
                continue
            record(variant, seed, cfg, rid, run_dir, metrics or train(cfg, run_dir, progress=progress))
    else:
        _run_parallel(todo, runs_dir, jobs, record, None if budget is None else admits)
    if experiment.analysis is not None:
        experiment.analysis(results_dir, preset, runs_dir)
    return out


def measure(experiment, preset: str, variant: str, seed: int, cfg: TrainConfig, rid: str, run_dir, metrics: dict,
            results_dir, runs_dir, commit: str) -> list:
    """The CSV rows of one finished run (one, or one per test condition): its identity and config, `metrics`, the
    experiment's extra evaluations and metrics, costs and provenance (of this machine: the one that trained it).
    The rerun number is left for `write_rows`, which sees every row written before."""
    run_dir = Path(run_dir)
    row = {"experiment": experiment.name, "variant": variant, "seed": seed, "preset": preset, "run_id": rid,
           **{k: json.dumps(v) if isinstance(v, dict) else v for k, v in cfg.to_dict().items() if k in CONFIG_COLUMNS},
           **{k: metrics[k] for k in METRICS}, "train_seconds": metrics["train_seconds"]}
    for name, kwargs in experiment.evals.items():
        kwargs = dict(kwargs)
        if cfg.scene_family not in kwargs.pop("families", (cfg.scene_family,)):
            continue
        result = evaluate_run(run_dir, **kwargs)
        row.update({f"{name}_miou": result["miou"], f"{name}_thing_miou": result["thing_miou"]})
    if experiment.extra_metrics is not None:
        row.update(experiment.extra_metrics(run_dir, cfg, results_dir))
    row.update(_costs(cfg), **{**provenance(cfg.device), "git_commit": commit})
    row = {c: row.get(c, math.nan) for c in columns(experiment)}
    if experiment.condition_rows is None:
        return [row]
    return [{**row, **cond} for cond in experiment.condition_rows(run_dir, cfg, preset, runs_dir)]


def write_rows(out: Path, rows: list, new: list, results_dir, cols: list, miou: float) -> None:
    """Append `new` (the rows of one run of mIoU `miou`, from `measure`) to `rows` with their rerun number and
    rewrite `out`."""
    rerun = rerun_number(results_dir, new[0]["run_id"], miou)
    rows.extend({**row, "rerun": rerun} for row in new)
    write_csv(out, rows, cols)


def missing_runs(experiment, preset: str, rows: list, runs_dir, data: str, only: tuple) -> list:
    """[(variant, seed, cfg, run id, run dir)] of the planned runs without a row in `rows`; with `only`, of the
    declared variants matching it (also those the preset's preset_variants leaves out)."""
    plan = planned_runs(experiment, preset, declared=bool(only))
    if only:
        plan = [run for run in plan if any(fnmatch.fnmatchcase(run[0], p) for p in only)]
        if not plan:
            raise ValueError(f"{experiment.name}: no variant matches {list(only)}; variants: {list(experiment.variants)}")
    done, todo = {row["run_id"] for row in rows}, []
    for variant, seed, cfg in plan:
        cfg = on_data(cfg, data)
        rid = run_id(cfg)
        if rid not in done:
            todo.append((variant, seed, cfg, rid, Path(runs_dir) / experiment.name / f"{variant}_s{seed}_{rid}"))
            done.add(rid)
    return todo


def plan_experiment(experiment, preset: str = "quick", results_dir="results", runs_dir="runs", data: str = "",
                    only: tuple = (), trained_before: set | None = None) -> dict:
    """What `run_experiment` would do, without doing it: the planned runs, those with a row already, and of the
    missing ones those it would take from a finished run directory (its own, another experiment's, or one of
    `trained_before`: run ids an earlier experiment of the same command trains), resume from a checkpoint or
    train from the start; the embedded pretrainings missing from the cache; and the training images
    (iterations x batch, counted in 128 px crops: a 256 px crop counts 4) of the runs to resume or train (a
    resumed run counts whole: an upper bound). The ids of the runs to resume or train are added to
    `trained_before`."""
    trained_before = set() if trained_before is None else trained_before
    done = {row["run_id"] for row in read_rows(Path(results_dir) / f"{experiment.name}.csv")}
    planned = missing_runs(experiment, preset, [], runs_dir, data, only)
    todo = [item for item in planned if item[3] not in done]
    reuse, resume, fresh = [], [], []
    for item in todo:
        rid, run_dir = item[3], item[4]
        finished = is_finished(run_dir) if run_dir.exists() else _finished_elsewhere(runs_dir, rid) is not None
        if finished or rid in trained_before:
            reuse.append(item)
        else:
            (resume if (run_dir / "checkpoint.pt").is_file() else fresh).append(item)
    pretrainings = set()
    for item in resume + fresh:
        trained_before.add(item[3])
        path = pretrained_path(pretrain_config(item[2])) if item[2].encoder_weights == "embedded" else None
        if path is not None and not path.is_file():
            pretrainings.add(path.name)
    images = sum(cfg.iterations * cfg.batch_size * (cfg.crop_size / 128) ** 2 for _, _, cfg, _, _ in resume + fresh)
    return {"experiment": experiment.name, "preset": preset, "planned": len(planned),
            "done": len(planned) - len(todo),
            "reuse": len(reuse), "resume": len(resume), "train": len(fresh), "pretrainings": sorted(pretrainings),
            "images_128px": int(images), "runs": [item[:3] for item in resume + fresh]}


def visible_gpus() -> list:
    """The GPUs this process may use, by the names CUDA_VISIBLE_DEVICES gives them (its own list where it is set,
    else 0, 1, ...); none without CUDA."""
    import torch
    if not torch.cuda.is_available():
        return []
    count = torch.cuda.device_count()
    listed = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return listed[:count] if listed else [str(i) for i in range(count)]


def worker_devices(jobs: int, gpus: list) -> list:
    """The CUDA_VISIBLE_DEVICES of each of `jobs` workers: the GPUs `gpus` round-robin (worker i sees gpus[i % G]
    alone, so a run never sees another's GPU), or None for every worker where there is no GPU."""
    if jobs < 1:
        raise ValueError(f"jobs={jobs}; expected a positive number of runs at once")
    return [gpus[i % len(gpus)] if gpus else None for i in range(jobs)]


def describe_workers(devices: list) -> str:
    """One line saying which GPU each worker trains on ("" where there is none)."""
    if not any(d is not None for d in devices):
        return ""
    gpus = sorted(set(devices), key=devices.index)
    return (f"{len(devices)} workers on {len(gpus)} GPU{'s' * (len(gpus) > 1)} (CUDA_VISIBLE_DEVICES per worker): "
            + ", ".join(f"worker {i + 1} -> GPU {d}" for i, d in enumerate(devices))
            + "; each run starts on the first free worker")


def use_device(device: str | None) -> None:
    """Make GPU `device` the only one this process sees (before CUDA starts in it); None leaves it as it is."""
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = device


def _pool_init(threads: int, parent: int, device: str | None = None) -> None:
    import torch
    use_device(device)
    torch.set_num_threads(threads)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int, every: float = 1.0) -> None:
    """End this pool worker once the process that started it is gone (a killed `run --jobs N` would otherwise
    leave its workers training); the worker is reparented, so its parent pid changes."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)


def _train_job(cfg: TrainConfig, run_dir: str) -> dict:
    return train(cfg, run_dir, progress=False)


class Workers:
    """`jobs` training processes (spawned: no CUDA state shared with this one), each with an equal share of the CPU
    threads and its own GPU from `worker_devices`; a run goes to the first free one."""

    def __init__(self, jobs: int, threads: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        self.devices = worker_devices(jobs, visible_gpus())
        context = multiprocessing.get_context("spawn")
        self.pools = [ProcessPoolExecutor(1, mp_context=context, initializer=_pool_init,
                                          initargs=(threads, os.getpid(), d)) for d in self.devices]
        self.running = {}  # future -> (worker, item)

    def free(self) -> int:
        return len(self.pools) - len(self.running)

    def start(self, item) -> None:
        """Train `item` (variant, seed, cfg, run id, run dir) on the first free worker."""
        worker = min(set(range(len(self.pools))) - {w for w, _ in self.running.values()})
        if self.devices[worker] is not None:
            print(f"GPU {self.devices[worker]} (worker {worker + 1}): {item[4].name}", flush=True)
        self.running[self.pools[worker].submit(_train_job, item[2], str(item[4]))] = (worker, item)

    def finished(self) -> list:
        """[(item, metrics)] of the runs that finish next (waits for at least one)."""
        from concurrent.futures import FIRST_COMPLETED, wait
        done, _ = wait(self.running, return_when=FIRST_COMPLETED)
        return [(self.running.pop(f)[1], f.result()) for f in done]

    def close(self) -> None:
        for pool in self.pools:
            pool.shutdown(cancel_futures=True)


def _run_parallel(todo: list, runs_dir, jobs: int, record, admits=None) -> None:
    """Train `todo` (variant, seed, cfg, run id, run dir) `jobs` at a time and `record` each as it finishes. A run
    starts when a worker is free and `admits` it at that moment (a time budget; None admits every run); it makes its
    own embedded pretraining if missing, and a run whose missing pretraining a running run is making waits for it
    while the next one goes first (so each pretraining is made once). On a machine with GPUs each worker has its
    own (`worker_devices`), and the line at start says which."""
    import torch
    threads = max(1, torch.get_num_threads() // jobs)
    waiting = []
    for item in todo:  # runs copied from another experiment need no process
        metrics = reuse_finished(runs_dir, item[3], item[4])
        if metrics is not None:
            record(*item, metrics)
        else:
            waiting.append(item)
    if not waiting:
        return

    def making(item) -> str | None:  # the pretraining this run would make, if missing
        cfg = item[2]
        if cfg.encoder_weights != "embedded" or pretrained_path(pretrain_config(cfg)).is_file():
            return None
        return pretrained_path(pretrain_config(cfg)).name

    # This process evaluates each finished run (`record`) while the workers train: with its own share of the
    # threads, not all of them (on 2 cores, 2 threads here beside two 1-thread workers made a robustness
    # evaluation 3.7x slower than 1 thread: 0.171 against 0.046 s per image).
    own_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    workers = Workers(jobs, threads)
    if line := describe_workers(workers.devices):
        print(line, flush=True)
    try:
        while waiting or workers.running:
            while workers.free():
                busy = {making(i) for _, i in workers.running.values()} - {None}
                item = next((i for i in waiting if making(i) is None or making(i) not in busy), None)
                if item is None:
                    break
                waiting.remove(item)
                if admits is None or admits(item):
                    workers.start(item)
            if not workers.running:
                break
            for item, metrics in workers.finished():
                record(*item, metrics)
    finally:
        workers.close()
        torch.set_num_threads(own_threads)


def on_data(cfg: TrainConfig, data: str) -> TrainConfig:
    """cfg on the real dataset `data` ("name:root"), or unchanged for "" (the embedded benchmark). A real dataset
    is read per sample: a preset's scene bank (gpu) gives way to loader="samples"."""
    if not data:
        return cfg
    return dataclasses.replace(cfg, dataset=data.split(":")[0], data_root=data.split(":", 1)[1], loader="samples")


def prune(experiment, preset: str, results_dir="results", data: str = "") -> list:
    """Drop from `<results_dir>/<experiment>.csv` the rows of `preset` that the experiment no longer declares (their
    run id is not that of a declared variant at the preset's settings, e.g. after a change of a declared config),
    and the files of those runs under `<results_dir>/<experiment>/` (ERF maps); returns the dropped rows. Other
    presets' rows stay, and so do the rows of declared variants the preset no longer trains (its preset_variants)."""
    if not isinstance(experiment, Experiment):
        raise ValueError(f"{experiment.name}: declares no runs (not an Experiment), so it has no plan to prune against")
    out = Path(results_dir) / f"{experiment.name}.csv"
    if not out.is_file():
        raise FileNotFoundError(f"{out}: no results to prune")
    planned = {run_id(on_data(cfg, data)) for _, _, cfg in planned_runs(experiment, preset, declared=True)}
    rows = read_rows(out)
    stale = [r["preset"] == preset and r["run_id"] not in planned for r in rows]
    dropped = [r for r, gone in zip(rows, stale) if gone]
    if dropped:
        write_csv(out, [r for r, gone in zip(rows, stale) if not gone], list(rows[0]))  # the file's own columns
        for r in dropped:
            for path in (Path(results_dir) / experiment.name).glob(f"{r['variant']}_s{r['seed']}_{r['run_id']}_*"):
                path.unlink()
    return dropped


def reuse_finished(runs_dir, rid: str, run_dir: Path) -> dict | None:
    """The metrics of a finished run with the same config (run id) in another experiment, copied to `run_dir`
    (training is deterministic: the same config gives the same model), or None."""
    other = None if run_dir.exists() else _finished_elsewhere(runs_dir, rid)
    if other is None:
        return None
    tmp = run_dir.with_name(run_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(other, tmp)
    tmp.rename(run_dir)  # a kill during the copy leaves no half-copied run directory
    return json.loads((run_dir / "metrics.json").read_text())


def is_finished(run_dir: Path) -> bool:
    return (run_dir / "metrics.json").is_file() and (run_dir / "model.pt").is_file()


def _finished_elsewhere(runs_dir, rid: str) -> Path | None:
    """The first finished run directory of run id `rid` under `runs_dir` (any experiment), or None."""
    return next((d for d in sorted(Path(runs_dir).glob(f"*/*_{rid}")) if is_finished(d)), None)


def _costs(cfg: TrainConfig) -> dict:
    """Params, GFLOPs and inference peak memory of the run's model (with its data's class count) at its training
    crop."""
    model = run_model(cfg)
    return {**{k: v for k, v in count_params(model).items() if k == "params"},
            "gflops": count_flops(model, cfg.crop_size)["flops"] / 1e9,
            "peak_mem_mb": peak_memory(model, cfg.crop_size)["peak_bytes"] / 2**20}

"""Sweeps beyond one machine: each missing run of an experiment as a job, through submitit (the `cluster` extra).

`segformer-lab run EXPERIMENTS --executor slurm` submits every missing run to Slurm: the embedded pretrainings
first, and a run that needs one depends on its job (`afterok`). `--executor local` runs the same jobs through
submitit's local executor on this machine, `--jobs` at a time, each on its own GPU where there are several. A job
trains its run (resuming from the run directory's checkpoint) and measures it: the experiment's evaluations and
extra metrics, costs and the provenance of the machine that trained it. Only the submitting process writes CSV
rows, one run at a time as its job finishes, so no two processes write one file on a shared filesystem. Run ids,
run directories and the reuse of finished ones are the runner's: the same command again submits only what is
still missing.

With `nodes` x `tasks_per_node` > 1 (`--nodes`, `--gpus-per-node`, `--tasks-per-node`) a run trains across
processes through DistributedDataParallel, as under torchrun: submitit's distributed environment gives each
process its rank. A job stopped at its time limit or preempted is requeued and resumes from its checkpoint.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from .engine import TrainConfig, encoder_checkpoint, pretrain_config, train
from .pretrain import pretrained_path
from .repo import load_experiment, source_of
from .results import git_commit, read_rows
from .runner import columns, is_finished, measure, missing_runs, reuse_finished, visible_gpus, write_rows

EXECUTORS = ("local", "slurm")

# --slurm KEY=VALUE and the [slurm] table of a TOML file: key -> (type, meaning, default). Each becomes the sbatch
# option of its name (gpus: --gpus-per-node, cpus: --cpus-per-task, mem: --mem in GB, time: --time in minutes).
SLURM_OPTIONS = {
    "partition": (str, "the partition (queue) of the jobs", None),
    "time": (int, "a job's time limit in minutes (a run that needs longer is requeued and resumes)", 240),
    "gpus": (int, "GPUs of a one-process job (--gpus-per-node sets those of a run across processes)", 1),
    "cpus": (int, "CPU cores per process", None),
    "mem": (int, "memory per node in GB", None),
    "account": (str, "the account charged", None),
    "qos": (str, "quality of service", None),
    "constraint": (str, "node features, e.g. a GPU model", None),
}
MAX_REQUEUES = 3  # times a job stopped at its time limit is resubmitted to go on from its checkpoint


class JobsFailed(RuntimeError):
    """Jobs that ended without a result: one line each, naming the run and the job's log."""


def require_submitit():
    try:
        import submitit
    except ImportError:
        raise ValueError("--executor needs submitit: pip install -e '.[cluster]'") from None
    return submitit


def slurm_options(items: list, config: str | None = None) -> dict:
    """The Slurm options (SLURM_OPTIONS' keys): their defaults, then the [slurm] table of the TOML file `config`,
    then `items` ("KEY=VALUE", from --slurm). A wrong key, value or file raises ValueError naming it."""
    options = {k: default for k, (_, _, default) in SLURM_OPTIONS.items() if default is not None}
    given = []
    if config:
        table = _read_toml(config).get("slurm", {})
        if not isinstance(table, dict):
            raise ValueError(f"{config}: [slurm] must be a table of KEY = VALUE")
        given += [(f"{config}: [slurm] {k}", k, v) for k, v in table.items()]
    for item in items or ():
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--slurm {item!r}: expected KEY=VALUE, e.g. partition=gpu")
        given.append((f"--slurm {item!r}", key.strip(), value.strip()))
    for where, key, value in given:
        if key not in SLURM_OPTIONS:
            raise ValueError(f"{where}: unknown key {key!r}; expected one of {', '.join(SLURM_OPTIONS)}")
        kind = SLURM_OPTIONS[key][0]
        try:
            if kind is int and isinstance(value, (bool, float)):
                raise ValueError(value)
            options[key] = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: {key}={value!r} is not {'an integer' if kind is int else 'a string'} "
                             f"({SLURM_OPTIONS[key][1]})") from None
        if kind is int and options[key] < 0:
            raise ValueError(f"{where}: {key}={value!r}; expected a number >= 0")
    return options


def _read_toml(path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (the TOML file whose [slurm] table gives the Slurm options)")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid TOML: {e}") from None


@dataclass(frozen=True)
class Layout:
    """The processes of one run: `nodes` x `tasks_per_node`, each on one GPU when `gpus_per_node` is set."""
    nodes: int = 1
    tasks_per_node: int = 1
    gpus_per_node: int | None = None  # None: the `gpus` option of a one-process job

    def __post_init__(self):
        for name in ("nodes", "tasks_per_node"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} {getattr(self, name)}; expected at least 1")
        if self.gpus_per_node is not None and self.gpus_per_node < 0:
            raise ValueError(f"--gpus-per-node {self.gpus_per_node}; expected a number >= 0")

    @property
    def world(self) -> int:
        return self.nodes * self.tasks_per_node

    def check(self, cfg: TrainConfig, where: str) -> None:
        """Refuse a run whose batch the processes cannot share evenly, before anything is submitted."""
        if cfg.batch_size % self.world:
            raise ValueError(f"{where}: batch_size={cfg.batch_size} is not divisible by the {self.world} processes "
                             f"of --nodes {self.nodes} x {self.tasks_per_node} per node")


def layout_from(nodes: int = 1, gpus_per_node: int | None = None, tasks_per_node: int | None = None) -> Layout:
    """The Layout of the command line: one process per GPU unless --tasks-per-node says otherwise."""
    tasks = tasks_per_node if tasks_per_node is not None else (gpus_per_node or 1)
    return Layout(nodes, tasks, gpus_per_node)


def make_executor(kind: str, folder, options: dict, layout: Layout):
    """A submitit executor writing its scripts and logs to `folder`: Slurm with `options` (slurm_options), or the
    local one (nodes must be 1)."""
    submitit = require_submitit()
    if kind not in EXECUTORS:
        raise ValueError(f"--executor {kind!r}; expected one of {', '.join(EXECUTORS)}")
    if kind == "local":
        if layout.nodes > 1:
            raise ValueError(f"--nodes {layout.nodes} needs --executor slurm; the local executor has one node")
        executor = submitit.LocalExecutor(folder=folder, max_num_timeout=MAX_REQUEUES)
        executor.update_parameters(timeout_min=options.get("time", 240), tasks_per_node=layout.tasks_per_node,
                                   gpus_per_node=layout.gpus_per_node or 0)
        return executor
    if shutil.which("sbatch") is None or shutil.which("srun") is None:
        raise ValueError("--executor slurm: no sbatch and srun on PATH; submit from a Slurm login node, or use "
                         "--executor local on this machine")
    executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=MAX_REQUEUES)
    gpus = layout.gpus_per_node if layout.gpus_per_node is not None else options.get("gpus", 0)
    params = {"time": options["time"], "nodes": layout.nodes, "ntasks_per_node": layout.tasks_per_node,
              "gpus_per_node": gpus or None, "job_name": "segformer-lab",
              **{k: options[k] for k in ("partition", "account", "qos", "constraint") if k in options},
              **({"cpus_per_task": options["cpus"]} if "cpus" in options else {}),
              **({"mem": f"{options['mem']}GB"} if "mem" in options else {})}
    executor.update_parameters(**{k: v for k, v in params.items() if v is not None})
    return executor


def _join_job_processes() -> None:
    """In a job of several processes: RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous address from submitit's
    environment, for the engine to join them as under torchrun (each process takes cuda:LOCAL_RANK)."""
    import submitit
    env = submitit.JobEnvironment()
    if env.num_tasks > 1:
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)


@dataclass
class RunJob:
    """One run as a job: train it (resuming from its checkpoint), then on rank 0 measure it. Returns (metrics, rows)
    for a run of an experiment (the file `source`), the metrics alone for a plain `train` (no source)."""
    cfg: TrainConfig
    run_dir: str
    source: str = ""
    identity: dict = field(default_factory=dict)  # variant, seed, run id, preset, results and runs folders, commit
    threads: int = 0

    def __call__(self):
        if self.threads:
            import torch
            torch.set_num_threads(self.threads)
        _join_job_processes()
        metrics = train(self.cfg, self.run_dir, progress=False)
        if int(os.environ.get("RANK", "0")) != 0:
            return None
        if not self.source:
            return metrics
        path, i = Path(self.source), self.identity
        experiment = load_experiment(path.stem, path.parent)
        return metrics, measure(experiment, i["preset"], i["variant"], i["seed"], self.cfg, i["run_id"],
                                self.run_dir, metrics, i["results_dir"], i["runs_dir"], i["commit"])

    def checkpoint(self, *args, **kwargs):
        """submitit calls this at a time limit or preemption: the same job again, which resumes the run."""
        import submitit
        return submitit.helpers.DelayedSubmission(self)


@dataclass
class PretrainJob:
    """The embedded pretraining the run `cfg` starts from, made into the cache (a shared folder on a cluster)."""
    cfg: TrainConfig
    threads: int = 0

    def __call__(self) -> str:
        if self.threads:
            import torch
            torch.set_num_threads(self.threads)
        return str(encoder_checkpoint(self.cfg, progress=False))


def _job_errors() -> tuple:
    """What submitit raises for a job that ended without a result."""
    from submitit.core.utils import FailedJobError, UncompletedJobError
    return FailedJobError, UncompletedJobError


def _log_of(job) -> str:
    return str(job.paths.stderr)


class Submitted:
    """The jobs this process submitted and has not collected; Ctrl-C cancels them."""

    def __init__(self):
        self.jobs = {}  # job -> what it is for

    def add(self, job, what) -> None:
        self.jobs[job] = what

    def done(self) -> list:
        return [job for job in self.jobs if job.done()]

    def cancel_all(self) -> str:
        ids = [job.job_id for job in self.jobs if not job.done()]
        for job in self.jobs:
            if job.job_id in ids:
                job.cancel(check=False)
        self.jobs.clear()
        return (f"interrupted; cancelled {len(ids)} submitted job(s) ({', '.join(ids)}); the rows of finished runs "
                "are written, and the same command submits what is still missing") if ids else \
            "interrupted; no submitted job was still running; the same command submits what is still missing"


def submit_experiment(experiment, preset: str, results_dir="results", runs_dir="runs", data: str = "",
                      only: tuple = (), executor: str = "local", options: dict | None = None, jobs: int = 1,
                      layout: Layout = Layout(), poll_s: float = 1.0) -> Path:
    """Run the missing runs of `experiment` under `preset` as submitit jobs (see the module's doc); returns the
    CSV path. `jobs`: jobs at once with the local executor (Slurm queues them all). A job that fails is named with
    its log in JobsFailed once the others have finished; Ctrl-C cancels the submitted jobs (KeyboardInterrupt)."""
    source = source_of(experiment)
    if source is None:
        raise ValueError(f"{experiment.name}: --executor needs an experiment declared in a file (experiments/*.py)")
    if jobs < 1:
        raise ValueError(f"jobs={jobs}; expected a positive number of jobs at once")
    options = slurm_options([]) if options is None else options
    out, cols = Path(results_dir) / f"{experiment.name}.csv", columns(experiment)
    rows, commit = read_rows(out), git_commit()
    todo = missing_runs(experiment, preset, rows, runs_dir, data, only)
    for variant, seed, cfg, rid, run_dir in todo:
        layout.check(cfg, f"{experiment.name}/{variant} seed {seed}")

    def record(item, metrics, new) -> None:
        write_rows(out, rows, new, results_dir, cols, metrics["miou"])

    waiting, finished = [], []
    for item in todo:  # a finished run directory (this experiment's or another's) is reused, not submitted
        metrics = reuse_finished(runs_dir, item[3], item[4])
        if metrics is None and is_finished(item[4]):
            metrics = json.loads((item[4] / "metrics.json").read_text())
        (waiting if metrics is None else finished).append((item, metrics))
    folder = Path(runs_dir) / "jobs" / experiment.name
    ex = make_executor(executor, folder, options, layout) if waiting else None
    # a pretraining is one process, whatever the runs' layout
    pre = make_executor(executor, folder, options, Layout()) if waiting and layout.world > 1 else ex
    for item, metrics in finished:  # measured here: no job to wait for
        record(item, metrics, measure(experiment, preset, *item, metrics, results_dir, runs_dir, commit))
    waiting = [item for item, _ in waiting]
    if waiting:
        _run_jobs((ex, pre), executor, waiting, experiment.name, source, preset, results_dir, runs_dir, commit, jobs,
                  layout, options, record, poll_s)
    if experiment.analysis is not None:
        experiment.analysis(results_dir, preset, runs_dir)
    return out


def gpu_groups(gpus: list, per_job: int) -> list:
    """The GPUs of this machine dealt into disjoint groups of `per_job` ("0,1", "2,3", ...), one group per local
    job; none without GPUs. Fewer GPUs than one job needs is refused."""
    if not gpus:
        return []
    if per_job > len(gpus):
        raise ValueError(f"--gpus-per-node {per_job}: this machine has {len(gpus)} GPU(s) ({', '.join(gpus)})")
    return [",".join(gpus[i:i + per_job]) for i in range(0, len(gpus) - per_job + 1, per_job)]


def _pretraining(cfg: TrainConfig) -> str | None:
    """The cache file of the embedded pretraining a run needs, if it is missing."""
    if cfg.encoder_weights != "embedded":
        return None
    path = pretrained_path(pretrain_config(cfg))
    return None if path.is_file() else path.name


def _run_jobs(executors, kind, waiting, name, source, preset, results_dir, runs_dir, commit, jobs, layout, options,
              record, poll_s) -> None:
    """Submit `waiting` (variant, seed, cfg, run id, run dir) and the pretrainings they need, through `executors`
    (the runs', the pretrainings'), collect each job as it finishes and `record` its rows."""
    import math

    import torch
    local = kind == "local"
    limit = jobs if local else math.inf  # Slurm queues every job at once
    threads = max(1, torch.get_num_threads() // jobs) if local else options.get("cpus", 0)
    groups = gpu_groups(visible_gpus(), layout.gpus_per_node or 1) if local else []
    pretrain_jobs, made, failed, submitted = {}, {}, [], Submitted()  # made: pretraining -> it succeeded

    def submit(fn, what, dependency=None):
        ex = executors[0] if what[0] == "run" else executors[1]
        if groups:  # the local executor: each job on the GPUs of this machine with the fewest jobs
            load = [sum(getattr(j, "gpu", None) == g for j in submitted.jobs) for g in groups]
            gpu = groups[load.index(min(load))]
            ex.update_parameters(visible_gpus=[int(g) for g in gpu.split(",")], gpus_per_node=len(gpu.split(",")))
        if dependency is not None:
            ex.update_parameters(additional_parameters={"dependency": f"afterok:{dependency.job_id}",
                                                        "kill-on-invalid-dep": "yes"})
        job = ex.submit(fn)
        if dependency is not None:
            ex.update_parameters(additional_parameters={})
        job.gpu = gpu if groups else None
        submitted.add(job, what)
        return job

    try:
        while waiting or submitted.jobs:
            for item in list(waiting):
                if len(submitted.jobs) >= limit:
                    break
                need = _pretraining(item[2])
                if need is not None and need not in pretrain_jobs:  # its pretraining first
                    pretrain_jobs[need] = submit(PretrainJob(item[2], threads), ("pretrain", need))
                    print(f"{name}: submitted pretraining {need} (job {pretrain_jobs[need].job_id})", flush=True)
                    continue
                if need is not None and made.get(need) is False:
                    waiting.remove(item)
                    failed.append(f"{name}/{item[0]} seed {item[1]}: not run, its pretraining {need} failed")
                    continue
                if need is not None and local and need not in made:
                    continue  # the local executor knows no dependencies: the run waits for its pretraining
                waiting.remove(item)
                identity = {"variant": item[0], "seed": item[1], "run_id": item[3], "preset": preset,
                            "results_dir": str(results_dir), "runs_dir": str(runs_dir), "commit": commit}
                run = RunJob(item[2], str(item[4]), str(source), identity, threads)
                after = pretrain_jobs[need] if need is not None and need not in made else None
                job = submit(run, ("run", item), after)
                gpu = f" on GPU {job.gpu}" if job.gpu is not None else ""
                print(f"{name}: submitted {item[4].name} (job {job.job_id}{gpu})", flush=True)
            for job in submitted.done():
                what = submitted.jobs.pop(job)
                try:
                    result = job.results()[0]  # rank 0's
                except _job_errors():  # the job's own error is in its log
                    if what[0] == "pretrain":
                        made[what[1]] = False
                        failed.append(f"pretraining {what[1]}: job {job.job_id} failed; see {_log_of(job)}")
                    else:
                        item = what[1]
                        failed.append(f"{name}/{item[0]} seed {item[1]} ({item[4].name}): job {job.job_id} failed; "
                                      f"see {_log_of(job)}")
                    continue
                if what[0] == "pretrain":
                    made[what[1]] = True
                else:
                    metrics, new = result
                    record(what[1], metrics, new)
            if waiting or submitted.jobs:
                time.sleep(poll_s)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(submitted.cancel_all()) from None
    if failed:
        raise JobsFailed("\n".join(failed))


def submit_train(cfg: TrainConfig, run_dir, executor: str, options: dict, layout: Layout,
                 poll_s: float = 1.0) -> dict:
    """`segformer-lab train RUN_DIR --executor ...`: the run as one job (across `layout`'s processes), waited for;
    returns its metrics. Its scripts and logs go to RUN_DIR.jobs/."""
    layout.check(cfg, str(run_dir))
    run_dir = Path(run_dir)
    ex = make_executor(executor, run_dir.with_name(run_dir.name + ".jobs"), options, layout)
    job, submitted = ex.submit(RunJob(cfg, str(run_dir))), Submitted()
    submitted.add(job, ("run", None))
    print(f"{run_dir}: submitted (job {job.job_id}; log {_log_of(job)})", flush=True)
    try:
        while not job.done():
            time.sleep(poll_s)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(submitted.cancel_all()) from None
    try:
        return job.results()[0]  # rank 0's
    except _job_errors():
        raise JobsFailed(f"{run_dir}: job {job.job_id} failed; see {_log_of(job)}") from None

"""Sweeps beyond one machine, tested without one: a GPU per pool worker (with made-up GPU counts), submitit's local
executor against --jobs 1, a stand-in Slurm (tests/slurm_standin.py) end to end with a dependency, a failed job and a
cancel, and a run across two gloo processes against one process with the same global batch."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("submitit")

from segformer_lab import repo  # noqa: E402
from segformer_lab.cluster import JobsFailed, Layout, slurm_options, submit_experiment, submit_train  # noqa: E402
from segformer_lab.engine import TrainConfig, train  # noqa: E402
from segformer_lab.runner import Workers, describe_workers, run_experiment, visible_gpus, worker_devices  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STANDIN = Path(__file__).with_name("slurm_standin.py")
SAME = ["variant", "seed", "run_id", "rerun", "miou", "thing_miou", "macc", "aacc", "canvas_64x128_miou", "params",
        "gflops"]

TOY = """
from segformer_lab.ablation import Experiment
from segformer_lab.engine import TrainConfig

toy = Experiment(
    name="toy",
    base=TrainConfig(model="segformer_tiny", crop_size=64, batch_size=2, train_scenes=4, val_scenes=2,
                     val_canvas=(64, 64), warmup_iters=1, checkpoint_every=ITERATIONS),
    variants=VARIANTS,
    seeds={"smoke": (0, 1), "quick": (0,), "default": (0,), "gpu": (0,)},
    presets={p: {"iterations": ITERATIONS} for p in ("smoke", "quick", "default", "gpu")},
    evals={"canvas_64x128": {"canvas": (64, 128)}},
)
"""
VARIANTS = {"mixffn": {}, "pretrained": {"encoder_weights": "embedded", "pretrain_iterations": 2}}


def toy(folder: Path, variants=VARIANTS, iterations: int = 2, checkpoint_every: int | None = None):
    """A toy experiment file in `folder` (jobs load an experiment from its file), loaded."""
    folder.mkdir(parents=True, exist_ok=True)
    text = TOY.replace("VARIANTS", repr(variants)).replace("ITERATIONS", str(iterations))
    if checkpoint_every is not None:
        text = text.replace(f"checkpoint_every={iterations}", f"checkpoint_every={checkpoint_every}")
    (folder / "toy.py").write_text(text)
    return repo.load_experiment("toy", folder)


def table(path) -> pd.DataFrame:
    return pd.read_csv(path).sort_values(["variant", "seed"])[SAME].reset_index(drop=True)


@pytest.fixture
def slurm(tmp_path, monkeypatch):
    """sbatch, srun, sacct and scancel on PATH: the stand-in, its state in tmp_path/slurm."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for command in ("sbatch", "srun", "sacct", "scancel"):
        path = bin_dir / command
        path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" {command} "$@"\n')
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_STANDIN_DIR", str(tmp_path / "slurm"))
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "slurm"


def states(folder: Path) -> dict:
    return {p.name.split(".")[0]: p.read_text() for p in folder.glob("*.state")}


def test_each_worker_has_its_own_gpu_round_robin(monkeypatch):
    assert worker_devices(4, ["0", "1"]) == ["0", "1", "0", "1"]
    assert worker_devices(3, ["2", "5"]) == ["2", "5", "2"]
    assert worker_devices(2, ["0", "1", "2", "3"]) == ["0", "1"]
    assert worker_devices(2, []) == [None, None]
    with pytest.raises(ValueError, match="jobs=0; expected a positive number"):
        worker_devices(0, ["0"])
    assert describe_workers([None, None]) == ""
    assert describe_workers(["0", "1", "0"]) == ("3 workers on 2 GPUs (CUDA_VISIBLE_DEVICES per worker): worker 1 -> "
                                                 "GPU 0, worker 2 -> GPU 1, worker 3 -> GPU 0; each run starts on the "
                                                 "first free worker")
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6,7")
    assert visible_gpus() == ["4", "6", "7"]  # the names the user's own CUDA_VISIBLE_DEVICES gives them
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert visible_gpus() == ["0", "1", "2"]


def test_local_jobs_get_disjoint_gpus():
    from segformer_lab.cluster import gpu_groups
    assert gpu_groups(["0", "1", "2", "3"], 1) == ["0", "1", "2", "3"]
    assert gpu_groups(["0", "1", "2", "3", "4"], 2) == ["0,1", "2,3"]  # the fifth GPU fits no run of two
    assert gpu_groups(["4", "6"], 2) == ["4,6"] and gpu_groups([], 2) == []
    with pytest.raises(ValueError, match=r"--gpus-per-node 4: this machine has 2 GPU\(s\) \(0, 1\)"):
        gpu_groups(["0", "1"], 4)


def test_pool_workers_see_only_their_gpu(monkeypatch):
    from segformer_lab import runner
    monkeypatch.setattr(runner, "visible_gpus", lambda: ["0", "1"])  # a made-up machine with 2 GPUs
    workers = Workers(3, 1)
    try:
        seen = [pool.submit(os.getenv, "CUDA_VISIBLE_DEVICES").result() for pool in workers.pools]
    finally:
        workers.close()
    assert workers.devices == ["0", "1", "0"] and seen == ["0", "1", "0"]


def test_runs_say_which_gpu_they_train_on(tmp_path, monkeypatch, capsys):
    from segformer_lab import runner
    monkeypatch.setattr(runner, "visible_gpus", lambda: ["0", "1"])
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(tmp_path / "cache"))
    experiment = toy(tmp_path / "experiments", variants={"mixffn": {}})
    run_experiment(experiment, "smoke", tmp_path / "results", tmp_path / "runs", progress=False, jobs=2)
    out = capsys.readouterr().out
    assert "2 workers on 2 GPUs (CUDA_VISIBLE_DEVICES per worker): worker 1 -> GPU 0, worker 2 -> GPU 1" in out
    assert "GPU 0 (worker 1): mixffn_s0_" in out and "GPU 1 (worker 2): mixffn_s1_" in out


def test_local_executor_writes_the_rows_of_jobs_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SEGFORMER_LAB_CACHE", str(tmp_path / "cache"))
    experiment = toy(tmp_path / "experiments")
    jobs = submit_experiment(experiment, "smoke", tmp_path / "a" / "results", tmp_path / "a" / "runs",
                             executor="local", poll_s=0.2)
    serial = run_experiment(experiment, "smoke", tmp_path / "b" / "results", tmp_path / "b" / "runs", progress=False)
    pd.testing.assert_frame_equal(table(jobs), table(serial))
    assert len(table(jobs)) == 4
    out = capsys.readouterr().out
    assert out.count("toy: submitted pretraining segformer_tiny-") == 1 and out.count("toy: submitted ") == 5
    stamp = jobs.stat().st_mtime_ns
    submit_experiment(experiment, "smoke", tmp_path / "a" / "results", tmp_path / "a" / "runs", executor="local")
    assert "submitted" not in capsys.readouterr().out and jobs.stat().st_mtime_ns == stamp  # nothing missing


def test_standin_slurm_end_to_end(tmp_path, slurm, capsys):
    variants = {**VARIANTS, "broken": {"dataset": "cityscapes", "data_root": str(tmp_path / "no_cityscapes")}}
    experiment = toy(tmp_path / "experiments", variants)
    results, runs = tmp_path / "a" / "results", tmp_path / "a" / "runs"
    with pytest.raises(JobsFailed) as failed:
        submit_experiment(experiment, "smoke", results, runs, executor="slurm",
                          options=slurm_options(["gpus=0", "partition=cpu", "time=30"]), poll_s=0.2)
    lines = str(failed.value).splitlines()
    assert len(lines) == 2 and all("toy/broken seed" in line and " failed; see " in line for line in lines)
    log = Path(lines[0].split("; see ")[1])
    assert log.is_file() and "no_cityscapes" in log.read_text()  # the job's own error, in the log it names
    scripts = sorted((runs / "jobs" / "toy").glob("*_submission.sh"))
    assert len(scripts) == 7  # 6 runs and the pretraining
    assert all("#SBATCH --partition=cpu" in s.read_text() and "#SBATCH --time=30" in s.read_text() for s in scripts)
    depending = [s for s in scripts if "#SBATCH --dependency=afterok:" in s.read_text()]
    assert 1 <= len(depending) <= 2  # seed 1's run (and seed 0's, if it went out before the pretraining ended)
    serial = run_experiment(toy(tmp_path / "experiments", VARIANTS), "smoke", tmp_path / "b" / "results",
                            tmp_path / "b" / "runs", progress=False)
    pd.testing.assert_frame_equal(table(results / "toy.csv"), table(serial))
    assert set(states(slurm).values()) == {"COMPLETED", "FAILED"}


CANCELLED = """
import signal
import sys
from pathlib import Path
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal: a background job ignores Ctrl-C
from segformer_lab import repo
repo.experiments_dir = lambda: Path(sys.argv[1])
from segformer_lab.cli import main
sys.exit(main(["run", "toy", "--preset", "smoke", "--executor", "slurm", "--slurm", "gpus=0", "--results",
               sys.argv[2] + "/results", "--runs", sys.argv[2] + "/runs"]))
"""


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ctrl_c_cancels_the_submitted_jobs_and_the_same_command_resumes(tmp_path, slurm):
    toy(tmp_path / "experiments", {"mixffn": {}}, iterations=200, checkpoint_every=2)
    script = tmp_path / "cancelled.py"
    script.write_text(CANCELLED)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    submitter = subprocess.Popen([sys.executable, str(script), str(tmp_path / "experiments"), str(tmp_path / "a")],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        runs = tmp_path / "a" / "runs" / "toy"
        while time.monotonic() < deadline and len(list(runs.glob("*/checkpoint.pt"))) < 2:
            time.sleep(0.3)
        assert len(list(runs.glob("*/checkpoint.pt"))) == 2, "the two jobs did not start training"
        submitter.send_signal(signal.SIGINT)
        out, err = submitter.communicate(timeout=60)
    finally:
        submitter.kill()
    assert submitter.returncode == 130
    ids = sorted(states(slurm))
    assert err.strip().splitlines() == [f"segformer-lab: interrupted; cancelled 2 submitted job(s) ({', '.join(ids)}); "
                                        "the rows of finished runs are written, and the same command submits what is "
                                        "still missing"]
    assert list(states(slurm).values()) == ["CANCELLED", "CANCELLED"]
    deadline = time.monotonic() + 30
    pgids = [int((slurm / f"{job}.pgid").read_text()) for job in ids]
    while any(map(_alive, pgids)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(map(_alive, pgids)), "a cancelled job kept training"
    assert not (tmp_path / "a" / "results" / "toy.csv").exists()
    import torch
    stopped = [torch.load(d / "checkpoint.pt")["iteration"] for d in sorted(runs.iterdir())]
    assert all(0 < it < 200 for it in stopped)
    experiment = repo.load_experiment("toy", tmp_path / "experiments")  # the same command again: the runs resume
    out = submit_experiment(experiment, "smoke", tmp_path / "a" / "results", tmp_path / "a" / "runs",
                            executor="slurm", options=slurm_options(["gpus=0"]), poll_s=0.2)
    assert len(pd.read_csv(out)) == 2
    resumed = [json.loads((d / "metrics.json").read_text())["resumed_from"] for d in sorted(runs.iterdir())]
    assert all(r >= it for r, it in zip(resumed, stopped)) and all(r > 0 for r in resumed)


def test_two_gloo_processes_give_the_loss_of_one(tmp_path):
    """A run across two processes (submitit's distributed environment, gloo on the CPU) against one process with
    the same global batch: a model without BatchNorm or dropout, so the processes' shares average to the batch."""
    cfg = TrainConfig(model="segformer_tiny", crop_size=64, batch_size=4, train_scenes=4, val_scenes=2,
                      val_canvas=(64, 64), warmup_iters=1, iterations=3, log_every=1,
                      model_overrides={"decoder_fuse": False, "decoder_stages": [4], "decoder_dropout": 0.0,
                                       "drop_path_rate": 0.0})
    two = submit_train(cfg, tmp_path / "two", "local", slurm_options([]), Layout(1, 2), poll_s=0.2)
    one = train(cfg, tmp_path / "one", progress=False)

    def losses(run):
        return [json.loads(line)["loss"] for line in (tmp_path / run / "log.jsonl").read_text().splitlines()]
    assert losses("two") == pytest.approx(losses("one"), rel=1e-5, abs=1e-6) and len(losses("one")) == 3
    assert two["miou"] == pytest.approx(one["miou"], abs=1e-6)
    assert len(list((tmp_path / "two.jobs").glob("*_result.pkl"))) == 2  # two processes, one result each


def test_runs_across_processes_take_their_pretraining_from_one_process(tmp_path, slurm):
    experiment = toy(tmp_path / "experiments", {"pretrained": VARIANTS["pretrained"]})
    submit_experiment(experiment, "smoke", tmp_path / "results", tmp_path / "runs", executor="slurm",
                      options=slurm_options(["gpus=0"]), layout=Layout(1, 2), poll_s=0.2)
    scripts = [s.read_text() for s in (tmp_path / "runs" / "jobs" / "toy").glob("*_submission.sh")]
    assert sorted(s.count("--ntasks-per-node=2") for s in scripts) == [0, 1, 1]  # the pretraining: one process
    assert len(pd.read_csv(tmp_path / "results" / "toy.csv")) == 2


@pytest.mark.parametrize("argv, message", [
    (["--slurm", "partition=gpu"], "--slurm needs --executor local or --executor slurm"),
    (["--nodes", "2"], "--nodes needs --executor local or --executor slurm"),
    (["--executor", "slurm", "--slurm", "partitoin=gpu"], "--slurm 'partitoin=gpu': unknown key 'partitoin'; "
                                                          "expected one of partition, time, gpus"),
    (["--executor", "slurm", "--slurm", "time=soon"], "--slurm 'time=soon': time='soon' is not an integer"),
    (["--executor", "slurm", "--slurm", "partition"], "--slurm 'partition': expected KEY=VALUE"),
    (["--executor", "local", "--nodes", "2"], "--nodes 2 needs --executor slurm; the local executor has one node"),
    (["--executor", "local", "--slurm", "time=5"], "--slurm applies to --executor slurm, not local"),
    (["--executor", "local", "--tasks-per-node", "3"], "batch_size=2 is not divisible by the 3 processes"),
    (["--executor", "local", "--time-budget", "5"], "--time-budget works with the runs of this machine"),
])
def test_cluster_options_errors(tmp_path, monkeypatch, cli_error, argv, message):
    monkeypatch.setattr(repo, "experiments_dir", lambda: tmp_path / "experiments")
    toy(tmp_path / "experiments", {"mixffn": {}})
    text = cli_error(["run", "toy", "--preset", "smoke", "--results", tmp_path / "r", "--runs", tmp_path / "runs",
                      *argv])
    assert message in text
    assert not (tmp_path / "r").exists() and not (tmp_path / "runs").exists()  # nothing submitted or written


def test_slurm_options_from_a_toml_table(tmp_path, monkeypatch, cli_error):
    config = tmp_path / "cluster.toml"
    config.write_text('[slurm]\npartition = "gpu"\ntime = 90\naccount = "lab"\n')
    options = slurm_options(["time=30"], config)
    assert options == {"partition": "gpu", "time": 30, "gpus": 1, "account": "lab"}  # --slurm overrides the file
    config.write_text('[slurm]\npartition = "gpu"\ngpu = 2\n')
    with pytest.raises(ValueError, match=r"cluster.toml: \[slurm\] gpu: unknown key 'gpu'"):
        slurm_options([], config)
    config.write_text('[slurm]\ntime = "long"\n')
    with pytest.raises(ValueError, match=r"cluster.toml: \[slurm\] time: time='long' is not an integer"):
        slurm_options([], config)
    with pytest.raises(FileNotFoundError, match="missing.toml: no such file"):
        slurm_options([], tmp_path / "missing.toml")
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    monkeypatch.setattr(repo, "experiments_dir", lambda: tmp_path / "experiments")
    toy(tmp_path / "experiments", {"mixffn": {}})
    text = cli_error(["run", "toy", "--preset", "smoke", "--executor", "slurm", "--results", tmp_path / "r",
                      "--runs", tmp_path / "runs"])
    assert "--executor slurm: no sbatch and srun on PATH" in text


def test_a_job_stopped_at_its_time_limit_is_resubmitted_as_itself():
    """submitit calls checkpoint() when a job is preempted or reaches its time limit and requeues what it returns:
    the same run, which the engine resumes from the run directory's checkpoint."""
    import submitit
    from segformer_lab.cluster import RunJob
    job = RunJob(TrainConfig(model="segformer_tiny"), "runs/x")
    again = job.checkpoint()
    assert isinstance(again, submitit.helpers.DelayedSubmission) and again.function is job

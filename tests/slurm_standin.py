"""A stand-in for Slurm's sbatch, srun, sacct and scancel on one machine, for the tests of the Slurm path.

`sbatch FILE` gives the job the next id, starts it in the background (after its `--dependency=afterok:ID` job has
COMPLETED; a failed or cancelled dependency cancels it, as `--kill-on-invalid-dep=yes` does) and prints "Submitted
batch job ID". The job runs FILE with bash and the variables Slurm sets; its `srun` starts `--ntasks-per-node`
processes with their SLURM_PROCID / SLURM_LOCALID and the `--output` / `--error` files (%j: job id, %t: task).
`sacct -j ID ... --parsable2` reports the states (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED), `scancel ID`
cancels a job (its processes are killed). State lives in $SLURM_STANDIN_DIR: ID.state, ID.pgid, next_id.
"""
import fcntl
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def home() -> Path:
    path = Path(os.environ["SLURM_STANDIN_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def state(job: str) -> str:
    path = home() / f"{job}.state"
    return path.read_text().strip() if path.is_file() else ""


def set_state(job: str, value: str) -> None:
    tmp = home() / f"{job}.state.tmp"
    tmp.write_text(value)
    tmp.replace(home() / f"{job}.state")


def directives(script: Path) -> dict:
    out = {}
    for line in script.read_text().splitlines():
        m = re.match(r"#SBATCH --([\w-]+)(?:=(.*))?$", line.strip())
        if m:
            out[m.group(1)] = m.group(2) if m.group(2) is not None else ""
    return out


def sbatch(args: list) -> int:
    script = Path(args[-1])
    with open(home() / "next_id", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        # ids go on from the clock: never those of another test (submitit caches the states of ids it has seen)
        job = str(int(f.read().strip() or time.time_ns() // 10**6 % 10**9 * 10) + 1)
        f.seek(0)
        f.truncate()
        f.write(job)
    set_state(job, "PENDING")
    subprocess.Popen([sys.executable, str(HERE), "_run", job, str(script)], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"Submitted batch job {job}")
    return 0


def run_job(job: str, script: Path) -> int:
    (home() / f"{job}.pgid").write_text(str(os.getpgid(0)))
    flags = directives(script)
    after = flags.get("dependency", "")
    if after:
        other = after.split(":", 1)[1]
        while state(other) not in ("COMPLETED", "FAILED", "CANCELLED"):
            if state(job) == "CANCELLED":
                return 0
            time.sleep(0.2)
        if state(other) != "COMPLETED":
            set_state(job, "CANCELLED")
            return 0
    if state(job) == "CANCELLED":
        return 0
    set_state(job, "RUNNING")
    tasks = int(flags.get("ntasks-per-node", "1") or 1)
    env = dict(os.environ, SLURM_JOB_ID=job, SLURM_JOBID=job, SLURM_JOB_NUM_NODES="1", SLURM_NNODES="1",
               SLURM_NODEID="0", SLURM_JOB_NODELIST="localhost", SLURM_NTASKS=str(tasks),
               SLURM_NTASKS_PER_NODE=str(tasks))
    rc = subprocess.call(["bash", str(script)], env=env)
    if state(job) != "CANCELLED":
        set_state(job, "COMPLETED" if rc == 0 else "FAILED")
    return rc


def srun(args: list) -> int:
    files, command, i = {}, [], 0
    while i < len(args):
        if args[i] in ("--output", "--error"):
            files[args[i]] = args[i + 1]
            i += 2
        elif args[i].startswith("--") and not command:
            i += 1
        else:
            command = args[i:]
            break
    job, tasks = os.environ["SLURM_JOB_ID"], int(os.environ.get("SLURM_NTASKS", "1"))
    procs = []
    for task in range(tasks):
        def path(flag):
            return files[flag].replace("%j", job).replace("%t", str(task))
        out = open(path("--output"), "a")
        err = open(path("--error"), "a") if "--error" in files else out
        env = dict(os.environ, SLURM_PROCID=str(task), SLURM_LOCALID=str(task))
        procs.append(subprocess.Popen(command, env=env, stdout=out, stderr=err))
    return max(p.wait() for p in procs)


def sacct(args: list) -> int:
    jobs = [args[i + 1] for i, a in enumerate(args) if a == "-j"]
    print("JobID|State|NodeList")
    for job in jobs:
        if state(job):
            print(f"{job}|{state(job)}|localhost")
    return 0


def scancel(args: list) -> int:
    job = args[0]
    if "--signal" in args:  # a signal to the job, not a cancel
        sig = getattr(signal, args[args.index("--signal") + 1])
    else:
        sig = signal.SIGKILL
        set_state(job, "CANCELLED")
    pgid = home() / f"{job}.pgid"
    if pgid.is_file():
        try:
            os.killpg(int(pgid.read_text()), sig)
        except ProcessLookupError:
            pass
    return 0


if __name__ == "__main__":
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "_run":
        sys.exit(run_job(rest[0], Path(rest[1])))
    sys.exit({"sbatch": sbatch, "srun": srun, "sacct": sacct, "scancel": scancel}[command](rest))

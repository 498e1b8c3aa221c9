#!/usr/bin/env python3
r"""The recipes' ``$train_cmd`` interface on top of submitit (Slurm job arrays or local processes).

    python3 utils/submitit_run.py [--cluster slurm|local|debug] [--partition P] [--time MIN]
        [--mem 16G] [--cpus N] [--gpus N] [--max_jobs_run N] [--folder DIR]
        [JOB=1:N] LOG command args...

Same contract as utils/run_local.sh and Kaldi's run.pl/slurm.pl: the command runs once, or N
times with every "JOB" in LOG and the arguments replaced by 1..N; each job's output goes to
its LOG, framed by the command line, start time, wall time and exit code; the call waits for
all jobs and exits 1 if any failed, naming the failed logs. The jobs are submitted with
submitit (``AutoExecutor.map_array``: one Slurm job array, at most --max_jobs_run running at
once); --cluster local runs them as local processes through submitit, --cluster debug in this
process. submitit's own files (pickled jobs, Slurm stdout) go to --folder (default: next to
the first log, ``.submitit/``). The command runs in the current directory with the current
environment, as with run.pl.
"""
import os
import re
import shlex
import subprocess
import sys
import time


def run_job(args, log_path, cwd):
    """One job (on the node): run ``args`` in ``cwd``, its output in ``log_path``; returns its exit code."""
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    t0 = time.time()
    with open(log_path, "w") as log:
        log.write(f"# {shlex.join(args)}\n# Started at {time.ctime()}\n")
        log.flush()
        try:
            rc = subprocess.call(args, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        except OSError as e:
            log.write(f"{args[0]}: {e}\n")
            rc = 127
        log.write(f"# Accounting: time={int(time.time() - t0)} threads=1\n# Ended (code {rc}) at {time.ctime()}\n")
    return rc


def parse(argv):
    opts = {"cluster": None, "partition": None, "time": 60, "mem": None, "cpus": 1, "gpus": 0,
            "max_jobs_run": None, "folder": None}
    i = 0
    while i < len(argv) and argv[i].startswith("--"):
        name = argv[i][2:].replace("-", "_")
        if name == "num_threads":
            name = "cpus"
        if name == "gpu":
            name = "gpus"
        if name not in opts or i + 1 >= len(argv):
            sys.exit(f"submitit_run.py: unknown option or missing value: {argv[i]}")
        opts[name] = argv[i + 1]
        i += 2
    rest = argv[i:]
    jobvar, first, last = None, 1, 1
    if rest:
        m = re.fullmatch(r"([A-Za-z_]\w*)=(\d+):(\d+)", rest[0])
        if m:
            jobvar, first, last = m.group(1), int(m.group(2)), int(m.group(3))
            rest = rest[1:]
    if len(rest) < 2 or first > last:
        sys.exit("usage: submitit_run.py [options] [JOB=1:N] LOG command args...")
    return opts, jobvar, first, last, rest[0], rest[1:]


def mem_gb(value):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([GgMm]?)", str(value))
    if not m:
        sys.exit(f"submitit_run.py: --mem {value}: expected e.g. 16G or 4000M")
    return float(m.group(1)) / (1024 if m.group(2) in "Mm" and m.group(2) else 1)


def main(argv=None):
    import submitit  # only this backend needs it

    opts, jobvar, first, last, log_pattern, cmd = parse(sys.argv[1:] if argv is None else argv)
    jobs = list(range(first, last + 1))
    sub = (lambda s, n: s.replace(jobvar, str(n))) if jobvar else (lambda s, n: s)
    logs = [sub(log_pattern, n) for n in jobs]
    commands = [[sub(a, n) for a in cmd] for n in jobs]
    folder = opts["folder"] or os.path.join(os.path.dirname(os.path.abspath(logs[0])), ".submitit")
    executor = submitit.AutoExecutor(folder=folder, cluster=opts["cluster"])
    params = dict(timeout_min=int(opts["time"]), cpus_per_task=int(opts["cpus"]), nodes=1, tasks_per_node=1)
    if int(opts["gpus"]):
        params["gpus_per_node"] = int(opts["gpus"])
    if opts["mem"]:
        params["mem_gb"] = mem_gb(opts["mem"])
    if opts["partition"]:
        params["slurm_partition"] = opts["partition"]
    if opts["max_jobs_run"]:
        params["slurm_array_parallelism"] = int(opts["max_jobs_run"])
    executor.update_parameters(**params)
    cwd = os.getcwd()
    handles = executor.map_array(run_job, commands, logs, [cwd] * len(jobs))
    failed = []
    for n, log, handle in zip(jobs, logs, handles):
        try:
            rc = handle.result()
        except Exception as e:  # the scheduler lost or killed the job
            rc = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        if rc != 0:
            failed.append((n, log, rc))
    if failed:
        n, log, rc = failed[0]
        print(f"submitit_run.py: {len(failed)} / {len(jobs)} failed (job {' '.join(str(f[0]) for f in failed)}); "
              f"log: {log} (exit {rc}; submitit files in {folder})", file=sys.stderr)
        if os.path.isfile(log):
            with open(log) as f:
                sys.stderr.write("".join(f.readlines()[-15:]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

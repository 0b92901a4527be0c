#!/usr/bin/env python3
"""Slurm's own overheads on the cluster at hand (e.g. `scripts/local-slurm.sh start`), the inputs
of README's "On a cluster" model: the cost of an sbatch call, a job's start latency, the latency
each dependency level adds, and the slot time a task costs beyond its work.

    python3 experiments/slurm_overhead/measure.py
"""
import subprocess
import time


def sbatch(*args):
    return subprocess.run(["sbatch", "--parsable", "-o", "/dev/null", *args], capture_output=True, text=True, check=True).stdout.strip()


def wait(job):
    """Until every task of the job has a final state (squeue lists finished jobs for MinJobAge)."""
    final = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}
    while True:
        states = subprocess.run(["squeue", "-h", "-r", "--states=all", "-j", job, "-o", "%T"], capture_output=True, text=True).stdout.split()
        if states and all(s in final for s in states):
            return
        time.sleep(0.05)


def timed(f):
    t = time.time()
    f()
    return time.time() - t


cpus = int(subprocess.run(["sinfo", "-h", "-o", "%C"], capture_output=True, text=True).stdout.split("/")[-1])
calls = sorted(timed(lambda: sbatch("--hold", "--wrap", "true")) for _ in range(10))
subprocess.run(["scancel", "-u", subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip(), "-t", "PENDING"], check=False)
array_call = timed(lambda: subprocess.run(["scancel", sbatch("--hold", "--array=0-999", "--wrap", "true")]))
start = timed(lambda: wait(sbatch("--wrap", "true")))


def chain(n):
    prev = None
    for _ in range(n):
        prev = sbatch(*([f"--dependency=afterany:{prev}"] if prev else []), "--wrap", "true")
    wait(prev)


level = (timed(lambda: chain(5)) - start) / 4
n = 10 * cpus
task = timed(lambda: wait(sbatch(f"--array=0-{n - 1}", "--wrap", "true"))) / (n / cpus)

print(f"| measured on {cpus} CPUs | seconds |")
print("|---|---|")
print(f"| one sbatch call (median of 10) | {calls[5]:.3f} |")
print(f"| one sbatch call submitting a 1,000-task array | {array_call:.3f} |")
print(f"| a job from submission to done (`true`) | {start:.1f} |")
print(f"| each further dependency level (chain of 5) | {level:.1f} |")
print(f"| slot time per task beyond its work ({n} x `true`) | {task:.1f} |")

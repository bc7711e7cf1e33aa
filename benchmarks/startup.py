"""How long ``genfw`` takes before it does something: ``--help``, ``plugins`` and ``fit`` up to its first step.

Each command runs as a fresh process (as a user runs it), ``--repeats`` times, in a temporary working directory
with its own plugin cache; the medians of wall time and of CPU time (user + system of the child, which a busy
machine inflates far less than wall time) are reported. Targets (issue "the first hour of a new user"), on a
quiet machine: ``genfw --help`` and ``genfw plugins`` <= 1.5 s, ``genfw fit`` to its first step <= 5 s.

``fit`` is measured up to its first training batch: a probe callback (:mod:`startup_probe`, beside this file)
prints the seconds since the benchmark started the process, and the process's CPU seconds, when the first
batch starts. The floor every ``fit`` pays,
``import torch, pytorch_lightning``, is measured the same way.

    python benchmarks/startup.py [--repeats 3] [--threads 1]

Writes ``benchmarks/results/startup.json``; ``python benchmarks/run.py --render-only`` (``benchmarks/report.py``)
puts it on the benchmarks page.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine_info, median, write_results  # noqa: E402

GENFW = Path(sys.executable).with_name("genfw")
TARGETS = {"help": 1.5, "plugins": 1.5, "fit_first_step": 5.0}


def run(command: list[str], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """Wall and CPU seconds of one process; the probe's time to the first step when it printed one."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = {**env, "GENFW_STARTUP_T0": repr(time.time())}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    probe = re.search(r"genfw-startup-probe first_step_s=([0-9.]+) cpu_s=([0-9.]+)", done.stdout + done.stderr)
    result = {"wall_s": wall, "cpu_s": cpu}
    if probe:
        result["first_step_wall_s"], result["first_step_cpu_s"] = float(probe.group(1)), float(probe.group(2))
    return result


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    keys = samples[0].keys()
    return {**{f"median_{k}": median([s[k] for s in samples]) for k in keys}, "samples": samples}


def measure(repeats: int, threads: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="genfw-startup-") as tmp:
        cwd = Path(tmp)
        env = {
            **os.environ, "GEN_FRAMEWORK_CACHE": str(cwd / "cache"), "OMP_NUM_THREADS": str(threads),
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        }
        results: dict[str, Any] = {}
        results["help"] = summarize([run([str(GENFW), "--help"], cwd, env) for _ in range(repeats)])
        results["plugins_check"] = summarize([run([str(GENFW), "plugins", "--check"], cwd, env)])
        results["plugins"] = summarize([run([str(GENFW), "plugins"], cwd, env) for _ in range(repeats)])
        results["import_floor"] = summarize([
            run([sys.executable, "-c", "import torch, pytorch_lightning"], cwd, env) for _ in range(repeats)
        ])
        fit = [
            str(GENFW), "fit", "--model", "dcgan", "--data", "digits", "--data.image_size", "32",
            "--trainer.max_steps", "1", "--trainer.limit_val_batches", "0", "--threads", str(threads),
            "--trainer.callbacks+=startup_probe.FirstStepProbe",
        ]
        results["fit_first_step"] = summarize([run(fit, cwd, env) for _ in range(repeats)])
    return results


def verdicts(results: dict[str, Any]) -> dict[str, Any]:
    """Each target against the CPU-time median (the wall time of a shared machine includes waiting)."""
    measured = {
        "help": results["help"]["median_cpu_s"],
        "plugins": results["plugins"]["median_cpu_s"],
        "fit_first_step": results["fit_first_step"]["median_first_step_cpu_s"],
    }
    return {k: {"target_s": TARGETS[k], "cpu_s": v, "met": v <= TARGETS[k]} for k, v in measured.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="one repeat (a smoke run)")
    options = parser.parse_args()
    if options.quick:
        options.repeats = 1
    results = measure(options.repeats, options.threads)
    extra = {"repeats": options.repeats, "targets_s": TARGETS, "verdicts": verdicts(results)}
    path = write_results("startup", results, threads=options.threads, output=options.output, extra=extra)
    import json

    payload = json.loads(path.read_text())
    for name, verdict in payload["verdicts"].items():
        print(f"{name:16s} cpu {verdict['cpu_s']:6.2f} s  target {verdict['target_s']:.0f} s  met={verdict['met']}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""How long ``genfw`` takes before it does something: ``--help``, ``plugins`` and ``fit`` up to its first step.

Each command runs as a fresh process (as a user runs it) in a temporary working directory with its own plugin
cache, ``--repeats`` rounds in alternating order (each round starts one command later, so none always runs first
after another's disk and CPU caches). Reported: medians of wall time and of CPU time (user + system of the
process, which a busy machine inflates far less than wall time), and the 1-minute load average at each run.
Targets (the issue "Performance at the limit", on this machine): ``genfw --help`` and ``genfw plugins`` <= 1.5 s,
``genfw fit`` to its first step <= 5 s.

Commands measured:

- ``help``: ``genfw --help``; ``plugins``: ``genfw plugins`` with its validation cache written (every later
  listing); ``plugins_cold``: the same with an empty cache (the first listing after installing or editing a
  plugin: it imports and validates every plugin, so it pays the import floor);
- ``import_torch``: ``import torch``; ``import_floor``: ``import torch, pytorch_lightning``, what every ``fit``
  pays before genfw does anything (as a process of its own, so with Python's clean-up at exit, about 1.3 CPU-s
  after these imports, which ``fit`` pays only when it ends) (``pytorch_lightning/__init__`` imports Lightning Fabric, which imports
  torchmetrics, ``torch._dynamo`` with sympy, and scipy and matplotlib where installed);
- ``fit``: ``genfw fit --config configs/<plugin>/<data>.yaml`` for DCGAN on MNIST, GPT-mini on the pydoc corpus and
  the VAE on MNIST, up to its first training batch. The process runs ``genfw`` as its console script does, after
  importing torch and Lightning first and noting what that cost (:data:`FIT_LAUNCHER`): the floor's share of each
  run and what genfw and Lightning's set-up add to it are split within the run. A probe callback
  (:mod:`startup_probe`, beside this file) records the process's CPU and wall seconds at each stage on the way
  (parsed, set up, sanity check, first batch), then ends the process.

Once, ``fit`` (DCGAN) also runs under ``python -X importtime``: the self-reported import time by top-level
package (inflated by the measuring, so read it as shares).

    python benchmarks/startup.py [--repeats 3] [--threads 1] [--quiet-load 1.0 --quiet-wait 300] [--baseline DIR]

``--baseline DIR`` (a folder holding another version's ``gen_framework`` package) adds that version's ``fit`` runs
to the same alternating rounds, for a before/after comparison on the same machine at the same time.

Writes ``benchmarks/results/startup.json``; ``python benchmarks/run.py --render-only`` (``benchmarks/report.py``)
puts it on the benchmarks page.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from common import median, write_results  # noqa: E402
from startup_probe import FLOOR_ENV, PREFIX, T0_ENV  # noqa: E402

GENFW = Path(sys.executable).with_name("genfw")
#: The issue's targets in seconds, judged on the median CPU time (and shown against the wall time).
TARGETS = {"help": 1.5, "plugins": 1.5, "plugins_cold": 1.5, "fit": 5.0}
#: The configs whose ``fit`` is timed to its first step.
FIT_CONFIGS = ("dcgan/mnist", "gpt_mini/pydocs", "vae/mnist")
#: Probe stages in the order ``fit`` passes them; each phase is the time from the previous stage.
STAGES = ("floor", "built", "setup", "sanity_check_start", "sanity_check_end", "train_start", "first_batch")


def run(command: list[str], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """Wall and CPU seconds of one process (and the probe's stages when it printed them)."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = {**env, T0_ENV: repr(time.time())}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result: dict[str, Any] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "load_average": round(load, 2)}
    probe = re.search(rf"^{PREFIX} (\{{.*\}})$", done.stdout, re.MULTILINE)
    if probe:
        marks = json.loads(probe.group(1))
        result["first_step_wall_s"] = marks["first_batch"]["wall_s"]
        result["first_step_cpu_s"] = marks["first_batch"]["cpu_s"]
        if "floor" in marks:  # the floor's share of this very run, and what the rest of fit added to it
            result["floor_in_run_cpu_s"] = marks["floor"]["cpu_s"]
            result["over_floor_in_run_cpu_s"] = round(marks["first_batch"]["cpu_s"] - marks["floor"]["cpu_s"], 3)
        result["stages"] = marks
    return result


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k, v in samples[0].items() if isinstance(v, float | int)]
    summary: dict[str, Any] = {f"median_{k}": median([s[k] for s in samples]) for k in keys}
    if "stages" in samples[0]:
        # CPU seconds spent between one stage and the next (from the process start for the first), medians
        phases: dict[str, float] = {}
        for i, stage in enumerate(STAGES):
            if all(stage in s["stages"] for s in samples):
                previous = STAGES[i - 1] if i else None
                phases[stage] = round(median([
                    s["stages"][stage]["cpu_s"] - (s["stages"][previous]["cpu_s"] if previous else 0.0)
                    for s in samples
                ]), 3)
        summary["median_phase_cpu_s"] = phases
    return {**summary, "samples": samples}


#: ``genfw`` as its console script runs it (``sys.exit(main())``), after importing torch and Lightning and noting
#: the CPU and wall seconds that took, in this same process: the floor's share of each ``fit``, measured in the
#: run itself rather than in another process (on a shared machine, two processes' CPU times differ by 10-20%).
FIT_LAUNCHER = f"""
import os, sys, time
import torch, pytorch_lightning
times = os.times()
os.environ["{FLOOR_ENV}"] = f"{{times.user + times.system}},{{time.time() - float(os.environ['{T0_ENV}'])}}"
from gen_framework.cli import main
sys.exit(main(sys.argv[1:]))
"""


def fit_command(config: str, threads: int, root: Path) -> list[str]:
    return [
        sys.executable, "-c", FIT_LAUNCHER, "fit", "--config", str(ROOT / "configs" / f"{config}.yaml"), "--trainer.max_steps", "1",
        "--threads", str(threads), "--trainer.default_root_dir", str(root),
        "--trainer.callbacks+=startup_probe.FirstStepProbe",
    ]


def wait_for_quiet(threshold: float | None, patience_s: float) -> float:
    """Waits (up to ``patience_s``) until the 1-minute load average is under ``threshold``; returns it."""
    deadline = time.monotonic() + patience_s
    while threshold is not None and os.getloadavg()[0] >= threshold and time.monotonic() < deadline:
        time.sleep(5)
    return os.getloadavg()[0]


def measure(
    repeats: int, threads: int, quiet: float | None, patience_s: float, baseline: Path | None = None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="genfw-startup-") as tmp:
        cwd = Path(tmp)
        env = {
            **os.environ, "GEN_FRAMEWORK_CACHE": str(cwd / "cache"), "OMP_NUM_THREADS": str(threads),
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        }
        cold_env = {**env, "GEN_FRAMEWORK_CACHE": str(cwd / "cold-cache")}
        commands: dict[str, tuple[list[str], dict[str, str]]] = {
            "help": ([str(GENFW), "--help"], env),
            "plugins": ([str(GENFW), "plugins"], env),
            "plugins_cold": ([str(GENFW), "plugins"], cold_env),
            "import_torch": ([sys.executable, "-c", "import torch"], env),
            "import_floor": ([sys.executable, "-c", "import torch, pytorch_lightning"], env),
            **{f"fit:{c}": (fit_command(c, threads, cwd / "runs"), env) for c in FIT_CONFIGS},
        }
        if baseline is not None:
            # another version's gen_framework package first on the path: its fit runs alternate with this one's
            baseline_env = {**env, "PYTHONPATH": os.pathsep.join([str(baseline), env["PYTHONPATH"]])}
            commands.update({f"baseline:{c}": (fit_command(c, threads, cwd / "runs"), baseline_env)
                             for c in FIT_CONFIGS})
        run([str(GENFW), "plugins"], cwd, env)  # writes the validation cache that "plugins" then reads
        names = list(commands)
        samples: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for round_ in range(repeats):
            wait_for_quiet(quiet, patience_s)
            for name in names[round_ % len(names):] + names[: round_ % len(names)]:
                command, command_env = commands[name]
                shutil.rmtree(cwd / "cold-cache", ignore_errors=True)
                samples[name].append(run(command, cwd, command_env))
                print(f"round {round_ + 1}/{repeats} {name:22s} {samples[name][-1]}", flush=True)
        results: dict[str, Any] = {n: summarize(s) for n, s in samples.items() if ":" not in n}
        results["fit"] = {n.split(":", 1)[1]: summarize(s) for n, s in samples.items() if n.startswith("fit:")}
        if baseline is not None:
            results["fit_baseline"] = {
                n.split(":", 1)[1]: summarize(s) for n, s in samples.items() if n.startswith("baseline:")
            }
        results["importtime_ms"] = import_breakdown(threads, cwd, env)
        results["floor_optional_imports"] = optional_imports(repeats, cwd, env)
    return results


#: Imported by torchmetrics (so by every ``import pytorch_lightning``) only where installed: gen-framework's own
#: dependencies do not pull them in; its ``photos``/``audio`` extras (scipy) and ``bench`` extra (matplotlib) do.
OPTIONAL_IN_FLOOR = ("scipy.signal", "matplotlib.pyplot")
_OPTIONAL_SCRIPT = """
import importlib, importlib.util, os, sys
import torch
names = [n for n in sys.argv[1:] if importlib.util.find_spec(n.split(".")[0]) is not None]
before = os.times()
for name in names:
    importlib.import_module(name)
after = os.times()
print("optional", ",".join(names), after.user + after.system - before.user - before.system)
"""


def optional_imports(repeats: int, cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """CPU seconds of the floor's optional packages (:data:`OPTIONAL_IN_FLOOR`), imported after torch: what an
    installation without them does not pay."""
    cpu, names = [], ""
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", _OPTIONAL_SCRIPT, *OPTIONAL_IN_FLOOR], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=300, check=True)
        _, names, seconds = done.stdout.strip().splitlines()[-1].split(" ")
        cpu.append(float(seconds))
    return {"modules": [n for n in names.split(",") if n], "median_cpu_s": round(median(cpu), 3), "samples_cpu_s": cpu}


def import_breakdown(threads: int, cwd: Path, env: dict[str, str]) -> dict[str, float]:
    """Self-reported import time (``-X importtime``) of ``fit`` (DCGAN) by top-level package: the sum of each
    module's own time (without the modules it imports), so each package counts what its own modules cost."""
    command = [sys.executable, "-X", "importtime", "-m", "gen_framework", *fit_command(FIT_CONFIGS[0], threads,
                                                                                         cwd / "runs")[3:]]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    totals: dict[str, float] = {}
    for line in done.stderr.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s+(\S+)$", line)
        if found:
            package = found.group(2).split(".")[0]
            totals[package] = totals.get(package, 0.0) + int(found.group(1)) / 1000
    return dict(sorted(((k, round(v, 1)) for k, v in totals.items() if v >= 5), key=lambda kv: -kv[1]))


def verdicts(results: dict[str, Any]) -> dict[str, Any]:
    """Each target against the CPU-time median (the wall time of a shared machine includes waiting), wall beside."""
    measured = {name: (results[name]["median_cpu_s"], results[name]["median_wall_s"])
                for name in ("help", "plugins", "plugins_cold")}
    for config, entry in results["fit"].items():
        measured[f"fit:{config}"] = (entry["median_first_step_cpu_s"], entry["median_first_step_wall_s"])
    floor_cpu, floor_wall = results["import_floor"]["median_cpu_s"], results["import_floor"]["median_wall_s"]
    out = {}
    for name, (cpu, wall) in measured.items():
        target = TARGETS[name.split(":")[0]]
        out[name] = {"target_s": target, "cpu_s": cpu, "wall_s": wall, "met": cpu <= target, "met_wall": wall <= target}
        if name.startswith("fit:") or name == "plugins_cold":
            # what the command adds to the import of torch and Lightning; the floor alone may exceed the target
            out[name].update(floor_cpu_s=floor_cpu, floor_wall_s=floor_wall, over_floor_cpu_s=round(cpu - floor_cpu, 3),
                             bound_by_floor=floor_cpu > target)
        if name.startswith("fit:"):
            entry = results["fit"][name.split(":", 1)[1]]
            # the same split within each run (robust to the process-to-process spread of a shared machine, and
            # without the ~1.3 CPU-s of Python's clean-up at exit that the floor's own process pays after importing)
            in_run = entry.get("median_floor_in_run_cpu_s")
            out[name].update(floor_in_run_cpu_s=in_run,
                             over_floor_in_run_cpu_s=entry.get("median_over_floor_in_run_cpu_s"))
            if in_run is not None:
                out[name]["bound_by_floor"] = in_run > target
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quiet-load", type=float, default=None,
                        help="before each round, wait until the 1-minute load average is below this")
    parser.add_argument("--quiet-wait", type=float, default=300, help="longest wait for a quiet moment (s)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a folder holding another version's gen_framework package (git archive REV gen_framework "
                        "| tar -x -C DIR): its fit runs alternate with this one's")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="one repeat (a smoke run)")
    options = parser.parse_args()
    if options.quick:
        options.repeats = 1
    results = measure(options.repeats, options.threads, options.quiet_load, options.quiet_wait, options.baseline)
    baseline = {"baseline": str(options.baseline)} if options.baseline else {}
    extra = {**baseline, "repeats": options.repeats, "targets_s": TARGETS, "verdicts": verdicts(results),
             "shared_machine": "other processes may have run: see each sample's load_average"}
    path = write_results("startup", results, threads=options.threads, output=options.output, extra=extra)
    payload = json.loads(path.read_text())
    for name, v in payload["verdicts"].items():
        floor = f"  floor {v['floor_cpu_s']:.2f} s" if "floor_cpu_s" in v else ""
        if v.get("over_floor_in_run_cpu_s") is not None:
            floor += f"  (in the run: floor {v['floor_in_run_cpu_s']:.2f} s + {v['over_floor_in_run_cpu_s']:.2f} s)"
        print(f"{name:22s} cpu {v['cpu_s']:6.2f} s  wall {v['wall_s']:6.2f} s  target {v['target_s']:g} s  "
              f"met={v['met']}{floor}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

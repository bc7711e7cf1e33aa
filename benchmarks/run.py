"""Runs every benchmark, then renders the benchmarks page of the docs from the results.

Each benchmark is its script in this folder, run in its own process with the recorded settings (``--quick``
passes ``--quick`` for a smoke run of each). Then ``benchmarks/report.py`` renders ``docs/benchmarks.md`` and
the plots in ``docs/assets/benchmarks/`` from the JSON files.

    python benchmarks/run.py                          # everything, about 1.5 hours on a 2-core CPU
    python benchmarks/run.py --only gpt_mini ddp_scaling
    python benchmarks/run.py --render-only            # redraw the page from the recorded results
    python benchmarks/run.py --quick                  # smoke run of every script, about 6 minutes

A ``--quick`` run writes its results and its page under ``runs/benchmarks-quick/`` (``--results`` and ``--docs``
choose other folders), so smoke numbers never replace the recorded ones. ``OMP_WAIT_POLICY=PASSIVE`` is set for
every script unless the environment sets it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
QUICK_DIR = ROOT / "runs" / "benchmarks-quick"


@dataclass(frozen=True)
class Benchmark:
    """One benchmark script, what it measures, and the arguments of each run that makes the recorded results.

    Runs of one script write the same JSON file; a later run with ``--only``/``--parts`` adds its entries.
    """

    script: str
    measures: str
    runs: tuple[tuple[str, ...], ...] = field(default=((),))


BENCHMARKS: dict[str, Benchmark] = {
    "dcgan_vae": Benchmark("dcgan_vae.py", "framework overhead (GAN, VAE) and quality per CPU minute",
                           (("--repeats", "5"),)),
    "gpt_mini": Benchmark("gpt_mini.py", "GPT-mini quality, Trainer throughput against a plain loop, KV cache",
                          (("--long",), ("--threads", "1", "--only", "throughput", "--only", "kv_cache"))),
    "wavenet_lite": Benchmark("wavenet_lite.py", "WaveNet-lite fast generation, real-time factor, learning"),
    "ddp_scaling": Benchmark("ddp_scaling.py", "2 DDP processes against 1 (DCGAN, GPT-mini)"),
    "stylegan_lite": Benchmark("stylegan_lite.py", "StyleGAN-lite against DCGAN at equal CPU time, step speed"),
    "compile_precision": Benchmark("compile_precision.py", "torch.compile and bf16-mixed against eager fp32"),
    "callback_cost": Benchmark("callback_cost.py", "each default callback's CPU cost per training step"),
    "startup": Benchmark("startup.py", "genfw --help, genfw plugins and genfw fit up to its first step"),
}


def commands(name: str, quick: bool, results_dir: Path) -> list[list[str]]:
    """The command lines that run benchmark ``name`` and write ``results_dir/<name>.json``."""
    benchmark = BENCHMARKS[name]
    script, output = str(HERE / benchmark.script), ["--output", str(results_dir / f"{name}.json")]
    if quick:
        return [[sys.executable, script, "--quick", *output]]
    return [[sys.executable, script, *args, *output] for args in benchmark.runs]


def run_benchmarks(names: list[str], quick: bool, results_dir: Path) -> dict[str, tuple[int, float]]:
    """Run each benchmark in turn (one at a time: they time themselves); exit code and wall seconds of each."""
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    outcome = {}
    for name in names:
        print(f"\n=== {name}: {BENCHMARKS[name].measures}", flush=True)
        began, code = time.perf_counter(), 0
        for cmd in commands(name, quick, results_dir):
            print(f"$ {' '.join(cmd)}", flush=True)
            code = code or subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode
        outcome[name] = (code, time.perf_counter() - began)
        print(f"=== {name}: {'done' if code == 0 else f'FAILED (exit code {code})'} "
              f"in {outcome[name][1]:.0f} s", flush=True)
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), metavar="NAME",
                        help=f"run only these benchmarks (of: {', '.join(BENCHMARKS)})")
    parser.add_argument("--quick", action="store_true", help="smoke run of each script (results under runs/)")
    parser.add_argument("--render-only", action="store_true", help="measure nothing; redraw the page")
    parser.add_argument("--results", type=Path, help="results folder (default: benchmarks/results)")
    parser.add_argument("--docs", type=Path, help="folder of the rendered page (default: docs)")
    args = parser.parse_args(argv)
    results_dir = args.results or (QUICK_DIR / "results" if args.quick else HERE / "results")
    docs_dir = args.docs or (QUICK_DIR / "docs" if args.quick else ROOT / "docs")

    outcome: dict[str, tuple[int, float]] = {}
    if not args.render_only:
        results_dir.mkdir(parents=True, exist_ok=True)
        outcome = run_benchmarks(args.only or list(BENCHMARKS), args.quick, results_dir)
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    from report import render

    page = render(results_dir, docs_dir)
    print(f"\nrendered {page} from {results_dir}")
    for name, (code, seconds) in outcome.items():
        print(f"  {name:<18} {'ok' if code == 0 else f'exit code {code}':<12} {seconds:7.0f} s")
    if outcome:
        print(f"  {'total':<18} {'':<12} {sum(s for _, s in outcome.values()):7.0f} s")
    return 1 if any(code for code, _ in outcome.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

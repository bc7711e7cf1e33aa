"""Effect of ``torch.compile`` and bf16 mixed precision on a GPT-mini training step on this CPU.

The GPT-mini of ``benchmarks/gpt_mini.py`` (4 layers x 4 heads x 128 wide, 0.8M parameters, block 64, batch 12,
pydocs characters) is trained by a Lightning ``Trainer`` (no logger, checkpoint or progress bar) in three
settings, each what a ``genfw fit`` option gives:

* ``eager``: the default, fp32;
* ``compile``: ``--model.init_args.compile true``, the plugin's ``torch.compile`` of the network for training;
* ``bf16``: ``--trainer.precision bf16-mixed``.

The settings run in turn, ``--repeats`` times. In each run the first ``WARMUP_STEPS`` iterations (which hold the
compilation) are dropped and the median time of the next ones is recorded, in wall and process CPU time; reported
are the medians over runs and each setting's speed relative to eager (CPU time, the steady clock on a shared
machine). The first iteration of each compiled run is reported as its compile time: cold in the first run
(``TORCHINDUCTOR_CACHE_DIR`` is a fresh temporary folder), warm after.

Whether bf16 helps depends on the CPU: with bf16 instructions (``avx512_bf16``, ``amx_bf16``) a bf16 matmul is
faster than fp32, without them it can be tens of times slower. So the results also hold the CPU's bf16 flags
and the speed of a ``(768, 128) x (128, 512)`` matmul (the size of the model's MLP input) in each dtype, and
when bf16 matmuls are more than 4x slower, bf16 runs are timed over ``SLOW_BF16_STEPS`` steps only.

    python benchmarks/compile_precision.py              # 5 repeats; about 5 minutes on 1 thread
    python benchmarks/compile_precision.py --quick      # smoke run: 1 repeat of a few steps

Writes ``benchmarks/results/compile_precision.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Idle OpenMP threads sleep instead of spinning (see benchmarks/gpt_mini.py); set before torch starts its pool.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, write_results

RESULTS = RESULTS_DIR / "compile_precision.json"
MODEL = {"n_layer": 4, "n_head": 4, "n_embd": 128, "dropout": 0.0}
BLOCK_SIZE, BATCH_SIZE = 64, 12
WARMUP_STEPS = 3
SLOW_BF16_STEPS = 4
SETTINGS: dict[str, dict[str, Any]] = {
    "eager": {"compile": False, "precision": "32-true"},
    "compile": {"compile": True, "precision": "32-true"},
    "bf16": {"compile": False, "precision": "bf16-mixed"},
}


def clocks() -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process)."""
    return time.perf_counter(), time.process_time()


def matmul_gflops(dtype: torch.dtype, repeats: int = 50) -> float:
    """GFLOP/s of a ``(768, 128) x (128, 512)`` matmul in ``dtype`` on the current threads."""
    a, b = torch.randn(768, 128).to(dtype), torch.randn(128, 512).to(dtype)
    for _ in range(3):
        a @ b
    began = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * 768 * 128 * 512 * repeats / (time.perf_counter() - began) / 1e9


def cpu_flags(wanted: tuple[str, ...] = ("avx512_bf16", "amx_bf16", "avx512f", "avx2")) -> list[str]:
    """Which of ``wanted`` the CPU reports in ``/proc/cpuinfo`` (empty where that file does not exist)."""
    try:
        flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), [])
    except OSError:
        return []
    return [flag for flag in wanted if flag in flags]


def train_run(data: Any, setting: str, steps: int) -> dict[str, float]:
    """One Trainer run of ``WARMUP_STEPS + steps`` iterations; per-iteration medians and the first iteration."""
    import pytorch_lightning as pl
    from gen_framework_gpt_mini import GPTMini

    class Clock(pl.Callback):
        def __init__(self) -> None:
            self.starts: list[tuple[float, float]] = []

        def on_train_batch_start(self, *args: Any) -> None:
            self.starts.append(clocks())

        def on_train_end(self, *args: Any) -> None:
            self.starts.append(clocks())

    torch.manual_seed(0)
    model = GPTMini(**MODEL, block_size=BLOCK_SIZE, vocab_size=data.tokenizer.vocab_size,
                    compile=SETTINGS[setting]["compile"], lr=1e-3, warmup_steps=10, lr_decay_steps=1000)
    clock = Clock()
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, precision=SETTINGS[setting]["precision"], max_steps=WARMUP_STEPS + steps,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        limit_val_batches=0, num_sanity_val_steps=0, callbacks=[clock],
    )
    trainer.fit(model, train_dataloaders=data.train_dataloader())
    pairs = list(zip(clock.starts, clock.starts[1:]))
    timed = pairs[WARMUP_STEPS:]
    return {
        "first_step_wall_s": pairs[0][1][0] - pairs[0][0][0],
        "wall_ms": 1e3 * statistics.median(b[0] - a[0] for a, b in timed),
        "cpu_ms": 1e3 * statistics.median(b[1] - a[1] for a, b in timed),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (pinned)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each setting, in turn")
    parser.add_argument("--steps", type=int, default=30, help="timed fp32 steps per run (eager, compile)")
    parser.add_argument("--bf16_steps", type=int, default=None,
                        help=f"timed steps per bf16 run (default: --steps, or {SLOW_BF16_STEPS} if bf16 is slow here)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 repeat, 5 timed steps, 2 in bf16")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.steps, args.bf16_steps = 1, 5, 2
    torch.set_num_threads(args.threads)
    gflops = {"fp32": round(matmul_gflops(torch.float32), 1), "bf16": round(matmul_gflops(torch.bfloat16), 1)}
    if args.bf16_steps is None:
        args.bf16_steps = SLOW_BF16_STEPS if gflops["bf16"] < gflops["fp32"] / 4 else args.steps
    print(f"matmul GFLOP/s: {gflops}; CPU flags: {cpu_flags()}", flush=True)
    import logging
    import warnings

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    from gen_framework.data import PyDocs

    data = PyDocs(block_size=BLOCK_SIZE, batch_size=BATCH_SIZE, tokenizer="char", val_fraction=0.1, seed=0)
    data.setup("fit")
    began = time.perf_counter()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in SETTINGS}
    with tempfile.TemporaryDirectory(prefix="genfw_inductor_") as cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
        for repeat in range(args.repeats):
            for name in SETTINGS:
                run = train_run(data, name, args.bf16_steps if name == "bf16" else args.steps)
                runs[name].append(run)
                print(f"repeat {repeat} {name}: {run['cpu_ms']:.1f} ms CPU ({run['wall_ms']:.1f} wall) per step, "
                      f"first step {run['first_step_wall_s']:.1f} s", flush=True)

    eager_cpu = statistics.median(r["cpu_ms"] for r in runs["eager"])
    results: dict[str, Any] = {}
    for name, per_run in runs.items():
        cpu = statistics.median(r["cpu_ms"] for r in per_run)
        results[name] = {
            **SETTINGS[name],
            "cpu_ms_per_step": round(cpu, 2),
            "wall_ms_per_step": round(statistics.median(r["wall_ms"] for r in per_run), 2),
            "speed_vs_eager_cpu": round(eager_cpu / cpu, 3),
            "tokens_per_cpu_s": round(BATCH_SIZE * BLOCK_SIZE / (cpu / 1e3)),
            "cpu_ms_each_run": [round(r["cpu_ms"], 2) for r in per_run],
            "first_step_wall_s_each_run": [round(r["first_step_wall_s"], 2) for r in per_run],
        }
    results["compile"]["compile_s_cold"] = results["compile"]["first_step_wall_s_each_run"][0]
    results["matmul_gflops"] = gflops
    results["cpu_flags"] = cpu_flags()
    settings = {"model": MODEL, "block_size": BLOCK_SIZE, "batch_size": BATCH_SIZE, "repeats": args.repeats,
                "warmup_steps_dropped": WARMUP_STEPS, "steps": args.steps, "bf16_steps": args.bf16_steps}
    path = write_results("compile_precision", results, threads=args.threads, output=args.output,
                         extra={"settings": settings, "wall_seconds": round(time.perf_counter() - began, 1)})
    for name in SETTINGS:
        print(f"{name}: {results[name]['cpu_ms_per_step']} ms CPU per step, {results[name]['speed_vs_eager_cpu']}x eager")
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

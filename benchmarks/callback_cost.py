"""What each callback of ``genfw fit`` costs a training step, against the step itself.

Run from the repository root::

    python benchmarks/callback_cost.py            # GPT-mini (pydocs), DCGAN (MNIST), VAE (MNIST) default configs
    python benchmarks/callback_cost.py --quick    # smoke run (a few steps each)

Prints the results and writes them, with the machine, to ``benchmarks/results/callback_cost.json``.

Each default config is trained by the real command, in this process (its Trainer, logger, checkpointing,
progress bar, training-health check, pre-emption and signal handling, sample logging), with validation off. At
the start of training every per-batch hook that Lightning will call on a callback (those the callback's class
overrides; inherited no-ops are taken out of the dispatch by ``gen_framework.callbacks.hook_dispatch``) is
wrapped by a timer on the main thread's CPU clock; the timer's own cost, measured on an empty hook, is subtracted.
Reported per callback: microseconds of CPU per training step and their share of the step's CPU time, with the
hooks that ran. Hooks taken out of the dispatch are listed too: they cost nothing per step. Lightning's own
loop around the hooks (the automatic-optimisation closure, hook dispatch, logging) is measured by
``benchmarks/dcgan_vae.py`` and ``benchmarks/gpt_mini.py`` (the "Lightning's loop" split).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep (see gpt_mini.py)

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "gpt_mini": ROOT / "configs" / "gpt_mini" / "pydocs.yaml",
    "dcgan": ROOT / "configs" / "dcgan" / "mnist.yaml",
    "vae": ROOT / "configs" / "vae" / "mnist.yaml",
}
thread_ns = time.thread_time_ns
sys.modules.setdefault("callback_cost", sys.modules[__name__])  # the CLI imports HookClock by this name


class HookClock(pl.Callback):
    """Times the other callbacks' per-batch hooks between batches ``warmup`` and ``warmup + steps``."""

    def __init__(self, warmup: int, steps: int, path: str) -> None:
        self.warmup, self.steps, self.path = warmup, steps, path
        self.spent: dict[str, int] = defaultdict(int)
        self.hooks: dict[str, set[str]] = defaultdict(set)
        self.skipped: dict[str, list[str]] = {}
        self.batch = 0
        self.timing = False
        self.step_start = (0.0, 0.0)

    def on_train_start(self, trainer: Any, module: Any) -> None:
        from gen_framework.callbacks.hook_dispatch import BATCH_HOOKS

        for callback in trainer.callbacks:
            if callback is self:
                continue
            name = type(callback).__name__
            self.skipped[name] = []
            for hook in BATCH_HOOKS:
                if not hook.startswith("on_train") and hook not in (
                    "on_before_backward", "on_after_backward", "on_before_optimizer_step", "on_before_zero_grad"
                ):
                    continue
                fn = getattr(callback, hook, None)
                if not callable(fn):
                    self.skipped[name].append(hook)
                    continue
                setattr(callback, hook, self._timed(name, hook, fn))

    def _timed(self, name: str, hook: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        spent, hooks = self.spent, self.hooks

        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.timing:
                return fn(*args, **kwargs)
            start = thread_ns()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += thread_ns() - start
                hooks[name].add(hook)

        return timed

    # This callback is first in the list, so its start hook runs before the others' and its end hook before theirs.
    def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, batch_idx: int) -> None:
        if self.batch == self.warmup:
            self.timing = True
            self.step_start = (time.process_time(), time.perf_counter())

    def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.batch += 1
        if self.batch == self.warmup + self.steps:
            self.timing = False
            trainer.should_stop = True
            cpu, wall = time.process_time() - self.step_start[0], time.perf_counter() - self.step_start[1]
            Path(self.path).write_text(json.dumps({
                "cpu_s": cpu, "wall_s": wall, "spent_ns": dict(self.spent),
                "hooks": {k: sorted(v) for k, v in self.hooks.items()}, "skipped": self.skipped,
            }))


def timer_cost_ns(calls: int = 20000) -> float:
    """CPU nanoseconds the timing wrapper adds to one hook call (two clock reads and a dictionary update)."""
    clock = HookClock(0, 0, "")
    clock.timing = True
    timed = clock._timed("noop", "hook", lambda *a: None)
    start = thread_ns()
    for _ in range(calls):
        timed(None, None)
    wrapped = thread_ns() - start
    start = thread_ns()
    for _ in range(calls):
        (lambda *a: None)(None, None)
    bare = thread_ns() - start
    return max(0.0, (wrapped - bare) / calls)


def measure(plugin: str, warmup: int, steps: int) -> dict[str, Any]:
    from gen_framework.cli import run_lightning_cli

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "hooks.json"
        clock = {"class_path": "callback_cost.HookClock", "init_args": {"warmup": warmup, "steps": steps, "path": str(out)}}
        run_lightning_cli([
            # HookClock stops the run after warmup + steps batches, across epochs (a GAN batch takes two optimiser
            # steps, so max_steps is off).
            "fit", "--config", str(CONFIGS[plugin]), "--trainer.max_steps", "-1", "--trainer.max_epochs", "-1",
            "--trainer.limit_val_batches", "0", "--trainer.num_sanity_val_steps", "0",
            "--trainer.default_root_dir", tmp,
            "--trainer.logger.init_args.save_dir", tmp, "--trainer.callbacks+", json.dumps(clock),
        ])
        raw = json.loads(out.read_text())
    overhead = timer_cost_ns()
    step_us = raw["cpu_s"] / steps * 1e6
    callbacks = []
    for name, skipped in raw["skipped"].items():
        hooks = raw["hooks"].get(name, [])
        # Each timed hook ran once per batch; the wrapper's own cost per call comes off.
        us = max(0.0, (raw["spent_ns"].get(name, 0) - overhead * len(hooks) * steps) / steps / 1000)
        callbacks.append({
            "callback": name, "hooks_run": hooks, "hooks_skipped": len(skipped),
            "us_per_step": round(us, 2), "share_of_step_percent": round(100 * us / step_us, 4),
        })
    total = sum(c["us_per_step"] for c in callbacks)
    return {
        "config": str(CONFIGS[plugin].relative_to(ROOT)), "steps_timed": steps, "warmup_steps": warmup,
        "step_cpu_ms": round(step_us / 1000, 2), "step_wall_ms": round(raw["wall_s"] / steps * 1000, 2),
        "timer_cost_ns_per_call": round(overhead), "callbacks": callbacks,
        "all_callbacks_us_per_step": round(total, 2),
        "all_callbacks_share_percent": round(100 * total / step_us, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=200, help="timed steps per plugin")
    parser.add_argument("--plugins", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--quick", action="store_true", help="smoke run: 10 timed steps")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import logging
    import warnings

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    warmup, steps = (3, 10) if args.quick else (20, args.steps)
    results = {}
    for plugin in args.plugins:
        load = os.getloadavg()[0]
        results[plugin] = {**measure(plugin, warmup, steps), "load_average": [load, os.getloadavg()[0]]}
        print(json.dumps({plugin: results[plugin]}, indent=2), flush=True)
    path = write_results("callback_cost", results, threads=args.threads, output=args.output)
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""SIGKILL during training, checkpoint writes included, never leaves a corrupt ``last.ckpt``.

Real ``python -m gen_framework fit`` processes train a toy VAE whose weights are large enough (≈ 17 MB per
checkpoint with the Adam state) that a good share of the wall time goes into writing checkpoints. Each is
killed with SIGKILL, either the moment a checkpoint's temporary file appears (so mid-write) or at a random
moment; then ``last.ckpt`` must load with the framework's ``weights_only`` reader, must lag the killed run's
progress by at most one checkpoint interval, and ``genfw fit --ckpt_path last`` must resume from it. The slow
variant kills six runs in a row, each resumed from the last one's ``last.ckpt``. The kill moments are random;
``SIGKILL_TEST_SEED`` repeats a failing run's moments as closely as timing allows.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gen_framework.persistence.checkpoint import read_checkpoint
from gen_framework.cli import main

TESTS = Path(__file__).resolve().parents[1]
INTERVAL = 5
HIDDEN = 10_000  # ToyVAE parameters ≈ 140 × HIDDEN; the checkpoint holds them three times (weights, Adam).


def fit_args(root: Path, max_steps: int, *, interval: int = INTERVAL, resume: bool = False) -> list[str]:
    # A resumed run takes the model and its arguments from the checkpoint.
    model = [] if resume else ["--model.init_args.hidden", str(HIDDEN)]
    return [
        "fit", "--model", "toys.models.ToyVAE", *model, "--data", "toys.data.ToyImages",
        "--trainer.max_steps", str(max_steps), "--trainer.max_epochs", "-1", "--trainer.limit_val_batches", "0",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--trainer.default_root_dir", str(root),
        "--trainer.logger", "pytorch_lightning.loggers.CSVLogger", "--trainer.logger.init_args.save_dir", str(root),
        "--trainer.logger.init_args.name", "run", "--trainer.logger.init_args.flush_logs_every_n_steps", "1",
        "--trainer.log_every_n_steps", "1", "--checkpoint.every_n_train_steps", str(interval),
        *(["--ckpt_path", "last"] if resume else []),
    ]


def start(root: Path, *, resume: bool = False) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, "-m", "gen_framework", *fit_args(root, 100_000, resume=resume)],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def kill_when(process: subprocess.Popen, directory: Path, *, mid_write: bool, rng: random.Random) -> list[str]:
    """SIGKILL ``process`` once ``directory`` holds a last.ckpt: as soon as a temporary file shows up (mid-write),
    or at a random moment; returns the temporary files seen at the kill."""
    deadline = time.monotonic() + 90
    while not (directory / "last.ckpt").exists():
        if process.poll() is not None:
            raise AssertionError(f"training exited early: {process.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("no checkpoint within 90 s")
        time.sleep(0.01)
    # Let a few more intervals pass, so the kill lands on a run that has overwritten last.ckpt before.
    time.sleep(rng.uniform(0.3, 1.5))
    temporaries: list[str] = []
    if mid_write:
        until = time.monotonic() + 20
        while time.monotonic() < until:
            temporaries = [entry.name for entry in os.scandir(directory) if entry.name.endswith(".tmp")]
            if temporaries:
                break
            time.sleep(0.0005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    return temporaries


def progress(log_dir: Path) -> tuple[int, int]:
    """The step a run started from and the steps it had finished when killed (a lower bound), from its CSV log."""
    with open(log_dir / "metrics.csv", newline="") as handle:
        steps = [int(row["step"]) for row in csv.DictReader(handle) if row.get("train/loss")]
    # The logged step counts the batches before the one logged.
    return min(steps), max(steps) + 1


def check_killed_run(log_dir: Path, context: str) -> int:
    """The killed run left a loadable last.ckpt at most one interval behind; returns its step."""
    directory = log_dir / "checkpoints"
    saved_step = read_checkpoint(directory / "last.ckpt")["global_step"]
    _, done = progress(log_dir)
    assert saved_step % INTERVAL == 0 and saved_step >= INTERVAL, context
    assert done - saved_step <= INTERVAL, f"{context}: killed at step {done}, last.ckpt at {saved_step}"
    # Every complete checkpoint file left behind loads; only hidden temporaries may be partial.
    for path in directory.glob("*.ckpt"):
        read_checkpoint(path)
    return saved_step


def test_sigkill_mid_checkpoint_and_at_random_leaves_a_loadable_last_ckpt_and_resumes(tmp_path):
    seed = int(os.environ.get("SIGKILL_TEST_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed)
    cases = {"mid_write": True, "random": False}
    roots = {name: tmp_path / name for name in cases}
    for root in roots.values():
        root.mkdir()
    # Both processes start together: their start-up (imports) is most of the cost.
    processes = {name: start(roots[name]) for name in cases}
    try:
        seen = {name: kill_when(processes[name], roots[name] / "run" / "version_0" / "checkpoints",
                                mid_write=cases[name], rng=rng) for name in cases}
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()

    assert seen["mid_write"], f"the kill was meant to land while a checkpoint was being written (seed {seed})"
    for name, root in roots.items():
        saved_step = check_killed_run(root / "run" / "version_0", f"{name}, SIGKILL_TEST_SEED={seed}")
        assert main(fit_args(root, saved_step + 2, interval=1, resume=True)) == 0
        resumed = root / "run" / "version_1"
        first, _ = progress(resumed)
        assert first == saved_step, "the resumed run goes on from last.ckpt"
        assert read_checkpoint(resumed / "checkpoints" / "last.ckpt")["global_step"] == saved_step + 2


@pytest.mark.slow
def test_killing_resumed_runs_again_and_again_loses_at_most_one_interval_each_time(tmp_path):
    seed = int(os.environ.get("SIGKILL_TEST_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed)
    previous = 0
    for cycle in range(6):
        process = start(tmp_path, resume=cycle > 0)
        log_dir = tmp_path / "run" / f"version_{cycle}"
        try:
            kill_when(process, log_dir / "checkpoints", mid_write=cycle % 2 == 0, rng=rng)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        context = f"cycle {cycle}, SIGKILL_TEST_SEED={seed}"
        first, _ = progress(log_dir)
        assert first == previous, f"{context}: resumed from step {first}, the previous last.ckpt was at {previous}"
        previous = check_killed_run(log_dir, context)

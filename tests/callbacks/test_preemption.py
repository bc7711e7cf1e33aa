"""SIGTERM / SIGUSR1 during `genfw fit`: a checkpoint is saved, the process exits cleanly, the run resumes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

TESTS = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("signum", [signal.SIGTERM, pytest.param(signal.SIGUSR1, marks=pytest.mark.slow)])
def test_a_signal_saves_last_ckpt_and_the_run_resumes(signum, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *filter(None, sys.path)])}
    root = tmp_path / "runs"
    base = [sys.executable, "-m", "gen_framework", "fit", "--model", "toys.models.ToyImageGAN",
            "--data", "toys.data.ToyImages", "--data.count", "4096", "--trainer.enable_progress_bar", "false",
            "--trainer.default_root_dir", str(root), "--trainer.logger.init_args.save_dir", str(root),
            "--trainer.limit_val_batches", "0"]
    process = subprocess.Popen([*base, "--trainer.max_steps", "100000"], env=env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(root.rglob("hparams.yaml")) and time.time() < deadline and process.poll() is None:
        time.sleep(0.5)
    time.sleep(3)  # let it train some steps
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, stderr[-3000:]  # as a shell reports a process stopped by it
    assert f"genfw: stopped by {signal.Signals(signum).name}: checkpoint of step" in stderr
    last = next(root.rglob("last.ckpt"))
    step = torch.load(last, weights_only=True)["global_step"]
    assert step > 0

    resumed = subprocess.run([*base, "--ckpt_path", "last", "--trainer.max_steps", str(step + 3)],
                             env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    newest = max(root.rglob("last.ckpt"), key=lambda p: p.stat().st_mtime)
    assert torch.load(newest, weights_only=True)["global_step"] == step + 3

"""SIGTERM and SIGINT stop every ``genfw`` subcommand: exit ``128 + signal``, one line, nothing half written.

In-process runs send the signal from a callback at a chosen batch (``toys.signals.SignalAt``); one real
process (``slow``) is stopped from outside while ``predict`` writes, as a scheduler or ``timeout`` would;
``tests/callbacks/test_preemption.py`` does the same for ``fit``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gen_framework.cli import main

TESTS = Path(__file__).resolve().parents[1]
TOY = ["--model", "toys.models.ToyVAE"]
DATA = ["--data", "toys.data.ToyImages"]
QUIET = ["--trainer.enable_progress_bar", "false"]


def only_line(stderr: str) -> str:
    """The one line genfw writes (third-party warnings may precede it)."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("genfw:")]
    assert len(lines) == 1, stderr
    assert stderr.rstrip().endswith(lines[0])
    return lines[0]


def signal_config(tmp_path: Path, stage: str, batch: int, signum: int = signal.SIGTERM, times: int = 1) -> list[str]:
    config = tmp_path / f"signal-{stage}.yaml"
    config.write_text(
        "trainer:\n  callbacks:\n    - class_path: toys.signals.SignalAt\n"
        f"      init_args: {{stage: {stage}, batch: {batch}, signum: {int(signum)}, times: {times}}}\n"
    )
    return ["--config", str(config)]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("signal-ckpt")
    code = main(["fit", *TOY, *DATA, "--trainer.max_steps", "2", "--trainer.limit_val_batches", "0", *QUIET,
                 "--trainer.logger", "false", "--trainer.default_root_dir", str(root), "--checkpoint.dirpath", str(root)])
    assert code == 0
    return root / "last.ckpt"


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield tmp_path
    now = {s: signal.getsignal(s) for s in previous}
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    assert now == previous, "a stopped run left its signal handlers installed"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_fit_saves_the_step_it_stopped_at_and_exits_with_the_signal(signum, workdir, capsys):
    code = main(["fit", *signal_config(workdir, "train", 5, signum), *TOY, *DATA, *QUIET,
                 "--trainer.max_steps", "1000", "--trainer.limit_val_batches", "0"])
    assert code == 128 + signum
    line = only_line(capsys.readouterr().err)
    last = next(workdir.rglob("last.ckpt"))
    step = torch.load(last, weights_only=True)["global_step"]
    assert step == 6  # batch 5 (the sixth), running when the signal came, was finished; no other
    assert line == (f"genfw: stopped by {signal.Signals(signum).name}: checkpoint of step 6 saved to "
                    f"{last.relative_to(workdir)}; resume with --ckpt_path last")


def test_fit_stops_at_once_on_a_second_signal_and_saves_nothing(workdir, capsys):
    code = main(["fit", *signal_config(workdir, "train", 5, times=2), *TOY, *DATA, *QUIET,
                 "--trainer.max_steps", "1000", "--trainer.limit_val_batches", "0"])
    assert code == 143
    assert only_line(capsys.readouterr().err) == "genfw: stopped by SIGTERM"
    # the weights may have been half updated: no checkpoint is written from there
    assert not list(workdir.rglob("last.ckpt"))


@pytest.mark.parametrize("subcommand,stage", [("validate", "validation"), ("test", "test")])
def test_evaluation_stops(subcommand, stage, checkpoint, workdir, capsys):
    code = main([subcommand, *signal_config(workdir, stage, 2), "--ckpt_path", str(checkpoint), *TOY, *DATA,
                 *QUIET])
    assert code == 143
    assert only_line(capsys.readouterr().err) == "genfw: stopped by SIGTERM"
    assert not list(workdir.rglob("metrics.json"))


def test_predict_stops_and_its_manifest_lists_what_it_wrote(checkpoint, workdir, capsys):
    out = workdir / "samples"
    code = main(["predict", *signal_config(workdir, "predict", 3), "--ckpt_path", str(checkpoint), *TOY,
                 "--num_samples", "40", "--batch_size", "4", "--output_dir", str(out)])
    assert code == 143
    line = only_line(capsys.readouterr().err)
    assert line == f"genfw: stopped by SIGTERM: 12 sample(s) written to {out}, listed in manifest.json"
    manifest = json.loads((out / "manifest.json").read_text())
    written = sorted(p.name for p in out.glob("sample_*"))
    assert manifest["files"] == written and len(written) == 12
    assert manifest["complete"] is False
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "a temporary file was left behind"


@pytest.mark.slow  # a real process: about 25 s
def test_a_real_predict_process_stops_on_sigterm_from_outside(checkpoint, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *filter(None, sys.path)])}
    out = tmp_path / "samples"
    process = subprocess.Popen(
        [sys.executable, "-m", "gen_framework", "predict", "--ckpt_path", str(checkpoint), *TOY,
         "--num_samples", "100000", "--batch_size", "1", "--output_dir", str(out), *QUIET],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while len(list(out.glob("sample_*"))) < 5 and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("predict kept running for 30 s after SIGTERM")
    assert process.returncode == 143, stderr[-2000:]
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("genfw: stopped by SIGTERM: ")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"] == sorted(p.name for p in out.glob("sample_*"))
    assert manifest["complete"] is False

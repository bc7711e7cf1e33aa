"""``last.ckpt`` holds the final global step however a fit ends.

Each stop reason is arranged so that the end does not fall on a checkpoint Lightning's ``ModelCheckpoint``
would write anyway (validation every 3 steps, an 8-batch epoch). Run with Lightning's plain
``ModelCheckpoint`` in place of :class:`RunCheckpoint` (``checkpoint_class`` below), the max_steps, max_epochs
and early-stopping tests fail (``last.ckpt`` at steps 6, 14 and 6); the max_time and signal tests pass there
too (a stop asked for in a batch hook makes Lightning validate, and so save, at that step; Preemption saved
the signal's stop) and guard against regressions.
"""

from __future__ import annotations

import os
import signal

import pytest
import pytorch_lightning as pl
import torch
from conftest import trainer_kwargs
from pytorch_lightning.callbacks import EarlyStopping, Timer
from toys.data import ToyImages
from toys.models import ToyVAE

from gen_framework.callbacks.preemption import Preemption
from gen_framework.callbacks.run_checkpoint import RUNNING_MARKER, RunCheckpoint
from gen_framework.callbacks.signal_stop import SignalStop
from gen_framework.cli import main

#: The class under test; swapping in ``pytorch_lightning.callbacks.ModelCheckpoint`` shows the tests catch it.
checkpoint_class = RunCheckpoint

# 64 images in batches of 8: an epoch is 8 steps; validation (one batch) every 3 steps saves at 3, 6, 11, 14, ...
DATA = dict(count=64, batch_size=8)
FIT = dict(val_check_interval=3, limit_val_batches=1, num_sanity_val_steps=0)


def stored_step(path) -> int:
    return torch.load(path, weights_only=True)["global_step"]


def fit(tmp_path, *callbacks: pl.Callback, **trainer_options) -> tuple[pl.Trainer, RunCheckpoint]:
    saver = checkpoint_class(dirpath=tmp_path / "ckpt", save_last=True)
    trainer = pl.Trainer(**trainer_kwargs(enable_checkpointing=True, callbacks=[saver, *callbacks],
                                          **{**FIT, **trainer_options}))
    trainer.fit(ToyVAE(), datamodule=ToyImages(**DATA))
    return trainer, saver


def test_max_steps_between_validations(tmp_path):
    trainer, _ = fit(tmp_path, max_steps=7)
    assert trainer.global_step == 7
    assert stored_step(tmp_path / "ckpt" / "last.ckpt") == 7  # Lightning's ModelCheckpoint leaves 6


def test_max_epochs(tmp_path):
    trainer, _ = fit(tmp_path, max_epochs=2)
    assert trainer.global_step == 16
    assert stored_step(tmp_path / "ckpt" / "last.ckpt") == 16  # Lightning's leaves 14


def test_max_time(tmp_path, monkeypatch):
    # The timer's clock reads the step count, so the time runs out right after step 7 on any machine.
    trainer_holder: list[pl.Trainer] = []
    monkeypatch.setattr("pytorch_lightning.callbacks.timer.time.monotonic",
                        lambda: float(trainer_holder[0].global_step) if trainer_holder else 0.0)

    class Hold(pl.Callback):
        def on_fit_start(self, trainer, pl_module):
            trainer_holder.append(trainer)

    trainer, _ = fit(tmp_path, Hold(), Timer(duration={"seconds": 7}), max_steps=1000)
    assert trainer.global_step == 7
    assert stored_step(tmp_path / "ckpt" / "last.ckpt") == 7


def test_early_stopping(tmp_path):
    # a threshold every loss meets: the first check (end of epoch 1, step 8) stops the run
    stop = EarlyStopping(monitor="train/loss", stopping_threshold=1e9, check_on_train_epoch_end=True)
    trainer, _ = fit(tmp_path, stop, max_steps=1000)
    assert trainer.global_step == 8
    assert stored_step(tmp_path / "ckpt" / "last.ckpt") == 8


def test_sigterm(tmp_path):
    class Terminate(pl.Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == 7:
                os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit):
        fit(tmp_path, Terminate(), Preemption(), SignalStop(), max_steps=1000)
    assert signal.getsignal(signal.SIGTERM) == previous, "the stage left its signal handler installed"
    assert stored_step(tmp_path / "ckpt" / "last.ckpt") == 7
    assert not (tmp_path / "ckpt" / RUNNING_MARKER).exists()


def test_a_run_that_already_saved_its_last_step_is_not_saved_twice(tmp_path):
    trainer, saver = fit(tmp_path, max_steps=6)
    assert stored_step(tmp_path / "ckpt" / "last.ckpt") == 6
    assert saver._last_step_in_last == 6


def test_a_final_checkpoint_resumes(tmp_path):
    fit(tmp_path, max_steps=7)
    saver = checkpoint_class(dirpath=tmp_path / "more", save_last=True)
    trainer = pl.Trainer(**trainer_kwargs(enable_checkpointing=True, callbacks=[saver], max_steps=10, **FIT))
    trainer.fit(ToyVAE(), datamodule=ToyImages(**DATA), ckpt_path=tmp_path / "ckpt" / "last.ckpt")
    assert trainer.global_step == 10
    assert stored_step(tmp_path / "more" / "last.ckpt") == 10


def test_genfw_fit_writes_the_final_step(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["fit", "--model", "toys.models.ToyVAE", "--data", "toys.data.ToyImages",
                 "--trainer.max_steps", "7", "--trainer.val_check_interval", "3",
                 "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false"])
    assert code == 0
    last = next(tmp_path.rglob("last.ckpt"))
    assert stored_step(last) == 7
    assert f"checkpoint written to {last.relative_to(tmp_path)}" in capsys.readouterr().out
    assert not list(tmp_path.rglob(RUNNING_MARKER))


def test_genfw_fit_with_no_step_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["fit", "--model", "toys.models.ToyVAE", "--data", "toys.data.ToyImages",
                 "--trainer.max_steps", "0", "--trainer.enable_progress_bar", "false"])
    assert code == 0
    assert "no checkpoint written (no step taken)" in capsys.readouterr().out

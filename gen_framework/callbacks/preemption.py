"""`Preemption`: on SIGTERM (or SIGUSR1 outside SLURM) save a resumable checkpoint and stop cleanly.

Lightning turns SIGTERM into a ``SIGTERMException`` raised between training batches, on every rank. This
callback then writes ``last.ckpt`` where the run's ``ModelCheckpoint`` writes it, so ``--ckpt_path last``
resumes exactly after the last finished batch. Crashes of any other kind are left alone: a checkpoint
written from a failing state must not replace the last good one.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException


class Preemption(pl.Callback):
    """Save ``last.ckpt`` when the job is asked to stop (SIGTERM, or SIGUSR1 when not under SLURM).

    Args:
        handle_sigusr1: Treat SIGUSR1 like SIGTERM (schedulers send it ahead of a time limit). Under SLURM,
            Lightning's own SIGUSR1 handler (save and requeue) takes precedence.
    """

    def __init__(self, handle_sigusr1: bool = True) -> None:
        self.handle_sigusr1 = handle_sigusr1
        self.saved_path: Path | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.handle_sigusr1 or not hasattr(signal, "SIGUSR1"):
            return
        current = signal.getsignal(signal.SIGUSR1)
        if current in (signal.SIG_DFL, signal.SIG_IGN, None):
            connector = trainer._signal_connector
            signal.signal(signal.SIGUSR1, lambda signum, frame: connector._sigterm_notifier_fn(signum, frame))

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, SIGTERMException):
            return
        path = self._last_path(trainer)
        trainer.save_checkpoint(path)
        self.saved_path = path
        if trainer.is_global_zero:
            print(f"genfw: stopped by a signal after step {trainer.global_step}; checkpoint saved to {path}; "
                  "resume with --ckpt_path last")

    @staticmethod
    def _last_path(trainer: pl.Trainer) -> Path:
        callback: Any = trainer.checkpoint_callback
        directory = getattr(callback, "dirpath", None)
        if directory is None:
            directory = Path(trainer.log_dir or trainer.default_root_dir) / "checkpoints"
        return Path(directory) / "last.ckpt"

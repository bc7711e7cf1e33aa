"""`Preemption`: on SIGTERM or SIGINT (and SIGUSR1 outside SLURM) save a resumable checkpoint and stop cleanly.

Lightning turns SIGTERM into a ``SIGTERMException`` raised between training batches, on every rank; this
callback routes SIGINT (Ctrl-C) and SIGUSR1 the same way while a fit runs. When the exception arrives, it
writes ``last.ckpt`` through the run's :class:`~gen_framework.callbacks.run_checkpoint.RunCheckpoint`, so
``--ckpt_path last`` resumes exactly after the last finished batch. A second signal stops at once
(:class:`~gen_framework.callbacks.signal_stop.StoppedMidStep`) and saves nothing, since the weights may be
half updated; crashes of any other kind are left alone too: a checkpoint written from a failing state must
not replace the last good one.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException

from gen_framework.callbacks.signal_stop import StoppedMidStep


class Preemption(pl.Callback):
    """Save ``last.ckpt`` when the job is asked to stop (SIGTERM, SIGINT, or SIGUSR1 when not under SLURM).

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
        if not isinstance(exception, SIGTERMException) or isinstance(exception, StoppedMidStep):
            return
        path = self._save(trainer)
        self.saved_path = path
        if trainer.is_global_zero and path is not None:
            exception.add_note(
                f"checkpoint of step {trainer.global_step} saved to {path}; resume with --ckpt_path last"
            )

    def _save(self, trainer: pl.Trainer) -> Path | None:
        callback: Any = trainer.checkpoint_callback
        if hasattr(callback, "save_last_now"):
            saved = callback.save_last_now(trainer)
            if saved:
                return Path(saved)
            if callback.save_last:
                return None  # no step taken yet: nothing worth saving
        path = self._last_path(trainer)
        trainer.save_checkpoint(path)
        return path

    @staticmethod
    def _last_path(trainer: pl.Trainer) -> Path:
        callback: Any = trainer.checkpoint_callback
        directory = getattr(callback, "dirpath", None)
        if directory is None:
            directory = Path(trainer.log_dir or trainer.default_root_dir) / "checkpoints"
        return Path(directory) / "last.ckpt"

"""`LastStepLogging`: the last training step of a run reaches the loggers, whatever ``log_every_n_steps`` is."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback


class LastStepLogging(Callback):
    """Makes the batch that reaches ``max_steps`` a logging step.

    Lightning writes training values every ``trainer.log_every_n_steps`` batches only, so a run shorter than that
    interval (a 3-step smoke test, a short fine-tune) leaves no ``metrics.csv`` and no TensorBoard scalars, and a
    longer one loses its final values. Before the batch expected to reach ``max_steps`` (from the optimiser steps
    the previous batch took; the number of optimisers before the first), this sets ``log_every_n_steps`` to 1 for
    that batch, so the model logs it and Lightning writes it; the interval is restored afterwards.
    """

    def __init__(self) -> None:
        self._saved_interval: int | None = None
        self._steps_per_batch: int | None = None
        self._step_before: int = 0

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        self._restore(trainer)
        self._step_before = trainer.global_step
        if trainer.max_steps <= 0 or trainer.log_every_n_steps <= 1:
            return
        per_batch = self._steps_per_batch or max(1, len(trainer.optimizers))
        if trainer.global_step + per_batch >= trainer.max_steps:
            self._saved_interval = trainer.log_every_n_steps
            trainer.log_every_n_steps = 1

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        taken = trainer.global_step - self._step_before
        if taken > 0:
            self._steps_per_batch = taken

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore(trainer)

    def _restore(self, trainer: pl.Trainer) -> None:
        if self._saved_interval is not None:
            trainer.log_every_n_steps = self._saved_interval
            self._saved_interval = None


__all__ = ["LastStepLogging"]

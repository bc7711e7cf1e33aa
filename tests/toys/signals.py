"""A callback that sends the process a signal at a chosen batch of a stage (tests of clean stops)."""

from __future__ import annotations

import os
import signal

import pytorch_lightning as pl


class SignalAt(pl.Callback):
    """Sends ``signum`` to this process when batch ``batch`` of ``stage`` starts (``train``, ``validation``, ...).

    ``times`` signals are sent one after the other (a second one forces an immediate stop during fit).
    """

    def __init__(self, stage: str, batch: int, signum: int = int(signal.SIGTERM), times: int = 1) -> None:
        self.stage, self.batch, self.signum, self.times = stage, batch, signum, times

    def _maybe(self, stage: str, trainer: pl.Trainer, batch_idx: int) -> None:
        if stage == self.stage and batch_idx == self.batch and not trainer.sanity_checking:
            for _ in range(self.times):
                os.kill(os.getpid(), self.signum)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._maybe("train", trainer, batch_idx)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self._maybe("validation", trainer, batch_idx)

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self._maybe("test", trainer, batch_idx)

    def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self._maybe("predict", trainer, batch_idx)

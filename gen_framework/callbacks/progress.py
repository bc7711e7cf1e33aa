"""`ProgressBar`: Lightning's Rich progress bar, redrawn a few times per second rather than after every batch."""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import RichProgressBar


class ProgressBar(RichProgressBar):
    """The Rich progress bar ``genfw`` adds by default, updated at most every ``min_interval`` seconds.

    Lightning's bar updates its task and re-reads the metrics after every training batch, which costs about a
    millisecond — a few percent of a small model's step on a CPU. The screen does not need more than a few
    updates per second, so batches that end sooner than ``min_interval`` after the last update are skipped;
    the last batch of an epoch and of training always update.

    Args:
        min_interval: Seconds between two updates of the training bar; 0 updates after every batch.
        **kwargs: Passed to :class:`~pytorch_lightning.callbacks.RichProgressBar` (``leave``, ``theme``, ...).
    """

    def __init__(self, min_interval: float = 0.2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.min_interval = min_interval
        self._last_update = float("-inf")

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        now = time.monotonic()
        finishing = (
            batch_idx + 1 >= trainer.num_training_batches
            or trainer.should_stop
            or 0 < trainer.max_steps <= trainer.global_step
        )
        if now - self._last_update < self.min_interval and not finishing:
            return
        self._last_update = now
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

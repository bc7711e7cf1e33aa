"""The default progress bar redraws at most every ``min_interval`` seconds, and always at the end."""

from __future__ import annotations

import pytorch_lightning as pl
import pytest
from conftest import trainer_kwargs
from pytorch_lightning.callbacks import RichProgressBar
from toys.data import ToyImages
from toys.models import ToyImageGAN

from gen_framework.callbacks import ProgressBar


@pytest.mark.parametrize("min_interval, expected", [(0.0, list(range(1, 9)) + [1, 2, 3]), (3600.0, [1, 8, 3])])
def test_updates_are_throttled_but_the_end_of_each_epoch_and_of_training_shows(min_interval, expected, monkeypatch):
    shown: list[int] = []
    original = RichProgressBar.on_train_batch_end

    def record(self, trainer, pl_module, outputs, batch, batch_idx):
        shown.append(batch_idx + 1)
        original(self, trainer, pl_module, outputs, batch, batch_idx)

    monkeypatch.setattr(RichProgressBar, "on_train_batch_end", record)
    bar = ProgressBar(min_interval=min_interval)
    trainer = pl.Trainer(**trainer_kwargs(enable_progress_bar=True, callbacks=[bar], max_steps=11,
                                          limit_val_batches=0))
    trainer.fit(ToyImageGAN(), datamodule=ToyImages(count=64, batch_size=8))  # 8 batches per epoch
    assert shown == expected

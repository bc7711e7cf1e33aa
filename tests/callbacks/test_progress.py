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


def test_step_column_shows_global_step_rate_and_eta():
    column = ProgressBar().step_column
    assert column.text(0, 100) == "step 0/100"
    column.record(10, now=0.0)
    column.record(30, now=10.0)  # 2 steps/s
    assert column.text(30, 100) == "step 30/100 · 2 steps/s · ETA 0:00:35"
    assert column.text(30, -1) == "step 30 · 2 steps/s", "no ETA without max_steps"
    column.record(30, now=100.0)  # 70 s later the old points leave the 30-s window: no progress, no rate
    assert column.text(30, 100) == "step 30/100"


def test_metrics_are_compact_and_the_epoch_has_no_negative_total():
    shown: dict = {}
    bar = ProgressBar()
    trainer = pl.Trainer(**trainer_kwargs(enable_progress_bar=True, callbacks=[bar], max_steps=4,
                                          limit_val_batches=0))
    original = RichProgressBar.get_metrics

    def record(self, trainer, pl_module):
        shown["description"] = self._get_train_description(trainer.current_epoch)
        return original(self, trainer, pl_module)

    RichProgressBar.get_metrics = record
    try:
        trainer.fit(ToyImageGAN(), datamodule=ToyImages(count=64, batch_size=8))
    finally:
        RichProgressBar.get_metrics = original
    assert shown["description"].strip() == "Epoch 0", "not Lightning's 'Epoch 0/-2' for a max_steps run"
    metrics = bar.get_metrics(trainer, trainer.lightning_module)
    assert metrics and "v_num" not in metrics
    assert not any(name.startswith("train/") for name in metrics)
    assert all(value == f"{float(value):.3g}" for value in metrics.values()), metrics
    line = bar.metrics_line()
    assert "\n" not in line and all(f"{k} {v}" in line for k, v in metrics.items())

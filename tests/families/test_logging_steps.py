"""Per-step training values are logged only on logging steps, and the loggers receive exactly what they would
if every step logged."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from conftest import trainer_kwargs
from pytorch_lightning.loggers import CSVLogger
from torch.utils.data import DataLoader
from toys.data import ToyImages
from toys.models import ToyImageGAN, ToyLM, ToyVAE


def logged_rows(model: pl.LightningModule, data, tmp_path: Path, *, steps: int, every: int) -> set[tuple[int, str]]:
    """The (step, key) pairs of training values a CSV logger wrote."""
    pl.seed_everything(0, verbose=False)
    logger = CSVLogger(tmp_path, name="run")
    trainer = pl.Trainer(**trainer_kwargs(logger=logger, max_steps=steps, log_every_n_steps=every,
                                          limit_val_batches=0))
    if isinstance(data, pl.LightningDataModule):
        trainer.fit(model, datamodule=data)
    else:
        trainer.fit(model, train_dataloaders=data)
    rows = list(csv.DictReader(Path(logger.log_dir, "metrics.csv").open()))
    return {(int(row["step"]), key) for row in rows for key, value in row.items()
            if key.startswith("train/") and value != ""}


def every_step(cls: type) -> type:
    """``cls`` with logging on every step, the behaviour the throttling must reproduce for the loggers."""
    return type(f"EveryStep{cls.__name__}", (cls,), {"is_logging_step": property(lambda self: True)})


def token_windows() -> DataLoader:
    tokens = torch.arange(17).remainder(8).repeat(64, 1)
    return DataLoader(tokens, batch_size=8)


@pytest.mark.parametrize("cls, init, data", [
    (ToyImageGAN, {}, ToyImages),
    (ToyVAE, {}, ToyImages),
    (ToyLM, {"vocab_size": 8}, token_windows),
], ids=["adversarial", "variational", "autoregressive"])
def test_loggers_receive_the_same_values_as_when_every_step_logs(cls, init, data, tmp_path):
    throttled = logged_rows(cls(**init), data(), tmp_path / "throttled", steps=11, every=4)
    reference = logged_rows(every_step(cls)(**init), data(), tmp_path / "every", steps=11, every=4)
    assert throttled == reference
    assert {step for step, _ in throttled} == {3, 7}, "steps 4 and 8 are written"


def test_logging_step_is_true_outside_training_and_on_the_first_step(tmp_path):
    model = ToyImageGAN()
    assert model.is_logging_step
    seen: list[tuple[int, bool]] = []

    class Spy(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.append((trainer.global_step, pl_module.is_logging_step))

    trainer = pl.Trainer(**trainer_kwargs(max_steps=6, log_every_n_steps=3, callbacks=[Spy()]))
    trainer.fit(model, datamodule=ToyImages())
    assert seen == [(0, True), (1, False), (2, True), (3, False), (4, False), (5, True)]
    assert "train/loss_g" in trainer.callback_metrics, "the first step already gives monitors a value"


def test_variational_statistics_are_built_on_logging_steps_only(tmp_path):
    """Between logging steps the VAE step builds no statistics (no dict, no extra ELBO op), only the loss."""
    built: list[int] = []

    class Counting(ToyVAE):
        def _train_metrics(self, loss, recon, kl):
            built.append(self.global_step)
            return super()._train_metrics(loss, recon, kl)

    rows = logged_rows(Counting(), ToyImages(), tmp_path, steps=11, every=4)
    assert built == [0, 3, 7], f"statistics built on steps {built}"
    assert {key for _, key in rows} == {"train/loss", "train/recon", "train/kl", "train/elbo"}

"""Logging hooks called outside a running loop (no trainer, or a trainer whose fit has returned) do nothing,
instead of raising or warning; inside a fit they still log."""

from __future__ import annotations

import warnings

import pytest
import pytorch_lightning as pl
import torch
from conftest import trainer_kwargs
from toys.data import ToyImages
from toys.models import ToyImageGAN, ToyVAE


def _images() -> torch.Tensor:
    return torch.rand(4, 1, 8, 8) * 2 - 1


@pytest.fixture
def fitted_vae() -> ToyVAE:
    pl.seed_everything(0, verbose=False)
    model = ToyVAE()
    pl.Trainer(**trainer_kwargs(max_steps=1, limit_val_batches=0)).fit(model, datamodule=ToyImages())
    return model


def test_logging_hooks_without_a_trainer_neither_raise_nor_warn():
    model = ToyVAE()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Lightning warns on every log call without a trainer
        model.log_train_metrics({"train/loss": torch.tensor(1.0)})
        model.log("train/x", 1.0)
        model.validation_step(_images(), 0)
        ToyImageGAN().log_train_metrics({"train/loss_g": 1.0})


def test_logging_hooks_after_fit_returned_do_nothing(fitted_vae):
    # The trainer is still attached but no longer running: Lightning raises "not managed by the Trainer".
    assert fitted_vae._trainer is not None
    fitted_vae.log_train_metrics({"train/loss": torch.tensor(1.0)})
    fitted_vae.validation_step(_images(), 0)
    fitted_vae.test_step(_images(), 0)


def test_values_logged_inside_a_fit_still_reach_the_trainer():
    pl.seed_everything(0, verbose=False)
    model = ToyVAE()
    trainer = pl.Trainer(**trainer_kwargs(max_steps=2, limit_val_batches=1, val_check_interval=2,
                                          num_sanity_val_steps=0))
    trainer.fit(model, datamodule=ToyImages())
    assert {"train/loss", "val/elbo"} <= set(trainer.logged_metrics) | set(trainer.callback_metrics)

"""Collapse indicators logged by the family bases: discriminator accuracy and sample diversity on GAN logging
steps only, active latent units at the end of each VAE validation epoch (exact when split across ranks)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from conftest import trainer_kwargs
from pytorch_lightning.loggers import CSVLogger
from toys.data import ToyImages
from toys.models import BlindVAE, ConstantGAN, ToyImageGAN, ToyVAE

from gen_framework.data import Digits
from gen_framework.families.adversarial import AdversarialModule

GAN_KEYS = ("train/d_acc_real", "train/d_acc_fake", "train/sample_diversity")


def logged(model: pl.LightningModule, tmp_path: Path, *, steps: int, every: int = 1, data=None) -> list[dict]:
    """Rows of the CSV log of a short fit, values as floats."""
    logger = CSVLogger(tmp_path, name="run")
    trainer = pl.Trainer(**trainer_kwargs(logger=logger, max_steps=steps, log_every_n_steps=every))
    trainer.fit(model, datamodule=data or ToyImages(count=64, batch_size=16))
    rows = list(csv.DictReader(Path(logger.log_dir, "metrics.csv").open()))
    return [{k: float(v) for k, v in row.items() if v != ""} for row in rows]


def values(rows: list[dict], key: str) -> list[float]:
    return [row[key] for row in rows if key in row]


def test_gan_logs_discriminator_accuracy_and_diversity(tmp_path):
    torch.manual_seed(0)
    rows = logged(ToyImageGAN(), tmp_path, steps=6)
    for key in GAN_KEYS:
        assert len(values(rows, key)) == 6, key
    assert all(0.0 <= v <= 1.0 for key in GAN_KEYS[:2] for v in values(rows, key))
    assert all(v > 0.05 for v in values(rows, "train/sample_diversity")), "distinct latents give distinct images"


def test_a_collapsed_generator_has_zero_diversity(tmp_path):
    torch.manual_seed(0)
    rows = logged(ConstantGAN(), tmp_path, steps=4)
    assert values(rows, "train/sample_diversity") == pytest.approx([0.0] * 4, abs=1e-6)


def test_wasserstein_critics_get_no_accuracy(tmp_path):
    torch.manual_seed(0)
    rows = logged(ToyImageGAN(loss="wasserstein"), tmp_path, steps=2)
    assert not values(rows, "train/d_acc_real") and values(rows, "train/sample_diversity")


def test_gan_indicators_are_computed_only_on_logging_steps(tmp_path, monkeypatch):
    calls = []
    original = AdversarialModule._collapse_indicators

    def counting(self, *args):
        calls.append(self.global_step)
        return original(self, *args)

    monkeypatch.setattr(AdversarialModule, "_collapse_indicators", counting)
    rows = logged(ToyImageGAN(), tmp_path, steps=20, every=10)
    # Steps 9 and 19 reach the logger; the first step also logs so monitors have values from the start.
    assert calls == [0, 9, 19]
    assert len(values(rows, "train/sample_diversity")) == 2


def test_vae_counts_active_units_at_the_end_of_validation(tmp_path):
    torch.manual_seed(0)
    digits = Digits(image_size=8, batch_size=128, seed=0)
    trained = logged(ToyVAE(latent_dim=8, lr=3e-3), tmp_path / "trained", steps=150, every=50, data=digits)
    blind = logged(BlindVAE(latent_dim=8, lr=3e-3), tmp_path / "blind", steps=150, every=50, data=digits)
    active = values(trained, "val/active_units")
    assert active and active[-1] >= 2, active
    assert values(blind, "val/active_units")[-1] == 0.0
    # A unit that carries no information matches the prior: its KL goes to 0.
    assert values(blind, "val/kl_per_unit_max")[-1] < 0.05
    assert values(trained, "val/kl_per_unit_max")[-1] > 0.1


def test_active_units_from_summed_shards_equal_those_of_the_whole_set():
    """Sums accumulated on separate ranks and added (what the all-reduce does) give the whole set's variance."""
    torch.manual_seed(0)
    model = ToyVAE(latent_dim=6)
    x = torch.rand(50, 1, 8, 8) * 2 - 1
    with torch.no_grad():
        mean, log_var = model.encode(x)
    mean[:, 0] = 3.0  # a unit with a large mean and no spread: the variance is a small difference of large sums
    shards = []
    for part in (slice(0, 17), slice(17, 50)):
        model._posterior_sums = None
        model._accumulate_posterior(mean[part], log_var[part])
        shards.append(model._posterior_sums)
    sums = shards[0] + shards[1]
    count, (mean_sum, square_sum, _) = sums[0], sums[1:].split(6)
    variance = square_sum / count - (mean_sum / count) ** 2
    torch.testing.assert_close(variance.float(), mean.var(dim=0, unbiased=False), atol=1e-6, rtol=1e-5)
    assert variance[0].abs() < 1e-9

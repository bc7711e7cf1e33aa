"""`fresh_real_per_d_step`: each critic update of a step sees its own real images (WGAN-GP's n_critic loop)."""

import pytest
import pytorch_lightning as pl
import torch
from conftest import trainer_kwargs
from torch.utils.data import DataLoader, TensorDataset
from toys.models import ToyGAN

from gen_framework.errors import ConfigError
from gen_framework.families import AdversarialLoss, AdversarialModule


class RecordingGAN(ToyGAN):
    """Keeps the real batch of every discriminator update, through the regulariser hook that receives it."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.reals: list[torch.Tensor] = []
        self.loader_batches: list[torch.Tensor] = []

    def on_train_batch_start(self, batch, batch_idx):
        self.loader_batches.append(batch[0].clone())

    def discriminator_regularizer(self, real, fake):
        self.reals.append(real.detach().clone())
        return super().discriminator_regularizer(real, fake)


def fit(model: AdversarialModule, batch_size: int, steps: int = 2) -> None:
    points = torch.arange(64 * 2, dtype=torch.float32).view(64, 2)  # every row distinct
    pl.Trainer(max_steps=steps, **trainer_kwargs()).fit(model, DataLoader(TensorDataset(points), batch_size=batch_size))


def test_with_the_option_each_critic_update_sees_different_real_images():
    model = RecordingGAN(d_steps=3, fresh_real_per_d_step=True)
    fit(model, batch_size=6)
    assert len(model.reals) == 6 and len(model.loader_batches) == 2
    for step, batch in enumerate(model.loader_batches):
        parts = model.reals[3 * step : 3 * step + 3]
        assert [len(p) for p in parts] == [2, 2, 2]
        rows = {tuple(r.tolist()) for p in parts for r in p}
        assert len(rows) == 6, "the critic updates of one step share real images"
        assert torch.equal(torch.cat(parts), batch), "the parts are not the loader's batch, in order"
    # Consecutive steps read consecutive loader batches: nothing is skipped or read twice.
    assert not torch.equal(model.loader_batches[0], model.loader_batches[1])


def test_without_the_option_every_critic_update_sees_the_same_batch():
    model = RecordingGAN(d_steps=3)
    fit(model, batch_size=6)
    assert len(model.reals) == 6
    for step, batch in enumerate(model.loader_batches):
        for real in model.reals[3 * step : 3 * step + 3]:
            assert torch.equal(real, batch)


def test_a_batch_smaller_than_d_steps_is_refused_with_the_fix():
    model = ToyGAN(d_steps=4, fresh_real_per_d_step=True)
    with pytest.raises(ConfigError, match="batch_size to d_steps times"):
        fit(model, batch_size=2, steps=1)


def test_adversarial_loss_is_public():
    assert set(AdversarialLoss.__args__) == {"non_saturating", "hinge", "wasserstein", "least_squares"}

"""Exact resume: stopped mid-epoch and resumed, a run ends bitwise where an uninterrupted one does."""

import pytorch_lightning as pl
import torch
from conftest import trainer_kwargs
from pytorch_lightning.callbacks import ModelCheckpoint
from toys.models import ToyImageGAN, ToyVAE

from gen_framework.data import Digits


def digits() -> Digits:
    # 1,617 training images in batches of 256: 6 batches per epoch.
    return Digits(image_size=8, batch_size=256, seed=3)


def test_gan_with_ema_resumes_mid_epoch_exactly(tmp_path):
    pl.seed_everything(0)
    straight = ToyImageGAN(ema_decay=0.9, d_steps=2)
    pl.Trainer(max_steps=9, **trainer_kwargs()).fit(straight, digits())

    pl.seed_everything(0)
    first = ToyImageGAN(ema_decay=0.9, d_steps=2)
    saver = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=4, save_top_k=-1, filename="{step}")
    pl.Trainer(max_steps=4, callbacks=[saver], **trainer_kwargs(enable_checkpointing=True)).fit(first, digits())

    pl.seed_everything(99)
    resumed = ToyImageGAN(ema_decay=0.9, d_steps=2)
    trainer = pl.Trainer(max_steps=9, **trainer_kwargs())
    trainer.fit(resumed, digits(), ckpt_path=tmp_path / "step=4.ckpt", weights_only=True)
    assert trainer.global_step == 9
    expected, actual = straight.state_dict(), resumed.state_dict()
    assert any(k.startswith("ema.") for k in expected)
    assert all(torch.equal(expected[k], actual[k]) for k in expected), [
        k for k in expected if not torch.equal(expected[k], actual[k])
    ]


def test_vae_resumes_exactly_from_the_last_checkpoint(tmp_path):
    pl.seed_everything(0)
    straight = ToyVAE(kl_warmup_steps=5)
    pl.Trainer(max_steps=8, **trainer_kwargs()).fit(straight, digits())

    pl.seed_everything(0)
    first = ToyVAE(kl_warmup_steps=5)
    saver = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=3, save_last=True)
    pl.Trainer(max_steps=3, callbacks=[saver], **trainer_kwargs(enable_checkpointing=True)).fit(first, digits())

    resumed = ToyVAE(kl_warmup_steps=5)
    pl.Trainer(max_steps=8, **trainer_kwargs()).fit(resumed, digits(), ckpt_path=tmp_path / "last.ckpt", weights_only=True)
    expected, actual = straight.state_dict(), resumed.state_dict()
    assert all(torch.equal(expected[k], actual[k]) for k in expected)

"""What the framework stores in a checkpoint stays as it was: the ``gen_framework`` entry's keys and the EMA's
state-dict keys (older checkpoints must keep loading and resuming)."""

from __future__ import annotations

import pytorch_lightning as pl
from conftest import trainer_kwargs
from toys.data import ToyImages
from toys.models import ToyImageGAN

from gen_framework.persistence.checkpoint import CHECKPOINT_KEY, read_checkpoint


def test_the_checkpoint_entry_and_ema_keys_keep_their_format(tmp_path):
    pl.seed_everything(0, verbose=False)
    model = ToyImageGAN(ema_decay=0.9)
    trainer = pl.Trainer(**trainer_kwargs(max_steps=2, limit_val_batches=0))
    trainer.fit(model, datamodule=ToyImages())
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    checkpoint = read_checkpoint(tmp_path / "m.ckpt")

    meta = checkpoint[CHECKPOINT_KEY]
    assert CHECKPOINT_KEY == "gen_framework"
    assert set(meta) == {"plugin", "plugin_version", "class_path", "framework_version", "api_version", "family",
                         "data_spec", "rng", "training_seed", "discriminator_updates"}  # the last: the GAN base's
    assert set(meta["rng"]) >= {"torch", "numpy", "python"}
    assert meta["class_path"] == "toys.models.ToyImageGAN" and meta["family"] == "adversarial"
    assert isinstance(meta["training_seed"], int)
    ema = {k for k in checkpoint["state_dict"] if k.startswith("ema.")}
    assert "ema.generator.n_averaged" in ema
    live = {f"ema.generator.module.{k}" for k in model.generator.state_dict()}
    assert live <= ema and ema - live == {"ema.generator.n_averaged"}

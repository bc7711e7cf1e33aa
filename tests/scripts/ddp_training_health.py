"""A toy VAE under plain DDP (2 CPU processes): latent usage after a validation epoch, then a NaN on rank 1 only.

Usage: python ddp_training_health.py OUT_DIR
Rank 0 writes OUT_DIR/result.json: the logged ``val/active_units`` and ``val/kl_per_unit_max``, the same
quantities computed in one process over the whole validation set, and the error that stopped training.
Run as a script (not under pytest) because Lightning's DDP launcher re-executes the command for rank 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from toys.models import ToyVAE  # noqa: E402

from gen_framework.callbacks.training_health import TrainingHealth  # noqa: E402
from gen_framework.errors import TrainingError  # noqa: E402
from gen_framework.metrics.collapse import active_units  # noqa: E402

NAN_STEP = 6


class RankOneNaNVAE(ToyVAE):
    """The loss is NaN on rank 1 alone, at global step NAN_STEP."""

    def encode(self, x):
        mean, log_var = super().encode(x)
        if self.trainer.training and self.global_rank == 1 and self.global_step == NAN_STEP:
            mean = mean * float("nan")
        return mean, log_var


class RecordLatentUsage(pl.Callback):
    def __init__(self, images: torch.Tensor) -> None:
        self.images = images
        self.result: dict = {}

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.result:
            return
        with torch.no_grad():
            mean, log_var = pl_module.encode(self.images)
        kl = 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var)
        self.result = {
            "logged_active_units": float(trainer.callback_metrics["val/active_units"]),
            "logged_kl_per_unit_max": float(trainer.callback_metrics["val/kl_per_unit_max"]),
            "expected_active_units": float(active_units(mean.var(dim=0, unbiased=False))),
            "expected_kl_per_unit_max": float(kl.mean(dim=0).max()),
        }


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(0)
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(64, 1, 8, 8, generator=generator) * 2 - 1
    data = DataLoader(TensorDataset(images), batch_size=8)
    # Validation on 48 images (24 per rank, none padded); the single-process reference sees all 48.
    val_images = images[:48] * torch.linspace(0.2, 1.5, 48).view(-1, 1, 1, 1)
    recorder = RecordLatentUsage(val_images)
    trainer = pl.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", max_steps=20, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        callbacks=[TrainingHealth(), recorder],
    )
    error = None
    try:
        trainer.fit(RankOneNaNVAE(latent_dim=6), data, DataLoader(TensorDataset(val_images), batch_size=8))
    except TrainingError as err:
        error = str(err)
    if trainer.global_rank == 0:
        (out / "result.json").write_text(json.dumps({**recorder.result, "error": error}))


if __name__ == "__main__":
    main()

"""StyleGAN-lite learns: a small model trained briefly on real MNIST digits moves its samples' statistics toward
the data's by a clear margin (slow; run with ``-m slow``)."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from scipy import linalg

from gen_framework.data import MNIST
from gen_framework_stylegan_lite import StyleGANLite

NUM_IMAGES = 400
STEPS = 300


def pixel_frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to 8×8 average-pooled images ``(N, 1, 32, 32)`` (64-d)."""
    fa, fb = (F.avg_pool2d(x, 4).flatten(1).double().numpy() for x in (a, b))
    cov_a, cov_b = np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
    root, _ = linalg.sqrtm(cov_a @ cov_b, disp=False)
    return float(((fa.mean(0) - fb.mean(0)) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root.real))


@pytest.mark.slow
def test_pixel_frechet_distance_to_real_digits_falls_during_training():
    pl.seed_everything(0, verbose=False)
    data = MNIST(image_size=32, channels=1, batch_size=32)
    data.setup("fit")
    real = torch.stack([data.splits.val[i][0] for i in range(NUM_IMAGES)])
    model = StyleGANLite(
        image_size=32, channels=1, latent_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32,
        r1_gamma=1.0, ema_decay=0.99,
    )
    before = pixel_frechet_distance(model.sample(NUM_IMAGES, seed=0), real)
    trainer = pl.Trainer(
        max_steps=STEPS, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
    )
    trainer.fit(model, data)
    after = pixel_frechet_distance(model.sample(NUM_IMAGES, seed=0), real)
    reference = pixel_frechet_distance(torch.stack([data.splits.train[i][0] for i in range(NUM_IMAGES)]), real)
    print(f"pixel FD to real digits: {before:.2f} before, {after:.2f} after {STEPS} steps "
          f"(real vs real {reference:.2f})")
    assert after < 0.25 * before, f"pixel FD {before:.2f} -> {after:.2f} (real vs real: {reference:.2f})"

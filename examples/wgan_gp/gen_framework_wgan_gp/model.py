"""WGAN-GP (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs") as a plugin of the adversarial family.

Everything WGAN-GP needs is a family option; this plugin only changes their defaults, by declaring them in its
own ``__init__`` signature (the way that works from the command line, configs and Python alike):

- ``loss="wasserstein"``: critic loss E[D(fake)] - E[D(real)], generator loss -E[D(fake)], plus the family's
  gradient penalty ``gp_weight`` (λ = 10) on random interpolates of real and fake images;
- ``d_steps=5`` with ``fresh_real_per_d_step=True``: n_critic = 5 critic updates per generator update, each on
  its own real images (the data's batch is split in 5; set the data's ``batch_size`` to 5 x the critic batch);
- Adam with lr 1e-4 and betas (0.0, 0.9) for both players, as in the paper's Algorithm 1.

The critic has no batch normalisation: the penalty is taken per sample, which batch statistics would couple.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from gen_framework.errors import ConfigError
from gen_framework.families import AdversarialLoss, AdversarialModule


class WGANGP(AdversarialModule):
    """A convolutional WGAN-GP on ``(B, C, S, S)`` images, S a multiple of 4.

    Args:
        image_size: Side S of the square images.
        channels: Image channels C.
        latent_dim: Size Z of the latent vectors.
        width: Channels of the widest convolution.
        loss, d_steps, fresh_real_per_d_step, lr_g, lr_d, betas_g, betas_d: family options with WGAN-GP's
            defaults (see :class:`~gen_framework.families.AdversarialModule`).
    """

    def __init__(
        self,
        image_size: int = 16,
        channels: int = 1,
        latent_dim: int = 64,
        width: int = 32,
        loss: AdversarialLoss = "wasserstein",
        d_steps: int = 5,
        fresh_real_per_d_step: bool = True,
        lr_g: float = 1e-4,
        lr_d: float = 1e-4,
        betas_g: tuple[float, float] = (0.0, 0.9),
        betas_d: tuple[float, float] = (0.0, 0.9),
        **kwargs: Any,
    ) -> None:
        super().__init__(
            loss=loss, d_steps=d_steps, fresh_real_per_d_step=fresh_real_per_d_step, lr_g=lr_g, lr_d=lr_d,
            betas_g=betas_g, betas_d=betas_d, **kwargs,
        )
        if image_size < 4 or image_size % 4:
            raise ConfigError(f"WGANGP: image_size must be a multiple of 4, got {image_size}")
        self.image_size, self.channels, self.latent_dim = image_size, channels, latent_dim
        quarter = image_size // 4
        self.generator = nn.Sequential(
            nn.Linear(latent_dim, 2 * width * quarter * quarter), nn.Unflatten(1, (2 * width, quarter, quarter)),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),  # S/2
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1), nn.Tanh(),  # (B, C, S, S)
        )
        self.discriminator = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # S/2
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # S/4
            nn.Flatten(), nn.Linear(2 * width * quarter * quarter, 1),  # (B, 1) critic scores
        )

    def built_data_spec(self) -> dict[str, Any]:
        return {"image_size": self.image_size, "channels": self.channels}

    def discriminator_regularizer(self, real: Tensor, fake: Tensor) -> Tensor | None:
        """The family's gradient penalty, also logged as ``train/gradient_penalty`` (an extra logged term)."""
        penalty = super().discriminator_regularizer(real, fake)
        if penalty is not None:
            self.log_train_metrics({"train/gradient_penalty": penalty.detach()}, prog_bar=False)
        return penalty

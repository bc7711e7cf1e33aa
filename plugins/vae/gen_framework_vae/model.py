"""A convolutional VAE (Kingma & Welling 2014) on square greyscale or RGB images of side 28, 32 or 64.

The encoder halves the side with strided 4×4 convolutions (ReLU after each, widths doubling from
``base_channels``) down to a ``s0 × s0`` map, which a linear layer turns into the posterior mean and
log-variance ``(B, Z)``. The decoder mirrors it: a linear layer back to the ``s0 × s0`` map, then transposed
convolutions doubling the side up to ``(B, likelihood_channels(C), S, S)`` likelihood parameters (Bernoulli
logits, Gaussian means, or discretised-logistic means and log-scales). No normalisation layers: a VAE's
likelihood must not depend on what else is in the batch, or the IWAE bound would change with batch size.

Layouts by image size S (start side s0, number of ×2 stages):

    S=28: 7 → 14 → 28
    S=32: 4 → 8 → 16 → 32
    S=64: 4 → 8 → 16 → 32 → 64

The family base (:class:`~gen_framework.families.VariationalModule`) owns the ELBO with β and KL warm-up,
the likelihoods (``bernoulli`` for [0, 1] data, optionally binarised; ``gaussian`` for continuous data;
``discretized_logistic``), the IWAE bound, reconstruction, interpolation and prior sampling.
"""

from __future__ import annotations

from typing import Any, Literal

from torch import Tensor, nn

from gen_framework.errors import ConfigError
from gen_framework.families import VariationalModule

IMAGE_SIZES = (28, 32, 64)
CHANNELS = (1, 3)
# image size -> (start side s0, number of ×2 stages)
_LAYOUTS = {28: (7, 2), 32: (4, 3), 64: (4, 4)}


class Encoder(nn.Module):
    """Images ``(B, C, S, S)`` in [-1, 1] → ``(mean, log_var)``, each ``(B, Z)``."""

    def __init__(self, latent_dim: int, image_size: int, channels: int, base_channels: int) -> None:
        super().__init__()
        start, stages = _LAYOUTS[image_size]
        layers: list[nn.Module] = []
        width_in, width = channels, base_channels
        for _ in range(stages):
            layers += [nn.Conv2d(width_in, width, 4, 2, 1), nn.ReLU(inplace=True)]  # side ÷2
            width_in, width = width, 2 * width
        self.features = nn.Sequential(*layers, nn.Flatten())  # (B, w * s0 * s0)
        self.head = nn.Linear(width_in * start * start, 2 * latent_dim)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_var = self.head(self.features(images)).chunk(2, dim=1)
        return mean, log_var


class Decoder(nn.Module):
    """Latents ``(B, Z)`` → likelihood parameters ``(B, out_channels, S, S)``."""

    def __init__(self, latent_dim: int, image_size: int, out_channels: int, base_channels: int) -> None:
        super().__init__()
        start, stages = _LAYOUTS[image_size]
        width = base_channels * 2 ** (stages - 1)
        layers: list[nn.Module] = [
            nn.Linear(latent_dim, width * start * start),
            nn.ReLU(inplace=True),
            nn.Unflatten(1, (width, start, start)),  # (B, w, s0, s0)
        ]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1), nn.ReLU(inplace=True)]  # side ×2
            width //= 2
        layers.append(nn.ConvTranspose2d(width, out_channels, 4, 2, 1))  # (B, out_channels, S, S)
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class ConvVAE(VariationalModule):
    """Convolutional VAE with a diagonal Gaussian posterior and a N(0, I) prior over ``latent_dim`` latents.

    Args:
        latent_dim: Size Z of the latent space.
        image_size: Side S of the images: 28, 32 or 64.
        channels: C, 1 for greyscale or 3 for RGB.
        base_channels: Width of the encoder's first and the decoder's last hidden layer; the widths double
            towards the latent end.
        **kwargs: Options of :class:`~gen_framework.families.VariationalModule`: ``likelihood``
            (``bernoulli`` for data in [0, 1] such as MNIST, with ``binarize`` to threshold it; ``gaussian`` for
            continuous data such as photos, with ``sigma``/``learn_sigma``; ``discretized_logistic``),
            ``beta``, ``kl_warmup_steps``, ``lr``, ``iwae_samples``, ``ema_decay``.

    Raises:
        ConfigError: ``image_size`` not in 28/32/64, ``channels`` not 1 or 3, or a non-positive size.
    """

    def __init__(
        self,
        latent_dim: int = 16,
        image_size: Literal[28, 32, 64] = 28,
        channels: Literal[1, 3] = 1,
        base_channels: int = 32,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if image_size not in IMAGE_SIZES:
            raise ConfigError(
                f"ConvVAE: image_size must be one of {', '.join(map(str, IMAGE_SIZES))}, got {image_size!r}"
            )
        if channels not in CHANNELS:
            raise ConfigError(f"ConvVAE: channels must be 1 or 3, got {channels!r}")
        if latent_dim < 1 or base_channels < 1:
            raise ConfigError(
                f"ConvVAE: latent_dim and base_channels must be >= 1, got {latent_dim} and {base_channels}"
            )
        self.latent_dim = latent_dim
        self.image_size = image_size
        self.channels = channels
        self.encoder = Encoder(latent_dim, image_size, channels, base_channels)
        self.decoder = Decoder(latent_dim, image_size, self.likelihood_channels(channels), base_channels)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Images ``(B, C, S, S)`` in [-1, 1] → posterior ``(mean, log_var)``, each ``(B, Z)``."""
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """Latents ``(B, Z)`` → likelihood parameters ``(B, likelihood_channels(C), S, S)``."""
        return self.decoder(z)

    def built_data_spec(self) -> dict[str, Any]:
        """The image shape the networks were built for; data of another shape is refused by the base."""
        return {"image_size": self.image_size, "channels": self.channels}


__all__ = ["ConvVAE", "Decoder", "Encoder", "IMAGE_SIZES"]

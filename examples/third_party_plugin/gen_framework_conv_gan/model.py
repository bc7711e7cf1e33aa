"""ConvGAN: a two-layer transposed-conv generator and a two-layer strided-conv discriminator at 16x16."""

from typing import Any

from torch import nn

from gen_framework.errors import ConfigError
from gen_framework.families import AdversarialModule


class ConvGAN(AdversarialModule):
    """A small convolutional GAN on ``(B, C, 16, 16)`` images, hinge loss by default.

    Args:
        latent_dim: Size Z of the latent vectors.
        width: Channels of the widest convolution.
        channels: Image channels C.
    """

    def __init__(self, latent_dim: int = 32, width: int = 32, channels: int = 1, loss: str = "hinge", **kwargs: Any) -> None:
        super().__init__(loss=loss, **kwargs)
        self.latent_dim = latent_dim
        self.channels = channels
        self.generator = nn.Sequential(
            nn.Linear(latent_dim, 2 * width * 4 * 4), nn.Unflatten(1, (2 * width, 4, 4)), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),  # 8x8
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1), nn.Tanh(),  # (B, C, 16, 16)
        )
        self.discriminator = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # 8x8
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # 4x4
            nn.Flatten(), nn.Linear(2 * width * 4 * 4, 1),
        )

    def adopt_data_spec(self, spec: dict[str, Any]) -> None:
        if spec.get("image_size", 16) != 16 or spec.get("channels", self.channels) != self.channels:
            raise ConfigError(
                f"ConvGAN makes {self.channels}x16x16 images; set the data's image_size to 16 and channels to "
                f"{self.channels} (got image_size={spec.get('image_size')}, channels={spec.get('channels')})"
            )
        super().adopt_data_spec(spec)

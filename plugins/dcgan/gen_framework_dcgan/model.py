"""DCGAN (Radford, Metz & Chintala 2015, "Unsupervised Representation Learning with Deep Convolutional GANs").

The generator maps a latent ``(B, Z)`` through a transposed convolution to a ``(B, w, s0, s0)`` feature map,
then doubles the side ``stages - 1`` times while halving the width (BatchNorm + ReLU after each), and a last
transposed convolution gives ``(B, C, S, S)`` through Tanh. The discriminator mirrors it with strided
convolutions and LeakyReLU(0.2), BatchNorm on every layer but the first, and a last convolution covering the
remaining ``s0 × s0`` map gives one logit per image. All convolutions are bias-free (BatchNorm supplies the
shift), as in the paper's reference implementation.

Layouts by image size S (start side s0, number of ×2 stages):

    S=28: 7 → 14 → 28            (the MNIST layout, no padding to 32 needed)
    S=32: 4 → 8 → 16 → 32
    S=64: 4 → 8 → 16 → 32 → 64   (the paper's layout)

The family base (:class:`~gen_framework.families.AdversarialModule`) owns the alternating updates, the losses
(non-saturating by default, as in the paper), Adam with the paper's lr 2e-4 and β1 = 0.5, EMA and DDP.
"""

from __future__ import annotations

from typing import Any, Literal

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm
from torch.nn.utils.parametrize import is_parametrized

from gen_framework.errors import ConfigError
from gen_framework.families import AdversarialModule
from gen_framework_dcgan.augment import AUGMENTATIONS, Augmentation, DiffAugment

DiscriminatorNorm = Literal["batch", "spectral"]

IMAGE_SIZES = (28, 32, 64)
CHANNELS = (1, 3)
# image size -> (start side s0, number of ×2 upsampling stages)
_LAYOUTS = {28: (7, 2), 32: (4, 3), 64: (4, 4)}


def check_image_shape(owner: str, image_size: int, channels: int) -> None:
    """Raise :class:`ConfigError` naming the option when ``image_size`` or ``channels`` is not supported."""
    if image_size not in IMAGE_SIZES:
        raise ConfigError(
            f"{owner}: image_size must be one of {', '.join(map(str, IMAGE_SIZES))}, got {image_size!r}"
        )
    if channels not in CHANNELS:
        raise ConfigError(f"{owner}: channels must be 1 or 3, got {channels!r}")


class Generator(nn.Module):
    """Latents ``(B, Z)`` → images ``(B, C, S, S)`` in [-1, 1]."""

    def __init__(self, latent_dim: int, image_size: int, channels: int, base_channels: int) -> None:
        super().__init__()
        start, stages = _LAYOUTS[image_size]
        width = base_channels * 2 ** (stages - 1)
        layers: list[nn.Module] = [
            nn.Unflatten(1, (latent_dim, 1, 1)),
            nn.ConvTranspose2d(latent_dim, width, start, 1, 0, bias=False),  # (B, w, s0, s0)
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        for _ in range(stages - 1):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),  # side ×2, width ÷2
                nn.BatchNorm2d(width // 2),
                nn.ReLU(inplace=True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]  # (B, C, S, S)
        self.net = nn.Sequential(*layers)

    def forward(self, latent: Tensor) -> Tensor:
        return self.net(latent)


class Discriminator(nn.Module):
    """Images ``(B, C, S, S)`` in [-1, 1] → logits ``(B,)``.

    Args:
        norm: ``"batch"``: the paper's BatchNorm after every convolution but the first and last;
            ``"spectral"``: spectral normalisation of every convolution (Miyato et al. 2018) and no BatchNorm.
        augment: DiffAugment policy applied to every input in training mode (see :mod:`.augment`).
    """

    def __init__(
        self, image_size: int, channels: int, base_channels: int, norm: DiscriminatorNorm = "batch",
        augment: Augmentation = "none",
    ) -> None:
        super().__init__()
        start, stages = _LAYOUTS[image_size]
        width = base_channels
        spectral = norm == "spectral"

        def conv(c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> nn.Module:
            # A spectrally normalised layer has no BatchNorm after it to supply the shift, so it keeps its bias.
            layer = nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=spectral)
            return spectral_norm(layer) if spectral else layer

        # No BatchNorm on the first layer: normalising the raw images made the paper's training unstable.
        layers: list[nn.Module] = [conv(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        for _ in range(stages - 1):
            layers += [conv(width, 2 * width, 4, 2, 1)]  # side ÷2, width ×2
            if not spectral:
                layers += [nn.BatchNorm2d(2 * width)]
            layers += [nn.LeakyReLU(0.2, inplace=True)]
            width *= 2
        layers += [conv(width, 1, start, 1, 0), nn.Flatten(0)]  # (B, 1, 1, 1) → (B,)
        self.net = nn.Sequential(*layers)
        # Parameter-free: checkpoints hold the same keys whatever the policy.
        self.augment = DiffAugment(augment)

    def forward(self, images: Tensor) -> Tensor:
        return self.net(self.augment(images))


def init_dcgan_weights(module: nn.Module) -> None:
    """The paper's initialisation: convolutions N(0, 0.02); BatchNorm weight N(1, 0.02) and bias 0."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        if is_parametrized(module):
            return  # spectral normalisation divides the weight by its norm: its initial scale does not matter
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGAN(AdversarialModule):
    """DCGAN on square greyscale or RGB images of side 28, 32 or 64.

    Args:
        latent_dim: Size Z of the latent vectors, drawn from N(0, I).
        image_size: Side S of the generated images: 28, 32 or 64.
        channels: C, 1 for greyscale or 3 for RGB.
        base_channels: Width of the discriminator's first layer and the generator's last hidden layer; the
            widths double towards the other end (the paper uses 64 at S=64).
        discriminator_norm: ``"batch"`` (the paper's BatchNorm) or ``"spectral"`` (spectral normalisation of
            every discriminator convolution, no BatchNorm).
        augment: DiffAugment policy for every image the discriminator sees in training, real and generated:
            ``"none"`` (the paper), ``"translation"`` (shifts of up to 1/8 of the side) or
            ``"translation_cutout"`` (plus a square of half the side set to 0).
        generator_channels: The generator's width in place of ``base_channels`` (its last hidden layer; the
            widths double towards the latent).
        discriminator_channels: The discriminator's width in place of ``base_channels`` (its first layer).
        lr_decay_fraction: Both learning rates fall linearly to 0 over this last fraction of
            ``trainer.max_steps`` (0: constant rates; nothing happens without a ``max_steps``).
        ema_warmup: With ``ema_decay``, average with decay ``min(ema_decay, (1 + t) / (10 + t))`` at step t, so
            the average forgets the untrained first weights quickly (the warm-up of TensorFlow's
            ``ExponentialMovingAverage``); a long-memory ``ema_decay`` such as 0.999 needs it.
        **kwargs: Options of :class:`~gen_framework.families.AdversarialModule` (``lr_g``, ``lr_d``,
            ``betas_g``, ``betas_d``, ``loss``, ``d_steps``, ``r1_gamma``, ``ema_decay``, ...). The defaults
            are the paper's: Adam with lr 2e-4 and betas (0.5, 0.999), non-saturating loss.

    Raises:
        ConfigError: ``image_size`` not in 28/32/64, ``channels`` not 1 or 3, a non-positive width, or an
            unknown ``discriminator_norm`` or ``augment``.
    """

    def __init__(
        self,
        latent_dim: int = 100,
        image_size: Literal[28, 32, 64] = 28,
        channels: Literal[1, 3] = 1,
        base_channels: int = 64,
        discriminator_norm: DiscriminatorNorm = "batch",
        augment: Augmentation = "none",
        ema_warmup: bool = False,
        generator_channels: int | None = None,
        discriminator_channels: int | None = None,
        lr_decay_fraction: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_image_shape(type(self).__name__, image_size, channels)
        width_g = base_channels if generator_channels is None else generator_channels
        width_d = base_channels if discriminator_channels is None else discriminator_channels
        for name, value in (("latent_dim", latent_dim), ("base_channels", base_channels),
                            ("generator_channels", width_g), ("discriminator_channels", width_d)):
            if value < 1:
                raise ConfigError(f"DCGAN: {name} must be >= 1, got {value}")
        if not 0.0 <= lr_decay_fraction <= 1.0:
            raise ConfigError(f"DCGAN: lr_decay_fraction must be in [0, 1], got {lr_decay_fraction!r}")
        self.lr_decay_fraction = lr_decay_fraction
        if discriminator_norm not in ("batch", "spectral"):
            raise ConfigError(f"DCGAN: discriminator_norm must be batch or spectral, got {discriminator_norm!r}")
        if augment not in AUGMENTATIONS:
            raise ConfigError(f"DCGAN: augment must be one of {', '.join(AUGMENTATIONS)}, got {augment!r}")
        self.ema_warmup = ema_warmup
        self.latent_dim = latent_dim
        self.image_size = image_size
        self.channels = channels
        self.generator = Generator(latent_dim, image_size, channels, width_g)
        self.discriminator = Discriminator(image_size, channels, width_d, discriminator_norm, augment)
        self.generator.apply(init_dcgan_weights)
        self.discriminator.apply(init_dcgan_weights)

    def ema_decay_at(self, step: int) -> float:
        """Called at each EMA update: ``ema_decay``, or with ``ema_warmup`` the smaller ``(1 + t) / (10 + t)``."""
        assert self.ema_decay is not None
        return min(self.ema_decay, (1 + step) / (10 + step)) if self.ema_warmup else self.ema_decay

    def lr_factor(self, step: int, max_steps: int) -> float:
        """The learning rates' multiplier at ``step`` of ``max_steps``: 1, then linear to 0 over the last
        ``lr_decay_fraction`` of the run."""
        if self.lr_decay_fraction <= 0 or max_steps <= 0:
            return 1.0
        start = (1.0 - self.lr_decay_fraction) * max_steps
        return min(1.0, max(0.0, (max_steps - step) / (max_steps - start)))

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        """Sets both optimisers' rates for this step (manual optimisation steps no scheduler itself)."""
        if self.lr_decay_fraction <= 0:
            return
        factor = self.lr_factor(self.trainer.global_step, self.trainer.max_steps)
        for optimiser in self.optimizers():
            for group in optimiser.param_groups:
                # The rate configure_optimizers gave (lazy-regularisation factor included), kept in the
                # optimiser's state so a resumed run decays from the same base.
                group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor

    def built_data_spec(self) -> dict[str, Any]:
        """The image shape the networks were built for; data of another shape is refused by the base."""
        return {"image_size": self.image_size, "channels": self.channels}

    def forward(self, latent: Tensor) -> Tensor:
        """Latents ``(B, Z)`` → images ``(B, C, S, S)`` in [-1, 1] from the generator."""
        return self.generator(latent)


__all__ = ["DCGAN", "Discriminator", "Generator", "IMAGE_SIZES", "init_dcgan_weights", "check_image_shape"]

"""StyleGAN-lite: a compact StyleGAN2 (Karras et al., 2020) for 32×32 and 64×64 images, as a Lightning module.

The networks live by part: :mod:`.layers` (equalised-learning-rate layers, the modulated convolution),
:mod:`.mapping` (z → w and the tracked mean of w), :mod:`.synthesis` (the synthesis network and the generator),
:mod:`.discriminator`. This module plugs them into :class:`~gen_framework.families.AdversarialModule`.

The adversarial family base owns the training loop: the non-saturating logistic loss, lazy R1 (``r1_gamma``,
``r1_interval``) with Adam corrected for lazy regularisation, and the generator EMA (``ema_decay``). This module
adds what is StyleGAN's own through the base's hooks: the mapping into W and truncation toward the tracked mean
of w (``generate``, ``truncate``), noise inputs drawn from the sampling generator, style-mixing regularisation,
the optional path-length regulariser (``generator_regularizer``, ``lazy_regularization_intervals``) and the EMA
ramp-up (``ema_decay_at``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from gen_framework.errors import ConfigError
from gen_framework.families import AdversarialModule
from gen_framework_stylegan_lite.discriminator import Discriminator
from gen_framework_stylegan_lite.mapping import MappingNetwork
from gen_framework_stylegan_lite.synthesis import OUTPUT_ACTIVATIONS, Generator, SynthesisNetwork

#: The resolutions this plugin builds networks for.
IMAGE_SIZES = (32, 64)


class StyleGANLite(AdversarialModule):
    """A compact StyleGAN2 on :class:`~gen_framework.families.AdversarialModule`.

    Sampling options (``genfw predict --sampling.truncation_psi 0.7``): ``truncation_psi`` pulls each w toward
    the tracked mean of w (ψ=1 full variety, ψ=0 the mean image). Seeded sampling is deterministic, noise
    inputs included.

    Args:
        image_size: Side of the square images: 32 or 64.
        channels: Image channels: 1 (greyscale) or 3 (RGB).
        latent_dim: Size Z of the input latent z.
        w_dim: Size of the intermediate latent w.
        mapping_layers: Depth of the mapping network (8 in StyleGAN2; fewer suffice at these sizes).
        mapping_lr_multiplier: Learning-rate multiplier of the mapping network (StyleGAN2: 0.01).
        w_avg_beta: Decay of the tracked mean of w used by truncation.
        channel_base: Channels at resolution r are ``min(channel_base // r, channel_max)`` in both networks.
        channel_max: Most channels at any resolution.
        style_mixing_prob: Probability that a training sample takes its styles from two latents, switching
            at a random layer (style-mixing regularisation).
        mbstd_group_size: Group size of the discriminator's minibatch standard-deviation layer.
        pl_weight: Weight of the path-length regulariser; 0 disables it (StyleGAN2 uses 2).
        pl_interval: Apply the path-length regulariser every this many generator updates, scaled by it (lazy).
        pl_batch_shrink: The path-length penalty uses ``B // pl_batch_shrink`` latents.
        pl_decay: Decay of the running mean path length ``a``.
        fused_modconv: Grouped-convolution modulation; ``False`` scales activations around a shared convolution
            (same result, different speed).
        output_activation: ``"linear"`` (StyleGAN2) or ``"tanh"``: bound the images to the data's range (-1, 1).
            The linear output starts with about half its pixels outside [-1, 1], which a discriminator rejects
            on their values alone; see the plugin README, "Why it collapsed".
        lr_g: Generator learning rate (equalised lr makes one rate fit every layer).
        lr_d: Discriminator learning rate.
        betas_g: Adam betas of the generator (StyleGAN2: β1 = 0).
        betas_d: Adam betas of the discriminator.
        r1_gamma: R1 weight γ on real images.
        r1_interval: Lazy R1: every this many discriminator updates.
        ema_decay: Decay of the generator EMA used for sampling; ``None`` disables it.
        ema_rampup: EMA ramp-up (StyleGAN2): the average's half-life, counted in images, is at most this
            fraction of the images seen so far, so early poor weights are forgotten quickly; ``None`` disables it.
        **kwargs: Further :class:`~gen_framework.families.AdversarialModule` options (``loss``, ``d_steps``, ...).
    """

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 3,
        latent_dim: int = 128,
        w_dim: int = 128,
        mapping_layers: int = 4,
        mapping_lr_multiplier: float = 0.01,
        w_avg_beta: float = 0.995,
        channel_base: int = 2048,
        channel_max: int = 128,
        style_mixing_prob: float = 0.9,
        mbstd_group_size: int = 4,
        pl_weight: float = 0.0,
        pl_interval: int = 4,
        pl_batch_shrink: int = 2,
        pl_decay: float = 0.01,
        fused_modconv: bool = True,
        output_activation: str = "linear",
        lr_g: float = 2e-3,
        lr_d: float = 2e-3,
        betas_g: tuple[float, float] = (0.0, 0.99),
        betas_d: tuple[float, float] = (0.0, 0.99),
        r1_gamma: float = 1.0,
        r1_interval: int = 16,
        ema_decay: float | None = 0.995,
        ema_rampup: float | None = 0.05,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            lr_g=lr_g, lr_d=lr_d, betas_g=betas_g, betas_d=betas_d, r1_gamma=r1_gamma, r1_interval=r1_interval,
            ema_decay=ema_decay, **kwargs,
        )
        if image_size not in IMAGE_SIZES:
            allowed = ", ".join(map(str, IMAGE_SIZES))
            raise ConfigError(f"StyleGANLite: image_size must be one of {allowed}, got {image_size}")
        if channels not in (1, 3):
            raise ConfigError(f"StyleGANLite: channels must be 1 or 3, got {channels}")
        for name, value in (("latent_dim", latent_dim), ("w_dim", w_dim), ("mapping_layers", mapping_layers),
                            ("channel_base", channel_base), ("channel_max", channel_max),
                            ("mbstd_group_size", mbstd_group_size), ("pl_interval", pl_interval),
                            ("pl_batch_shrink", pl_batch_shrink)):
            if value < 1:
                raise ConfigError(f"StyleGANLite: {name} must be >= 1, got {value}")
        if not 0.0 <= style_mixing_prob <= 1.0:
            raise ConfigError(f"StyleGANLite: style_mixing_prob must be in [0, 1], got {style_mixing_prob}")
        if output_activation not in OUTPUT_ACTIVATIONS:
            raise ConfigError(
                f"StyleGANLite: output_activation must be one of {', '.join(OUTPUT_ACTIVATIONS)}, got {output_activation!r}"
            )
        if ema_rampup is not None and ema_rampup <= 0:
            raise ConfigError(f"StyleGANLite: ema_rampup must be > 0 or null, got {ema_rampup}")
        if mapping_lr_multiplier <= 0 or pl_weight < 0 or not 0.0 <= w_avg_beta < 1.0:
            raise ConfigError(
                "StyleGANLite: mapping_lr_multiplier must be > 0, pl_weight >= 0 and w_avg_beta in [0, 1); got "
                f"{mapping_lr_multiplier}, {pl_weight}, {w_avg_beta}"
            )
        self.image_size = image_size
        self.channels = channels
        self.latent_dim = latent_dim
        self.style_mixing_prob = style_mixing_prob
        self.pl_weight, self.pl_interval = pl_weight, pl_interval
        self.pl_batch_shrink, self.pl_decay = pl_batch_shrink, pl_decay
        self.generator = Generator(
            MappingNetwork(latent_dim, w_dim, mapping_layers, lr_multiplier=mapping_lr_multiplier,
                           w_avg_beta=w_avg_beta),
            SynthesisNetwork(w_dim, image_size, channels, channel_base, channel_max, fused=fused_modconv,
                             output_activation=output_activation),
        )
        self.discriminator = Discriminator(image_size, channels, channel_base, channel_max, mbstd_group_size)
        self.ema_rampup = ema_rampup

    # ------------------------------------------------------------- data

    def adopt_data_spec(self, spec: dict[str, Any]) -> None:
        """Called in ``setup``: the datamodule's image size and channels must equal the model's."""
        super().adopt_data_spec(spec)
        for option, value in (("image_size", self.image_size), ("channels", self.channels)):
            if option in spec and spec[option] != value:
                raise ConfigError(
                    f"StyleGANLite was built with {option}={value} but the datamodule provides "
                    f"{option}={spec[option]}; set model.init_args.{option} to {spec[option]} "
                    f"(image_size must be one of {', '.join(map(str, IMAGE_SIZES))})"
                )

    # ------------------------------------------------------------- generation hooks

    @property
    def num_ws(self) -> int:
        """How many w vectors the synthesis network reads: ``2 · log2(image_size) - 2``."""
        return self.generator.num_ws

    def generate(
        self, latent: Tensor, *, truncation_psi: float = 1.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """Called wherever images are generated: z ``(B, Z)`` → w → truncation in W → images ``(B, C, S, S)``.

        In training mode the batch's mean w is folded into ``w_avg`` and style mixing is applied with
        probability ``style_mixing_prob``; the noise inputs are drawn from ``generator`` (seeded sampling) or
        the global RNG.
        """
        mapping = self.generator.mapping
        ws = self.truncate(mapping(latent, self.num_ws, update_w_avg=self.training), truncation_psi)
        if self.training and self.style_mixing_prob > 0:
            ws = self._mix_styles(latent, ws)
        return self.generator.synthesis(ws, noise_generator=generator)

    def truncate(self, latent: Tensor, psi: float) -> Tensor:
        """Called by :meth:`generate`: pull ws ``(B, L, w_dim)`` toward the tracked mean w (ψ=0: the mean)."""
        return self.generator.mapping.truncate(latent, psi)

    def ema_decay_at(self, step: int) -> float:
        """Called before each EMA update: ``ema_decay``, lowered early on by the ramp-up (``ema_rampup``).

        StyleGAN2 keeps the average's half-life at most ``ema_rampup`` times the images seen so far:
        decay = 0.5 ** (1 / min(h, ema_rampup · step)), with h the half-life in steps that ``ema_decay``
        gives.
        """
        decay = super().ema_decay_at(step)
        if self.ema_rampup is None:
            return decay
        # Half-lives in optimiser steps: the batch size cancels out of StyleGAN2's images-based formula.
        half_life = math.log(0.5) / math.log(decay)
        return 0.5 ** (1.0 / min(half_life, self.ema_rampup * max(step, 1)))

    def lazy_regularization_intervals(self) -> tuple[int, int]:
        """The path-length regulariser's interval for the generator (when on) and lazy R1's for the
        discriminator, so the base corrects Adam for both."""
        _, interval_d = super().lazy_regularization_intervals()
        return (self.pl_interval if self.pl_weight > 0 else 1), interval_d

    def _mix_styles(self, latent: Tensor, ws: Tensor) -> Tensor:
        """Style-mixing regularisation: with probability ``style_mixing_prob`` a sample's layers from a random
        cutoff in [1, L) on read the w of a second latent, so no layer can rely on its neighbours' style."""
        batch, num_ws = ws.shape[0], ws.shape[1]
        other = self.generator.mapping(torch.randn_like(latent), num_ws)
        cutoff = torch.randint(1, num_ws, (batch, 1), device=ws.device)
        mixed = torch.rand(batch, 1, device=ws.device) < self.style_mixing_prob
        cutoff = torch.where(mixed, cutoff, torch.full_like(cutoff, num_ws))
        take_other = torch.arange(num_ws, device=ws.device).unsqueeze(0) >= cutoff  # (B, L)
        return torch.where(take_other.unsqueeze(-1), other, ws)

    # ------------------------------------------------------------- regularisers

    def generator_regularizer(self, latent: Tensor, fake: Tensor) -> Tensor | None:
        """Called in each generator update: the lazy path-length penalty when ``pl_weight > 0``.

        Penalises the variation of ``|J_w^T y|`` (image-space noise ``y`` pulled back to W) around its running
        mean, on a fresh pass over ``B // pl_batch_shrink`` latents every ``pl_interval`` updates.
        """
        if self.pl_weight == 0 or self.global_step % self.pl_interval != 0:
            return None
        count = max(1, latent.shape[0] // self.pl_batch_shrink)
        ws = self.generator.mapping(latent[:count], self.num_ws)
        images = self.generator.synthesis(ws)
        noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
        (grad,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
        lengths = grad.square().sum(dim=2).mean(dim=1).sqrt()  # (count,)
        pl_mean = self.generator.pl_mean
        with torch.no_grad():
            pl_mean.copy_(pl_mean.lerp(lengths.mean().to(pl_mean.dtype), self.pl_decay))
        penalty = (lengths - pl_mean).square().mean() * (self.pl_weight * self.pl_interval)
        if self._trainer is not None and self.is_logging_step:
            self.log("train/pl_penalty", penalty.detach())
        return penalty

    # ------------------------------------------------------------- style mixing

    @torch.no_grad()
    def style_mixing_images(
        self,
        row_latents: Tensor,
        col_latents: Tensor,
        *,
        crossover: int | None = None,
        truncation_psi: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Images for a style-mixing grid, with one shared noise draw so differences come from styles only.

        Cell (i, j) takes the coarse styles (layers ``< crossover``) from column source j and the rest from
        row source i. Runs with the weights as they are: wrap in :meth:`ema_weights` for the EMA generator.

        Args:
            row_latents: ``(R, Z)``.
            col_latents: ``(K, Z)``.
            crossover: First layer taken from the row source, in [0, num_ws]; ``None`` gives 4 (the 4×4 and 8×8
                styles come from the column source).
            truncation_psi: Truncation ψ applied to both sources.
            generator: Draws the shared noise.

        Returns:
            ``(R + K + R·K, C, S, S)``: the row sources, the column sources, then the cells row by row.
        """
        crossover = min(4, self.num_ws) if crossover is None else crossover
        if not 0 <= crossover <= self.num_ws:
            raise ConfigError(f"crossover must be in [0, {self.num_ws}], got {crossover}")
        mapping = self.generator.mapping
        rows = self.truncate(mapping(row_latents, self.num_ws), truncation_psi)  # (R, L, w)
        cols = self.truncate(mapping(col_latents, self.num_ws), truncation_psi)  # (K, L, w)
        cells = rows.unsqueeze(1).repeat(1, cols.shape[0], 1, 1)  # (R, K, L, w)
        cells[:, :, :crossover] = cols[:, :crossover].unsqueeze(0)
        ws = torch.cat([rows, cols, cells.flatten(0, 1)])
        return self.generator.synthesis(ws, noise_generator=generator, shared_noise=True)

"""StyleGAN-lite: a compact StyleGAN2 (Karras et al., 2020) for 32×32 and 64×64 images.

Reads top to bottom: equalised-learning-rate layers, the modulated convolution, the generator (mapping network
z → w with a tracked mean of w, synthesis network from a learned constant with per-layer noise and skip toRGB
outputs), the residual discriminator with a minibatch standard-deviation layer, and the Lightning module that
plugs both into :class:`~gen_framework.families.AdversarialModule`.

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
import torch.nn.functional as F
from torch import Tensor, nn

from gen_framework.errors import ConfigError
from gen_framework.families import AdversarialModule

#: The resolutions this plugin builds networks for.
IMAGE_SIZES = (32, 64)
_LRELU_GAIN = math.sqrt(2.0)  # keeps the activations' second moment through leaky ReLU(0.2)


def _lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2) * _LRELU_GAIN


# ------------------------------------------------------------------ equalised learning rate


class EqualLinear(nn.Module):
    """A linear layer with equalised learning rate: weights are stored N(0, 1/lr_multiplier²) and scaled at
    runtime by ``lr_multiplier / sqrt(in_features)``, so Adam's step moves every layer's effective weights at
    the same relative speed, ``lr_multiplier`` times the base rate.

    Args:
        in_features: Input size.
        out_features: Output size.
        bias_init: Initial effective bias (1 for style affines, so styles start at one).
        lr_multiplier: Learning-rate multiplier of this layer (0.01 in the mapping network).
        activation: Apply the gain-corrected leaky ReLU.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias_init: float = 0.0,
        lr_multiplier: float = 1.0,
        activation: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_multiplier))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        """``x (B, in_features)`` → ``(B, out_features)``."""
        y = F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)
        return _lrelu(y) if self.activation else y


class EqualConv2d(nn.Module):
    """A same-padded convolution with equalised learning rate (runtime scale ``1 / sqrt(in · k · k)``).

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Square kernel side (odd).
        bias: Add a learned bias.
        activation: Apply the gain-corrected leaky ReLU.
        down: Halve the resolution after the convolution (2×2 average pooling).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        bias: bool = True,
        activation: bool = False,
        down: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.activation = activation
        self.down = down

    def forward(self, x: Tensor) -> Tensor:
        """``x (B, in, H, W)`` → ``(B, out, H, W)``, or ``(B, out, H/2, W/2)`` with ``down``."""
        x = F.conv2d(x, self.weight * self.weight_gain, padding=self.weight.shape[-1] // 2)
        if self.down:
            x = F.avg_pool2d(x, 2)
        if self.bias is not None:
            x = x + self.bias.view(1, -1, 1, 1)
        return _lrelu(x) if self.activation else x


# ------------------------------------------------------------------ modulated convolution


def modulated_conv2d(
    x: Tensor, weight: Tensor, styles: Tensor, *, demodulate: bool = True, fused: bool = True, eps: float = 1e-8
) -> Tensor:
    """StyleGAN2's weight (de)modulation: each sample's input channels are scaled by its style, and with
    ``demodulate`` each output channel's weights are rescaled to unit L2 norm, which gives outputs of unit
    variance for unit-variance inputs (this replaces AdaIN's instance normalisation).

    Args:
        x: Input ``(B, I, H, W)``.
        weight: Shared weights ``(O, I, k, k)``, already multiplied by their equalised-lr gain.
        styles: Per-sample input-channel scales ``(B, I)``.
        demodulate: Normalise each sample's per-output-channel weights.
        fused: Build per-sample weights ``(B·O, I, k, k)`` and run one grouped convolution (``groups=B``);
            otherwise scale the activations before and after a shared convolution (mathematically equal).
        eps: Added to the squared norm before the inverse square root.

    Returns:
        ``(B, O, H, W)`` (same padding).
    """
    batch, in_channels, height, width = x.shape
    out_channels, _, kh, kw = weight.shape
    if fused:
        w = weight.unsqueeze(0) * styles.reshape(batch, 1, in_channels, 1, 1)  # (B, O, I, k, k)
        if demodulate:
            w = w * (w.square().sum(dim=(2, 3, 4), keepdim=True) + eps).rsqrt()
        out = F.conv2d(
            x.reshape(1, batch * in_channels, height, width),
            w.reshape(batch * out_channels, in_channels, kh, kw),
            padding=kh // 2,
            groups=batch,
        )
        return out.reshape(batch, out_channels, height, width)
    out = F.conv2d(x * styles.reshape(batch, in_channels, 1, 1), weight, padding=kh // 2)
    if demodulate:
        # Σ_i,k (w_oik s_i)² = Σ_i s_i² Σ_k w_oik²: (B, I) @ (I, O)
        norms = styles.square() @ weight.square().sum(dim=(2, 3)).t()
        out = out * (norms + eps).rsqrt().reshape(batch, out_channels, 1, 1)
    return out


class SynthesisLayer(nn.Module):
    """Optional 2× upsampling, a modulated 3×3 convolution, a noise input with learned strength, bias, lReLU.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        w_dim: Size of the intermediate latent w.
        up: Upsample 2× (bilinear, i.e. the [1, 3, 3, 1] filter) before the convolution.
        fused: Grouped-convolution modulation (see :func:`modulated_conv2d`).
    """

    def __init__(
        self, in_channels: int, out_channels: int, w_dim: int, *, up: bool = False, fused: bool = True
    ) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.weight_gain = 1.0 / math.sqrt(in_channels * 9)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        # Starts at zero: the network learns how much stochastic detail each layer gets.
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.up = up
        self.fused = fused

    def forward(
        self, x: Tensor, w: Tensor, *, noise_generator: torch.Generator | None = None, shared_noise: bool = False
    ) -> Tensor:
        """``x (B, I, H, W)``, ``w (B, w_dim)`` → ``(B, O, H', W')`` with ``H' = 2H`` when upsampling.

        Args:
            noise_generator: Draw the noise from this generator (seeded sampling); ``None`` uses the global RNG.
            shared_noise: One noise map for the whole batch (image differences then come from styles only).
        """
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        styles = self.affine(w)
        x = modulated_conv2d(x, self.weight * self.weight_gain, styles, demodulate=True, fused=self.fused)
        batch, _, height, width = x.shape
        noise = torch.randn(
            1 if shared_noise else batch, 1, height, width, generator=noise_generator, device=x.device, dtype=x.dtype
        )
        x = x + noise * self.noise_strength
        return _lrelu(x + self.bias.view(1, -1, 1, 1))


class ToRGB(nn.Module):
    """A modulated 1×1 convolution to image channels, without demodulation (its output scale is meaningful)."""

    def __init__(self, in_channels: int, image_channels: int, w_dim: int, *, fused: bool = True) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(image_channels, in_channels, 1, 1))
        self.weight_gain = 1.0 / math.sqrt(in_channels)
        self.bias = nn.Parameter(torch.zeros(image_channels))
        self.fused = fused

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        """``x (B, I, H, W)``, ``w (B, w_dim)`` → ``(B, image_channels, H, W)``."""
        styles = self.affine(w)
        x = modulated_conv2d(x, self.weight * self.weight_gain, styles, demodulate=False, fused=self.fused)
        return x + self.bias.view(1, -1, 1, 1)


# ------------------------------------------------------------------ generator


def normalize_2nd_moment(x: Tensor, eps: float = 1e-8) -> Tensor:
    """Scale each row of ``x (B, D)`` to unit mean square (so |z| does not matter, only its direction)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """z → w: an MLP at a reduced learning rate, plus the tracked mean of w used by truncation.

    Args:
        z_dim: Size Z of the input latent.
        w_dim: Size of w.
        num_layers: Depth of the MLP.
        lr_multiplier: Learning-rate multiplier of its layers (0.01 in StyleGAN2).
        w_avg_beta: Decay of the moving average ``w_avg`` of w, updated on training forward passes.
    """

    def __init__(
        self, z_dim: int, w_dim: int, num_layers: int, *, lr_multiplier: float = 0.01, w_avg_beta: float = 0.995
    ) -> None:
        super().__init__()
        sizes = [z_dim] + [w_dim] * num_layers
        self.layers = nn.Sequential(
            *(EqualLinear(a, b, lr_multiplier=lr_multiplier, activation=True) for a, b in zip(sizes[:-1], sizes[1:]))
        )
        self.w_avg_beta = w_avg_beta
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor, num_ws: int, *, update_w_avg: bool = False) -> Tensor:
        """``z (B, Z)`` → ``ws (B, num_ws, w_dim)``, one copy of w per synthesis input.

        Args:
            update_w_avg: Fold this batch's mean w into ``w_avg`` (done on training passes).
        """
        w = self.layers(normalize_2nd_moment(z))
        if update_w_avg:
            with torch.no_grad():
                batch_mean = w.detach().mean(dim=0).to(self.w_avg.dtype)  # w may be bf16 under autocast
                self.w_avg.copy_(self.w_avg.lerp(batch_mean, 1.0 - self.w_avg_beta))
        return w.unsqueeze(1).expand(-1, num_ws, -1)

    def truncate(self, ws: Tensor, psi: float) -> Tensor:
        """The truncation trick: ``w_avg + psi · (w - w_avg)`` for ``ws (B, L, w_dim)``; ψ=0 gives the mean w."""
        return ws if psi == 1.0 else self.w_avg.to(ws.dtype).lerp(ws, psi)


class SynthesisNetwork(nn.Module):
    """ws → image: a learned 4×4 constant, two modulated convolutions per resolution up to ``image_size``,
    and skip connections: each resolution's toRGB output is added to the upsampled image so far.

    Channels at resolution r are ``min(channel_base // r, channel_max)``. Layer i reads ``ws[:, i]``:
    the 4×4 convolution and toRGB read 0 and 1; the block at resolution 2^(k+2) reads 2k+1, 2k+2 and 2k+3.

    Args:
        w_dim: Size of w.
        image_size: Output side (32 or 64).
        image_channels: Output channels (1 or 3).
        channel_base: Channel budget; see above.
        channel_max: Most channels at any resolution.
        fused: Grouped-convolution modulation.
    """

    def __init__(
        self, w_dim: int, image_size: int, image_channels: int, channel_base: int, channel_max: int, *, fused: bool
    ) -> None:
        super().__init__()

        def width(resolution: int) -> int:
            return max(1, min(channel_base // resolution, channel_max))

        resolutions = [2**k for k in range(2, int(math.log2(image_size)) + 1)]
        self.const = nn.Parameter(torch.randn(width(4), 4, 4))
        self.input_conv = SynthesisLayer(width(4), width(4), w_dim, fused=fused)
        self.input_rgb = ToRGB(width(4), image_channels, w_dim, fused=fused)
        self.blocks = nn.ModuleList()
        for resolution in resolutions[1:]:
            block = nn.Module()
            block.conv0 = SynthesisLayer(width(resolution // 2), width(resolution), w_dim, up=True, fused=fused)
            block.conv1 = SynthesisLayer(width(resolution), width(resolution), w_dim, fused=fused)
            block.to_rgb = ToRGB(width(resolution), image_channels, w_dim, fused=fused)
            self.blocks.append(block)
        self.num_ws = 2 + 2 * len(self.blocks)

    def forward(
        self, ws: Tensor, *, noise_generator: torch.Generator | None = None, shared_noise: bool = False
    ) -> Tensor:
        """``ws (B, num_ws, w_dim)`` → images ``(B, C, S, S)``, roughly in [-1, 1] once trained (not clamped)."""
        noise: dict[str, Any] = {"noise_generator": noise_generator, "shared_noise": shared_noise}
        x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        x = self.input_conv(x, ws[:, 0], **noise)
        image = self.input_rgb(x, ws[:, 1])
        for k, block in enumerate(self.blocks):
            x = block.conv0(x, ws[:, 2 * k + 1], **noise)
            x = block.conv1(x, ws[:, 2 * k + 2], **noise)
            image = F.interpolate(image, scale_factor=2, mode="bilinear", align_corners=False)
            image = image + block.to_rgb(x, ws[:, 2 * k + 3])
        return image


class Generator(nn.Module):
    """Mapping and synthesis networks together, so the EMA copy of the generator averages both and ``w_avg``.

    Also holds ``pl_mean``, the running mean path length of the path-length regulariser: as generator state it
    is averaged across DDP ranks by the family base like ``w_avg``.
    """

    def __init__(self, mapping: MappingNetwork, synthesis: SynthesisNetwork) -> None:
        super().__init__()
        self.mapping = mapping
        self.synthesis = synthesis
        self.register_buffer("pl_mean", torch.zeros([]))

    @property
    def num_ws(self) -> int:
        return self.synthesis.num_ws

    def forward(self, z: Tensor, truncation_psi: float = 1.0, noise_generator: torch.Generator | None = None) -> Tensor:
        """``z (B, Z)`` → images ``(B, C, S, S)``; no style mixing, ``w_avg`` left unchanged."""
        ws = self.mapping.truncate(self.mapping(z, self.num_ws), truncation_psi)
        return self.synthesis(ws, noise_generator=noise_generator)


# ------------------------------------------------------------------ discriminator


class MinibatchStd(nn.Module):
    """Appends the standard deviation of features across groups of samples as extra channels, so the
    discriminator can see a batch's lack of variety (a mode-collapse signal).

    Args:
        group_size: Samples per group; a batch not divisible by it uses its largest divisor below.
        num_channels: Feature groups, each giving one extra channel.
    """

    def __init__(self, group_size: int = 4, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x: Tensor) -> Tensor:
        """``x (B, C, H, W)`` → ``(B, C + num_channels, H, W)``."""
        batch, channels, height, width = x.shape
        group = next(g for g in range(min(self.group_size, batch), 0, -1) if batch % g == 0)
        f = self.num_channels
        # Sample n falls in group n % (B/G), matching the repeat() below.
        y = x.reshape(group, -1, f, channels // f, height, width)
        y = (y - y.mean(dim=0)).square().mean(dim=0)  # (B/G, F, C/F, H, W)
        y = (y + 1e-8).sqrt().mean(dim=(2, 3, 4))  # (B/G, F)
        y = y.reshape(-1, f, 1, 1).repeat(group, 1, height, width)
        return torch.cat([x, y], dim=1)


class DiscriminatorBlock(nn.Module):
    """Residual block halving the resolution: two 3×3 convolutions beside a 1×1 skip, summed with gain √½."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(in_channels, in_channels, 3, activation=True)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3, activation=True, down=True)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False, down=True)

    def forward(self, x: Tensor) -> Tensor:
        """``x (B, I, H, W)`` → ``(B, O, H/2, W/2)``."""
        return (self.skip(x) + self.conv1(self.conv0(x))) * math.sqrt(0.5)


class Discriminator(nn.Module):
    """Residual discriminator: fromRGB, residual blocks down to 4×4, minibatch std, convolution, two linears.

    Args:
        image_size: Input side (32 or 64).
        image_channels: Input channels (1 or 3).
        channel_base: Channels at resolution r are ``min(channel_base // r, channel_max)``.
        channel_max: Most channels at any resolution.
        mbstd_group_size: Group size of the minibatch standard-deviation layer.
    """

    def __init__(
        self, image_size: int, image_channels: int, channel_base: int, channel_max: int, mbstd_group_size: int
    ) -> None:
        super().__init__()

        def width(resolution: int) -> int:
            return max(1, min(channel_base // resolution, channel_max))

        self.from_rgb = EqualConv2d(image_channels, width(image_size), 1, activation=True)
        resolutions = [2**k for k in range(int(math.log2(image_size)), 2, -1)]
        self.blocks = nn.Sequential(*(DiscriminatorBlock(width(r), width(r // 2)) for r in resolutions))
        self.mbstd = MinibatchStd(mbstd_group_size)
        self.conv = EqualConv2d(width(4) + 1, width(4), 3, activation=True)
        self.fc = EqualLinear(width(4) * 16, width(4), activation=True)
        self.out = EqualLinear(width(4), 1)

    def forward(self, image: Tensor) -> Tensor:
        """Images ``(B, C, S, S)`` in [-1, 1] → logits ``(B,)``."""
        x = self.blocks(self.from_rgb(image))  # (B, ch4, 4, 4)
        x = self.conv(self.mbstd(x))
        return self.out(self.fc(x.flatten(1))).squeeze(1)


# ------------------------------------------------------------------ the Lightning module


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
            SynthesisNetwork(w_dim, image_size, channels, channel_base, channel_max, fused=fused_modconv),
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

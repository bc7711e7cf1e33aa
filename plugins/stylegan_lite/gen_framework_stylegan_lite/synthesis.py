"""StyleGAN-lite's synthesis network (a learned 4×4 constant, modulated convolutions with noise inputs, skip
toRGB outputs) and the generator that joins it to the mapping network."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gen_framework_stylegan_lite.layers import EqualLinear, lrelu, modulated_conv2d
from gen_framework_stylegan_lite.mapping import MappingNetwork

#: What the synthesis network applies to the summed toRGB outputs.
OUTPUT_ACTIVATIONS = ("linear", "tanh")


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
        return lrelu(x + self.bias.view(1, -1, 1, 1))


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
        output_activation: ``"linear"`` (StyleGAN2: the summed toRGB outputs as they are) or ``"tanh"`` (bounded
            to (-1, 1), the data's range, as DCGAN's generator).
    """

    def __init__(
        self,
        w_dim: int,
        image_size: int,
        image_channels: int,
        channel_base: int,
        channel_max: int,
        *,
        fused: bool,
        output_activation: str = "linear",
    ) -> None:
        super().__init__()
        if output_activation not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"output_activation must be one of {', '.join(OUTPUT_ACTIVATIONS)}, got {output_activation!r}")
        self.output_activation = output_activation

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
        """``ws (B, num_ws, w_dim)`` → images ``(B, C, S, S)``: roughly in [-1, 1] once trained (not clamped) with
        the linear output, within (-1, 1) with ``tanh``."""
        noise: dict[str, Any] = {"noise_generator": noise_generator, "shared_noise": shared_noise}
        x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        x = self.input_conv(x, ws[:, 0], **noise)
        image = self.input_rgb(x, ws[:, 1])
        for k, block in enumerate(self.blocks):
            x = block.conv0(x, ws[:, 2 * k + 1], **noise)
            x = block.conv1(x, ws[:, 2 * k + 2], **noise)
            image = F.interpolate(image, scale_factor=2, mode="bilinear", align_corners=False)
            image = image + block.to_rgb(x, ws[:, 2 * k + 3])
        return torch.tanh(image) if self.output_activation == "tanh" else image


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

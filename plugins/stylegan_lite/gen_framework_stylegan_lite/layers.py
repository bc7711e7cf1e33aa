"""StyleGAN-lite's building blocks: equalised-learning-rate layers and the modulated convolution.

Equalised learning rate (Karras et al., 2018): weights are stored N(0, 1) and multiplied at run time by He's
constant ``1/sqrt(fan_in)``, so Adam, which normalises each parameter's step, moves every layer's effective
weights at the same relative speed. The modulated convolution (Karras et al., 2020, eq. 1-3) scales the
weights' input channels by a per-sample style and, with demodulation, rescales each output channel's weights
to unit L2 norm.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_LRELU_GAIN = math.sqrt(2.0)  # keeps the activations' second moment through leaky ReLU(0.2)


def lrelu(x: Tensor) -> Tensor:
    """Leaky ReLU (slope 0.2) times √2, StyleGAN2's activation."""
    return F.leaky_relu(x, 0.2) * _LRELU_GAIN


def normalize_2nd_moment(x: Tensor, eps: float = 1e-8) -> Tensor:
    """Scale each row of ``x (B, D)`` to unit mean square (so |z| does not matter, only its direction)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


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
        return lrelu(y) if self.activation else y


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
        return lrelu(x) if self.activation else x


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

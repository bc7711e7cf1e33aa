"""StyleGAN-lite's discriminator: residual blocks down to 4×4, minibatch standard deviation, and the epilogue."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gen_framework_stylegan_lite.layers import EqualConv2d, EqualLinear


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

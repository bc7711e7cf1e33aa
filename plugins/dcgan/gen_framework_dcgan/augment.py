"""Differentiable augmentation of the discriminator's inputs (DiffAugment, Zhao et al. 2020).

With few real images the discriminator memorises them and its gradients stop teaching the generator. Random
translation and cutout applied to *every* image the discriminator sees, real and generated, in its own
updates and in the generator's, keep it from memorising while leaving the generator's target unchanged: the
transforms are differentiable, so the generator's gradient flows through them, and since reals and fakes
are transformed alike the generator is not pushed to produce shifted or holed digits.

The draws come from the global random generator, so a seeded run is reproducible.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Augmentation = Literal["none", "translation", "translation_cutout"]
AUGMENTATIONS: tuple[str, ...] = ("none", "translation", "translation_cutout")


def random_translation(images: Tensor, ratio: float = 0.125) -> Tensor:
    """Shift each image ``(B, C, H, W)`` by up to ``ratio`` of its side in x and y; vacated pixels become 0."""
    batch, _, height, width = images.shape
    max_dy, max_dx = int(height * ratio + 0.5), int(width * ratio + 0.5)
    dy = torch.randint(-max_dy, max_dy + 1, (batch, 1, 1), device=images.device)
    dx = torch.randint(-max_dx, max_dx + 1, (batch, 1, 1), device=images.device)
    b, y, x = torch.meshgrid(
        torch.arange(batch, device=images.device), torch.arange(height, device=images.device),
        torch.arange(width, device=images.device), indexing="ij",
    )  # each (B, H, W)
    # A one-pixel zero border: indices that fall off the image are clamped onto it.
    y = (y + dy + 1).clamp(0, height + 1)
    x = (x + dx + 1).clamp(0, width + 1)
    padded = F.pad(images, (1, 1, 1, 1)).permute(0, 2, 3, 1)  # (B, H+2, W+2, C)
    return padded[b, y, x].permute(0, 3, 1, 2)  # (B, C, H, W)


def random_cutout(images: Tensor, ratio: float = 0.5) -> Tensor:
    """Set one square of side ``ratio`` of the image, at a random centre, to 0 in each image ``(B, C, H, W)``."""
    batch, _, height, width = images.shape
    size_y, size_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    cy = torch.randint(0, height + (1 - size_y % 2), (batch, 1, 1), device=images.device)
    cx = torch.randint(0, width + (1 - size_x % 2), (batch, 1, 1), device=images.device)
    top, left = cy - size_y // 2, cx - size_x // 2  # (B, 1, 1) each; the square may reach past the border
    y = torch.arange(height, device=images.device).view(1, height, 1)
    x = torch.arange(width, device=images.device).view(1, 1, width)
    inside = (y >= top) & (y < top + size_y) & (x >= left) & (x < left + size_x)  # (B, H, W)
    return images * (~inside).unsqueeze(1).to(images.dtype)


class DiffAugment(nn.Module):
    """Applies the chosen augmentation in training mode and nothing in eval mode; has no parameters."""

    def __init__(self, policy: Augmentation = "translation") -> None:
        super().__init__()
        if policy not in AUGMENTATIONS:
            raise ValueError(f"DiffAugment: policy must be one of {', '.join(AUGMENTATIONS)}, got {policy!r}")
        self.policy = policy

    def forward(self, images: Tensor) -> Tensor:
        if not self.training or self.policy == "none":
            return images
        images = random_translation(images)
        if self.policy == "translation_cutout":
            images = random_cutout(images)
        return images

    def extra_repr(self) -> str:
        return f"policy={self.policy!r}"


__all__ = ["AUGMENTATIONS", "Augmentation", "DiffAugment", "random_cutout", "random_translation"]

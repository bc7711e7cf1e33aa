"""StyleGAN-lite's mapping network: z → w through an MLP at a reduced learning rate, and the tracked mean of w
that truncation pulls toward."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gen_framework_stylegan_lite.layers import EqualLinear, normalize_2nd_moment


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

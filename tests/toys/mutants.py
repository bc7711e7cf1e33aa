"""Toy models with a deliberate distributed fault, for the conformance kit's own tests."""

from __future__ import annotations

import torch
from torch import Tensor

from toys.models import ToyImageGAN


class RankSharedLatents(ToyImageGAN):
    """Draws its training latents from a generator of its own seeded with a constant: the same on every rank."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.shared_stream = torch.Generator().manual_seed(1234)

    def sample_latent(self, num: int, *, generator: torch.Generator | None = None) -> Tensor:
        stream = generator if generator is not None else self.shared_stream
        return torch.randn(num, self.latent_dim, generator=stream).to(self.device)

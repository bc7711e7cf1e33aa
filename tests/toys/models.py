"""Tiny subclasses of the family bases, shared by the tests (the framework's `BoringModel`s)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gen_framework.families import AdversarialModule, AutoregressiveModule, VariationalModule


def mlp(sizes: list[int], activation: type[nn.Module] = nn.LeakyReLU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class ToyGAN(AdversarialModule):
    """A GAN on 2-D points ``(B, 2)``: MLP generator and discriminator."""

    def __init__(self, latent_dim: int = 8, hidden: int = 64, **kwargs) -> None:
        super().__init__(**kwargs)
        self.latent_dim = latent_dim
        self.generator = mlp([latent_dim, hidden, hidden, 2])
        self.discriminator = mlp([2, hidden, hidden, 1])

    def generate_samples(self, num_samples, *, generator, truncation_psi: float = 1.0):  # points are not clamped
        return self.generate(self.sample_latent(num_samples, generator=generator), truncation_psi=truncation_psi)


class ToyImageGAN(AdversarialModule):
    """A GAN on 1×8×8 images with BatchNorm in the generator (exercises buffer averaging under DDP)."""

    def __init__(self, latent_dim: int = 8, hidden: int = 32, **kwargs) -> None:
        super().__init__(**kwargs)
        self.latent_dim = latent_dim
        self.generator = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, 64), nn.Tanh(),
            nn.Unflatten(1, (1, 8, 8)),
        )
        self.discriminator = nn.Sequential(nn.Flatten(), mlp([64, hidden, 1]))


class ToyVAE(VariationalModule):
    """A VAE with MLP encoder/decoder on images ``(B, C, H, W)`` of a fixed shape."""

    def __init__(self, latent_dim: int = 4, hidden: int = 64, shape: tuple[int, int, int] = (1, 8, 8), **kwargs) -> None:
        super().__init__(**kwargs)
        self.latent_dim = latent_dim
        self.shape = tuple(shape)
        pixels = math.prod(self.shape)
        out_channels = self.likelihood_channels(self.shape[0])
        self.encoder = nn.Sequential(nn.Flatten(), mlp([pixels, hidden, 2 * latent_dim]))
        self.decoder = nn.Sequential(
            mlp([latent_dim, hidden, out_channels * pixels // self.shape[0]]),
            nn.Unflatten(1, (out_channels, *self.shape[1:])),
        )

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_var = self.encoder(x).chunk(2, dim=1)
        return mean, log_var

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)


class ToyLM(AutoregressiveModule):
    """A causal bag-of-previous-tokens model: logits at t from embeddings of tokens t-1 and t (window 2)."""

    def __init__(self, embed: int = 32, context: int = 16, **kwargs) -> None:
        super().__init__(**kwargs)
        self.embed, self.context = embed, context
        self.ensure_network()

    def build_network(self, vocab_size: int) -> None:
        self.tok = nn.Embedding(vocab_size, self.embed)
        self.prev = nn.Embedding(vocab_size + 1, self.embed)  # index V = "no previous token"
        self.head = nn.Sequential(nn.GELU(), nn.Linear(self.embed, vocab_size))

    @property
    def context_size(self) -> int:
        return self.context

    def forward(self, tokens: Tensor, condition: Tensor | None = None) -> Tensor:
        previous = torch.cat([torch.full_like(tokens[:, :1], self.vocab_size), tokens[:, :-1]], dim=1)
        return self.head(self.tok(tokens) + self.prev(previous))

    def init_cache(self, batch_size: int, condition: Tensor | None = None) -> dict:
        return {"last": None}

    def forward_cached(self, tokens: Tensor, cache: dict) -> Tensor:
        if cache["last"] is None:
            logits = self.forward(tokens)
        else:
            previous = torch.cat([cache["last"], tokens[:, :-1]], dim=1)
            logits = self.head(self.tok(tokens) + self.prev(previous))
        cache["last"] = tokens[:, -1:]
        return logits

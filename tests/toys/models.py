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


class NonFiniteVAE(ToyVAE):
    """A ToyVAE whose training loss is NaN at global steps ``nan_at`` .. ``nan_at + nan_count - 1``."""

    def __init__(self, nan_at: int = 3, nan_count: int = 1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.nan_at, self.nan_count = nan_at, nan_count

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_var = super().encode(x)
        if self._trainer is not None and self.trainer.training and 0 <= self.global_step - self.nan_at < self.nan_count:
            mean = mean * float("nan")
        return mean, log_var


class NonFiniteGAN(ToyImageGAN):
    """A ToyImageGAN whose discriminator loss is NaN at global step ``nan_at`` (once)."""

    def __init__(self, nan_at: int = 3, **kwargs) -> None:
        super().__init__(**kwargs)
        self.nan_at = nan_at

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        loss = super().discriminator_loss(real_logits, fake_logits)
        return loss * float("nan") if self.trainer.training and self.global_step == self.nan_at else loss


class ConstantGAN(ToyImageGAN):
    """A collapsed GAN: every latent gives the same image, as under complete mode collapse."""

    def generate(self, latent: Tensor, *, truncation_psi: float = 1.0) -> Tensor:
        return super().generate(torch.zeros_like(latent), truncation_psi=truncation_psi)


class BlindVAE(ToyVAE):
    """A collapsed VAE: the encoder never sees the input, so no latent unit carries information."""

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return super().encode(torch.zeros_like(x))

"""Train a user GAN, VAE and autoregressive model (subclassed as docs/families.md says) under plain DDP.

Usage: python ddp_rank_randomness.py OUT_DIR [--steps 3] [--families adversarial variational autoregressive]

One launch, one fit per family (Lightning reuses the process group), ``seed_everything(0)`` before each as a
user would. Each rank records what it drew in its first training step — the GAN's latents, the VAE's
reparameterisation noise, the dropout mask of the autoregressive model — and, after the fit, its weights,
``global_step`` and a seeded sample, into ``OUT_DIR/<family>/rank<R>.pt``. Run as a script (not under pytest)
because Lightning's DDP launcher re-executes the command for rank 1.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from gen_framework.families import AdversarialModule, AutoregressiveModule, VariationalModule


class UserGAN(AdversarialModule):
    """An MLP GAN on 1x8x8 images that keeps the latents of its first training step.

    BatchNorm in the generator and an EMA exercise the base's buffer averaging and EMA under DDP.
    """

    def __init__(self, latent_dim: int = 8, hidden: int = 32, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.latent_dim = latent_dim
        self.generator = nn.Sequential(nn.Linear(latent_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                                       nn.Linear(hidden, 64), nn.Tanh(), nn.Unflatten(1, (1, 8, 8)))
        self.discriminator = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
        self.first_draw: Tensor | None = None

    def sample_latent(self, num: int, *, generator: torch.Generator | None = None) -> Tensor:
        latent = super().sample_latent(num, generator=generator)
        if self.first_draw is None and self.training:
            self.first_draw = latent.detach().clone()
        return latent


class UserVAE(VariationalModule):
    """An MLP VAE on 1x8x8 images that keeps the reparameterisation noise of its first training step."""

    def __init__(self, latent_dim: int = 4, hidden: int = 32, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, 64),
                                     nn.Unflatten(1, (1, 8, 8)))
        self.first_draw: Tensor | None = None
        self._posterior: tuple[Tensor, Tensor] | None = None

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_var = self.encoder(x).chunk(2, dim=1)
        self._posterior = (mean.detach(), log_var.detach())
        return mean, log_var

    def decode(self, z: Tensor) -> Tensor:
        if self.first_draw is None and self.training and self._posterior is not None:
            mean, log_var = self._posterior
            # z = mean + eps * std: recover the noise eps (B, Z) the base drew
            self.first_draw = ((z.detach() - mean) / (0.5 * log_var).exp()).clone()
        return self.decoder(z)


class UserLM(AutoregressiveModule):
    """A one-layer causal model with dropout that keeps the dropout mask of its first training step."""

    def __init__(self, embed: int = 32, context: int = 16, dropout: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.embed, self.context, self.dropout = embed, context, dropout
        self.first_draw: Tensor | None = None
        self.ensure_network()

    def build_network(self, vocab_size: int) -> None:
        self.tok = nn.Embedding(vocab_size, self.embed)
        self.drop = nn.Dropout(self.dropout)
        self.head = nn.Linear(self.embed, vocab_size)

    @property
    def context_size(self) -> int:
        return self.context

    def forward(self, tokens: Tensor, condition: Tensor | None = None) -> Tensor:
        hidden = self.tok(tokens)
        dropped = self.drop(hidden)
        if self.first_draw is None and self.training:
            self.first_draw = (dropped == 0) & (hidden != 0)  # the mask (B, T, E)
        return self.head(dropped)


class Record(pl.Callback):
    def __init__(self, out: Path) -> None:
        self.out = out

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        state = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}
        record = {"state": state, "global_step": trainer.global_step, "first_draw": pl_module.first_draw,
                  "training_seed": getattr(pl_module, "training_seed", None)}
        record["sample"] = pl_module.sample(4, seed=7)
        torch.save(record, self.out / f"rank{trainer.global_rank}.pt")


def build(family: str) -> tuple[pl.LightningModule, DataLoader]:
    generator = torch.Generator().manual_seed(0)
    if family == "autoregressive":
        windows = torch.randint(0, 8, (64, 17), generator=generator)
        return UserLM(vocab_size=8, lr=1e-2), DataLoader(windows, batch_size=8, shuffle=True)
    images = torch.rand(64, 1, 8, 8, generator=generator) * 2 - 1
    data = DataLoader(TensorDataset(images), batch_size=8, shuffle=True)
    return (UserGAN(ema_decay=0.9) if family == "adversarial" else UserVAE()), data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--families", nargs="+", default=["adversarial", "variational", "autoregressive"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    for family in args.families:
        out = args.out / family
        out.mkdir(parents=True, exist_ok=True)
        pl.seed_everything(0, verbose=False)
        model, data = build(family)
        trainer = pl.Trainer(
            accelerator="cpu", devices=2, strategy="ddp", max_steps=args.steps, logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[Record(out)],
        )
        trainer.fit(model, data)


if __name__ == "__main__":
    main()

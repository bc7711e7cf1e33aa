"""Train a toy model of one family for a few steps under a given strategy; each rank saves its weights.

Usage: python ddp_family.py FAMILY OUT_DIR [--strategy ddp] [--devices 2] [--precision 32-true] [--steps 6]
       [--num_nodes 1]
Run as a script (not under pytest) because Lightning's DDP launcher re-executes the command for rank 1.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from toys.models import ToyImageGAN, ToyLM, ToyVAE  # noqa: E402


class SaveWeights(pl.Callback):
    def __init__(self, out: Path) -> None:
        self.out = out

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        state = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}
        torch.save({"state": state, "global_step": trainer.global_step}, self.out / f"rank{trainer.global_rank}.pt")


def build(family: str) -> tuple[pl.LightningModule, DataLoader]:
    generator = torch.Generator().manual_seed(0)
    if family == "autoregressive":
        seq = torch.arange(64) % 8
        windows = torch.stack([seq[i : i + 17] for i in range(40)])
        return ToyLM(vocab_size=8, lr=1e-2), DataLoader(windows, batch_size=8, shuffle=True, generator=generator)
    images = torch.rand(64, 1, 8, 8, generator=generator) * 2 - 1
    data = DataLoader(TensorDataset(images), batch_size=8, shuffle=True, generator=generator)
    if family == "adversarial":
        return ToyImageGAN(ema_decay=0.9), data
    return ToyVAE(), data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("family", choices=["adversarial", "variational", "autoregressive"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--strategy", default="ddp")
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--num_nodes", type=int, default=1)
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(0, workers=True)
    torch.set_num_threads(1)
    model, data = build(args.family)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=args.devices,
        num_nodes=args.num_nodes,
        strategy=args.strategy,
        precision=args.precision,
        max_steps=args.steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[SaveWeights(args.out)],
    )
    trainer.fit(model, data)
    assert math.isfinite(float(sum(p.float().sum() for p in model.parameters())))


if __name__ == "__main__":
    main()

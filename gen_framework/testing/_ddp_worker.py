"""Worker of the kit's DDP checks: ``python -m gen_framework.testing._ddp_worker REQUEST_JSON``.

Runs as its own process because Lightning's DDP launcher re-executes the command for the other rank. One
2-process fit of ``probe_steps + sync_steps`` training steps (defaults 2 + 2):

- probe steps: every rank trains on the same batch with every learning rate at 0, so parameters and data are
  identical across ranks and steps, and any difference between the per-step losses comes from the randomness
  the step drew;
- sync steps: each rank trains on its own batches at the model's learning rates, so identical weights at the
  end show that gradients (and buffers) are synchronised.

Each rank writes ``rank{R}.pt`` (its final state dict) and ``rank{R}_losses.pt`` (the probe steps'
``step_losses``, a list of ``{name: tensor}``); ``request.json`` records what was run.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from gen_framework.testing.synthetic import SyntheticData, _collate

PROBE_STEPS = 2
SYNC_STEPS = 2


class _SaveWeights(pl.Callback):
    def __init__(self, out: Path) -> None:
        self.out = out

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        state = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}
        torch.save(state, self.out / f"rank{trainer.global_rank}.pt")


class _FrozenProbe(pl.Callback):
    """Learning rates at 0 during the first ``steps`` training steps; records each step's ``step_losses``."""

    def __init__(self, out: Path, steps: int) -> None:
        self.out, self.steps = out, steps
        self.losses: list[dict[str, torch.Tensor]] = []
        self._saved: list[list[float]] = []

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        if trainer.global_step < self.steps:
            self._saved = [[group["lr"] for group in opt.param_groups] for opt in trainer.optimizers]
            for opt in trainer.optimizers:
                for group in opt.param_groups:
                    group["lr"] = 0.0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if len(self.losses) < self.steps:
            self.losses.append({k: v.detach().cpu().clone() for k, v in pl_module.step_losses.items()})
            for opt, lrs in zip(trainer.optimizers, self._saved):
                for group, lr in zip(opt.param_groups, lrs):
                    group["lr"] = lr
            if len(self.losses) == self.steps:
                torch.save(self.losses, self.out / f"rank{trainer.global_rank}_losses.pt")


class _ProbeData(SyntheticData):
    """The first ``PROBE_STEPS`` batches are items ``0..B-1`` on every rank; the later ones differ by rank."""

    def train_dataloader(self) -> DataLoader:
        rank = self.trainer.global_rank if self.trainer is not None else 0
        count, size = len(self.train_set), self.batch_size
        shared = [list(range(size))] * PROBE_STEPS
        own = [[(size * (1 + rank + 2 * k) + i) % count for i in range(size)] for k in range(SYNC_STEPS)]
        return DataLoader(self.train_set, batch_sampler=shared + own, collate_fn=_collate)


def main(request_json: str) -> None:
    request = json.loads(request_json)
    out = Path(request["out"])
    module_name, _, class_name = request["module_class"].rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    pl.seed_everything(0, verbose=False)
    torch.set_num_threads(1)
    model = cls(**request["init_args"])
    length = request["length"]
    if model.family == "autoregressive":
        try:
            length = min(length, int(model.context_size))
        except (NotImplementedError, AttributeError, TypeError):
            pass
    data = _ProbeData(request["data_spec"], length=length, count=16, batch_size=4)
    trainer = pl.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", max_steps=PROBE_STEPS + SYNC_STEPS, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        limit_val_batches=0, use_distributed_sampler=False, default_root_dir=str(out),
        callbacks=[_FrozenProbe(out, PROBE_STEPS), _SaveWeights(out)],
    )
    trainer.fit(model, data)
    if trainer.is_global_zero:
        (out / "request.json").write_text(json.dumps(request, sort_keys=True), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])

"""Worker of the kit's DDP check: ``python -m gen_framework.testing._ddp_worker REQUEST_JSON``.

Runs as its own process because Lightning's DDP launcher re-executes the command for the other rank.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch


class _SaveWeights(pl.Callback):
    def __init__(self, out: Path) -> None:
        self.out = out

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        state = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}
        torch.save(state, self.out / f"rank{trainer.global_rank}.pt")


def main(request_json: str) -> None:
    from gen_framework.testing.synthetic import SyntheticData

    request = json.loads(request_json)
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
    data = SyntheticData(request["data_spec"], length=length, count=16)
    trainer = pl.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", max_steps=2, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
        callbacks=[_SaveWeights(Path(request["out"]))], default_root_dir=request["out"],
    )
    trainer.fit(model, data)


if __name__ == "__main__":
    main(sys.argv[1])

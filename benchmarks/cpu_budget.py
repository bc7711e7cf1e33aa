"""`CPUBudgetProbe`: score a model when its training process has used each of several CPU-time budgets."""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl
import torch


class CPUBudgetProbe(pl.Callback):
    """Scores the model at the start and when the process has trained for each budget (CPU seconds, the time
    spent scoring excluded); stops training after the last. Subclasses implement :meth:`score`.

    Each record holds ``cpu_seconds``, ``wall_seconds``, ``steps`` and what :meth:`score` returned.
    """

    def __init__(self, budgets: list[float]) -> None:
        self.budgets = sorted(budgets)
        self.records: list[dict[str, Any]] = []
        self._cpu_start = self._wall_start = self._excluded = 0.0

    def score(self, trainer: pl.Trainer, pl_module: Any) -> dict[str, Any]:
        """Called at each budget, within a forked RNG state: the quality numbers of the model as it is."""
        raise NotImplementedError

    def label(self, pl_module: Any) -> str:
        """What the printed records are prefixed with."""
        return type(pl_module).__name__

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._cpu_start, self._wall_start = time.process_time(), time.perf_counter()
        self._measure(trainer, pl_module, 0.0)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        trained = time.process_time() - self._cpu_start - self._excluded
        if self.budgets and trained >= self.budgets[0]:
            self.budgets.pop(0)
            self._measure(trainer, pl_module, trained)
            if not self.budgets:
                trainer.should_stop = True

    def _measure(self, trainer: pl.Trainer, pl_module: Any, trained: float) -> None:
        began = time.process_time()
        record: dict[str, Any] = {
            "cpu_seconds": round(trained, 1),
            "wall_seconds": round(time.perf_counter() - self._wall_start, 1),
            "steps": trainer.global_step,
        }
        with torch.random.fork_rng():
            record.update(self.score(trainer, pl_module))
        self.records.append(record)
        print(f"  [{self.label(pl_module)}] {record}", flush=True)
        self._excluded += time.process_time() - began

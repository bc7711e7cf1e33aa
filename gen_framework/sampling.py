"""The data of ``genfw predict``: the indices of the samples to draw, split into batches.

Each predict batch holds the global indices ``(N,)`` of its samples; ``GenerativeModule.predict_step`` seeds
the batch from its first index, so the files written do not depend on the number of processes.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from gen_framework.errors import ConfigError


class _Indices(Dataset):
    def __init__(self, count: int) -> None:
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor(index, dtype=torch.long)


class SampleRequests(pl.LightningDataModule):
    """Requests ``num_samples`` samples in batches of ``batch_size``.

    Args:
        num_samples: How many samples to draw.
        batch_size: Samples drawn per ``predict_step``.
    """

    def __init__(self, num_samples: int = 64, batch_size: int = 64) -> None:
        super().__init__()
        if num_samples < 1 or batch_size < 1:
            raise ConfigError(f"num_samples and batch_size must be >= 1, got {num_samples} and {batch_size}")
        self.num_samples = num_samples
        self.batch_size = batch_size

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(_Indices(self.num_samples), batch_size=self.batch_size, shuffle=False)

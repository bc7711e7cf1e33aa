"""A tiny datamodule of 1×8×8 images for CLI tests."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset


class ToyImages(pl.LightningDataModule):
    """Random 1×8×8 images in [-1, 1] with labels.

    Args:
        count: Number of images.
        batch_size: Batch size.
    """

    modality = "image"

    def __init__(self, count: int = 64, batch_size: int = 8) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.images = torch.rand(count, 1, 8, 8, generator=generator) * 2 - 1
        self.labels = torch.randint(0, 10, (count,), generator=generator)
        self.batch_size = batch_size

    def data_spec(self) -> dict[str, Any]:
        return {"modality": "image", "channels": 1, "image_size": 8}

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(self.images, self.labels), batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(self.images, self.labels), batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()

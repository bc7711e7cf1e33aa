"""Tiny synthetic data for the conformance kit: any modality, shaped by a data spec, made in milliseconds."""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from gen_framework.data._random import SeededShuffle
from gen_framework.data.resumable import ResumableDataLoader, trainer_progress

#: The alphabet of the synthetic text data (and of its character tokenizer).
TEXT_ALPHABET = "\nabcdefgh "


class SyntheticData(pl.LightningDataModule):
    """Random data shaped by ``data_spec``: images ``(B, C, S, S)`` in [-1, 1] with labels, token windows
    ``(B, length + 1)`` for text (a character tokenizer over :data:`TEXT_ALPHABET`), mu-law codes
    ``(B, length + 1)`` of a noisy sine for audio (with labels when ``num_labels`` is set).

    Args:
        data_spec: What to make; missing entries get small defaults.
        length: Tokens per window (text, audio) before the target shift.
        count: Items in the training set (the validation set has half as many).
        batch_size: Items per batch.
        seed: Seed of the data and of the shuffling.
    """

    def __init__(self, data_spec: dict[str, Any], length: int = 16, count: int = 16, batch_size: int = 4, seed: int = 0) -> None:
        super().__init__()
        self.spec = complete_spec(data_spec)
        self.length, self.count, self.batch_size, self.seed = length, count, batch_size, seed
        generator = torch.Generator().manual_seed(seed)
        self.train_set = self._make(count, generator)
        self.val_set = self._make(max(2, count // 2), generator)

    def data_spec(self) -> dict[str, Any]:
        return dict(self.spec)

    def _make(self, count: int, generator: torch.Generator) -> TensorDataset:
        modality = self.spec["modality"]
        if modality == "image":
            c, s = self.spec["channels"], self.spec["image_size"]
            images = torch.rand(count, c, s, s, generator=generator) * 2 - 1
            return TensorDataset(images, torch.randint(0, 10, (count,), generator=generator))
        if modality == "text":
            vocab = len(self.spec["tokenizer"]["chars"])
            return TensorDataset(torch.randint(0, vocab, (count, self.length + 1), generator=generator))
        from gen_framework.data.mu_law import mu_law_encode

        t = torch.arange(self.length + 1, dtype=torch.float32)
        phase = torch.rand(count, 1, generator=generator) * 2 * math.pi
        wave = 0.5 * torch.sin(2 * math.pi * 440.0 * t / self.spec["sample_rate"] + phase)
        wave = wave + 0.05 * torch.randn(wave.shape, generator=generator)
        codes = mu_law_encode(wave.clamp(-1, 1), levels=self.spec["quantization"]["levels"])
        if self.spec.get("num_labels"):
            return TensorDataset(codes, torch.randint(0, self.spec["num_labels"], (count,), generator=generator))
        return TensorDataset(codes)

    def _loader(self, dataset: TensorDataset, shuffle: bool) -> DataLoader:
        sampler = SeededShuffle(len(dataset), self.seed) if shuffle else None
        return ResumableDataLoader(
            dataset, batch_size=self.batch_size, sampler=sampler, collate_fn=_collate, progress=self._progress
        )

    def _progress(self) -> tuple[int, int] | None:
        return trainer_progress(self)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()


def _collate(items: list[tuple[torch.Tensor, ...]]) -> Any:
    columns = [torch.stack(column) for column in zip(*items)]
    return columns[0] if len(columns) == 1 else tuple(columns)


def complete_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with the entries its modality needs filled in with small defaults."""
    spec = dict(spec)
    modality = spec.setdefault("modality", "image")
    if modality == "image":
        spec.setdefault("channels", 1)
        spec.setdefault("image_size", 8)
    elif modality == "text":
        spec.setdefault("tokenizer", {"kind": "char", "chars": TEXT_ALPHABET})
    elif modality == "audio":
        spec.setdefault("sample_rate", 16000)
        spec.setdefault("quantization", {"kind": "mu_law", "levels": 256})
    else:
        raise ValueError(f"unknown modality {modality!r} in data spec")
    return spec

"""The datamodule base every modality builds on: argument checks, deterministic splits and the three loaders."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from gen_framework.data._checks import check_float, check_int
from gen_framework.data._random import EpochSampler, RandomDrawDataset, SeededShuffle
from gen_framework.data.resumable import ResumableDataLoader, trainer_progress
from gen_framework.errors import DataError

Modality = Literal["image", "audio", "text"]


@dataclass(frozen=True)
class Splits:
    """The datasets a datamodule serves; ``test`` may be the same object as ``val``.

    Attributes:
        train: training items (a :class:`RandomDrawDataset` when items are random draws such as crops).
        val: fixed validation items.
        test: fixed test items.
        num_labels: number of integer classes carried by the items, or ``None`` when unlabelled.
    """

    train: Dataset
    val: Dataset
    test: Dataset
    num_labels: int | None = None


def split_indices(num_items: int, val_fraction: float, seed: int, *, owner: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministically splits ``range(num_items)`` into train and validation index tensors (int64).

    A seeded permutation puts its first ``round(val_fraction * num_items)`` items (at least one when
    ``val_fraction > 0``) in validation, in permutation order so validation batches mix classes; the rest, which
    must be at least one item, train.

    Raises:
        DataError: when there are too few items to leave one for training.
    """
    num_val = 0 if val_fraction == 0 else max(1, round(val_fraction * num_items))
    if num_items - num_val < 1:
        raise DataError(
            f"{owner}: {num_items} item(s) cannot be split with val_fraction={val_fraction}: "
            "no item would be left for training; add data or lower `val_fraction`"
        )
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(num_items, generator=generator)
    return order[num_val:], order[:num_val]


class GenerativeDataModule(pl.LightningDataModule):
    """Base of the framework's datamodules.

    Subclasses set :attr:`modality`, implement :meth:`build_splits` (called once, lazily, by :meth:`setup`) and
    :meth:`data_spec`. The base serves the loaders: training batches are shuffled in an order that depends only
    on ``(seed, epoch)`` (random-draw datasets instead draw each item from ``(seed, epoch, index)``); validation
    and test batches come in a fixed order. The last incomplete training batch is dropped (batch-norm layers
    fail on a batch of one) unless the training set is smaller than one batch.

    Args:
        batch_size: items per batch, >= 1.
        num_workers: dataloader worker processes, >= 0; 0 loads in the main process.
        val_fraction: share of the data held out for validation, in [0, 1).
        seed: seed of the split and of every random draw, >= 0.
    """

    modality: ClassVar[Modality]

    def __init__(self, batch_size: int = 64, num_workers: int = 0, val_fraction: float = 0.1, seed: int = 0) -> None:
        super().__init__()
        name = type(self).__name__
        self.batch_size = check_int(name, "batch_size", batch_size, minimum=1)
        self.num_workers = check_int(name, "num_workers", num_workers, minimum=0)
        self.val_fraction = check_float(
            name, "val_fraction", val_fraction, minimum=0.0, maximum=1.0, include_maximum=False
        )
        self.seed = check_int(name, "seed", seed, minimum=0, maximum=2**63 - 1)
        # no save_hyperparameters(): Lightning refuses to log when a model and its datamodule share an hparam
        # name with different values (a GPT's block_size may rightly exceed the data's)
        self._splits: Splits | None = None

    @abstractmethod
    def build_splits(self) -> Splits:
        """Called once, by the first :meth:`setup`, to load the data and build the train/val/test datasets."""

    @abstractmethod
    def data_spec(self) -> dict[str, Any]:
        """What a model needs to decode its outputs, JSON-able (str/int/float/bool/list/dict/None only).

        Valid before or after :meth:`setup`; calls it when the spec depends on the data.
        """

    def setup(self, stage: str | None = None) -> None:
        """Called by Lightning on every process before a stage; loads the data on the first call only."""
        if self._splits is None:
            self._splits = self.build_splits()

    @property
    def splits(self) -> Splits:
        """The datasets, loading them on first access."""
        self.setup()
        assert self._splits is not None
        return self._splits

    @property
    def num_labels(self) -> int | None:
        """Number of integer label classes in the data, or ``None`` when it carries no labels."""
        return self.splits.num_labels

    def train_dataloader(self) -> DataLoader:
        dataset = self.splits.train
        size = len(dataset)  # type: ignore[arg-type]
        # order is irrelevant for random draws; their sampler carries the epoch into each draw
        sampler = EpochSampler(size) if isinstance(dataset, RandomDrawDataset) else SeededShuffle(size, self.seed)
        # A resumable loader: a run resumed mid-epoch continues with the batches an uninterrupted run would see.
        return self._loader(
            dataset, sampler=sampler, drop_last=size >= self.batch_size, loader_class=ResumableDataLoader,
            progress=self._training_progress,
        )

    def _training_progress(self) -> tuple[int, int] | None:
        return trainer_progress(self)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.splits.val)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.splits.test)

    def _loader(self, dataset: Dataset, loader_class: type[DataLoader] = DataLoader, **kwargs: Any) -> DataLoader:
        return loader_class(
            dataset,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=False,
            **kwargs,
        )


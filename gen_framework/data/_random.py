"""Counter-based randomness for datasets whose items are random draws (crops, windows, segments).

An item's randomness is a pure function of ``(seed, epoch, index, stream)``, so it does not depend on worker
processes, batch composition or DDP rank, and whole batches are drawn with a few vectorised numpy operations.
The epoch reaches ``__getitem__`` through the index itself: :class:`EpochSampler` yields ``(epoch, index)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

# splitmix64 constants (Steele et al., 2014): a cheap bijective mixer with good avalanche behaviour
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def hash_keys(seed: int, epoch: int, indices: np.ndarray, stream: int) -> np.ndarray:
    """Mixes ``(seed, epoch, index, stream)`` into one uint64 per index; indices shape ``(B,)``."""
    key = _splitmix64(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))
    key = _splitmix64(key ^ np.uint64(epoch & 0xFFFFFFFFFFFFFFFF))
    key = _splitmix64(key ^ np.uint64(stream))
    return _splitmix64(key ^ np.asarray(indices, dtype=np.uint64))


def uniform(seed: int, epoch: int, indices: np.ndarray, stream: int) -> np.ndarray:
    """Uniform float64 in ``[0, 1)``, one per index, shape ``(B,)``."""
    # the top 53 bits fill a double's mantissa exactly
    return (hash_keys(seed, epoch, indices, stream) >> np.uint64(11)).astype(np.float64) * (2.0**-53)


def integers(seed: int, epoch: int, indices: np.ndarray, stream: int, high: np.ndarray | int) -> np.ndarray:
    """Integers in ``[0, high)`` (``high`` scalar or per index, each >= 1) as int64, shape ``(B,)``."""
    draws = np.floor(uniform(seed, epoch, indices, stream) * np.asarray(high, dtype=np.float64))
    return np.minimum(draws.astype(np.int64), np.asarray(high, dtype=np.int64) - 1)


def split_keys(keys: Sequence[Any]) -> tuple[int, np.ndarray]:
    """Splits dataset keys (``int`` or ``(epoch, index)``) into one epoch and an index array ``(B,)``.

    A batch always comes from one sampler pass, so its keys share an epoch; plain ints mean epoch 0.
    """
    if not keys:
        return 0, np.zeros(0, dtype=np.int64)
    first = keys[0]
    if isinstance(first, tuple):
        return int(first[0]), np.fromiter((int(k[1]) for k in keys), dtype=np.int64, count=len(keys))
    return 0, np.fromiter((int(k) for k in keys), dtype=np.int64, count=len(keys))


class EpochSampler(Sampler[tuple[int, int]]):
    """Yields ``(epoch, index)`` for ``index in range(num_items)``, in order, then moves to the next epoch.

    Lightning calls :meth:`set_epoch` before each training epoch; without it (plain loops, or when wrapped by a
    distributed sampler) every full pass advances the epoch by one, which gives the same numbering.
    """

    def __init__(self, num_items: int) -> None:
        self.num_items = num_items
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        self.epoch += 1
        return ((epoch, index) for index in range(self.num_items))

    def __len__(self) -> int:
        return self.num_items


class SeededShuffle(Sampler[int]):
    """A permutation of ``range(num_items)`` that depends only on ``(seed, epoch)``.

    Unlike a generator seeded once, the order of epoch ``e`` does not depend on how many epochs this process
    has run, so a run resumed from a checkpoint shuffles as the uninterrupted run would. The epoch comes from
    :meth:`set_epoch` (Lightning calls it, also through its distributed wrapper) or advances by one per pass.
    """

    def __init__(self, num_items: int, seed: int) -> None:
        self.num_items = num_items
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        epoch = self.epoch
        self.epoch += 1
        key = int(hash_keys(self.seed, epoch, np.zeros(1, dtype=np.int64), stream=0)[0] >> np.uint64(1))
        return iter(torch.randperm(self.num_items, generator=torch.Generator().manual_seed(key)).tolist())

    def __len__(self) -> int:
        return self.num_items


class RandomDrawDataset(Dataset):
    """A dataset whose items are random draws: subclasses implement :meth:`draw` for a whole batch of indices.

    The training dataloader feeds it from an :class:`EpochSampler`; ``__getitems__`` (used by PyTorch's
    dataloader for batched fetching) draws a batch at once.
    """

    def __init__(self, num_items: int, seed: int) -> None:
        self.num_items = num_items
        self.seed = seed

    def draw(self, epoch: int, indices: np.ndarray) -> list[Any]:
        """Returns one item per index, all random choices taken from :func:`uniform`/:func:`integers`."""
        raise NotImplementedError

    def __len__(self) -> int:
        return self.num_items

    def __getitem__(self, key: int | tuple[int, int]) -> Any:
        return self.__getitems__([key])[0]

    def __getitems__(self, keys: Sequence[int | tuple[int, int]]) -> list[Any]:
        epoch, indices = split_keys(keys)
        if indices.size and (indices.min() < 0 or indices.max() >= self.num_items):
            raise IndexError(f"index out of range for a dataset of {self.num_items} items")
        return self.draw(epoch, indices)


def unbind(*batches: torch.Tensor) -> list[Any]:
    """Turns batched tensors ``(B, ...)`` into the per-item list the default collate expects."""
    if len(batches) == 1:
        return list(batches[0].unbind(0))
    return list(zip(*(b.unbind(0) for b in batches)))

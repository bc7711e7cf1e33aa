"""Tiny synthetic data for the conformance kit: any modality, shaped by a data spec, made in milliseconds.

Besides random data (for checks of plumbing), :class:`SyntheticData` makes the easy tasks of the learning check
(:mod:`gen_framework.testing.learning`), each with a known answer:

- ``mixture_2d`` (images): a mixture of K Gaussians in the plane, drawn into images through two fixed
  orthogonal basis images (:func:`plane_basis`), so an image GAN of any size and channel count sees a 2-D
  mixture; :func:`project_to_plane` reads points back from generated images.
- ``prototypes`` (images): K fixed ±1 images with a little noise: a VAE that uses its latent reconstructs them
  almost exactly, one that ignores its input cannot beat their per-pixel average.
- ``periodic`` (text, audio): windows of one cycle of P distinct tokens repeated from a random phase: every
  next token is fixed by the one before, so a model that reads its context drives the loss towards 0 while a
  context-free model stays at log P.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from gen_framework.data._random import SeededShuffle
from gen_framework.data.resumable import ResumableDataLoader, trainer_progress

#: The alphabet of the synthetic text data (and of its character tokenizer).
TEXT_ALPHABET = "\nabcdefgh "

Task = Literal["random", "mixture_2d", "prototypes", "periodic"]
#: Modes of the ``mixture_2d`` task: K centres on a circle of this radius in the plane, each an isotropic
#: Gaussian of standard deviation ``MIXTURE_SPREAD``. With radius 0.5 every pixel of an embedded centre is
#: within [-1, 1] (see :func:`plane_basis`).
MIXTURE_MODES, MIXTURE_RADIUS, MIXTURE_SPREAD = 4, 0.5, 0.05
PROTOTYPES, PROTOTYPE_NOISE = 4, 0.05
#: Cycle length of the ``periodic`` task (at most the vocabulary size).
PERIOD = 8


class SyntheticData(pl.LightningDataModule):
    """Data shaped by ``data_spec``. With ``task="random"``: images ``(B, C, S, S)`` in [-1, 1] with labels,
    token windows ``(B, length + 1)`` for text (a character tokenizer over :data:`TEXT_ALPHABET`), mu-law codes
    ``(B, length + 1)`` of a noisy sine for audio (with labels when ``num_labels`` is set). The other tasks
    (see the module docstring) keep these shapes.

    Args:
        data_spec: What to make; missing entries get small defaults.
        length: Tokens per window (text, audio) before the target shift.
        count: Items in the training set (the validation set has half as many).
        batch_size: Items per batch.
        seed: Seed of the data and of the shuffling.
        task: ``random``, or an easy task with a known answer: ``mixture_2d`` and ``prototypes`` (images),
            ``periodic`` (text, audio).
    """

    def __init__(
        self, data_spec: dict[str, Any], length: int = 16, count: int = 16, batch_size: int = 4, seed: int = 0,
        task: Task = "random",
    ) -> None:
        super().__init__()
        self.spec = complete_spec(data_spec)
        image_task = task in ("mixture_2d", "prototypes")
        if task != "random" and image_task != (self.spec["modality"] == "image"):
            raise ValueError(f"task {task!r} does not fit {self.spec['modality']} data")
        self.task = task
        self.length, self.count, self.batch_size, self.seed = length, count, batch_size, seed
        generator = torch.Generator().manual_seed(seed)
        self.train_set = self._make(count, generator)
        self.val_set = self._make(max(2, count // 2), generator)

    def data_spec(self) -> dict[str, Any]:
        return dict(self.spec)

    def _make(self, count: int, generator: torch.Generator) -> TensorDataset:
        modality = self.spec["modality"]
        if self.task == "mixture_2d":
            points = mixture_2d(count, generator=generator)
            basis = plane_basis(self.spec["channels"], self.spec["image_size"])
            return TensorDataset(embed_in_plane(points, basis), torch.zeros(count, dtype=torch.long))
        if self.task == "prototypes":
            shape = (self.spec["channels"], self.spec["image_size"], self.spec["image_size"])
            centres = prototypes(shape, seed=self.seed)
            which = torch.randint(0, len(centres), (count,), generator=generator)
            noise = PROTOTYPE_NOISE * torch.randn(count, *shape, generator=generator)
            return TensorDataset((centres[which] + noise).clamp(-1, 1), which)
        if self.task == "periodic":
            cycle = periodic_cycle(vocab_size_of_spec(self.spec), seed=self.seed)
            phase = torch.randint(0, len(cycle), (count, 1), generator=generator)
            windows = cycle[(phase + torch.arange(self.length + 1)) % len(cycle)]
            return TensorDataset(windows)
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


def mixture_2d(count: int, *, generator: torch.Generator) -> torch.Tensor:
    """Points ``(count, 2)`` from the mixture of :data:`MIXTURE_MODES` Gaussians around :func:`mixture_modes`."""
    centres = mixture_modes()
    which = torch.randint(0, len(centres), (count,), generator=generator)
    return centres[which] + MIXTURE_SPREAD * torch.randn(count, 2, generator=generator)


def mixture_modes() -> torch.Tensor:
    """The centres ``(K, 2)`` of the ``mixture_2d`` task, evenly spaced on a circle, the first at 45°."""
    angles = 2 * math.pi * (torch.arange(MIXTURE_MODES, dtype=torch.float32) + 0.5) / MIXTURE_MODES
    return MIXTURE_RADIUS * torch.stack([angles.cos(), angles.sin()], dim=1)


def plane_basis(channels: int, size: int) -> torch.Tensor:
    """Two orthogonal images ``(2, C, S, S)`` of ±1/√2: left/right halves and top/bottom halves.

    A point (a, b) is drawn as ``a·B₀ + b·B₁``; its pixels are (±a ± b)/√2, within [-1, 1] for ‖(a, b)‖ ≤ 1.
    """
    half = torch.where(torch.arange(size) < size // 2, 1.0, -1.0) / math.sqrt(2)
    if size % 2:  # an odd middle row/column would break orthogonality: leave it at 0
        half[size // 2] = 0.0
    columns = half.view(1, 1, size).expand(channels, size, size)
    rows = half.view(1, size, 1).expand(channels, size, size)
    return torch.stack([columns, rows])


def embed_in_plane(points: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Points ``(N, 2)`` → images ``(N, C, S, S)`` on the plane spanned by ``basis`` ``(2, C, S, S)``."""
    return torch.einsum("nk,kchw->nchw", points, basis)


def project_to_plane(images: torch.Tensor, basis: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(N, C, S, S)`` → their points ``(N, 2)`` in the plane and the RMS per pixel of what lies off it ``(N,)``."""
    flat, directions = images.flatten(1).float(), basis.flatten(1)
    # The basis is orthogonal, so least squares reduces to one dot product per direction.
    points = flat @ directions.T / (directions * directions).sum(1)
    residual = flat - points @ directions
    return points, residual.pow(2).mean(1).sqrt()


def prototypes(shape: tuple[int, int, int], *, seed: int = 0) -> torch.Tensor:
    """:data:`PROTOTYPES` fixed images ``(K, C, H, W)`` of ±1 in blocks of about a quarter of the side."""
    generator = torch.Generator().manual_seed(1000 + seed)
    channels, height, width = shape
    block = max(1, min(height, width) // 4)
    coarse = torch.randint(0, 2, (PROTOTYPES, channels, -(-height // block), -(-width // block)), generator=generator)
    full = coarse.repeat_interleave(block, 2).repeat_interleave(block, 3)[:, :, :height, :width]
    return full.float() * 2 - 1


def periodic_cycle(vocab_size: int, *, seed: int = 0) -> torch.Tensor:
    """One cycle ``(P,)`` of the ``periodic`` task: P = min(:data:`PERIOD`, V) distinct token ids, shuffled."""
    generator = torch.Generator().manual_seed(2000 + seed)
    return torch.randperm(vocab_size, generator=generator)[: min(PERIOD, vocab_size)]


def vocab_size_of_spec(spec: dict[str, Any]) -> int:
    """The vocabulary size V of text or audio data made by :class:`SyntheticData` from ``spec``."""
    if spec["modality"] == "text":
        return len(spec["tokenizer"]["chars"])
    return int(spec["quantization"]["levels"])


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

"""The base of the image datamodules: ``image_size`` and ``channels``, their checks, the data spec, the split.

Every image datamodule serves ``(x, y)`` batches, x float32 ``(B, C, S, S)`` in [-1, 1] and y int64 ``(B,)``
(-1 where unknown), and tells models ``{"modality": "image", "channels": C, "image_size": S}``.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from gen_framework.data._checks import check_choice, check_int
from gen_framework.data.base import GenerativeDataModule, Splits, split_indices
from gen_framework.data.image_ops import subset


def image_spec(channels: int, image_size: int) -> dict[str, Any]:
    """The data spec every image datamodule returns."""
    return {"modality": "image", "channels": channels, "image_size": image_size}


def check_image_args(owner: str, image_size: int | None, channels: int | None) -> None:
    """Validates ``image_size`` (1-4096) and ``channels`` (1 or 3); ``None`` (taken from the data) passes."""
    if image_size is not None:
        check_int(owner, "image_size", image_size, minimum=1, maximum=4096)
    if channels is not None:
        check_choice(owner, "channels", channels, (1, 3))


class ImageDataModule(GenerativeDataModule):
    """Shared machinery of the image datamodules; subclasses implement :meth:`build_splits`.

    A subclass keeps its own explicit, typed ``__init__`` listing every option (LightningCLI builds the
    command-line options, their types and their ``--help`` from that signature, so a ``**kwargs`` pass-through
    would lose them) and hands ``image_size``, ``channels`` and the loader options up to this one.

    Args:
        image_size: side S of the square images, 1-4096; ``None`` when the data decides (set by
            :meth:`build_splits`).
        channels: 1 for greyscale, 3 for RGB; ``None`` when the data decides (set by :meth:`build_splits`).
        batch_size: items per batch, >= 1.
        num_workers: dataloader worker processes, >= 0.
        val_fraction: share of the images held out for validation, in [0, 1).
        seed: seed of the split and the shuffling, >= 0.
    """

    modality = "image"

    def __init__(
        self,
        image_size: int | None = 64,
        channels: Literal[1, 3] | None = 3,
        batch_size: int = 64,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, val_fraction=val_fraction, seed=seed)
        check_image_args(type(self).__name__, image_size, channels)
        self.image_size = image_size
        self.channels = channels

    def data_spec(self) -> dict[str, Any]:
        if self.image_size is None or self.channels is None:
            self.setup()  # the stored images decide what was left open
        return image_spec(int(self.channels), int(self.image_size))  # type: ignore[arg-type]

    def labelled_splits(
        self, images: torch.Tensor, labels: torch.Tensor, num_labels: int | None, test: Any = None
    ) -> Splits:
        """Seeded train/validation split of images held in memory (see :func:`~.base.split_indices`).

        Args:
            images: uint8 ``(N, C, S, S)`` in [0, 255], or float32 ``(N, C, S, S)`` in [-1, 1].
            labels: int64 ``(N,)``, -1 where unknown.
            num_labels: number of label classes, or ``None`` when unlabelled.
            test: the test dataset; ``None`` serves the validation split as the test split.
        """
        train_index, val_index = split_indices(len(images), self.val_fraction, self.seed, owner=type(self).__name__)
        val = subset(images, labels, val_index)
        return Splits(
            train=subset(images, labels, train_index), val=val, test=val if test is None else test, num_labels=num_labels
        )

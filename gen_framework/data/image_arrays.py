"""Small labelled digit datasets that ship with the package: UCI's 8x8 digits and MNIST (5,000 embedded, or IDX)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch

from gen_framework.data.base import Splits
from gen_framework.data.embedded import load_embedded
from gen_framework.data.idx import read_idx
from gen_framework.data.image import ImageDataModule
from gen_framework.data.image_ops import ImageTensorDataset, prepare_images
from gen_framework.errors import DataError


class Digits(ImageDataModule):
    """Handwritten digits: 1,797 images of 8x8 pixels (values 0-16), labels 0-9, embedded in the package.

    The UCI "Optical Recognition of Handwritten Digits" test set, the one scikit-learn's ``load_digits`` gives.

    Batches are ``(x, y)``: x float32 ``(B, C, image_size, image_size)`` in [-1, 1], y int64 ``(B,)`` in 0-9.
    Images are upsampled with Pillow's bicubic filter. The test split is the validation split.

    Args:
        image_size: side of the square images, 1-4096.
        channels: 1 for greyscale, 3 to repeat it as RGB.
        batch_size: items per batch, >= 1.
        num_workers: dataloader worker processes, >= 0.
        val_fraction: share of the images held out for validation, in [0, 1).
        seed: seed of the split and the shuffling, >= 0.
    """

    def __init__(
        self,
        image_size: int = 32,
        channels: Literal[1, 3] = 1,
        batch_size: int = 64,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__(
            image_size=image_size, channels=channels, batch_size=batch_size, num_workers=num_workers,
            val_fraction=val_fraction, seed=seed,
        )

    def build_splits(self) -> Splits:
        digits, targets = load_embedded("digits_8x8")
        # values are ink counts 0-16 per 4x4 block of the original scan
        images = prepare_images((digits / 16.0)[..., None], self.image_size, self.channels)
        labels = torch.as_tensor(targets, dtype=torch.int64)
        return self.labelled_splits(images, labels, num_labels=10)


_TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
_TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _find(root: Path, name: str) -> Path | None:
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_mnist_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Reads an IDX image file ``(N, H, W)`` uint8 and its label file ``(N,)``; checks they match."""
    images = read_idx(images_path, expected_dims=3)
    labels = read_idx(labels_path, expected_dims=1)
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise DataError(f"{images_path} and {labels_path} must hold unsigned bytes (IDX type 0x08)")
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{images_path} has {images.shape[0]} images but {labels_path} has {labels.shape[0]} labels")
    if images.shape[0] == 0:
        raise DataError(f"{images_path} holds no images")
    return images, labels


class MNIST(ImageDataModule):
    """Handwritten digits 0-9 in 28x28 greyscale.

    With no ``root``, 5,000 real MNIST training digits embedded in the package are used, split by ``seed``.
    With ``root``, the standard IDX files are read from that folder: ``train-images-idx3-ubyte`` and
    ``train-labels-idx1-ubyte`` (each optionally ``.gz``) give the train and validation splits; when both
    ``t10k-*`` files are present they are the test split, otherwise the test split is the validation split.
    Fashion-MNIST and other data in the same format work too.

    Batches are ``(x, y)``: x float32 ``(B, C, image_size, image_size)`` in [-1, 1], y int64 ``(B,)``.

    Args:
        root: folder holding the IDX files, or ``None`` for the embedded 5,000 digits.
        image_size: side of the square images, 1-4096 (28 keeps the originals; others are resized bicubically).
        channels: 1 for greyscale, 3 to repeat it as RGB.
        batch_size: items per batch, >= 1.
        num_workers: dataloader worker processes, >= 0.
        val_fraction: share of the training images held out for validation, in [0, 1).
        seed: seed of the split and the shuffling, >= 0.
    """

    def __init__(
        self,
        root: str | None = None,
        image_size: int = 28,
        channels: Literal[1, 3] = 1,
        batch_size: int = 64,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__(
            image_size=image_size, channels=channels, batch_size=batch_size, num_workers=num_workers,
            val_fraction=val_fraction, seed=seed,
        )
        self.root = root

    def build_splits(self) -> Splits:
        test_arrays = None
        if self.root is None:
            train_arrays = load_embedded("mnist_5k")
        else:
            train_arrays, test_arrays = self._read_root(Path(self.root))
        images, labels = self._to_tensors(*train_arrays)
        test = None
        all_labels = labels
        if test_arrays is not None:
            test = ImageTensorDataset(*self._to_tensors(*test_arrays))
            all_labels = torch.cat([labels, test.labels])
        return self.labelled_splits(images, labels, num_labels=int(all_labels.max()) + 1, test=test)

    def _read_root(self, root: Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray] | None]:
        if not root.is_dir():
            raise DataError(f"MNIST: `root` {root} is not a folder")
        train_paths = [_find(root, name) for name in _TRAIN_FILES]
        missing = [name for name, path in zip(_TRAIN_FILES, train_paths) if path is None]
        if missing:
            raise DataError(f"MNIST: {root} lacks {' and '.join(missing)} (plain or .gz)")
        train = read_mnist_pair(*train_paths)  # type: ignore[arg-type]
        test_paths = [_find(root, name) for name in _TEST_FILES]
        if all(path is None for path in test_paths):
            return train, None
        if any(path is None for path in test_paths):
            raise DataError(f"MNIST: {root} has only one of {' and '.join(_TEST_FILES)}; add the other or remove it")
        test = read_mnist_pair(*test_paths)  # type: ignore[arg-type]
        if test[0].shape[1:] != train[0].shape[1:]:
            raise DataError(f"MNIST: test images {test[0].shape[1:]} differ in size from train {train[0].shape[1:]}")
        return train, test

    def _to_tensors(self, images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        prepared = prepare_images(images[..., None], self.image_size, self.channels)
        return prepared, torch.as_tensor(labels.astype(np.int64))

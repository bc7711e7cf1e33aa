"""Images from a folder tree of PNG, JPEG and WebP files, labelled by subfolder."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image, ImageOps

from gen_framework.data._files import find_files, report_failures
from gen_framework.data.base import Splits
from gen_framework.data.image import ImageDataModule
from gen_framework.data.image_ops import convert_mode, fit_square, image_to_chw

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp"})


def load_image(path: Path, image_size: int, channels: Literal[1, 3]) -> np.ndarray:
    """Decodes one file to uint8 ``(channels, image_size, image_size)``: EXIF rotation applied, shorter side
    resized (bicubic), centre-cropped."""
    with Image.open(path) as image:
        # a 16-bit greyscale PNG opens as "I" or "I;16"; its bit depth is lost once the image is copied
        bits = 16 if image.format == "PNG" and image.mode in ("I", "I;16", "I;16B", "I;16L") else None
        # lets the JPEG decoder skip detail that the resize would discard anyway
        image.draft("L" if channels == 1 else "RGB", (image_size, image_size))
        upright = ImageOps.exif_transpose(image)
        return image_to_chw(fit_square(convert_mode(upright, channels, bits=bits), image_size))


class ImageFolder(ImageDataModule):
    """Every ``.png``, ``.jpg``, ``.jpeg`` and ``.webp`` file (any case) under ``root``, searched recursively.

    Hidden files and folders (name starting with ".") are ignored. Each image is decoded once at setup, its
    shorter side resized to ``image_size`` and the centre cropped, and kept in memory as uint8 (about
    ``N * channels * image_size**2`` bytes). Files that fail to decode are skipped with one warning that counts
    them; if none decodes, a :class:`DataError` is raised.

    Labels: when ``root`` has subfolders holding images, an image's label is the index of its immediate
    subfolder among their sorted names (``classes``); images directly in ``root`` get -1. Without subfolders
    every label is -1.

    Batches are ``(x, y)``: x float32 ``(B, C, S, S)`` in [-1, 1], y int64 ``(B,)``. The test split is the
    validation split.

    Args:
        root: the folder to search.
        image_size: side of the square images, 1-4096.
        channels: 1 for greyscale, 3 for RGB (colour images are converted to luma, grey ones repeated).
        batch_size: items per batch, >= 1.
        num_workers: dataloader worker processes, >= 0.
        val_fraction: share of the images held out for validation, in [0, 1).
        seed: seed of the split and the shuffling, >= 0.
    """

    def __init__(
        self,
        root: str,
        image_size: int = 64,
        channels: Literal[1, 3] = 3,
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
        self.classes: list[str] = []

    def build_splits(self) -> Splits:
        found = find_files(self.root, IMAGE_EXTENSIONS, type(self).__name__)
        images: list[np.ndarray] = []
        labels: list[int] = []
        failures: list[tuple[Path, str]] = []
        for path, label in zip(found.paths, found.labels):
            try:
                images.append(load_image(path, self.image_size, self.channels))
            # any failure inside a third-party decoder means the file is unusable, whatever the exception type
            except Exception as error:  # noqa: BLE001
                failures.append((path, f"{type(error).__name__}: {error}"))
                continue
            labels.append(label)
        report_failures(type(self).__name__, self.root, failures, len(found.paths))
        self.classes = found.classes
        stacked = torch.from_numpy(np.stack(images))
        label_tensor = torch.tensor(labels, dtype=torch.int64)
        return self.labelled_splits(stacked, label_tensor, num_labels=len(found.classes) or None)

"""Random square patches cut from a few real photographs (bundled with scikit-image and scikit-learn, or yours)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image, ImageOps

from gen_framework._utils.optional import require
from gen_framework.data._checks import check_int, check_range_pair
from gen_framework.data._random import RandomDrawDataset, integers, uniform, unbind
from gen_framework.data.base import Splits
from gen_framework.data.image import ImageDataModule
from gen_framework.data.image_ops import ImageTensorDataset, convert_mode, image_to_chw, to_model_range
from gen_framework.errors import DataError

# photographs that scikit-image ships inside its wheel (others need a download through pooch)
SKIMAGE_PHOTOS = ("astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass", "gravel", "moon", "rocket")
# the epoch key of validation draws: no training epoch reaches it
_VAL_EPOCH = -1


def bundled_photos() -> list[tuple[str, np.ndarray]]:
    """The bundled photographs as ``(name, uint8 array (H, W) or (H, W, 3))``; ones that fail to load are left out."""
    skimage_data = require("skimage.data", "PhotoPatches with its default photographs (files=None)")
    sklearn_datasets = require("sklearn.datasets", "PhotoPatches with its default photographs (files=None)")

    photos = []
    for name in SKIMAGE_PHOTOS:
        try:
            photos.append((f"skimage.data.{name}", np.asarray(getattr(skimage_data, name)())))
        except (ImportError, OSError, AttributeError, ValueError):
            continue  # a photo this scikit-image version lacks, or one it would have to download
    sample = sklearn_datasets.load_sample_images()
    photos.extend((f"sklearn:{Path(f).name}", np.asarray(img)) for f, img in zip(sample.filenames, sample.images))
    return photos


def user_photo(path: Path) -> Image.Image:
    """Opens a photo the user named, upright per its EXIF orientation; errors name the file."""
    if not path.is_file():
        raise DataError(f"PhotoPatches: file {path} in `files` does not exist")
    try:
        with Image.open(path) as image:
            return ImageOps.exif_transpose(image).copy()
    except Exception as error:  # noqa: BLE001 - any decoder failure means the file is unusable
        raise DataError(f"PhotoPatches: cannot read image {path}: {type(error).__name__}: {error}") from None


class PatchDraws(RandomDrawDataset):
    """Random patches: per item a photo, a scale, a position and a flip, all drawn from ``(seed, epoch, index)``.

    Items are ``(x, y)``: x float32 ``(C, S, S)`` in [-1, 1], y = -1 (int64).
    """

    def __init__(
        self,
        photos: list[Image.Image],
        image_size: int,
        scale: tuple[float, float] | None,
        flip: bool,
        num_items: int,
        seed: int,
    ) -> None:
        super().__init__(num_items, seed)
        self.photos = photos
        self.arrays = [image_to_chw(photo) for photo in photos]
        self.image_size = image_size
        self.scale = scale
        self.flip = flip

    def draw(self, epoch: int, indices: np.ndarray) -> list[Any]:
        size, seed = self.image_size, self.seed
        which = integers(seed, epoch, indices, 0, len(self.photos))
        short = np.array([min(p.size) for p in self.photos])[which]
        if self.scale is None:
            crop = np.full(len(indices), size)
        else:
            # a photo too small for the requested downscaling is cropped at the largest scale that fits
            low = np.maximum(self.scale[0], size / short)
            high = np.maximum(self.scale[1], low)
            factor = low + uniform(seed, epoch, indices, 1) * (high - low)
            crop = np.minimum(np.rint(size / factor).astype(np.int64), short)
        widths = np.array([p.size[0] for p in self.photos])[which]
        heights = np.array([p.size[1] for p in self.photos])[which]
        left = integers(seed, epoch, indices, 2, widths - crop + 1)
        top = integers(seed, epoch, indices, 3, heights - crop + 1)
        flips = uniform(seed, epoch, indices, 4) < 0.5 if self.flip else np.zeros(len(indices), dtype=bool)
        patches = np.empty((len(indices), self.arrays[0].shape[0], size, size), dtype=np.uint8)
        for i, (p, c, x, y) in enumerate(zip(which, crop, left, top)):
            if c == size:
                patches[i] = self.arrays[p][:, y : y + size, x : x + size]
            else:
                box = (int(x), int(y), int(x + c), int(y + c))
                patches[i] = image_to_chw(self.photos[p].resize((size, size), Image.Resampling.BICUBIC, box=box))
        patches[flips] = patches[flips][..., ::-1]
        images = to_model_range(torch.from_numpy(patches))
        return unbind(images, torch.full((len(indices),), -1, dtype=torch.int64))


class PhotoPatches(ImageDataModule):
    """Random ``image_size`` patches cut from real photographs, an offline default for natural-image models.

    With ``files=None`` the photographs are those bundled with scikit-image (astronaut, brick, camera, chelsea,
    coffee, coins, grass, gravel, moon, rocket) and scikit-learn (china, flower). Each training item picks a
    photo uniformly, optionally downscales it by a random factor in ``scale`` (implemented as a larger crop
    resized bicubically), crops a random square and flips it horizontally with probability 1/2, all drawn from
    ``(seed, epoch, index)``. Validation patches are ``round(val_fraction * patches_per_epoch)`` fixed draws from
    the same photos: they monitor fit but are not held-out images. The test split is the validation split.

    Batches are ``(x, y)``: x float32 ``(B, C, S, S)`` in [-1, 1], y int64 ``(B,)`` = -1.

    Args:
        image_size: side of the square patches, 1-4096; every photo's shorter side must be at least this.
        channels: 1 for greyscale, 3 for RGB.
        files: image files to cut patches from instead of the bundled photographs, or ``None``.
        scale: ``(low, high)`` with 0 < low <= high <= 1: the random downscaling factor range; ``None`` crops at
            full resolution. A photo too small for a factor is downscaled only as far as still fits the patch.
        flip: flip patches horizontally at random.
        patches_per_epoch: training patches per epoch, >= 1 (the epoch length).
        batch_size: items per batch, >= 1.
        num_workers: dataloader worker processes, >= 0.
        val_fraction: validation patches as a share of ``patches_per_epoch``, in [0, 1).
        seed: seed of every draw, >= 0.
    """

    def __init__(
        self,
        image_size: int = 64,
        channels: Literal[1, 3] = 3,
        files: list[str] | None = None,
        scale: tuple[float, float] | None = None,
        flip: bool = True,
        patches_per_epoch: int = 4096,
        batch_size: int = 64,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__(
            image_size=image_size, channels=channels, batch_size=batch_size, num_workers=num_workers,
            val_fraction=val_fraction, seed=seed,
        )
        owner = type(self).__name__
        check_int(owner, "patches_per_epoch", patches_per_epoch, minimum=1)
        if scale is not None:
            scale = check_range_pair(owner, "scale", scale, allow_equal=True, positive=True)
            if scale[1] > 1:
                raise DataError(f"{owner}: `scale` must lie in (0, 1] (downscaling only), got {scale}")
        if files is not None and not files:
            raise DataError(f"{owner}: `files` is an empty list; give image files or None for the bundled photos")
        self.files = files
        self.scale = scale
        self.flip = flip
        self.patches_per_epoch = patches_per_epoch

    def load_photos(self) -> list[Image.Image]:
        """The source photographs in mode "L" or "RGB", each checked to be at least ``image_size`` on each side."""
        if self.files is None:
            named = [(name, Image.fromarray(array)) for name, array in bundled_photos()]
        else:
            named = [(str(f), user_photo(Path(f))) for f in self.files]
        photos = []
        for name, photo in named:
            if min(photo.size) < self.image_size:
                raise DataError(
                    f"PhotoPatches: {name} is {photo.size[0]}x{photo.size[1]}, smaller than image_size="
                    f"{self.image_size}; lower `image_size` or leave this photo out"
                )
            photos.append(convert_mode(photo, self.channels))
        return photos

    def build_splits(self) -> Splits:
        photos = self.load_photos()
        train = PatchDraws(photos, self.image_size, self.scale, self.flip, self.patches_per_epoch, self.seed)
        num_val = 0 if self.val_fraction == 0 else max(1, round(self.val_fraction * self.patches_per_epoch))
        fixed = train.draw(_VAL_EPOCH, np.arange(num_val))
        if fixed:
            images, labels = (torch.stack(column) for column in zip(*fixed))
        else:
            images = torch.empty((0, self.channels, self.image_size, self.image_size))
            labels = torch.empty((0,), dtype=torch.int64)
        val = ImageTensorDataset(images, labels)
        return Splits(train=train, val=val, test=val, num_labels=None)

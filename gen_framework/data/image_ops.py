"""Image conversions shared by the image datamodules, and the in-memory dataset they serve batches from.

Images are kept in memory as uint8 ``(N, C, S, S)`` tensors (a quarter of float32's size) and scaled to
float32 in [-1, 1] a batch at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from gen_framework.data._random import split_keys, unbind

# ITU-R 601-2 luma, the weights Pillow's "L" conversion uses
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def fit_square(image: Image.Image, size: int) -> Image.Image:
    """Resizes so the shorter side is ``size`` (bicubic, antialiased when shrinking), then centre-crops to square."""
    width, height = image.size
    scale = size / min(width, height)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    if (new_w, new_h) != (width, height):
        image = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return image.crop((left, top, left + size, top + size))


def convert_mode(image: Image.Image, channels: Literal[1, 3], *, bits: int | None = None) -> Image.Image:
    """Converts any Pillow image to mode "L" (``channels=1``) or "RGB" (alpha dropped, palettes expanded).

    ``bits`` is the bit depth of integer greyscale ("I", "I;16") when the file says it (16 for a 16-bit PNG);
    without it, values above 255 are taken as 16-bit and the others as 8-bit.
    """
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # a direct "L" conversion clips 16-bit and float greyscale instead of rescaling it
        values = np.asarray(image, dtype=np.float64)
        if bits is None and image.mode.startswith("I;16"):
            bits = 16
        # the value range comes from the format when known: a dark 16-bit image must not be read as 8-bit
        top = float(2**bits - 1) if bits else 65535.0 if values.max(initial=0) > 255 else 255.0
        image = Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8))
    elif image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    return image.convert("L" if channels == 1 else "RGB")


def image_to_chw(image: Image.Image) -> np.ndarray:
    """An "L" or "RGB" Pillow image as uint8 ``(C, H, W)``."""
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def convert_channels(images: np.ndarray, channels: Literal[1, 3]) -> np.ndarray:
    """Converts float ``(N, H, W, C)`` images with ``C`` in {1, 3} to ``channels`` (grey repeated, RGB to luma)."""
    have = images.shape[-1]
    if have == channels:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=-1)
    return (images @ _LUMA)[..., None].astype(images.dtype)


def resize_arrays(images: np.ndarray, size: int) -> np.ndarray:
    """Fits float32 ``(N, H, W, C)`` images in [0, 1] to ``(N, size, size, C)`` with :func:`fit_square`.

    Bicubic filtering overshoots at edges, so the result is clipped back to [0, 1].
    """
    n, height, width, c = images.shape
    if height == width == size:
        return images
    out = np.empty((n, size, size, c), dtype=np.float32)
    for i in range(n):
        for j in range(c):
            plane = Image.fromarray(np.ascontiguousarray(images[i, :, :, j], dtype=np.float32))
            out[i, :, :, j] = np.asarray(fit_square(plane, size), dtype=np.float32)
    return np.clip(out, 0.0, 1.0, out=out)


def quantize(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] to uint8 in [0, 255] (rounded)."""
    return np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)


def prepare_images(images: np.ndarray, image_size: int, channels: Literal[1, 3]) -> torch.Tensor:
    """Fits ``(N, H, W, C)`` images (uint8 in [0, 255] or float in [0, 1]) to uint8 ``(N, channels, S, S)``."""
    if images.dtype == np.uint8 and images.shape[1] == images.shape[2] == image_size:
        if images.shape[-1] == channels:
            return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    floats = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)
    if channels < floats.shape[-1]:
        floats = convert_channels(floats, channels)  # fewer planes to resize
    fitted = convert_channels(resize_arrays(floats, image_size), channels)
    return torch.from_numpy(np.ascontiguousarray(quantize(fitted).transpose(0, 3, 1, 2)))


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] images to float32 [-1, 1]; float images are assumed already in [-1, 1]."""
    if images.dtype == torch.uint8:
        return images.to(torch.float32).div_(127.5).sub_(1.0)
    return images.to(torch.float32)


class ImageTensorDataset(Dataset):
    """Images held in memory; items are ``(x, y)`` with x float32 ``(C, S, S)`` in [-1, 1] and y an int64 label.

    Args:
        images: uint8 ``(N, C, S, S)`` in [0, 255], or float32 ``(N, C, S, S)`` already in [-1, 1].
        labels: int64 ``(N,)``, -1 where unknown.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
        self.images = images
        self.labels = labels.to(torch.int64)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.__getitems__([index])[0]

    def __getitems__(self, keys: Sequence[Any]) -> list[Any]:
        _, indices = split_keys(keys)
        index = torch.from_numpy(indices)
        return unbind(to_model_range(self.images[index]), self.labels[index])


def subset(images: torch.Tensor, labels: torch.Tensor, index: torch.Tensor) -> ImageTensorDataset:
    """An :class:`ImageTensorDataset` over the rows ``index`` (int64 ``(M,)``)."""
    return ImageTensorDataset(images[index], labels[index])

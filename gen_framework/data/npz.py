"""Images from a NumPy ``.npz`` (or ``.npy``) file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from gen_framework.data._checks import check_range_pair
from gen_framework.data._files import check_regular_file, check_size
from gen_framework.data.base import Splits
from gen_framework.data.image import ImageDataModule
from gen_framework.data.image_ops import convert_channels, prepare_images, resize_arrays
from gen_framework.errors import DataError


def load_arrays(path: Path) -> Any:
    """Opens ``path`` without pickle: an ``.npz`` gives a lazy ``NpzFile`` (name -> array), an ``.npy`` an array."""
    if not path.is_file():
        raise DataError(f"NPZImages: `path` {path} does not exist or is not a file")
    check_regular_file(path, "NPZImages")
    try:
        return np.load(path, allow_pickle=False)
    # zip and .npy parsing fail on damaged files in many ways (BadZipFile, NotImplementedError, RuntimeError, ...)
    except Exception as error:  # noqa: BLE001
        raise DataError(f"NPZImages: cannot read {path} as .npz/.npy (pickled objects are refused): {error}") from None


def read_member(arrays: Any, path: Path, key: str) -> np.ndarray:
    """Reads one array of an ``.npz``, naming the file and the key in any error."""
    if key not in arrays.files:
        raise DataError(f"NPZImages: {path} has no array {key!r}; it has {', '.join(map(repr, arrays.files))}")
    # the zip directory says how large the member is once inflated: checked before anything is inflated
    member = next((i for i in arrays.zip.infolist() if i.filename in (key, f"{key}.npy")), None)
    if member is not None:
        check_size(path, member.file_size, f"array {key!r} once decompressed")
    try:
        return np.asarray(arrays[key])
    except Exception as error:  # noqa: BLE001 - see load_arrays
        raise DataError(f"NPZImages: cannot read array {key!r} of {path}: {error}") from None


def to_nhwc(images: np.ndarray, where: str) -> np.ndarray:
    """Returns ``(N, H, W, C)`` from ``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)`` with C in {1, 3}.

    When both the second and the last axis could be channels, channels-last is assumed.
    """
    if images.ndim == 3:
        return images[..., None]
    if images.ndim == 4 and images.shape[-1] in (1, 3):
        return images
    if images.ndim == 4 and images.shape[1] in (1, 3):
        return images.transpose(0, 2, 3, 1)
    raise DataError(
        f"NPZImages: {where} has shape {images.shape}; expected (N, H, W), (N, H, W, C) or (N, C, H, W) with C 1 or 3"
    )


def scale_to_unit(images: np.ndarray, value_range: tuple[float, float] | None, where: str) -> np.ndarray:
    """Checks values and maps them from ``value_range`` (default: [0, 255] for uint8, [0, 1] for floats) to [0, 1]."""
    if images.dtype == np.bool_ or not np.issubdtype(images.dtype, np.number) or np.iscomplexobj(images):
        raise DataError(f"NPZImages: {where} has dtype {images.dtype}; expected uint8, another integer or float type")
    if value_range is None:
        if images.dtype == np.uint8:
            value_range = (0.0, 255.0)
        elif np.issubdtype(images.dtype, np.floating):
            value_range = (0.0, 1.0)
        else:
            raise DataError(f"NPZImages: {where} has dtype {images.dtype}; give `value_range` to say what it spans")
    floats = images.astype(np.float32)
    finite = np.isfinite(floats)
    if not finite.all():
        bad = int((~finite).sum())
        first = int(np.flatnonzero(~finite.reshape(len(floats), -1).all(axis=1))[0])
        raise DataError(f"NPZImages: {where} contains {bad} NaN/Inf value(s), the first in image {first}")
    low, high = value_range
    tolerance = 1e-4 * (high - low)
    if floats.min() < low - tolerance or floats.max() > high + tolerance:
        raise DataError(
            f"NPZImages: {where} has values in [{floats.min():g}, {floats.max():g}], outside value_range "
            f"[{low:g}, {high:g}]; set `value_range` to the range the data uses"
        )
    return np.clip((floats - low) / (high - low), 0.0, 1.0)


class NPZImages(ImageDataModule):
    """Images stored as one array in a ``.npz`` file (an ``.npy`` file works too), with optional labels.

    Accepted layouts are ``(N, H, W)``, ``(N, H, W, C)`` and ``(N, C, H, W)`` with ``C`` 1 or 3. uint8 data is
    read as [0, 255]; float data as [0, 1] unless ``value_range`` says otherwise (other integer types need
    ``value_range``). NaN/Inf or values outside the range are refused. Non-square images are resized on the
    shorter side and centre-cropped. uint8 data is kept as uint8 in memory, float data as float32.

    Batches are ``(x, y)``: x float32 ``(B, C, S, S)`` in [-1, 1], y int64 ``(B,)`` (-1 without labels). The
    test split is the validation split.

    Args:
        path: the ``.npz`` or ``.npy`` file.
        key: name of the image array in the ``.npz``; ``None`` takes the first array.
        labels_key: name of an integer ``(N,)`` label array (-1 = unknown) in the same file, or ``None``.
        value_range: ``(low, high)`` the stored values span, mapped to [-1, 1]; ``None`` for the default above.
        image_size: side of the square images, 1-4096; ``None`` keeps the stored size (images must be square).
        channels: 1 or 3 (grey repeated to RGB, RGB to luma); ``None`` keeps the stored channels.
        batch_size: items per batch, >= 1.
        num_workers: dataloader worker processes, >= 0.
        val_fraction: share of the images held out for validation, in [0, 1).
        seed: seed of the split and the shuffling, >= 0.
    """

    def __init__(
        self,
        path: str,
        key: str | None = None,
        labels_key: str | None = None,
        value_range: tuple[float, float] | None = None,
        image_size: int | None = None,
        channels: Literal[1, 3] | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__(
            image_size=image_size, channels=channels, batch_size=batch_size, num_workers=num_workers,
            val_fraction=val_fraction, seed=seed,
        )
        self.path = path
        self.key = key
        self.labels_key = labels_key
        self.value_range = (
            None if value_range is None else check_range_pair(type(self).__name__, "value_range", value_range)
        )

    def build_splits(self) -> Splits:
        path = Path(self.path)
        arrays = load_arrays(path)
        images, labels, where = self._read(arrays, path)
        images = to_nhwc(images, where)
        if len(images) == 0:
            raise DataError(f"NPZImages: {where} holds no images")
        _, height, width, stored_channels = images.shape
        if self.image_size is None and height != width:
            raise DataError(f"NPZImages: {where} has non-square {height}x{width} images; set `image_size`")
        self.image_size = self.image_size or height
        self.channels = self.channels or stored_channels  # type: ignore[assignment]
        assert self.channels is not None
        if images.dtype == np.uint8 and self.value_range is None:
            stored = prepare_images(images, self.image_size, self.channels)
        else:
            unit = scale_to_unit(images, self.value_range, where)
            unit = convert_channels(resize_arrays(unit, self.image_size), self.channels)
            stored = torch.from_numpy(np.ascontiguousarray(unit.transpose(0, 3, 1, 2)) * 2.0 - 1.0)
        label_tensor = torch.full((len(images),), -1, dtype=torch.int64) if labels is None else labels
        num_labels = None if labels is None or labels.max() < 0 else int(labels.max()) + 1
        return self.labelled_splits(stored, label_tensor, num_labels=num_labels)

    def _read(self, arrays: Any, path: Path) -> tuple[np.ndarray, torch.Tensor | None, str]:
        if isinstance(arrays, np.ndarray):
            if self.key is not None or self.labels_key is not None:
                raise DataError(f"NPZImages: {path} is a single .npy array; `key` and `labels_key` need an .npz")
            return arrays, None, str(path)
        with arrays:
            if not arrays.files:
                raise DataError(f"NPZImages: {path} holds no arrays")
            key = self.key if self.key is not None else arrays.files[0]
            images = read_member(arrays, path, key)
            where = f"{path} array {key!r}"
            if self.labels_key is None:
                return images, None, where
            labels = read_member(arrays, path, self.labels_key)
        label_where = f"{path} array {self.labels_key!r}"
        if labels.ndim != 1 or labels.shape[0] != images.shape[0] or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(
                f"NPZImages: {label_where} must be integers of shape ({images.shape[0]},), "
                f"got {labels.dtype} {labels.shape}"
            )
        if labels.size and labels.min() < -1:
            raise DataError(f"NPZImages: {label_where} has label {labels.min()}; labels must be >= 0 (-1 = unknown)")
        return images, torch.as_tensor(labels.astype(np.int64)), where

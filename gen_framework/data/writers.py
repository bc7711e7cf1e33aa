"""Writing generated samples as ordinary files (PNG, 16-bit WAV, UTF-8 text) and a ``manifest.json``.

Every file is written to a temporary name in the same folder and renamed into place, so a reader (or a run
that is killed) never sees half a file.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from PIL import Image

from gen_framework.persistence.atomic import atomic_path
from gen_framework._utils.optional import require
from gen_framework.data.mu_law import MuLawQuantizer
from gen_framework.data.tokenizers import tokenizer_from_dict
from gen_framework.errors import DataError


def prepare_dir(output_dir: str | Path) -> Path:
    """Creates ``output_dir`` (with parents) if needed; raises :class:`DataError` naming it when that fails."""
    path = Path(output_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"cannot create output directory {path}: {error.strerror or error}") from None
    if not os.access(path, os.W_OK):
        raise DataError(f"output directory {path} is not writable")
    return path


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Calls ``write`` on a temporary file next to ``path``, then renames it to ``path``."""
    try:
        with atomic_path(path) as tmp, tmp.open("wb") as handle:
            write(handle)
    except OSError as error:
        raise DataError(f"cannot write {path}: {error.strerror or error}") from None
    return path


def _as_float_images(images: torch.Tensor | np.ndarray) -> np.ndarray:
    array = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if array.ndim != 4 or array.shape[1] not in (1, 3):
        raise DataError(f"image samples must have shape (N, C, H, W) with C 1 or 3, got {tuple(array.shape)}")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise DataError("image samples contain NaN or infinite values")
    return array


def to_uint8_images(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """float ``(N, C, H, W)`` in [-1, 1] (clipped) -> uint8 ``(N, H, W, C)`` in [0, 255]."""
    array = _as_float_images(images)
    return np.clip(np.rint((array + 1.0) * 127.5), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def make_image_grid(images: torch.Tensor | np.ndarray, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """Tiles images into one picture, row by row, with black ``padding`` pixels between and around them.

    Args:
        images: float ``(N, C, H, W)`` in [-1, 1], ``C`` 1 or 3, ``N >= 1``.
        nrow: images per row; ``None`` for ``ceil(sqrt(N))`` (a near-square grid).
        padding: pixels between tiles, >= 0.

    Returns:
        uint8 ``(rows * (H + padding) + padding, nrow * (W + padding) + padding, C)``.
    """
    tiles = to_uint8_images(images)
    n, height, width, channels = tiles.shape
    if n == 0:
        raise DataError("cannot make an image grid of zero images")
    nrow = nrow or math.ceil(math.sqrt(n))
    if nrow < 1 or padding < 0:
        raise DataError(f"image grid needs nrow >= 1 and padding >= 0, got nrow={nrow}, padding={padding}")
    rows = math.ceil(n / nrow)
    grid = np.zeros(
        (rows * (height + padding) + padding, nrow * (width + padding) + padding, channels), dtype=np.uint8
    )
    for i, tile in enumerate(tiles):
        top = padding + (i // nrow) * (height + padding)
        left = padding + (i % nrow) * (width + padding)
        grid[top : top + height, left : left + width] = tile
    return grid


def _png_writer(pixels: np.ndarray) -> Callable[[IO[bytes]], None]:
    """``pixels`` uint8 ``(H, W, C)`` with C 1 or 3."""
    image = Image.fromarray(np.ascontiguousarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels))
    return lambda handle: image.save(handle, format="PNG")


def save_image_grid(images: torch.Tensor | np.ndarray, path: str | Path, nrow: int | None = None) -> Path:
    """Writes :func:`make_image_grid` of ``images`` (float ``(N, C, H, W)`` in [-1, 1]) as a PNG at ``path``."""
    path = Path(path)
    prepare_dir(path.parent)
    return atomic_write(path, _png_writer(make_image_grid(images, nrow=nrow)))


def to_waveforms(samples: torch.Tensor, data_spec: dict[str, Any]) -> np.ndarray:
    """Audio samples float ``(N, T)`` or ``(N, 1, T)`` in [-1, 1], or integer codes (decoded with
    ``data_spec["quantization"]``), as float32 ``(N, T)`` clipped to [-1, 1]."""
    if samples.ndim == 3 and samples.shape[1] == 1:
        samples = samples[:, 0]
    if samples.ndim != 2:
        raise DataError(f"audio samples must have shape (N, T) or (N, 1, T), got {tuple(samples.shape)}")
    if not samples.is_floating_point():
        # integer samples are codes: decode them with the data's quantisation
        samples = MuLawQuantizer.from_dict(data_spec.get("quantization", {"kind": "mu_law"})).decode(samples)
    array = samples.detach().cpu().to(torch.float32).numpy()
    if not np.isfinite(array).all():
        raise DataError("audio samples contain NaN or infinite values")
    return np.clip(array, -1.0, 1.0)


def _wav_writer(waveform: np.ndarray, sample_rate: int) -> Callable[[IO[bytes]], None]:
    soundfile = require("soundfile", "writing WAV samples")

    return lambda handle: soundfile.write(handle, waveform, sample_rate, format="WAV", subtype="PCM_16")


def write_samples(
    samples: torch.Tensor,
    data_spec: dict[str, Any],
    output_dir: str | Path,
    *,
    prefix: str = "sample",
    start_index: int = 0,
) -> list[Path]:
    """Writes one file per sample, named ``{prefix}_{index:05d}.{ext}`` from ``start_index`` on.

    Args:
        samples: by ``data_spec["modality"]``: image float ``(N, C, H, W)`` in [-1, 1] -> PNG; audio float
            ``(N, T)`` in [-1, 1] (or integer codes, decoded with ``data_spec["quantization"]``) -> 16-bit PCM WAV
            at ``data_spec["sample_rate"]``; text integer token ids ``(N, T)`` -> UTF-8 ``.txt`` decoded with
            ``data_spec["tokenizer"]``.
        data_spec: the datamodule's ``data_spec()``.
        output_dir: created if missing.
        prefix: file name prefix.
        start_index: number of the first sample, >= 0.

    Returns:
        The written paths, in sample order.

    Raises:
        DataError: for samples that do not fit the spec, non-finite values, or an unwritable ``output_dir``.
    """
    if not isinstance(samples, torch.Tensor):
        raise DataError(f"samples must be a torch.Tensor, got {type(samples).__name__}")
    if start_index < 0:
        raise DataError(f"start_index must be >= 0, got {start_index}")
    modality = data_spec.get("modality") if isinstance(data_spec, dict) else None
    directory = prepare_dir(output_dir)
    count = samples.shape[0] if samples.ndim else 0

    def names(ext: str) -> list[Path]:
        return [directory / f"{prefix}_{start_index + i:05d}{ext}" for i in range(count)]

    if modality == "image":
        pixels = to_uint8_images(samples)
        return [atomic_write(n, _png_writer(p)) for n, p in zip(names(".png"), pixels)]
    if modality == "audio":
        sample_rate = data_spec.get("sample_rate")
        if not isinstance(sample_rate, int) or sample_rate <= 0:
            raise DataError(f"audio data spec needs a positive integer sample_rate, got {sample_rate!r}")
        waves = to_waveforms(samples, data_spec)
        return [atomic_write(n, _wav_writer(w, sample_rate)) for n, w in zip(names(".wav"), waves)]
    if modality == "text":
        if samples.ndim != 2 or samples.is_floating_point():
            raise DataError(
                f"text samples must be integer token ids of shape (N, T), got {samples.dtype} {tuple(samples.shape)}"
            )
        tokenizer = tokenizer_from_dict(data_spec.get("tokenizer", {}))
        texts = [tokenizer.decode(row) for row in samples.tolist()]
        return [
            atomic_write(n, lambda handle, t=text: handle.write(t.encode("utf-8")))
            for n, text in zip(names(".txt"), texts)
        ]
    raise DataError(f"data spec modality must be 'image', 'audio' or 'text', got {modality!r}")


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (np.generic, torch.Tensor)) and np.ndim(value) == 0:
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_manifest(output_dir: str | Path, **fields: Any) -> Path:
    """Writes ``fields`` as ``output_dir/manifest.json`` (sorted keys, indented); paths become strings.

    Raises:
        DataError: when a field is not JSON-able or the folder cannot be written.
    """
    try:
        text = json.dumps(fields, indent=2, sort_keys=True, default=_json_default, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise DataError(f"manifest fields must be JSON-able: {error}") from None
    directory = prepare_dir(output_dir)
    return atomic_write(directory / "manifest.json", lambda handle: handle.write((text + "\n").encode("utf-8")))

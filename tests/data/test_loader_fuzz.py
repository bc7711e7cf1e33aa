"""Property tests: arbitrary or damaged bytes given to a loader either load or raise DataError, nothing else;
the undamaged original always loads (so a loader that refused everything would fail here)."""

from __future__ import annotations

import io
import struct
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from gen_framework.data import MNIST, ImageFolder, NPZImages, TextFile, WavFolder
from gen_framework.data.idx import parse_idx
from gen_framework.errors import DataError

FUZZ = settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3)).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.arange(192, dtype=np.uint8).reshape(8, 8, 3)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _wav() -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, np.sin(np.arange(400) / 5.0) * 0.5, 8000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _idx() -> bytes:
    return bytes([0, 0, 8, 3]) + struct.pack(">3I", 2, 4, 4) + bytes(range(32))


def _npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros((3, 4, 4), np.uint8))
    return buffer.getvalue()


@st.composite
def damaged(draw, original: bytes) -> bytes:
    """Random bytes, or a valid file truncated and/or with a few bytes overwritten."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    data = bytearray(original[: draw(st.integers(0, len(original)))])
    for _ in range(draw(st.integers(0, 4))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


def load_or_data_error(write, build, *, intact: bool = False) -> None:
    """Writes a file with ``write(folder)``, builds a datamodule with ``build(folder)`` and loads one batch.

    A damaged file may raise :class:`DataError`; an ``intact`` one must load.
    """
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write(Path(folder))
        try:
            dm = build(folder)
            dm.setup()
            batch = next(iter(dm.train_dataloader()))
        except DataError as error:
            if intact:
                raise AssertionError(f"the undamaged file was refused: {error}") from error
            return
        first = batch[0] if isinstance(batch, (list, tuple)) else batch
        assert isinstance(first, torch.Tensor) and torch.isfinite(first.float()).all()


@FUZZ
@given(data=st.one_of(damaged(_png()), damaged(_jpeg())))
def test_image_folder_survives_damaged_images(data):
    def write(folder):
        (folder / "img.png").write_bytes(data)

    load_or_data_error(write, lambda folder: ImageFolder(root=folder, image_size=4, batch_size=1, val_fraction=0),
                       intact=data in (_png(), _jpeg()))


@FUZZ
@given(data=damaged(_idx()))
def test_idx_parser_and_mnist_survive_damaged_files(data):
    try:
        parse_idx(data, name="fuzz")
    except DataError:
        pass

    def write(folder):
        (folder / "train-images-idx3-ubyte").write_bytes(data)
        (folder / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 2, 1, 2]))

    load_or_data_error(write, lambda folder: MNIST(root=folder, batch_size=1, val_fraction=0), intact=data == _idx())


@FUZZ
@given(data=damaged(_wav()))
def test_wav_folder_survives_damaged_audio(data):
    def write(folder):
        (folder / "a.wav").write_bytes(data)

    load_or_data_error(write, lambda folder: WavFolder(root=folder, segment_length=64, batch_size=1, val_fraction=0),
                       intact=data == _wav())


@FUZZ
@given(data=damaged(_npz()))
def test_npz_images_survive_damaged_archives(data):
    def write(folder):
        (folder / "d.npz").write_bytes(data)

    load_or_data_error(write, lambda folder: NPZImages(path=f"{folder}/d.npz", batch_size=1, val_fraction=0),
                       intact=data == _npz())


@FUZZ
@given(data=st.binary(min_size=0, max_size=200))
def test_text_file_survives_arbitrary_bytes(data):
    def write(folder):
        (folder / "t.txt").write_bytes(data)

    load_or_data_error(write, lambda folder: TextFile(files=f"{folder}/t.txt", block_size=2, batch_size=1,
                                                       val_fraction=0))


INTACT = {
    "png": (_png, "img.png", lambda folder: ImageFolder(root=folder, image_size=4, batch_size=1, val_fraction=0)),
    "jpeg": (_jpeg, "img.jpg", lambda folder: ImageFolder(root=folder, image_size=4, batch_size=1, val_fraction=0)),
    "idx": (_idx, "train-images-idx3-ubyte", lambda folder: MNIST(root=folder, batch_size=1, val_fraction=0)),
    "wav": (_wav, "a.wav", lambda folder: WavFolder(root=folder, segment_length=64, batch_size=1, val_fraction=0)),
    "npz": (_npz, "d.npz", lambda folder: NPZImages(path=f"{folder}/d.npz", batch_size=1, val_fraction=0)),
}


@pytest.mark.parametrize("kind", sorted(INTACT))
def test_the_undamaged_original_loads(kind):
    make, name, build = INTACT[kind]

    def write(folder):
        (folder / name).write_bytes(make())
        if kind == "idx":
            (folder / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 2, 1, 2]))

    load_or_data_error(write, build, intact=True)

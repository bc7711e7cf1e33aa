"""Loaders check sizes before they allocate, skip what is not a regular file, lose only the file that fails,
and read 16-bit images at their depth."""

from __future__ import annotations

import gzip
import os
import struct
import threading

import numpy as np
import pytest
import soundfile
from PIL import Image

from gen_framework.data._files import MAX_FILE_BYTES_ENV, find_files
from gen_framework.data.audio_io import read_mono
from gen_framework.data.idx import read_idx
from gen_framework.data.image_folder import IMAGE_EXTENSIONS, load_image
from gen_framework.errors import DataError
from gen_framework.cli.predict import check_predict_request, prepare_output_dir


def _idx(shape, data: bytes) -> bytes:
    return bytes([0, 0, 0x08, len(shape)]) + b"".join(struct.pack(">I", n) for n in shape) + data


def test_a_dark_16_bit_png_is_read_at_16_bits(tmp_path):
    values = np.full((8, 8), 200, dtype=np.uint16)  # dark: 200 / 65535 of full scale, below 256
    Image.fromarray(values).save(tmp_path / "dark.png")
    pixels = load_image(tmp_path / "dark.png", 8, 1)
    assert pixels.max() == 1  # 200 / 65535 * 255 = 0.78; taken for 8-bit it was 200, 257 times too bright


def test_an_8_bit_png_is_unchanged(tmp_path):
    Image.fromarray(np.full((8, 8), 200, dtype=np.uint8)).save(tmp_path / "a.png")
    assert load_image(tmp_path / "a.png", 8, 1).max() == 200


def test_a_fifo_is_skipped_and_the_folder_still_loads(tmp_path):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "good.png")
    os.mkfifo(tmp_path / "pipe.png")
    found: list = []
    reader = threading.Thread(target=lambda: found.append(find_files(tmp_path, IMAGE_EXTENSIONS, "ImageFolder")),
                              daemon=True)
    reader.start()
    reader.join(timeout=30)
    assert found, "listing a folder with a FIFO blocked"
    assert [p.name for p in found[0].paths] == ["good.png"]


def test_one_bomb_in_a_wav_folder_does_not_abort_it(tmp_path):
    from gen_framework.data.audio import WavFolder

    soundfile.write(tmp_path / "good.wav", np.zeros(16000, np.float32), 16000)
    samples = b"\x00\x00" * 800
    rate = 2**31 - 1
    (tmp_path / "bomb.wav").write_bytes(
        b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, (rate * 2) & 0xFFFFFFFF, 2, 16)
        + b"data" + struct.pack("<I", len(samples)) + samples)
    with pytest.raises(DataError, match="2147483647"):
        read_mono(tmp_path / "bomb.wav")
    with pytest.warns(UserWarning, match="skipped 1 of 2"):
        clips, _ = WavFolder(root=str(tmp_path), val_fraction=0.0).load_clips()
    assert len(clips) == 1


def test_the_audio_size_limit_is_read_from_the_header(tmp_path, monkeypatch):
    # FLAC compresses silence to almost nothing: the file is small, the decoded samples are not
    soundfile.write(tmp_path / "long.flac", np.zeros(16000, np.float32), 16000)
    assert (tmp_path / "long.flac").stat().st_size < 5000
    monkeypatch.setenv(MAX_FILE_BYTES_ENV, "5000")
    with pytest.raises(DataError, match="decoded audio is 62.5 KiB, above the limit of 4.9 KiB"):
        read_mono(tmp_path / "long.flac")


def test_a_gzip_bomb_with_an_honest_header_stops_at_the_limit(tmp_path, monkeypatch):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_idx((1000, 100, 100), bytes(10_000_000))))  # 10 MB inflated, 10 KB on disk
    monkeypatch.setenv(MAX_FILE_BYTES_ENV, str(1_000_000))
    with pytest.raises(DataError, match="declares is 9.5 MiB, above the limit of 976.6 KiB"):
        read_idx(path)


def test_a_gzip_stream_longer_than_its_header_stops_at_the_limit(tmp_path, monkeypatch):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(_idx((10,), bytes(10)) + bytes(5_000_000)))
    monkeypatch.setenv(MAX_FILE_BYTES_ENV, str(1_000_000))
    with pytest.raises(DataError, match="the decompressed data is 976.6 KiB"):
        read_idx(path)


@pytest.mark.parametrize("sampling,rate,words", [
    ({"max_new_tokens": -5}, None, "max_new_tokens must make samples of at least 1 step"),
    ({"max_new_tokens": 0}, None, "at least 1 step"),
    ({"max_new_tokens": 10**9}, None, "above the limit of 65,536; pass --max_sample_length"),
    ({"seconds": 1e6}, 16000, "16,000,000,000 steps"),
    ({"seconds": float("nan")}, 16000, "finite number > 0"),
    ({"truncation_psi": -0.5}, None, "[0, 1]"),
])
def test_sampling_requests_are_bounded(sampling, rate, words):
    from gen_framework.errors import ConfigError

    with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace("]", r"\]")):
        check_predict_request(num_samples=4, batch_size=4, seed=0, sampling=sampling, sample_rate=rate)


def test_a_user_can_raise_the_bounds_explicitly():
    check_predict_request(num_samples=4, batch_size=4, seed=0, sampling={"max_new_tokens": 100_000},
                          sample_rate=None, max_sample_length=100_000)
    check_predict_request(num_samples=200_000, batch_size=4, seed=0, sampling={}, sample_rate=None,
                          max_num_samples=200_000)


def test_overwrite_removes_only_the_previous_runs_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    for name in ("sample_00000.png", "sample_00001.png", "sample_00007.png", "grid.png"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "manifest.json").write_text('{"files": ["sample_00000.png", "sample_00001.png", "../escape"]}')
    (tmp_path.parent / "escape").write_text("outside")
    prepare_output_dir(tmp_path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert (tmp_path.parent / "escape").exists()


def test_a_folder_holding_only_other_runs_folders_is_accepted(tmp_path):
    # the README's main job writes samples/dcgan/; a later predict into samples/ mixes no files with it
    (tmp_path / "dcgan").mkdir()
    (tmp_path / "dcgan" / "sample_00000.png").write_bytes(b"x")
    prepare_output_dir(tmp_path, overwrite=False)
    (tmp_path / "sample_00000.png").write_bytes(b"x")
    from gen_framework.errors import ConfigError

    with pytest.raises(ConfigError, match="already holds 1 file"):
        prepare_output_dir(tmp_path, overwrite=False)

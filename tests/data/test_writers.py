"""Sample writers: files readable by ordinary tools, grids, manifests, atomic writes and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

from gen_framework.data import CharTokenizer, make_image_grid, save_image_grid, write_manifest, write_samples
from gen_framework.errors import DataError

AUDIO_SPEC = {"modality": "audio", "sample_rate": 16000, "quantization": {"kind": "mu_law", "levels": 256}}


def test_image_samples_become_pngs_with_exact_pixels(tmp_path):
    samples = torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3).repeat(2, 3, 4, 1)
    samples[1] = -samples[1]
    paths = write_samples(samples, {"modality": "image", "channels": 3, "image_size": 4}, tmp_path, start_index=7)
    assert [p.name for p in paths] == ["sample_00007.png", "sample_00008.png"]
    with Image.open(paths[0]) as image:
        assert image.mode == "RGB" and image.size == (3, 4)
        assert np.asarray(image)[0, :, 0].tolist() == [0, 128, 255]
    grey = write_samples(samples[:, :1], {"modality": "image"}, tmp_path, prefix="grey")
    with Image.open(grey[1]) as image:
        assert image.mode == "L" and np.asarray(image)[0].tolist() == [255, 128, 0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "grey_00000.png", "grey_00001.png", "sample_00007.png", "sample_00008.png"]  # no temporary files left


def test_audio_samples_become_16_bit_wavs_and_codes_are_decoded(tmp_path):
    t = torch.arange(1600) / 16000
    wave = 0.5 * torch.sin(2 * torch.pi * 440 * t)
    paths = write_samples(torch.stack([wave, -wave]), AUDIO_SPEC, tmp_path)
    data, rate = soundfile.read(paths[0])
    assert rate == 16000 and soundfile.info(paths[0]).subtype == "PCM_16"
    np.testing.assert_allclose(data, wave.numpy(), atol=1 / 32767 + 1e-6)
    codes = torch.full((1, 100), 255)
    data, _ = soundfile.read(write_samples(codes, AUDIO_SPEC, tmp_path, prefix="codes")[0])
    assert data.min() > 0.99


def test_text_samples_are_decoded_to_utf8_files(tmp_path):
    tokenizer = CharTokenizer.fit("héllo wörld")
    ids = torch.tensor([tokenizer.encode("héllo"), tokenizer.encode("wörld")])
    spec = {"modality": "text", "tokenizer": tokenizer.to_dict()}
    paths = write_samples(ids, spec, tmp_path / "new" / "dir")
    assert [p.read_text(encoding="utf-8") for p in paths] == ["héllo", "wörld"]


def test_write_samples_rejects_bad_input_and_unwritable_dirs(tmp_path):
    image_spec = {"modality": "image", "channels": 1, "image_size": 2}
    with pytest.raises(DataError, match="image samples must have shape \\(N, C, H, W\\)"):
        write_samples(torch.zeros(2, 2, 2), image_spec, tmp_path)
    with pytest.raises(DataError, match="NaN or infinite"):
        write_samples(torch.full((1, 1, 2, 2), float("nan")), image_spec, tmp_path)
    with pytest.raises(DataError, match="text samples must be integer token ids"):
        write_samples(torch.zeros(1, 3), {"modality": "text", "tokenizer": {"kind": "byte"}}, tmp_path)
    with pytest.raises(DataError, match="modality must be 'image', 'audio' or 'text', got 'video'"):
        write_samples(torch.zeros(1, 3), {"modality": "video"}, tmp_path)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(DataError, match="cannot create output directory .*a_file/sub"):
        write_samples(torch.zeros(1, 1, 2, 2), image_spec, blocker / "sub")


def test_image_grid_layout():
    images = torch.stack([torch.full((3, 4, 5), v) for v in (-1.0, 0.0, 1.0, 1.0, 1.0)])
    grid = make_image_grid(images, padding=1)
    assert grid.shape == (2 * 5 + 1, 3 * 6 + 1, 3) and grid.dtype == np.uint8  # ceil(sqrt(5)) = 3 per row
    assert grid[1, 1].tolist() == [0, 0, 0] and grid[1, 7].tolist() == [128] * 3 and grid[6, 1].tolist() == [255] * 3
    assert grid[6, 13].tolist() == [0, 0, 0]  # the sixth cell is empty
    assert make_image_grid(images, nrow=5, padding=0).shape == (4, 25, 3)


def test_save_image_grid_and_manifest(tmp_path):
    path = save_image_grid(torch.zeros(4, 1, 3, 3), tmp_path / "g" / "grid.png")
    with Image.open(path) as image:
        assert image.size == (2 * 5 + 2, 2 * 5 + 2)
    manifest = write_manifest(tmp_path, count=2, files=["a.png"], output=tmp_path, step=np.int64(3))
    assert json.loads(manifest.read_text()) == {"count": 2, "files": ["a.png"], "output": str(tmp_path), "step": 3}
    with pytest.raises(DataError, match="manifest fields must be JSON-able"):
        write_manifest(tmp_path, bad=object())
    assert json.loads(manifest.read_text())["count"] == 2  # a failed write leaves the old manifest intact

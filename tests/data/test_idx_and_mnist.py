"""The IDX reader and the MNIST datamodule, on the bundled digits and on IDX files written here."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from gen_framework.data import MNIST
from gen_framework.data.idx import parse_idx, read_idx
from gen_framework.errors import DataError


def idx_bytes(array: np.ndarray) -> bytes:
    """Encodes a uint8 array in the IDX format."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(folder, images: np.ndarray, labels: np.ndarray, *, split="train", gz=False):
    suffix = ".gz" if gz else ""
    for name, array in ((f"{split}-images-idx3-ubyte", images), (f"{split}-labels-idx1-ubyte", labels)):
        data = idx_bytes(array)
        (folder / (name + suffix)).write_bytes(gzip.compress(data) if gz else data)


def fake_digits(n: int, seed: int = 0, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    # each image's brightness encodes its label, so label/image pairing can be checked after shuffling
    images = np.broadcast_to((labels * 25)[:, None, None], (n, size, size)).astype(np.uint8).copy()
    images[:, 0, 0] = rng.integers(0, 256, size=n)
    return images, labels.astype(np.uint8)


def test_parse_idx_round_trips_and_names_the_file_on_damage():
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    data = idx_bytes(array)
    np.testing.assert_array_equal(parse_idx(data, name="f"), array)
    with pytest.raises(DataError, match="f-trunc is truncated: shape \\(2, 3, 4\\)"):
        parse_idx(data[:-1], name="f-trunc")
    with pytest.raises(DataError, match="f-long has trailing bytes"):
        parse_idx(data + b"\0", name="f-long")
    with pytest.raises(DataError, match="f-magic is not an IDX file"):
        parse_idx(b"\1" + data[1:], name="f-magic")
    with pytest.raises(DataError, match="f-type: unknown IDX type code 0x07"):
        parse_idx(data[:2] + b"\x07" + data[3:], name="f-type")
    with pytest.raises(DataError, match="f-dims: expected an IDX file with 1 dimension"):
        parse_idx(data, name="f-dims", expected_dims=1)


def test_read_idx_handles_gzip_and_rejects_broken_gzip(tmp_path):
    array = np.arange(10, dtype=np.uint8)
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), array)
    (tmp_path / "b.gz").write_bytes(gzip.compress(idx_bytes(array))[:-6])
    with pytest.raises(DataError, match="b.gz is not valid gzip"):
        read_idx(tmp_path / "b.gz")


def test_bundled_mnist_has_5000_real_digits():
    dm = MNIST(batch_size=50)
    dm.setup()
    assert len(dm.splits.train) == 4500 and len(dm.splits.val) == 500 and dm.num_labels == 10
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (50, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() == -1.0 and x.max() == 1.0
    # real digits: mostly black background with some ink, and several classes in a shuffled batch
    assert (x < -0.9).float().mean() > 0.6 and (x > 0.5).float().mean() > 0.05
    assert len(set(y.tolist())) >= 5
    assert dm.data_spec() == {"modality": "image", "channels": 1, "image_size": 28}


def test_mnist_from_idx_files_with_gz_test_split_resize_and_rgb(tmp_path):
    images, labels = fake_digits(40)
    write_mnist(tmp_path, images, labels)
    test_images, test_labels = fake_digits(12, seed=1)
    write_mnist(tmp_path, test_images, test_labels, split="t10k", gz=True)
    dm = MNIST(root=str(tmp_path), image_size=14, channels=3, batch_size=8, val_fraction=0.25)
    dm.setup()
    assert (len(dm.splits.train), len(dm.splits.val), len(dm.splits.test)) == (30, 10, 12)
    for loader in (dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader()):
        x, y = next(iter(loader))
        assert x.shape[1:] == (3, 14, 14)
        assert torch.equal(x[:, 0], x[:, 2])  # grey repeated to RGB
        # the flat image body keeps its label-coded level through the resize
        expected = (y * 25).float() / 127.5 - 1
        assert torch.allclose(x[:, 0, 7, 7], expected, atol=1 / 127.5)
    assert sorted(dm.splits.test.labels.tolist()) == sorted(test_labels.tolist())


def test_mnist_split_is_deterministic_per_seed(tmp_path):
    write_mnist(tmp_path, *fake_digits(50))

    def val_pixels(seed):
        dm = MNIST(root=str(tmp_path), seed=seed)
        dm.setup()
        return dm.splits.val.images[:, 0, 0, 0].tolist()

    assert val_pixels(0) == val_pixels(0)
    assert val_pixels(0) != val_pixels(1)


def test_mnist_errors_name_the_folder_and_files(tmp_path):
    with pytest.raises(DataError, match="is not a folder"):
        MNIST(root=str(tmp_path / "missing")).setup()
    with pytest.raises(DataError, match="lacks train-images-idx3-ubyte and train-labels-idx1-ubyte"):
        MNIST(root=str(tmp_path)).setup()
    images, labels = fake_digits(20)
    write_mnist(tmp_path, images, labels)
    data = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(data[:-100])
    with pytest.raises(DataError, match="train-images-idx3-ubyte is truncated"):
        MNIST(root=str(tmp_path)).setup()
    write_mnist(tmp_path, images, labels[:-1])
    with pytest.raises(DataError, match="has 20 images but .* has 19 labels"):
        MNIST(root=str(tmp_path)).setup()
    write_mnist(tmp_path, images, labels)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(images))
    with pytest.raises(DataError, match="has only one of t10k"):
        MNIST(root=str(tmp_path)).setup()

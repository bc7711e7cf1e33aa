"""Digits, NPZImages, ImageFolder and PhotoPatches: batches, ranges, labels, splits and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gen_framework.data import Digits, ImageFolder, NPZImages, PhotoPatches
from gen_framework.errors import DataError


def check_image_batch(batch, batch_size, channels, size):
    x, y = batch
    assert x.shape == (batch_size, channels, size, size) and x.dtype == torch.float32
    assert y.shape == (batch_size,) and y.dtype == torch.int64
    assert x.min() >= -1.0 and x.max() <= 1.0
    return x, y


@pytest.mark.parametrize("channels", [1, 3])
def test_digits_batches_and_labels(channels):
    dm = Digits(image_size=16, channels=channels, batch_size=32)
    x, y = check_image_batch(next(iter(dm.train_dataloader())), 32, channels, 16)
    assert set(y.tolist()) <= set(range(10)) and len(set(y.tolist())) > 3
    assert x.min() == -1.0 and x.max() > 0.9  # background is 0 ink; strokes reach full ink
    assert len(dm.splits.train) + len(dm.splits.val) == 1797 and dm.num_labels == 10
    assert dm.splits.test is dm.splits.val


def test_digits_upsampling_preserves_the_picture():
    from sklearn.datasets import load_digits

    dm = Digits(image_size=8, val_fraction=0.0)
    big = Digits(image_size=32, val_fraction=0.0)
    small_images = dm.splits.train.images.float()
    # pooling the 32x32 version back to 8x8 must give back the original picture, up to filter blur
    pooled = torch.nn.functional.avg_pool2d(big.splits.train.images.float(), 4)
    assert torch.corrcoef(torch.stack([small_images.flatten(), pooled.flatten()]))[0, 1] > 0.95
    assert sorted(dm.splits.train.labels.tolist()) == sorted(load_digits().target.tolist())


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def test_npz_uint8_nhwc_with_labels(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(20, 6, 6, 3), dtype=np.uint8)
    path = write_npz(tmp_path / "d.npz", x=images, y=np.arange(20) % 4)
    dm = NPZImages(path=path, labels_key="y", batch_size=5, val_fraction=0.2)
    assert dm.data_spec() == {"modality": "image", "channels": 3, "image_size": 6}
    x, y = check_image_batch(next(iter(dm.val_dataloader())), 4, 3, 6)
    assert dm.num_labels == 4
    # exact pixels come back: uint8 v maps to v / 127.5 - 1
    index = int(dm.splits.val.images.flatten(1).float().sum(1).argmax())
    original = torch.from_numpy(images).permute(0, 3, 1, 2)
    match = [i for i in range(20) if torch.equal(original[i], dm.splits.val.images[index])]
    assert len(match) == 1 and int(dm.splits.val.labels[index]) == match[0] % 4


def test_npz_float_nchw_value_range_resize_and_grey(tmp_path):
    images = np.linspace(-5, 5, 4 * 3 * 10 * 12, dtype=np.float32).reshape(4, 3, 10, 12)
    path = write_npz(tmp_path / "f.npz", first=images)
    dm = NPZImages(path=path, value_range=(-5.0, 5.0), image_size=8, channels=1, batch_size=2, val_fraction=0.25)
    x, y = check_image_batch(next(iter(dm.train_dataloader())), 2, 1, 8)
    assert dm.splits.train.images.dtype == torch.float32  # float data is not quantised
    assert (y == -1).all() and dm.num_labels is None


def test_npz_errors_name_file_key_and_shape(tmp_path):
    good = np.zeros((3, 4, 4), dtype=np.uint8)
    with pytest.raises(DataError, match="missing.npz does not exist"):
        NPZImages(path=str(tmp_path / "missing.npz")).setup()
    path = write_npz(tmp_path / "a.npz", x=good)
    with pytest.raises(DataError, match="has no array 'nope'; it has 'x'"):
        NPZImages(path=path, key="nope").setup()
    bad_shape = write_npz(tmp_path / "b.npz", x=np.zeros((3, 4, 4, 5), dtype=np.uint8))
    with pytest.raises(DataError, match=r"b.npz array 'x' has shape \(3, 4, 4, 5\)"):
        NPZImages(path=bad_shape).setup()
    nan = np.zeros((3, 4, 4), dtype=np.float32)
    nan[2, 1, 1] = np.nan
    with pytest.raises(DataError, match="contains 1 NaN/Inf value\\(s\\), the first in image 2"):
        NPZImages(path=write_npz(tmp_path / "c.npz", x=nan)).setup()
    with pytest.raises(DataError, match="values in \\[2, 2\\], outside value_range \\[0, 1\\]"):
        NPZImages(path=write_npz(tmp_path / "d.npz", x=np.full((3, 4, 4), 2.0))).setup()
    with pytest.raises(DataError, match="non-square 4x6 images; set `image_size`"):
        NPZImages(path=write_npz(tmp_path / "e.npz", x=np.zeros((3, 4, 6), np.uint8))).setup()
    with pytest.raises(DataError, match="must be integers of shape \\(3,\\)"):
        NPZImages(path=write_npz(tmp_path / "g.npz", x=good, y=np.zeros(2, int)), labels_key="y").setup()
    (tmp_path / "h.npz").write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match="cannot read .*h.npz"):
        NPZImages(path=str(tmp_path / "h.npz")).setup()
    with pytest.raises(DataError, match="`value_range` must be finite with low < high"):
        NPZImages(path=path, value_range=(1.0, 1.0))


def save_image(path, color, size=(20, 14), mode="RGB", fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path, format=fmt)
    return path


def test_image_folder_labels_from_subfolders_formats_and_corrupt_files(tmp_path):
    save_image(tmp_path / "cats" / "a.png", (255, 0, 0))
    save_image(tmp_path / "cats" / "deep" / "b.JPG", (255, 0, 0), fmt="JPEG")
    save_image(tmp_path / "dogs" / "c.webp", (0, 0, 255), fmt="WEBP")
    save_image(tmp_path / "dogs" / "d.jpeg", 40, mode="L", fmt="JPEG")
    save_image(tmp_path / "loose.png", (0, 255, 0))
    (tmp_path / "dogs" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (tmp_path / "dogs" / "notes.txt").write_text("ignored")
    dm = ImageFolder(root=str(tmp_path), image_size=8, batch_size=2, val_fraction=0.0)
    with pytest.warns(UserWarning, match="skipped 1 of 6 file\\(s\\) .*broken.png"):
        dm.setup()
    assert dm.classes == ["cats", "dogs"] and dm.num_labels == 2
    images, labels = dm.splits.train.images, dm.splits.train.labels
    assert images.shape == (5, 3, 8, 8) and sorted(labels.tolist()) == [-1, 0, 0, 1, 1]
    colours = {int(lbl): images[i, :, 4, 4].tolist() for i, lbl in enumerate(labels) if lbl != 1}
    assert colours[0][0] > 240 and colours[0][2] < 15  # cats are red
    assert colours[-1][1] > 240  # the loose file is green


def test_image_folder_greyscale_flat_folder_and_crop(tmp_path):
    for i in range(4):
        # a wide image whose left and right quarters are black: the centre crop keeps only the white middle
        array = np.zeros((10, 40, 3), dtype=np.uint8)
        array[:, 10:30] = 255
        Image.fromarray(array).save(tmp_path / f"{i}.png")
    dm = ImageFolder(root=str(tmp_path), image_size=10, channels=1, batch_size=4, val_fraction=0.25)
    x, y = check_image_batch(next(iter(dm.val_dataloader())), 1, 1, 10)
    assert (y == -1).all() and dm.num_labels is None
    assert x.min() > 0.9


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match="`root` .*nowhere does not exist"):
        ImageFolder(root=str(tmp_path / "nowhere")).setup()
    with pytest.raises(DataError, match="no files with extension .jpeg, .jpg, .png, .webp .* under"):
        ImageFolder(root=str(tmp_path)).setup()
    (tmp_path / "x.png").write_bytes(b"nope")
    with pytest.raises(DataError, match="none of the 1 file\\(s\\) under .* could be read \\(x.png"):
        ImageFolder(root=str(tmp_path)).setup()


def test_photo_patches_from_bundled_photos_are_deterministic_per_epoch_and_index():
    dm = PhotoPatches(image_size=32, patches_per_epoch=16, batch_size=8, scale=(0.25, 1.0), seed=3)
    loader = dm.train_dataloader()
    first = [x for x, _ in loader]
    second = [x for x, _ in loader]
    check_image_batch((first[0], torch.full((8,), -1)), 8, 3, 32)
    assert not torch.equal(first[0], second[0])  # a new epoch draws new patches
    again = [x for x, _ in PhotoPatches(image_size=32, patches_per_epoch=16, batch_size=8, scale=(0.25, 1.0),
                                        seed=3).train_dataloader()]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    # an item depends on (seed, epoch, index) only, not on the batch it is fetched in
    assert torch.equal(dm.splits.train[(0, 5)][0], first[0][5])
    assert len(dm.splits.val) == 2 and dm.splits.val is dm.splits.test
    assert first[0].std() > 0.05  # real photo content, not a constant


def test_photo_patches_from_user_files_flip_and_errors(tmp_path):
    array = np.zeros((40, 40, 3), dtype=np.uint8)
    array[:, :20] = 255  # left half white
    Image.fromarray(array).save(tmp_path / "half.png")
    dm = PhotoPatches(image_size=40, channels=1, files=[str(tmp_path / "half.png")], patches_per_epoch=64,
                      batch_size=64)
    x, _ = next(iter(dm.train_dataloader()))
    left_white = (x[:, 0, :, 0] > 0).all(dim=1)
    assert 10 < int(left_white.sum()) < 54  # about half the patches are flipped
    with pytest.raises(DataError, match="half.png is 40x40, smaller than image_size=64"):
        PhotoPatches(image_size=64, files=[str(tmp_path / "half.png")]).setup()
    with pytest.raises(DataError, match="file .*missing.png in `files` does not exist"):
        PhotoPatches(files=[str(tmp_path / "missing.png")]).setup()
    with pytest.raises(DataError, match="`scale` must lie in \\(0, 1\\]"):
        PhotoPatches(scale=(0.5, 2.0))

"""The digits embedded in the package: content, checksum guard, and the datamodules built on them."""

from __future__ import annotations

import shutil
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from gen_framework.data import MNIST, Digits
from gen_framework.data import embedded
from gen_framework.data.embedded import CHECKSUMS, content_hash, load_embedded
from gen_framework.errors import DataError


def test_mnist_5k_is_500_real_digits_per_class():
    images, labels = load_embedded("mnist_5k")
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (5000,) and np.bincount(labels).tolist() == [500] * 10
    assert images.max() == 255 and images.min() == 0
    # MNIST digits are centred in a 20x20 box: the 4-pixel border is almost empty, the centre is not
    border = np.concatenate([images[:, :3].ravel(), images[:, -3:].ravel()])
    assert border.mean() < 2 and images[:, 10:18, 10:18].mean() > 60


def test_digits_8x8_match_scikit_learn_where_it_is_installed():
    images, labels = load_embedded("digits_8x8")
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8 and images.max() == 16
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    reference = sklearn_datasets.load_digits()
    assert np.array_equal(images, reference.images) and np.array_equal(labels, reference.target)


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    """The embedded files copied to ``tmp_path``, which load_embedded then reads instead of the package."""
    for name in CHECKSUMS:
        shutil.copy(resources.files(embedded).joinpath(f"{name}.npz"), tmp_path / f"{name}.npz")
    monkeypatch.setattr(embedded.resources, "files", lambda _: tmp_path)
    return tmp_path


def test_a_changed_pixel_is_refused(package_copy: Path):
    images, labels = load_embedded("digits_8x8")
    images = images.copy()
    images[0, 0, 0] ^= 1
    np.savez_compressed(package_copy / "digits_8x8.npz", images=images, labels=labels)
    with pytest.raises(DataError, match="does not match its checksum: reinstall gen-framework"):
        load_embedded("digits_8x8")


def test_a_missing_file_names_it(package_copy: Path):
    (package_copy / "mnist_5k.npz").unlink()
    with pytest.raises(DataError, match=r"mnist_5k.npz is missing or unreadable .* reinstall gen-framework"):
        load_embedded("mnist_5k")


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(DataError, match="digits_8x8, mnist_5k"):
        load_embedded("cifar")  # type: ignore[arg-type]


def test_checksum_covers_labels_too():
    images, labels = load_embedded("digits_8x8")
    assert content_hash(images, labels) == CHECKSUMS["digits_8x8"]
    assert content_hash(images, (labels + 1) % 10) != CHECKSUMS["digits_8x8"]


def test_mnist_and_digits_need_no_optional_library(monkeypatch):
    for module in ("mlxtend", "sklearn", "skimage"):
        monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    mnist = MNIST(val_fraction=0.1, batch_size=8)
    assert len(mnist.splits.train) == 4500 and len(mnist.splits.val) == 500 and mnist.num_labels == 10
    digits = Digits(image_size=8, batch_size=8)
    assert len(digits.splits.train) + len(digits.splits.val) == 1797

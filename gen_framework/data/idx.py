"""Reader for the IDX format of the MNIST files (``train-images-idx3-ubyte`` and friends), optionally gzipped.

Layout: two zero bytes, a type code, the number of dimensions ``D``, then ``D`` big-endian uint32 sizes, then
the values in C order, big-endian.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from gen_framework.data._files import check_regular_file, check_size, max_file_bytes, read_file_bytes
from gen_framework.errors import DataError

_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx_bytes(path: str | Path) -> bytes:
    """Reads a file, decompressing it when its name ends in ``.gz``, within the per-file size limit.

    A gzipped file is decompressed as a stream: the header is read first and the size it declares is checked
    against :func:`~gen_framework.data._files.max_file_bytes` before the rest is inflated, and inflating stops
    at that size, so a gzip bomb costs a few bytes of memory.

    Raises:
        DataError: naming the file when it cannot be read, is not valid gzip data, or is too large.
    """
    path = Path(path)
    if not path.name.endswith(".gz"):
        return read_file_bytes(path, "IDX", "file")
    check_regular_file(path, "IDX", "file")
    limit = max_file_bytes()
    try:
        with gzip.open(path, "rb") as stream:
            head = stream.read(4)
            if len(head) == 4:
                head += stream.read(4 * head[3])
                declared = _declared_bytes(head)
                if declared is not None:
                    check_size(path, declared, "the decompressed data its header declares")
            # one byte more than allowed tells a stream that goes on past the limit
            raw = head + stream.read(limit + 1 - len(head))
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"IDX file {path} is not valid gzip data: {error}") from None
    check_size(path, len(raw), "the decompressed data")
    return raw


def _declared_bytes(head: bytes) -> int | None:
    """Header size plus data size an IDX header declares, or ``None`` if ``head`` is not a complete IDX header."""
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _TYPES or len(head) < 4 + 4 * head[3]:
        return None
    shape = np.frombuffer(head, dtype=">u4", count=head[3], offset=4)
    return 4 + 4 * head[3] + math.prod(int(s) for s in shape) * _TYPES[head[2]].itemsize


def parse_idx(data: bytes, *, name: str, expected_dims: int | None = None) -> np.ndarray:
    """Parses IDX bytes into an array in native byte order.

    Args:
        data: the whole (decompressed) file.
        name: the file's name, for error messages.
        expected_dims: required number of dimensions (3 for images, 1 for labels), or ``None`` for any.

    Raises:
        DataError: naming the file when the magic number, the dimensions or the length is wrong.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{name} is not an IDX file: it must start with two zero bytes (magic number)")
    type_code, ndim = data[2], data[3]
    if type_code not in _TYPES:
        codes = ", ".join(f"0x{c:02X}" for c in _TYPES)
        raise DataError(f"{name}: unknown IDX type code 0x{type_code:02X} (allowed: {codes})")
    if expected_dims is not None and ndim != expected_dims:
        raise DataError(f"{name}: expected an IDX file with {expected_dims} dimension(s), found {ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name} is truncated: the header needs {header} bytes, the file has {len(data)}")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    if 0 in shape:
        raise DataError(f"{name} has shape {shape}: an IDX file with a zero dimension holds no data")
    dtype = _TYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        problem = "is truncated" if found < expected else "has trailing bytes"
        raise DataError(
            f"{name} {problem}: shape {shape} of {dtype.name} needs {expected} data bytes, the file has {found}"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path: str | Path, *, expected_dims: int | None = None) -> np.ndarray:
    """Reads an IDX file (``.gz`` allowed) into an array; see :func:`parse_idx`."""
    return parse_idx(read_idx_bytes(path), name=str(path), expected_dims=expected_dims)

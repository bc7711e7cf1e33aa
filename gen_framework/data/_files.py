"""Finding data files in a folder tree, labelling them by subfolder, reading them within a size limit, and
reporting the ones that fail to load.

Size limit: no loader reads or decodes more than :func:`max_file_bytes` bytes from one file (2 GiB unless the
environment variable ``GEN_FRAMEWORK_MAX_FILE_BYTES`` says otherwise), and each checks the size a header
declares before it allocates or decompresses anything: a file claiming billions of samples, a gzip bomb or
``/dev/zero`` is refused with its name instead of exhausting memory. Only regular files are read: a FIFO,
socket or device named like a data file is skipped (it would block or never end).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from pytorch_lightning.utilities import rank_zero_warn

from gen_framework.errors import ConfigError, DataError

MAX_FILE_BYTES_ENV = "GEN_FRAMEWORK_MAX_FILE_BYTES"
DEFAULT_MAX_FILE_BYTES = 2 * 1024**3


def max_file_bytes() -> int:
    """The most bytes a loader reads or decodes from one data file (``GEN_FRAMEWORK_MAX_FILE_BYTES``)."""
    text = os.environ.get(MAX_FILE_BYTES_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_FILE_BYTES
    try:
        value = int(float(text))
    except ValueError:
        raise ConfigError(f"{MAX_FILE_BYTES_ENV} must be a number of bytes, got {text!r}") from None
    if value < 1:
        raise ConfigError(f"{MAX_FILE_BYTES_ENV} must be >= 1, got {text!r}")
    return value


def check_size(path: str | Path, nbytes: int, what: str) -> None:
    """Raises :class:`DataError` when ``nbytes`` (what ``path`` holds or declares) is above the limit."""
    limit = max_file_bytes()
    if nbytes > limit:
        raise DataError(
            f"{path}: {what} is {_size(nbytes)}, above the limit of {_size(limit)} per file; set "
            f"{MAX_FILE_BYTES_ENV} to raise it"
        )


def check_regular_file(path: str | Path, owner: str, kind: str = "file") -> int:
    """The size of ``path`` in bytes, after checking that it is a regular file within the limit.

    Raises:
        DataError: naming the file when it is missing, not a regular file (a folder, FIFO, device), or too big.
    """
    try:
        info = os.stat(path)
    except OSError as error:
        raise DataError(f"{owner}: cannot read {kind} {path}: {error.strerror or error}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file (a FIFO, socket or device)"
        raise DataError(f"{owner}: {path} is {kind}; give a regular file")
    check_size(path, info.st_size, "the file")
    return info.st_size


def read_file_bytes(path: str | Path, owner: str, kind: str = "file") -> bytes:
    """The bytes of a regular file within the size limit (see :func:`check_regular_file`)."""
    check_regular_file(path, owner, kind)
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_file_bytes() + 1)
    except OSError as error:
        raise DataError(f"{owner}: cannot read {kind} {path}: {error.strerror or error}") from None
    check_size(path, len(data), "the file")  # it grew while being read
    return data


def _size(nbytes: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} bytes"


@dataclass(frozen=True)
class FoundFiles:
    """Files found under a root folder.

    Attributes:
        paths: the files, sorted by path.
        labels: per file, the index in ``classes`` of the immediate subfolder holding it; -1 for files directly
            in the root.
        classes: sorted names of the immediate subfolders that hold at least one file (empty when none do).
    """

    paths: list[Path]
    labels: list[int]
    classes: list[str]


def find_files(root: str | Path, extensions: Collection[str], owner: str) -> FoundFiles:
    """Recursively lists files whose lower-cased suffix is in ``extensions`` (hidden files and folders skipped).

    Raises:
        DataError: naming ``root`` when it is missing, not a folder, or holds no matching file.
    """
    root = Path(root)
    if not root.exists():
        raise DataError(f"{owner}: `root` {root} does not exist")
    if not root.is_dir():
        raise DataError(f"{owner}: `root` {root} is not a folder")
    paths: list[Path] = []
    irregular: list[Path] = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith(".") or Path(name).suffix.lower() not in extensions:
                continue
            path = Path(folder, name)
            (paths if _is_regular(path) else irregular).append(path)
    skipped = ""
    if irregular:
        more = f" and {len(irregular) - 3} more" if len(irregular) > 3 else ""
        named = ", ".join(p.name for p in irregular[:3]) + more
        skipped = f"skipped {len(irregular)} that are not regular files (FIFOs, devices): {named}"
    if not paths:
        allowed = ", ".join(sorted(extensions))
        note = f"; {skipped}" if skipped else ""
        raise DataError(f"{owner}: no files with extension {allowed} (any case) under {root}{note}")
    if skipped:
        rank_zero_warn(f"{owner}: {skipped} (under {root})")
    paths.sort()
    tops = [p.relative_to(root).parts[0] if len(p.relative_to(root).parts) > 1 else None for p in paths]
    classes = sorted({t for t in tops if t is not None})
    index = {name: i for i, name in enumerate(classes)}
    labels = [-1 if t is None else index[t] for t in tops]
    return FoundFiles(paths=paths, labels=labels, classes=classes)


def _is_regular(path: Path) -> bool:
    """A regular file (symlinks followed): reading a FIFO or a device named ``*.png`` would block or never end."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True  # unreadable: let the loader report it as a failed file


def report_failures(owner: str, root: str | Path, failures: list[tuple[Path, str]], total: int) -> None:
    """Warns once about files that could not be loaded; raises when none of ``total`` could.

    Raises:
        DataError: when every file failed, naming the root and the first failures.
    """
    if not failures:
        return
    named = "; ".join(f"{path.name}: {reason}" for path, reason in failures[:3])
    more = f" and {len(failures) - 3} more" if len(failures) > 3 else ""
    if len(failures) == total:
        raise DataError(f"{owner}: none of the {total} file(s) under {root} could be read ({named}{more})")
    rank_zero_warn(
        f"{owner}: skipped {len(failures)} of {total} file(s) under {root} that could not be read ({named}{more})"
    )

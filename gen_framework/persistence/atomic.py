"""Atomic file replacement: every file the framework writes (checkpoints, samples, metrics, weights) goes
through :func:`atomic_path`, so a reader never sees it half written and a failed write leaves the old file."""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: Path, *, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; when the block succeeds, it replaces ``target`` in one rename.

    The temporary file is created empty with the permissions any new file of the user gets (``0o666`` minus the
    umask, not ``mkstemp``'s ``0o600``). On an exception it is removed and ``target`` is left as it was.

    Args:
        target: The file to write.
        durable: Also ``fsync`` the data before the rename and the directory after it, so the new file survives
            a power loss (checkpoints); without it the write is atomic but may be lost on a crash of the OS.
    """
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if durable:
            _fsync(tmp, os.O_RDONLY)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        _fsync(target.parent, os.O_RDONLY)


def _fsync(path: Path, flags: int) -> None:
    """``fsync`` a file or directory; a no-op where that is not possible (directories on Windows)."""
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@functools.cache
def _umask() -> int:
    # Reading the umask means setting it; once per process keeps the moment other threads could see 0 short.
    mask = os.umask(0)
    os.umask(mask)
    return mask

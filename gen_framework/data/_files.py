"""Finding data files in a folder tree, labelling them by subfolder, and reporting the ones that fail to load."""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from pytorch_lightning.utilities import rank_zero_warn

from gen_framework.errors import DataError


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
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        paths.extend(
            Path(folder, name)
            for name in filenames
            if not name.startswith(".") and Path(name).suffix.lower() in extensions
        )
    if not paths:
        allowed = ", ".join(sorted(extensions))
        raise DataError(f"{owner}: no files with extension {allowed} (any case) under {root}")
    paths.sort()
    tops = [p.relative_to(root).parts[0] if len(p.relative_to(root).parts) > 1 else None for p in paths]
    classes = sorted({t for t in tops if t is not None})
    index = {name: i for i, name in enumerate(classes)}
    labels = [-1 if t is None else index[t] for t in tops]
    return FoundFiles(paths=paths, labels=labels, classes=classes)


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

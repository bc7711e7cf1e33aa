"""Run folders (``runs/<plugin>/version_N``): reserved atomically, removed again when the run never started, and
searched by ``--ckpt_path last``.

Lightning's loggers choose ``version_N`` by listing the folder and taking the next number, so two fits
started at the same moment both write ``version_0``. Here the number is claimed with ``os.mkdir``, which
exactly one process wins; the loser takes the next number. A run that fails before it wrote a checkpoint
(a bad option found late, a signal during start-up) leaves nothing but the files Lightning writes at start;
:func:`release_failed_runs` removes such a folder so failed starts do not pile up as empty versions.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

#: Where ``genfw`` writes runs unless told otherwise; ``--ckpt_path last`` searches here.
DEFAULT_RUNS_DIR = "runs"

_VERSION = re.compile(r"version_(\d+)")
#: What a run writes before its first training step; a folder holding only these never had a run.
_START_FILES = re.compile(r"(config\.yaml|hparams\.yaml|events\.out\.tfevents\..*|metrics\.csv)")

_reserved: list[Path] = []


def next_version(root: Path) -> int:
    """One more than the highest ``version_N`` under ``root`` (0 when there is none)."""
    try:
        numbers = [int(m.group(1)) for p in root.iterdir() if (m := _VERSION.fullmatch(p.name)) and p.is_dir()]
    except OSError:
        return 0
    return max(numbers, default=-1) + 1


def reserve_version(root: Path) -> int:
    """Creates ``root/version_N`` for the next free ``N`` and returns ``N``; safe between concurrent processes."""
    root.mkdir(parents=True, exist_ok=True)
    number = next_version(root)
    while True:
        try:
            os.mkdir(root / f"version_{number}")
        except FileExistsError:
            number += 1
            continue
        _reserved.append(root / f"version_{number}")
        return number


def is_main_process() -> bool:
    """False in the worker processes of a distributed launch (they log through rank 0's folder)."""
    return all(os.environ.get(name, "0") == "0" for name in ("RANK", "LOCAL_RANK", "NODE_RANK"))


def release_failed_runs() -> None:
    """Removes each folder reserved in this process that holds nothing but start-up files (no checkpoint)."""
    while _reserved:
        folder = _reserved.pop()
        if folder.is_dir() and _only_start_files(folder):
            shutil.rmtree(folder, ignore_errors=True)


def forget_reserved() -> None:
    """Called when a run ended normally: its folder stays whatever it holds."""
    _reserved.clear()


def find_last_checkpoint(root: str | os.PathLike[str] = DEFAULT_RUNS_DIR, *, plugin: str | None = None) -> Path:
    """The most recently written ``last.ckpt`` (or any ``.ckpt`` if none is called so) under ``root``.

    Args:
        root: Where runs are written (``runs``).
        plugin: Only that plugin's runs, ``root/plugin`` (where ``genfw fit --model plugin`` logs).

    Checkpoints in a folder whose fit is still running (see
    :func:`~gen_framework.callbacks.run_checkpoint.run_in_progress`) are skipped: their ``last.ckpt`` is about
    to be replaced, and the run they belong to is not finished.
    """
    from gen_framework.callbacks.run_checkpoint import run_in_progress
    from gen_framework.errors import CheckpointError

    root = Path(root)
    where = root / plugin if plugin else root
    found = list(where.rglob("*.ckpt")) if where.is_dir() else []
    finished = [p for p in found if not run_in_progress(p.parent)]
    candidates = [p for p in finished if p.name.startswith("last")] or finished
    if not candidates:
        scope = f" of plugin {plugin!r}" if plugin else ""
        running = f" ({len(found)} in runs still being written)" if found else ""
        raise CheckpointError(f"--ckpt_path last: no checkpoint{scope} found under {where.resolve()}{running}")
    return max(candidates, key=lambda p: p.stat().st_mtime)


def _only_start_files(folder: Path) -> bool:
    for path in folder.rglob("*"):
        if path.is_file() and not _START_FILES.fullmatch(path.name):
            return False
    return True

"""Reading Lightning checkpoints safely and finding the model class they belong to.

Checkpoints are only ever read with ``torch.load(..., weights_only=True)``: a file whose pickle would build
arbitrary objects (and so could run code) is refused before anything in it is executed.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from gen_framework.errors import CheckpointError

if TYPE_CHECKING:
    from gen_framework.families.base import GenerativeModule

#: Where ``genfw`` writes runs unless told otherwise; ``--ckpt_path last`` searches here.
DEFAULT_RUNS_DIR = "runs"


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checkpoint dict at ``path``, loaded with ``weights_only=True`` on the CPU.

    Raises:
        CheckpointError: The file is missing, truncated or corrupt, or its pickle asks for objects other
            than tensors and plain containers (refused without running them).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"refused to load {path}: it contains objects other than tensors and plain data, and loading them "
            f"could run code ({first_line}). Only load checkpoints you trust, written by gen-framework"
        ) from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupt): {err}") from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path} is not a Lightning checkpoint (no state_dict)")
    return checkpoint


def checkpoint_class(checkpoint: dict[str, Any], *, source: str) -> type[GenerativeModule]:
    """The module class that wrote ``checkpoint``, found through the plugin registry."""
    from gen_framework.families.base import CHECKPOINT_KEY
    from gen_framework.registry import resolve_module_class

    meta = checkpoint.get(CHECKPOINT_KEY)
    if not isinstance(meta, dict):
        raise CheckpointError(f"{source} was not written by a gen-framework model (no '{CHECKPOINT_KEY}' entry)")
    return resolve_module_class(meta.get("plugin"), meta.get("class_path"), source=source)


def load_checkpoint(path: str | os.PathLike[str], *, map_location: str = "cpu") -> GenerativeModule:
    """Build the model saved in a Lightning checkpoint: its own class, hyperparameters and weights."""
    checkpoint = read_checkpoint(path)
    cls = checkpoint_class(checkpoint, source=str(path))
    try:
        return cls.load_from_checkpoint(path, map_location=map_location, weights_only=True)
    except (RuntimeError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path} does not fit {cls.__name__}: {err}") from err


def find_last_checkpoint(root: str | os.PathLike[str] = DEFAULT_RUNS_DIR) -> Path:
    """The most recently written ``last.ckpt`` (or any ``.ckpt`` if none is called so) under ``root``."""
    root = Path(root)
    candidates = list(root.rglob("last*.ckpt")) or list(root.rglob("*.ckpt"))
    if not candidates:
        raise CheckpointError(f"--ckpt_path last: no checkpoint found under {root.resolve()}")
    return max(candidates, key=lambda p: p.stat().st_mtime)

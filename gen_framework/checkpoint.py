"""Reading Lightning checkpoints safely and finding the model class they belong to.

Checkpoints are only ever read with ``torch.load(..., weights_only=True)``: a file whose pickle would build
arbitrary objects (and so could run code) is refused before anything in it is executed.
"""

from __future__ import annotations

import os
import re
import warnings
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
        what = "a directory" if path.is_dir() else "no such file"
        raise CheckpointError(f"no checkpoint file at {path} ({what})")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes), not a checkpoint")
    try:
        with warnings.catch_warnings():
            # a pickle that is not torch.save's format makes torch warn about its protocol before refusing it
            warnings.filterwarnings("ignore", message=".*pickle protocol.*")
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    # weights_only loading runs no code, so a failure of any type means bytes it cannot or will not read
    except Exception as err:  # noqa: BLE001
        unsafe = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(err))
        if unsafe is not None:
            raise CheckpointError(
                f"refused to load {path}: its pickle asks for {unsafe.group(1)!r}, not just tensors and plain data, "
                "and loading it could run code. Only load checkpoints you trust, written by gen-framework"
            ) from err
        with path.open("rb") as file:
            is_zip = file.read(4) == b"PK\x03\x04"
        if not is_zip:
            raise CheckpointError(
                f"{path} is not a checkpoint written by torch.save (not a zip archive); it was not read as a plain "
                "pickle, since loading that could run code"
            ) from err
        problem = _first_sentence(err)
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupt): {problem}") from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path} is not a Lightning checkpoint (no state_dict)")
    return checkpoint


def _first_sentence(err: BaseException) -> str:
    """The first sentence of an error message (torch appends paragraphs of advice), or the error's type."""
    text = " ".join(str(err).split())
    if not text:
        return f"{type(err).__name__} while reading"
    return re.split(r"(?<=[a-z)])\. ", text, maxsplit=1)[0].rstrip(".")


def check_weights_fit(model: torch.nn.Module, checkpoint: dict[str, Any], *, source: str) -> None:
    """Raises :class:`CheckpointError` when a stored tensor's shape differs from the model's tensor of that name.

    ``model`` is built from the checkpoint's own hyperparameters, so a difference means the file was edited or
    written by another version of the plugin; checking here gives one message instead of Lightning's list of
    size mismatches. Names only one side has (EMA copies built later, lazily built layers) are left to loading.
    """
    own = model.state_dict()
    wrong = [
        (name, tuple(tensor.shape), tuple(own[name].shape))
        for name, tensor in (checkpoint.get("state_dict") or {}).items()
        if name in own and isinstance(tensor, torch.Tensor) and tensor.shape != own[name].shape
    ]
    if wrong:
        named = "; ".join(f"{name} is {stored} in the file, {built} in the model" for name, stored, built in wrong[:3])
        more = f" and {len(wrong) - 3} more" if len(wrong) > 3 else ""
        raise CheckpointError(
            f"{source} does not fit the {type(model).__name__} its hyperparameters describe ({named}{more}); the "
            "file was edited or written by another version of the plugin"
        )


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

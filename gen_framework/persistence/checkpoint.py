"""Reading Lightning checkpoints safely and finding the model class they belong to.

Checkpoints are only ever read with ``torch.load(..., weights_only=True)``: a file whose pickle would build
arbitrary objects (and so could run code) is refused before anything in it is executed.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from gen_framework.errors import CheckpointError
from gen_framework.persistence.model_class import import_typed_class, resolve_module_class, substitute_hint

if TYPE_CHECKING:
    from gen_framework.families.base import GenerativeModule

#: Key under which the framework's own metadata is stored in a Lightning checkpoint.
CHECKPOINT_KEY = "gen_framework"


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checkpoint dict at ``path``, loaded with ``weights_only=True`` on the CPU after an integrity check.

    Raises:
        CheckpointError: The file is missing, truncated or corrupt (a zip member whose CRC does not match its
            bytes, as when a weight tensor was damaged on disk), or its pickle asks for objects other than
            tensors and plain containers (refused without running them).
    """
    path = Path(path)
    if not path.is_file():
        what = "a directory" if path.is_dir() else "no such file"
        raise CheckpointError(f"no checkpoint file at {path} ({what})")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes), not a checkpoint")
    with path.open("rb") as file:
        is_zip = file.read(4) == b"PK\x03\x04"
    if not is_zip:
        raise CheckpointError(
            f"{path} is not a checkpoint written by torch.save (not a zip archive); it was not read as a plain "
            "pickle, since loading that could run code"
        )
    check_integrity(path)
    try:
        with warnings.catch_warnings():
            # a pickle that is not torch.save's format makes torch warn about its protocol before refusing it
            warnings.filterwarnings("ignore", message=".*pickle protocol.*")
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    # torch's weights-only unpickler raises UnpicklingError for what it refuses to build; the bytes are intact
    # (the CRCs matched), so the pickle itself asks for a function or class: what a code-running pickle does.
    except pickle.UnpicklingError as err:
        asked = re.search(r"GLOBAL ([\w.]+)", str(err))
        what = f" ({asked.group(1)})" if asked else ""
        raise CheckpointError(
            f"refused to load {path}: the file asks to run code{what}, not just to hold tensors and plain data; "
            "only load checkpoints you trust, written by gen-framework"
        ) from err
    # weights_only loading runs no code, so a failure of any other type means bytes it cannot read
    except Exception as err:  # noqa: BLE001
        problem = _first_sentence(err)
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupt): {problem}") from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path} is not a Lightning checkpoint (no state_dict)")
    return checkpoint


def check_integrity(path: Path) -> None:
    """Raises :class:`CheckpointError` unless every member of the zip archive at ``path`` matches its CRC-32.

    ``torch.load`` does not check the CRCs ``torch.save`` records, so a damaged weight tensor would load and
    sample silently; reading the archive once more costs about a second per GB.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupt): {err}") from err
    if damaged is not None:
        raise CheckpointError(
            f"{path} is corrupt: the bytes of {damaged} do not match the checksum written with them (damaged "
            "on disk or in transfer); use another copy of the checkpoint"
        )


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
    stored = checkpoint.get("state_dict") or {}
    missing = sorted(name for name in own if name not in stored and not name.startswith("ema."))
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise CheckpointError(
            f"{source} lacks weights the {type(model).__name__} needs ({', '.join(missing[:3])}{more}); the file "
            "was edited or written by another version of the plugin"
        )
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


def checkpoint_class(
    checkpoint: dict[str, Any], *, source: str, typed_class_path: str | None = None
) -> type[GenerativeModule]:
    """The module class that wrote ``checkpoint``, found among trusted classes (see :mod:`.model_class`).

    Args:
        typed_class_path: A class path the user typed (``--model pkg.Model``). When the checkpoint names exactly
            this class, it is imported: the user chose that code, the file did not.
    """
    meta = checkpoint.get(CHECKPOINT_KEY)
    if not isinstance(meta, dict):
        raise CheckpointError(f"{source} was not written by a gen-framework model (no '{CHECKPOINT_KEY}' entry)")
    stored = meta.get("class_path")
    chosen = import_typed_class(typed_class_path) if typed_class_path and stored == typed_class_path else None
    return resolve_module_class(meta.get("plugin"), stored, source=source, chosen=chosen)


def load_checkpoint(path: str | os.PathLike[str], *, map_location: str = "cpu") -> GenerativeModule:
    """Build the model saved in a Lightning checkpoint: its own class, hyperparameters and weights."""
    checkpoint = read_checkpoint(path)
    cls = checkpoint_class(checkpoint, source=str(path))
    try:
        return cls.load_from_checkpoint(path, map_location=map_location, weights_only=True)
    except (RuntimeError, KeyError, TypeError) as err:
        stored = (checkpoint.get(CHECKPOINT_KEY) or {}).get("class_path")
        raise CheckpointError(f"{path} does not fit {cls.__name__}: {err}{substitute_hint(stored, cls)}") from err

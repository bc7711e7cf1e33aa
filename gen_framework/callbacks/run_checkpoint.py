"""`RunCheckpoint`: Lightning's ``ModelCheckpoint`` whose ``last.ckpt`` always holds the run's final step.

Lightning's ``ModelCheckpoint`` saves when validation ends (or when a training epoch ends without
validation). A fit that stops anywhere else — ``max_steps`` between two validations, ``max_epochs`` with
``val_check_interval`` in steps, ``max_time``, early stopping — leaves ``last.ckpt`` at the previous
save, and Lightning's own ``on_train_end`` only saves when *no* last checkpoint was written at all. Here
``on_train_end`` writes ``last.ckpt`` again whenever it does not hold the final global step. A stop by
signal is saved by :class:`~gen_framework.callbacks.preemption.Preemption` through :meth:`save_last_now`.

While a fit runs, the checkpoint folder holds a marker file :data:`RUNNING_MARKER` naming the process, so
``--ckpt_path last`` can skip a run that is still being written (see
:func:`gen_framework.persistence.checkpoint.find_last_checkpoint`). The marker is removed when the fit ends, however it
ends; a marker left by a killed process names a process that no longer exists and is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint

#: File in a checkpoint folder while a fit writes into it: ``{"pid": int, "host": str}``.
RUNNING_MARKER = ".genfw-running"


class RunCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` (same arguments) that writes ``last.ckpt`` at the final step of every fit."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_step_in_last: int | None = None
        self._marker: Path | None = None

    # ------------------------------------------------------------ final step

    def _save_last_checkpoint(self, trainer: pl.Trainer, monitor_candidates: dict[str, Any]) -> None:
        super()._save_last_checkpoint(trainer, monitor_candidates)
        if self.save_last:
            self._last_step_in_last = trainer.global_step

    def save_last_now(self, trainer: pl.Trainer) -> str | None:
        """Write ``last.ckpt`` for the current step unless it already holds it; returns its path (``None`` when
        ``save_last`` is off or no step was taken). Called on every rank (saving is collective)."""
        if not self.save_last or trainer.global_step == 0 or trainer.fast_dev_run:
            return None
        if self._last_step_in_last != trainer.global_step:
            # In "link" mode the link would point at the last top-k file, an older step: write the file itself.
            mode, self.save_last = self.save_last, True
            try:
                self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
            finally:
                self.save_last = mode
        return self.last_model_path or None

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Called when fit ends without an error: ``last.ckpt`` is brought to the final step."""
        self.save_last_now(trainer)
        self._remove_marker()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        super().on_exception(trainer, pl_module, exception)
        self._remove_marker()

    # --------------------------------------------------------- run marker

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        if trainer.is_global_zero and trainer.ckpt_path and "://" not in str(trainer.ckpt_path):
            remove_stale_temporaries(Path(trainer.ckpt_path).parent)
        if trainer.is_global_zero and self.dirpath is not None and "://" not in str(self.dirpath):
            marker = Path(self.dirpath) / RUNNING_MARKER
            with contextlib.suppress(OSError):
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
                self._marker = marker

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._remove_marker()

    def _remove_marker(self) -> None:
        if self._marker is not None:
            with contextlib.suppress(OSError):
                self._marker.unlink(missing_ok=True)
            self._marker = None


def remove_stale_temporaries(folder: Path) -> None:
    """Removes the hidden ``.NAME.ckpt.*.tmp`` files a save killed half-way left in ``folder`` (the run resumed
    from it writes into a new folder, so its own saves would never clean them), unless a fit still writes there."""
    if run_in_progress(folder):
        return
    for stale in folder.glob(".*.ckpt.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()


def run_in_progress(folder: Path) -> bool:
    """True when ``folder`` holds the marker of a fit whose process is still alive on this host."""
    try:
        owner = json.loads((folder / RUNNING_MARKER).read_text())
        pid, host = int(owner["pid"]), str(owner["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if host != socket.gethostname():
        return True  # another machine's process: it cannot be checked, so assume it still writes
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

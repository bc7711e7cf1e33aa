"""`SignalStop`: SIGTERM and SIGINT stop every ``genfw`` subcommand cleanly.

Lightning notices SIGTERM only between training and evaluation batches, and never during ``predict``: a
predict run (or a test's sample generation) kept writing after "Received SIGTERM" until it finished. While a
stage runs, this callback handles SIGTERM and SIGINT itself, after Lightning's own SIGTERM handler (which
records the signal and forwards it to DDP workers):

- during ``fit``, the first signal asks Lightning to stop after the current batch, where
  :class:`~gen_framework.callbacks.preemption.Preemption` saves ``last.ckpt``; a second signal stops at once;
- during ``validate``, ``test`` and ``predict`` there is no state worth a checkpoint, so the first signal stops
  at once, even inside a long batch (files are written atomically, so no file is left half written).

Either way the stage ends with a ``SIGTERMException``; callbacks see it in ``on_exception`` (the sample writer
writes its manifest there) and ``genfw`` exits with ``128 + signal number`` and one line naming the signal.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException

#: The signals handled while a stage runs.
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StoppedMidStep(SIGTERMException):
    """Raised from the signal handler itself, wherever the program was: no checkpoint may be written from here."""

    def __init__(self, signum: int) -> None:
        super().__init__()
        self.signum = signum


#: The last signal a :class:`SignalStop` handled in this process (``genfw`` names it in its last line).
last_signal: int | None = None


class SignalStop(pl.Callback):
    """Stops any stage on SIGTERM or SIGINT (see the module docstring for when)."""

    def __init__(self) -> None:
        self._installed = False
        self._count = 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._install(trainer, graceful=True)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._install(trainer, graceful=trainer.state.fn == "fit")

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._install(trainer, graceful=False)

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._install(trainer, graceful=False)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # Lightning's signal teardown puts back every handler found before the stage, ours included.
        self._installed = False

    def _install(self, trainer: pl.Trainer, *, graceful: bool) -> None:
        if self._installed or threading.current_thread() is not threading.main_thread():
            return  # already installed for this stage (fit runs validation inside it), or not allowed here
        self._count = 0
        lightning_sigterm = signal.getsignal(signal.SIGTERM)

        def handle(signum: int, frame: FrameType | None) -> None:
            global last_signal
            last_signal = signum
            self._count += 1
            if callable(lightning_sigterm):
                # records received_sigterm (checked between batches) and forwards the signal to DDP workers
                lightning_sigterm(signal.SIGTERM, frame)
            if graceful and self._count == 1:
                return
            raise StoppedMidStep(signum)

        for signum in SIGNALS:
            signal.signal(signum, handle)
        self._installed = True

    def on_predict_batch_end(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        # Lightning's predict loop never looks at received_sigterm (a signal between batches lands here).
        if trainer.received_sigterm:
            raise SIGTERMException()


def describe_stop(stop: BaseException) -> tuple[int, str] | None:
    """``(exit code, one line)`` for a stage stopped by a signal; ``None`` for any other exception.

    The exit code is ``128 + signal number`` (143 for SIGTERM, 130 for SIGINT), as a shell reports a process
    killed by that signal, so a scheduler never mistakes a stopped run for a finished one. The line carries
    the notes callbacks added to the exception (where the checkpoint or the samples went).
    """
    if not isinstance(stop, SIGTERMException):
        return None
    signum = getattr(stop, "signum", None) or last_signal or signal.SIGTERM
    notes = "; ".join(getattr(stop, "__notes__", ()))
    return 128 + int(signum), f"genfw: stopped by {signal.Signals(signum).name}" + (f": {notes}" if notes else "")

"""A callback for :mod:`startup` that prints how long the process took to reach its first training batch."""

from __future__ import annotations

import os
import time

from pytorch_lightning.callbacks import Callback

#: Set by the benchmark to ``time.time()`` just before it starts the process.
T0_ENV = "GENFW_STARTUP_T0"


class FirstStepProbe(Callback):
    """Prints ``genfw-startup-probe first_step_s=W cpu_s=C`` when the first training batch starts: W the wall
    seconds since the benchmark started the process, C the process's CPU seconds (user + system) so far."""

    def __init__(self) -> None:
        self._done = False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # noqa: ANN001
        if self._done:
            return
        self._done = True
        times = os.times()
        wall = time.time() - float(os.environ[T0_ENV])
        print(f"genfw-startup-probe first_step_s={wall:.3f} cpu_s={times.user + times.system:.3f}", flush=True)

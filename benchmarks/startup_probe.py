"""A callback for :mod:`startup` that reports when ``genfw fit`` reaches its first training batch, then ends it.

It prints one line, ``genfw-startup-probe {json}``, with the process's CPU seconds (user + system, all threads)
and the wall seconds since the benchmark started the process, at each point ``fit`` passes on its way to step 1:
``floor`` (torch and Lightning imported, when the benchmark's launcher imported them first), ``built`` (this callback is instantiated: imports done and the command line parsed), ``setup`` (the Trainer set
up the run: logger, data, model on its device), ``sanity_check_start``/``sanity_check_end`` (Lightning's
validation before training), ``train_start`` and ``first_batch``. Then the process exits (code 0): what a run
does after its first step is not start-up, and the rest of a one-step run (final evaluation, checkpoint) would
only cost the benchmark time.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from pytorch_lightning.callbacks import Callback

#: Set by the benchmark to ``time.time()`` just before it starts the process.
T0_ENV = "GENFW_STARTUP_T0"
#: Set by :data:`startup.FIT_LAUNCHER` to the process's CPU and wall seconds once torch and Lightning are imported.
FLOOR_ENV = "GENFW_STARTUP_FLOOR"
PREFIX = "genfw-startup-probe"


class FirstStepProbe(Callback):
    """Records the CPU and wall seconds of the process at each stage before the first training batch."""

    def __init__(self) -> None:
        self.marks: dict[str, dict[str, float]] = {}
        if os.environ.get(FLOOR_ENV):
            cpu_s, wall_s = (float(x) for x in os.environ[FLOOR_ENV].split(","))
            self.marks["floor"] = {"cpu_s": round(cpu_s, 3), "wall_s": round(wall_s, 3)}
        self._mark("built")

    def _mark(self, name: str) -> None:
        times = os.times()
        self.marks[name] = {
            "cpu_s": round(times.user + times.system, 3),
            "wall_s": round(time.time() - float(os.environ.get(T0_ENV, time.time())), 3),
        }

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self._mark("setup")

    def on_sanity_check_start(self, trainer: Any, pl_module: Any) -> None:
        self._mark("sanity_check_start")

    def on_sanity_check_end(self, trainer: Any, pl_module: Any) -> None:
        self._mark("sanity_check_end")

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._mark("train_start")

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self._mark("first_batch")
        print(f"{PREFIX} {json.dumps(self.marks)}", flush=True)
        os._exit(0)  # the measurement is complete; skip the rest of the run (see the module docstring)

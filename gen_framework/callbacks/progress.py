"""`ProgressBar`: Lightning's Rich progress bar, showing progress toward the run's goal, a few times per second.

A training line reads::

    Epoch 21  ━━━━━━━━━━━━━━━━ 84/141  step 3,042/6,000 · 11.2 steps/s · ETA 0:04:24   loss_d 1.21 loss_g 0.873

the epoch's batches, then the optimiser steps (``trainer.global_step``, what ``max_steps`` counts) with their
rate and the time left, then the progress-bar metrics with short names and three significant digits.
"""

from __future__ import annotations

import math
import time
from datetime import timedelta
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import RichProgressBar
from rich.progress import ProgressColumn, Task
from rich.table import Column
from rich.text import Text

#: Prefixes dropped from metric names on the bar (the logged keys keep them).
_STAGE_PREFIXES = ("train/",)


class StepColumn(ProgressColumn):
    """``step G/M · R steps/s · ETA h:mm:ss`` for the training task, empty for the others.

    The rate is the optimiser steps per second over the last ``window`` seconds of training (time spent in
    validation included, since it delays the end too); the ETA divides the steps left by it.
    """

    def __init__(self, bar: ProgressBar, window: float = 30.0) -> None:
        super().__init__(table_column=Column(no_wrap=True))
        self._bar = bar
        self.window = window
        self._history: list[tuple[float, int]] = []

    def record(self, step: int, now: float | None = None) -> None:
        """Called after each displayed training batch with the global step."""
        now = time.monotonic() if now is None else now
        self._history.append((now, step))
        # keep one point older than the window so the rate always spans at least `window` seconds
        while len(self._history) > 2 and self._history[1][0] < now - self.window:
            self._history.pop(0)

    def rate(self) -> float | None:
        """Optimiser steps per second over the window; ``None`` before two points."""
        if len(self._history) < 2:
            return None
        (t0, s0), (t1, s1) = self._history[0], self._history[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 and s1 > s0 else None

    def text(self, step: int, max_steps: int) -> str:
        """The column's text for the global ``step`` toward ``max_steps`` (-1 or 0: no step limit)."""
        parts = [f"step {step:,}/{max_steps:,}" if max_steps > 0 else f"step {step:,}"]
        rate = self.rate()
        if rate is not None:
            parts.append(f"{rate:.3g} steps/s" if rate < 1000 else f"{rate:,.0f} steps/s")
            if max_steps > 0:
                parts.append(f"ETA {timedelta(seconds=int(math.ceil(max(0, max_steps - step) / rate)))}")
        return " · ".join(parts)

    def render(self, task: Task) -> Text:
        trainer = self._bar._trainer_or_none()
        if trainer is None or task.id != self._bar.train_progress_bar_id or trainer.sanity_checking:
            return Text()
        return Text(self.text(trainer.global_step, trainer.max_steps), style=self._bar.theme.time)


class SpeedColumn(ProgressColumn):
    """Batches per second of validation, test and predict tasks, blank until it is known (Lightning's shows
    ``0.00it/s`` for a one-batch task)."""

    def __init__(self, bar: ProgressBar) -> None:
        super().__init__()
        self._bar = bar

    def render(self, task: Task) -> Text:
        # the training task's rate is the step column's
        if not task.speed or task.id == self._bar.train_progress_bar_id:
            return Text()
        return Text(f"{task.speed:.3g}it/s", style=self._bar.theme.processing_speed)


class ProgressBar(RichProgressBar):
    """The Rich progress bar ``genfw`` adds by default: global step toward ``max_steps``, rate, ETA and a compact
    metric line, updated at most every ``min_interval`` seconds.

    Lightning's bar updates its task and re-reads the metrics after every training batch, which costs about a
    millisecond — a few percent of a small model's step on a CPU. The screen does not need more than a few
    updates per second, so batches that end sooner than ``min_interval`` after the last update are skipped;
    the last batch of an epoch and of training always update.

    Args:
        min_interval: Seconds between two updates of the training bar; 0 updates after every batch.
        **kwargs: Passed to :class:`~pytorch_lightning.callbacks.RichProgressBar` (``leave``, ``theme``, ...).
    """

    def __init__(self, min_interval: float = 0.2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.min_interval = min_interval
        self._last_update = float("-inf")
        self.step_column = StepColumn(self)
        self._shown_metrics: dict[str, Any] = {}

    def _trainer_or_none(self) -> pl.Trainer | None:
        return self._trainer

    def configure_columns(self, trainer: pl.Trainer) -> list:
        description, bar, batches, _epoch_time, _speed = super().configure_columns(trainer)
        bar.bar_width = 20
        # The epoch's elapsed/remaining time and batches/s give way to the run's steps/s and ETA (training); the
        # other stages keep a speed column that stays blank while it is unknown.
        return [description, bar, batches, SpeedColumn(self), self.step_column]

    def _init_progress(self, trainer: pl.Trainer) -> None:
        super()._init_progress(trainer)
        progress = self.progress
        if progress is None or self._metric_component is None or getattr(progress, "_genfw_metrics_line", False):
            return
        # The metrics go on a line of their own under the bars, instead of a table column that a terminal of
        # ordinary width squeezes into a narrow five-line block.
        progress.columns = tuple(c for c in progress.columns if c is not self._metric_component)
        table_renderables = progress.get_renderables

        def renderables() -> Any:
            yield from table_renderables()
            line = self.metrics_line()
            if line and self.trainer.state.fn == "fit" and not self.trainer.sanity_checking:
                yield Text(line, style=self.theme.metrics, overflow="fold")

        progress.get_renderables = renderables
        progress._genfw_metrics_line = True

    def metrics_line(self) -> str:
        """The latest progress-bar metrics as one line: ``loss_d 1.21  loss_g 0.873``."""
        return "  ".join(f"{name} {value}" for name, value in self._shown_metrics.items())

    def _get_train_description(self, current_epoch: int) -> str:
        # Lightning writes "Epoch 21/-2" when the run is bounded by max_steps (max_epochs = -1).
        if self.trainer.max_epochs is not None and self.trainer.max_epochs > 0:
            description = f"Epoch {current_epoch}/{self.trainer.max_epochs - 1}"
        else:
            description = f"Epoch {current_epoch}"
        return f"{description:{len(self.validation_description)}}"

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        """The progress-bar metrics with short names (``train/`` and ``v_num`` dropped), 3 significant digits."""
        compact: dict[str, Any] = {}
        for name, value in super().get_metrics(trainer, pl_module).items():
            if name == "v_num":
                continue
            for prefix in _STAGE_PREFIXES:
                name = name.removeprefix(prefix)
            compact[name] = f"{value:.3g}" if isinstance(value, float) else value
        self._shown_metrics = compact
        return compact

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        now = time.monotonic()
        finishing = (
            batch_idx + 1 >= trainer.num_training_batches
            or trainer.should_stop
            or 0 < trainer.max_steps <= trainer.global_step
        )
        if now - self._last_update < self.min_interval and not finishing:
            return
        self._last_update = now
        self.step_column.record(trainer.global_step, now)
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

"""Logs samples from a fixed seed during training, so progress can be seen and compared over time."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.loggers import Logger, TensorBoardLogger
from pytorch_lightning.utilities import rank_zero_warn

from gen_framework.data._checks import check_int
from gen_framework.data.tokenizers import tokenizer_from_dict
from gen_framework.data.writers import make_image_grid, to_waveforms, write_samples

AUDIO_GAP_SECONDS = 0.25  # silence between clips when several are joined into one TensorBoard audio entry


@contextmanager
def isolated_sampling(module: torch.nn.Module) -> Iterator[None]:
    """Runs the body in eval mode without gradients, then restores every submodule's mode and all RNG states.

    Sampling may seed or draw from the global generators (torch, CUDA, numpy, ``random``); training must
    continue with the random stream it would have had without the callback.
    """
    modes = {sub: sub.training for sub in module.modules()}
    numpy_state, python_state = np.random.get_state(), random.getstate()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            module.eval()
            yield
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
        for sub, training in modes.items():
            sub.training = training


class SampleLogger(Callback):
    """Every ``every_n_steps`` global steps and at the end of training, logs ``num_samples`` samples.

    The module must implement ``sample(num_samples, *, seed=None, **opts) -> Tensor`` and carry ``data_spec``
    (a dict) and ``modality``. Samples are drawn on rank 0 only, from the same ``seed`` each time so that they
    are comparable across steps, in eval mode and without disturbing the training RNG or module modes.

    Where they go, per logger: TensorBoard gets an image grid (``add_image``), the clips joined with short
    silences (``add_audio``) or the decoded texts (``add_text``) under the tag ``samples``; any other logger with a
    ``log_dir`` (e.g. CSV) gets files in ``<log_dir>/samples/step_XXXXXXX/`` via :func:`write_samples`. Without
    a logger nothing is done. Samples containing NaN/Inf are skipped with a warning rather than stopping training.

    Args:
        every_n_steps: interval in global steps, >= 1 (a step counts optimiser steps, so a two-optimiser GAN
            advances it by two per batch; crossing a multiple of the interval triggers logging).
        num_samples: samples per logging, >= 1.
        seed: seed passed to ``sample``.
    """

    def __init__(self, every_n_steps: int = 500, num_samples: int = 16, seed: int = 1234) -> None:
        super().__init__()
        self.every_n_steps = check_int("SampleLogger", "every_n_steps", every_n_steps, minimum=1)
        self.num_samples = check_int("SampleLogger", "num_samples", num_samples, minimum=1)
        self.seed = check_int("SampleLogger", "seed", seed, minimum=0)
        self._next_step = every_n_steps
        self._last_logged: int | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Called when training starts (also after resuming): schedules the next multiple of the interval."""
        self._next_step = (trainer.global_step // self.every_n_steps + 1) * self.every_n_steps
        self._last_logged = None

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Called after each training batch: logs when the global step has reached the next multiple."""
        if trainer.global_step >= self._next_step:
            self._next_step = (trainer.global_step // self.every_n_steps + 1) * self.every_n_steps
            self.log_samples(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Called when training ends: logs the final model unless this step was just logged."""
        if self._last_logged != trainer.global_step:
            self.log_samples(trainer, pl_module)

    def log_samples(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Draws samples on rank 0 and sends them to every logger; a no-op on other ranks or without loggers."""
        step = trainer.global_step
        self._last_logged = step
        if not trainer.is_global_zero or not trainer.loggers:
            return
        with isolated_sampling(pl_module):
            samples = pl_module.sample(self.num_samples, seed=self.seed)  # type: ignore[operator]
        if samples.is_floating_point() and not torch.isfinite(samples).all():
            rank_zero_warn(f"SampleLogger: samples at step {step} contain NaN/Inf; not logged")
            return
        spec: dict[str, Any] = pl_module.data_spec  # type: ignore[assignment]
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                self._to_tensorboard(logger, samples.detach().cpu(), spec, step)
            elif getattr(logger, "log_dir", None):
                target = Path(logger.log_dir) / "samples" / f"step_{step:07d}"  # type: ignore[arg-type]
                write_samples(samples.detach().cpu(), spec, target)

    def _to_tensorboard(self, logger: Logger, samples: torch.Tensor, spec: dict[str, Any], step: int) -> None:
        writer = logger.experiment
        modality = spec.get("modality")
        if modality == "image":
            writer.add_image("samples", make_image_grid(samples), global_step=step, dataformats="HWC")
        elif modality == "audio":
            rate = int(spec["sample_rate"])
            gap = np.zeros(round(AUDIO_GAP_SECONDS * rate), dtype=np.float32)
            joined = np.concatenate([part for wave in to_waveforms(samples, spec) for part in (wave, gap)])
            writer.add_audio("samples", torch.from_numpy(joined)[None], global_step=step, sample_rate=rate)
        elif modality == "text":
            tokenizer = tokenizer_from_dict(spec["tokenizer"])
            # indented lines render as preformatted text in TensorBoard's markdown
            texts = [tokenizer.decode(row) for row in samples.tolist()]
            blocks = ["\n".join("    " + line for line in text.split("\n")) for text in texts]
            writer.add_text("samples", "\n\n---\n\n".join(blocks), global_step=step)

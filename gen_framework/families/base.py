"""`GenerativeModule`: what every generative model in the framework has in common.

A family base (adversarial, variational, autoregressive) derives from this class and owns its training loop;
a plugin derives from a family base and provides the networks. This module owns what does not depend on the
family: seeded sampling, ``predict_step`` for ``genfw predict``, logging cadence, the data specification that
travels with the weights, and the metadata saved with checkpoints. Three collaborators it owns do the rest:
:class:`~gen_framework.families.ema.ModelEMA` (the exponential moving average of chosen submodules),
:class:`~gen_framework.families._randomness.TrainingRandomness` (per-rank training streams, random state for
exact resume) and :mod:`gen_framework.persistence.pretrained` (the pretrained-directory format).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, final

import pytorch_lightning as pl
import torch
from pytorch_lightning.trainer.states import TrainerStatus
from torch import Tensor

from gen_framework.errors import ConfigError
from gen_framework.families._defaults import refuse_hidden_family_defaults
from gen_framework.families._randomness import TrainingRandomness
from gen_framework.families.ema import ModelEMA, ema_multi_avg_fn
from gen_framework.persistence import pretrained
from gen_framework.persistence.checkpoint import CHECKPOINT_KEY
from gen_framework.registry import Family, class_provenance

Modality = Literal["image", "audio", "text"]
Model = TypeVar("Model", bound="GenerativeModule")

__all__ = ["CHECKPOINT_KEY", "Family", "GenerativeModule", "Modality", "ema_multi_avg_fn", "images_of"]


class GenerativeModule(pl.LightningModule):
    """Base of every generative model: seeded sampling, EMA, data spec and pretrained weights.

    Subclasses set the class attributes ``modality`` (``"image"``, ``"audio"`` or ``"text"``) and
    ``output_range`` (the value range of :meth:`sample`'s output, ``None`` for token ids), and implement
    :meth:`generate_samples` (the family bases do).

    Args:
        ema_decay: Decay of an exponential moving average of the submodules named by
            :meth:`ema_module_names`, used for sampling when set (e.g. ``0.999``). ``None`` disables it.
    """

    family: ClassVar[Family]
    modality: ClassVar[Modality] = "image"
    output_range: ClassVar[tuple[float, float] | None] = (-1.0, 1.0)

    def __init__(self, ema_decay: float | None = None) -> None:
        super().__init__()
        # Collects the init args of every class in the hierarchy, the plugin's included.
        self.save_hyperparameters()
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ConfigError(f"{type(self).__name__}: ema_decay must be in (0, 1) or null, got {ema_decay}")
        self.ema_decay = ema_decay
        #: The EMA of the submodules :meth:`ema_module_names` names, built in ``setup`` (``None`` without one).
        self.ema: ModelEMA | None = None
        self._randomness = TrainingRandomness()
        self._data_spec: dict[str, Any] | None = None
        #: Options passed to :meth:`sample` by ``predict_step`` (set by ``genfw predict --sampling.*``).
        self.sampling_options: dict[str, Any] = {}
        #: Seed of the first predict batch; batch ``i`` uses ``sample_seed + i``.
        self.sample_seed: int = 0
        #: The latest training step's losses by logged key, detached; the family bases set them in
        #: ``training_step`` and :class:`~gen_framework.callbacks.training_health.TrainingHealth` checks them.
        self.step_losses: dict[str, Tensor] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # kwargs.setdefault("loss", ...) in a plugin's __init__ is silently undone by genfw: refuse it up front.
        refuse_hidden_family_defaults(cls)

    # ------------------------------------------------------------------ hooks

    def generate_samples(self, num_samples: int, *, generator: torch.Generator) -> Tensor:
        """Called by :meth:`sample` in eval mode, without gradients and with EMA weights swapped in.

        Args:
            num_samples: N, the number of samples to draw.
            generator: The random generator every random draw must use, so a seed fixes the result.

        Returns:
            Images ``(N, C, H, W)`` in ``output_range``, audio ``(N, T)`` in [-1, 1] or tokens ``(N, T)``.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement generate_samples()")

    def ema_module_names(self) -> list[str]:
        """Called when the EMA is built: names of the submodules to average (default: none)."""
        return []

    def adopt_data_spec(self, spec: dict[str, Any]) -> None:
        """Called in ``setup`` with the datamodule's ``data_spec()``; checks it fits the model and keeps it.

        Raise :class:`~gen_framework.errors.ConfigError` naming the option when the data cannot be used by
        this model (wrong image size, channel count, modality). Overrides should call ``super()``.
        """
        modality = spec.get("modality")
        if modality is not None and modality != self.modality:
            raise ConfigError(
                f"{type(self).__name__} generates {self.modality} but the datamodule provides {modality}; "
                f"choose a {self.modality} datamodule"
            )
        built = self.built_data_spec()
        if any(spec.get(key) != value for key, value in built.items()):
            names = " and ".join(built)
            raise ConfigError(
                f"{type(self).__name__} was built for {_spec_text(built)} but the data has "
                f"{_spec_text({key: spec.get(key) for key in built})}; set the model's {names} to the data's "
                "(or the data's to the model's)"
            )
        self._data_spec = dict(spec)

    def built_data_spec(self) -> dict[str, Any]:
        """Called by :meth:`adopt_data_spec` and :attr:`data_spec`: the entries the networks were built for.

        An image model returns e.g. ``{"image_size": 28, "channels": 1}``: data whose spec differs is refused
        with a message naming them, and before any data is seen they are the model's data spec. Default: none.
        """
        return {}

    # -------------------------------------------------------------- data spec

    @property
    def data_spec(self) -> dict[str, Any]:
        """What is needed to decode samples (modality, image shape, tokenizer, sample rate), JSON-able."""
        if self._data_spec is not None:
            return self._data_spec
        return {"modality": self.modality, **self.built_data_spec()}

    @data_spec.setter
    def data_spec(self, spec: dict[str, Any]) -> None:
        self._data_spec = dict(spec)

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        spec_fn = getattr(datamodule, "data_spec", None)
        if callable(spec_fn):
            self.adopt_data_spec(spec_fn())
        self._build_ema()
        if stage == "fit" and self._trainer is not None:
            # Rank 0's choice on every rank; a resumed run replaces it with the checkpoint's in on_load_checkpoint.
            self._randomness.choose_seed(self.trainer.strategy.broadcast)

    @property
    def training_seed(self) -> int | None:
        """Seed of the per-rank training streams (see :meth:`training_randomness`); set when ``fit`` starts."""
        return self._randomness.seed

    @training_seed.setter
    def training_seed(self, seed: int | None) -> None:
        self._randomness.seed = seed

    # ------------------------------------------------------------ randomness

    @final
    @contextlib.contextmanager
    def training_randomness(self) -> Iterator[None]:
        """Within this context, torch's default generators draw this rank's stream for this training batch.

        The family bases run each ``training_step`` inside it, so everything a step draws from the default
        generators — latents, reparameterisation noise, noise inputs, style mixing, dropout — comes from the
        seed ``stream_seed(training_seed, global_rank, batch)``, where ``batch`` counts training batches over
        the whole run (``global_step`` without gradient accumulation). Every rank therefore draws differently,
        a resumed run draws what the uninterrupted run drew, and the default generators' states outside
        training steps are left as they were. Outside a running ``fit`` it does nothing.
        """
        trainer = self._trainer
        if trainer is None or not trainer.training:
            yield
            return
        with self._randomness.stream(trainer.global_rank, trainer.fit_loop.epoch_loop.total_batch_idx, self.device):
            yield

    # --------------------------------------------------------------- sampling

    @final
    @torch.no_grad()
    def sample(self, num_samples: int, *, seed: int | None = None, **sampling_options: Any) -> Tensor:
        """Draw ``num_samples`` samples; the same ``seed`` gives the same samples.

        Runs in eval mode without gradients, with EMA weights when enabled, then restores the training mode.
        ``sampling_options`` go to :meth:`generate_samples` (temperature, top_k, truncation_psi, ...).
        """
        if num_samples < 1:
            raise ConfigError(f"num_samples must be >= 1, got {num_samples}")
        generator = torch.Generator(device=self.device)
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(int(seed))
        was_training = self.training
        self.eval()
        try:
            with self.ema_weights():
                return self.generate_samples(num_samples, generator=generator, **sampling_options)
        finally:
            self.train(was_training)

    @final
    def predict_step(self, batch: Tensor, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Samples for ``genfw predict``: ``batch`` holds the global indices ``(N,)`` of the requested samples."""
        first_index = int(batch[0]) if len(batch) else 0
        return self.sample(len(batch), seed=self.sample_seed + first_index, **self.sampling_options)

    # -------------------------------------------------------------------- EMA

    def _build_ema(self) -> None:
        """Build :attr:`ema` once, when ``ema_decay`` is set (``setup``, or loading weights that hold one)."""
        if self.ema_decay is None or self.ema is not None:
            return
        self.ema = ModelEMA(self, self.ema_module_names(), self.ema_decay)

    def ema_decay_at(self, step: int) -> float:
        """Called at each EMA update with the optimiser steps taken so far (this one included): its decay.

        The default is ``ema_decay`` throughout. Override to warm the average up, e.g. a smaller decay while
        early weights are still poor (StyleGAN's EMA ramp-up); the value must lie in ``[0, 1)``.
        """
        assert self.ema_decay is not None
        return self.ema_decay

    @final
    def update_ema(self) -> None:
        """Fold the current weights into the EMA; the family bases call it after each optimiser update."""
        if self.ema is None:
            return
        decay = self.ema_decay_at(self.global_step)
        if decay != self.ema.decay and not 0.0 <= decay < 1.0:
            raise ConfigError(f"{type(self).__name__}.ema_decay_at({self.global_step}) gave {decay}; need [0, 1)")
        self.ema.set_decay(decay)
        self.ema.update_from(self)

    # --------------------------------------------------------------- logging

    @property
    def is_logging_step(self) -> bool:
        """True when Lightning writes this training step's logged values to the loggers.

        That is every ``trainer.log_every_n_steps``-th step, the first step (so monitors and the progress bar
        have values from the start) and the last one. Outside a running ``fit`` it is always True.
        """
        trainer = self._trainer
        if trainer is None or not trainer.training:
            return True
        if trainer.fast_dev_run:
            return True
        loop = trainer.fit_loop.epoch_loop
        return loop._batches_that_stepped == 0 or trainer._logger_connector.should_update_logs

    def log(self, name: str, value: Any, *args: Any, **kwargs: Any) -> None:
        """Lightning's ``log``, except that outside a running loop it does nothing.

        A step or hook called by hand — in a notebook, a test, after ``fit`` returned — then runs through instead
        of raising (Lightning raises when the model has a trainer that is not running) or warning on every call
        (when it has none); there is no logger to receive the value either way.
        """
        if self._fabric is None and not self._loop_is_running():
            return
        super().log(name, value, *args, **kwargs)

    def _loop_is_running(self) -> bool:
        """True inside a hook that a running Trainer called (so ``log`` has a result collection to write to)."""
        trainer = self._trainer
        return (
            trainer is not None and trainer.state.status == TrainerStatus.RUNNING and self._current_fx_name is not None
        )

    def log_train_metrics(self, metrics: dict[str, Tensor | float], *, prog_bar: bool = True) -> None:
        """Log per-step training values on logging steps only (see :attr:`is_logging_step`).

        Lightning's bookkeeping costs about a millisecond per value and call on a CPU, a visible share of a small
        model's step; values logged between two logging steps would never reach a logger anyway. Outside a
        running ``fit`` it does nothing (see :meth:`log`).
        """
        if self.is_logging_step:
            self.log_dict(metrics, prog_bar=prog_bar)

    @contextlib.contextmanager
    def ema_weights(self) -> Iterator[None]:
        """Within this context the averaged submodules carry their EMA weights (if EMA is enabled)."""
        if self.ema is None:
            yield
            return
        with self.ema.swapped_in(self):
            yield

    # ------------------------------------------------------------ checkpoints

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = {**self._provenance(), **self._randomness.state_dict()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        meta = checkpoint.get(CHECKPOINT_KEY) or {}
        if self._trainer is not None and self.trainer.state.fn == "fit":
            # The random states are restored in on_train_start, after Lightning has created the data iterator
            # (which draws from the global generator), so resumed training draws what an uninterrupted run drew.
            self._randomness.load(meta)
        if meta.get("data_spec") is not None:
            self.adopt_loaded_data_spec(meta["data_spec"])
        # The EMA copies must exist before Lightning loads the state dict that holds them.
        if any(key.startswith("ema.") for key in checkpoint.get("state_dict", {})):
            self._build_ema()

    def on_train_start(self) -> None:
        """Restores the random state of a resumed run; overrides must call ``super().on_train_start()``."""
        self._randomness.restore_pending()

    def adopt_loaded_data_spec(self, spec: dict[str, Any]) -> None:
        """Called when weights are loaded (checkpoint or pretrained) with the data spec saved beside them."""
        self._data_spec = dict(spec)

    def _provenance(self) -> dict[str, Any]:
        """What is saved beside the weights about this model: where its class comes from, family, data spec."""
        return {**class_provenance(type(self)), "family": self.family, "data_spec": self._data_spec}

    # ------------------------------------------------------------- pretrained

    @final
    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``model.safetensors`` and ``config.json`` (plugin, versions, init args, data spec) to ``directory``.

        Each file is written to a temporary name and renamed, so an interrupted save never leaves a torn file.
        See :mod:`gen_framework.persistence.pretrained`.
        """
        return pretrained.save_pretrained(self, directory)

    @classmethod
    def from_pretrained(cls: type[Model], directory: str | os.PathLike[str], *, map_location: str = "cpu") -> Model:
        """Load a directory written by :meth:`save_pretrained`; the class is found through the plugin registry.

        Called on a class, the model must be an instance of it; a user's subclass of a plugin class, called on
        itself, loads as that subclass. See :mod:`gen_framework.persistence.model_class` for which classes a
        directory may name.
        """
        return pretrained.load_pretrained(cls, directory, map_location=map_location)


def _spec_text(entries: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in entries.items())


def images_of(batch: Any) -> Tensor:
    """The image tensor ``(B, C, H, W)`` of a batch given as a tensor, an ``(x, y)`` pair or a dict with ``x``."""
    if isinstance(batch, Tensor):
        return batch
    if isinstance(batch, dict):
        return batch["x"]
    return batch[0]

"""`GenerativeModule`: what every generative model in the framework has in common.

A family base (adversarial, variational, autoregressive) derives from this class and owns its training loop;
a plugin derives from a family base and provides the networks. This module owns what does not depend on the
family: seeded sampling, ``predict_step`` for ``genfw predict``, the exponential moving average (EMA) of chosen
submodules, the data specification that travels with the weights, and the pretrained-directory format.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal, final

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel

from gen_framework.persistence.atomic import atomic_path
from gen_framework.errors import CheckpointError, ConfigError
from gen_framework.families._randomness import (
    base_seed,
    capture_rng_state,
    restore_rng_state,
    seeded_default_generators,
    stream_seed,
)

Family = Literal["adversarial", "variational", "autoregressive"]
Modality = Literal["image", "audio", "text"]

#: Key under which the framework's own metadata is stored in a Lightning checkpoint.
CHECKPOINT_KEY = "gen_framework"
PRETRAINED_CONFIG = "config.json"
PRETRAINED_WEIGHTS = "model.safetensors"


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
        self.ema: nn.ModuleDict | None = None
        self._data_spec: dict[str, Any] | None = None
        #: Options passed to :meth:`sample` by ``predict_step`` (set by ``genfw predict --sampling.*``).
        self.sampling_options: dict[str, Any] = {}
        #: Seed of the first predict batch; batch ``i`` uses ``sample_seed + i``.
        self.sample_seed: int = 0
        #: The latest training step's losses by logged key, detached; the family bases set them in
        #: ``training_step`` and :class:`~gen_framework.callbacks.training_health.TrainingHealth` checks them.
        self.step_losses: dict[str, Tensor] = {}
        #: Seed of the per-rank training streams (see :meth:`training_randomness`); set when ``fit`` starts.
        self.training_seed: int | None = None

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
            self.training_seed = int(self.trainer.strategy.broadcast(base_seed(), src=0))

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
        if self.training_seed is None:  # a subclass's setup() did not call super(): no broadcast, but per rank
            self.training_seed = base_seed()
        batch = trainer.fit_loop.epoch_loop.total_batch_idx
        with seeded_default_generators(stream_seed(self.training_seed, trainer.global_rank, batch), self.device):
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
        if self.ema_decay is None or self.ema is not None:
            return
        averaged = nn.ModuleDict()
        for name in self.ema_module_names():
            module = getattr(self, name, None)
            if not isinstance(module, nn.Module):
                raise ConfigError(f"ema_module_names() names {name!r}, which is not a submodule of {type(self).__name__}")
            copy = AveragedModel(module, multi_avg_fn=ema_multi_avg_fn(self.ema_decay), use_buffers=True)
            copy.requires_grad_(False)
            averaged[name] = copy
        self.ema = averaged
        self._ema_decay_in_use = self.ema_decay

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
        if decay != self._ema_decay_in_use:
            if not 0.0 <= decay < 1.0:
                raise ConfigError(f"{type(self).__name__}.ema_decay_at({self.global_step}) gave {decay}; need [0, 1)")
            for averaged in self.ema.values():
                averaged.multi_avg_fn = ema_multi_avg_fn(decay)
            self._ema_decay_in_use = decay
        for name, averaged in self.ema.items():
            averaged.update_parameters(getattr(self, name))

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

    def log_train_metrics(self, metrics: dict[str, Tensor | float], *, prog_bar: bool = True) -> None:
        """Log per-step training values on logging steps only (see :attr:`is_logging_step`).

        Lightning's bookkeeping costs about a millisecond per value and call on a CPU, a visible share of a small
        model's step; values logged between two logging steps would never reach a logger anyway.
        """
        if self.is_logging_step:
            self.log_dict(metrics, prog_bar=prog_bar)

    @contextlib.contextmanager
    def ema_weights(self) -> Iterator[None]:
        """Within this context the averaged submodules carry their EMA weights (if EMA is enabled)."""
        if self.ema is None or not any(int(a.n_averaged) > 0 for a in self.ema.values()):
            yield
            return
        backups = {}
        for name, averaged in self.ema.items():
            live = getattr(self, name)
            backups[name] = {k: v.detach().clone() for k, v in live.state_dict().items()}
            live.load_state_dict(averaged.module.state_dict())
        try:
            yield
        finally:
            for name, state in backups.items():
                getattr(self, name).load_state_dict(state)

    # ------------------------------------------------------------ checkpoints

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = {
            **self._provenance(), "rng": capture_rng_state(), "training_seed": self.training_seed,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        meta = checkpoint.get(CHECKPOINT_KEY) or {}
        resuming = self._trainer is not None and self.trainer.state.fn == "fit"
        if resuming and meta.get("rng") is not None:
            # Restored in on_train_start, after Lightning has created the data iterator (which draws from the
            # global generator), so resumed training draws the latents and noise of an uninterrupted run.
            self._pending_rng_state = meta["rng"]
        if resuming and meta.get("training_seed") is not None:
            self.training_seed = int(meta["training_seed"])
        if meta.get("data_spec") is not None:
            self.adopt_loaded_data_spec(meta["data_spec"])
        # The EMA copies must exist before Lightning loads the state dict that holds them.
        if any(key.startswith("ema.") for key in checkpoint.get("state_dict", {})):
            self._build_ema()

    def on_train_start(self) -> None:
        """Restores the random state of a resumed run; overrides must call ``super().on_train_start()``."""
        pending = getattr(self, "_pending_rng_state", None)
        if pending is not None:
            restore_rng_state(pending)
            self._pending_rng_state = None

    def adopt_loaded_data_spec(self, spec: dict[str, Any]) -> None:
        """Called when weights are loaded (checkpoint or pretrained) with the data spec saved beside them."""
        self._data_spec = dict(spec)

    def _provenance(self) -> dict[str, Any]:
        from gen_framework import __version__
        from gen_framework.registry import PLUGIN_API_VERSION, registry

        record = registry.record_for_class(type(self))
        return {
            "plugin": record.name if record else None,
            "plugin_version": record.version if record else None,
            "class_path": f"{type(self).__module__}.{type(self).__qualname__}",
            "framework_version": __version__,
            "api_version": PLUGIN_API_VERSION,
            "family": self.family,
            "data_spec": self._data_spec,
        }

    # ------------------------------------------------------------- pretrained

    @final
    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``model.safetensors`` and ``config.json`` (plugin, versions, init args, data spec) to ``directory``.

        Each file is written to a temporary name and renamed, so an interrupted save never leaves a torn file.
        """
        from safetensors.torch import save_model

        directory = Path(directory)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(f"cannot create the output directory {directory}: {err.strerror}") from err
        config = {**self._provenance(), "init_args": _jsonable(dict(self.hparams))}
        with atomic_path(directory / PRETRAINED_WEIGHTS) as tmp:
            save_model(self, str(tmp), metadata={"format": "pt"})
        with atomic_path(directory / PRETRAINED_CONFIG) as tmp:
            tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike[str], *, map_location: str = "cpu") -> GenerativeModule:
        """Load a directory written by :meth:`save_pretrained`; the class is found through the plugin registry."""
        from safetensors.torch import load_model

        from gen_framework.registry import resolve_module_class

        directory = Path(directory)
        config_path = directory / PRETRAINED_CONFIG
        weights_path = directory / PRETRAINED_WEIGHTS
        for path in (config_path, weights_path):
            if not path.is_file():
                raise CheckpointError(f"{directory} is not a pretrained directory: {path.name} is missing")
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise CheckpointError(f"{config_path} is not valid JSON: {err}") from err
        if not isinstance(config, dict) or not isinstance(config.get("init_args", {}), dict):
            raise CheckpointError(
                f"{config_path} must be a JSON object with an `init_args` object, as save_pretrained writes"
            )
        target = resolve_module_class(config.get("plugin"), config.get("class_path"), source=str(directory))
        if not issubclass(target, cls):
            raise CheckpointError(
                f"{directory} holds a {target.__name__} (plugin {config.get('plugin')!r}), not a {cls.__name__}"
            )
        try:
            model = target(**config.get("init_args", {}))
        except (TypeError, ValueError) as err:  # arguments the class does not take, or values it refuses
            raise CheckpointError(f"{config_path}: its init_args do not build a {target.__name__}: {err}") from err
        if config.get("data_spec") is not None:
            model.adopt_loaded_data_spec(config["data_spec"])
        model._build_ema()
        try:
            missing, unexpected = load_model(model, str(weights_path), strict=False, device=map_location)
        except Exception as err:  # safetensors raises several types for torn or foreign files
            raise CheckpointError(f"cannot read weights from {weights_path}: {err}") from err
        if missing or unexpected:
            raise CheckpointError(
                f"{weights_path} does not match {target.__name__}: missing {sorted(missing)[:5]}, "
                f"unexpected {sorted(unexpected)[:5]}"
            )
        return model


def _spec_text(entries: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in entries.items())


def _jsonable(value: Any) -> Any:
    """Hyperparameters as JSON: tuples become lists, anything else unusual becomes its string."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def ema_multi_avg_fn(decay: float) -> Callable[[list[Tensor], list[Tensor], Tensor], None]:
    """``AveragedModel``'s ``multi_avg_fn`` for an EMA with ``decay``: one fused lerp per dtype group.

    Like ``torch.optim.swa_utils.get_ema_multi_avg_fn``, except that integer buffers (BatchNorm's
    ``num_batches_tracked``) are copied: averaging a count and truncating it back to an integer gives a
    number that means nothing, and costs a Python loop of small ops on every update.
    """

    # No no_grad(): AveragedModel hands over detached tensors, and the decorator costs more than the update.
    def update(averaged: list[Tensor], current: list[Tensor], num_averaged: Tensor) -> None:
        if averaged[0].is_floating_point() or averaged[0].is_complex():
            torch._foreach_lerp_(averaged, current, 1.0 - decay)
        else:
            torch._foreach_copy_(averaged, current)

    return update

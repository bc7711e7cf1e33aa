"""Computes the family's metrics at validation (every N steps) and test time, and writes ``metrics.json``."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Literal

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

from gen_framework.callbacks.sample_logger import isolated_sampling
from gen_framework.data.writers import save_image_grid
from gen_framework.errors import ConfigError
from gen_framework.metrics.evaluation import EvaluationData, EvaluationSettings, Shard, evaluate
from gen_framework.metrics.report import MetricRecord, evaluation_section, write_metrics_json
from gen_framework.metrics.trained_features import FeatureRecipe


#: Samples an image evaluation draws when neither ``--evaluation.num_samples`` nor the model says otherwise.
DEFAULT_NUM_SAMPLES = 1000


def evaluation_num_samples(model: Any) -> int:
    """The model's ``evaluation_num_samples`` class attribute when it declares one, else :data:`DEFAULT_NUM_SAMPLES`."""
    declared = getattr(model, "evaluation_num_samples", None)
    return DEFAULT_NUM_SAMPLES if declared is None else int(declared)


class Evaluation(Callback):
    """Evaluates the model with the metrics of its family and writes them, with their protocol, to ``metrics.json``.

    When: at the end of every test run (``genfw test``) and of every ``genfw validate``; during ``fit``, at the
    end of a validation run once ``every_n_steps`` global steps have passed since the last evaluation, and at
    the end of ``fit`` for the final weights unless that step was just evaluated (never when ``every_n_steps``
    is ``None``; never in the sanity check). Values are logged as ``val/<name>`` or ``test/<name>`` and
    written to ``<log_dir>/metrics.json`` (the logger's directory, or the trainer's ``default_root_dir``
    without a logger) by rank 0, which prints the path.

    At the end of ``fit`` rank 0 also prints one line with the final values, so the result of a run is seen
    without opening TensorBoard, and for images writes ``<log_dir>/samples.png``: a grid of 64 samples of the
    final weights, drawn with the evaluation's seed.

    What (see :func:`gen_framework.metrics.evaluation.evaluate`): images — ``fid``, ``kid``, ``kid_std``,
    ``precision``, ``recall``, and with labelled data ``classifier_confidence`` and ``class_coverage``; VAEs
    also ``psnr``, ``ssim``, ``iwae_nll`` (nats) and ``iwae_bits_per_dim``; text — ``corpus_bits_per_token``,
    ``corpus_perplexity``, ``bits_per_char`` and ``xz_bits_per_char``; audio — ``bits_per_sample`` and
    ``mel_frechet_distance``. The data are the datamodule's validation or test split; the model is used
    through ``family``, ``modality``, ``sample(n, seed=...)`` (and ``reconstruct``/``iwae_nll`` for VAEs, the
    forward pass for autoregressive models). Samples and estimates are seeded, so the same weights give the
    same values, on one process or several.

    Cost: the first image evaluation on a dataset trains the feature network (seconds on a CPU) and caches it
    in ``$GEN_FRAMEWORK_CACHE/features``; later ones load it. The defaults evaluate an MNIST GAN or VAE well
    under a minute on a CPU.

    Args:
        every_n_steps: interval in global steps between evaluations during ``fit``; ``None`` evaluates only in
            ``validate`` and ``test``.
        num_samples: samples generated for image metrics, and the most real images used (the split may be smaller);
            ``None``: the model's ``evaluation_num_samples`` class attribute when it declares one (a slow sampler
            such as a PixelCNN declares fewer), else :data:`DEFAULT_NUM_SAMPLES`.
        iwae_samples: k of the importance-weighted NLL bound of VAEs; 0 skips it.
        seed: seed of the samples (chunk j uses ``seed + j``) and of the random estimates (KID subsets, IWAE).
        feature_network: ``"auto"`` (InceptionV3 if torch-fidelity and its weights are available locally, else
            trained), ``"inception"`` or ``"trained"``.
        inception_weights: local path of torch-fidelity's InceptionV3 weights (for machines without internet).
        sample_batch_size: samples drawn per ``sample`` call; part of the protocol (it sets the seeds).
        max_batches: most batches of the split used by likelihood metrics of text and audio; ``None`` for all.
        kid_subsets: random subsets KID averages over.
        kid_subset_size: samples per KID subset (clamped to the number of samples).
        pr_neighbours: k of the k-NN manifolds of precision/recall.
        num_audio_samples: clips generated for the audio spectral distance.
        audio_seconds: duration of each generated clip (passed as ``seconds`` or ``max_new_tokens``).
        feature_steps: training steps of the trained feature network (part of its cache key).
        sampling: extra keyword arguments of ``sample`` (e.g. ``{"truncation_psi": 0.7}``).
        filename: name of the metrics file in the log directory.
        directory: folder of the metrics file instead of the log directory (``genfw validate``/``test`` of a
            checkpoint set it to the checkpoint's run folder).
    """

    def __init__(
        self,
        every_n_steps: int | None = None,
        num_samples: int | None = None,
        iwae_samples: int = 64,
        seed: int = 0,
        feature_network: Literal["auto", "inception", "trained"] = "auto",
        inception_weights: str | None = None,
        sample_batch_size: int = 250,
        max_batches: int | None = None,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        pr_neighbours: int = 3,
        num_audio_samples: int = 8,
        audio_seconds: float = 0.5,
        feature_steps: int = 1000,
        sampling: dict[str, Any] | None = None,
        filename: str = "metrics.json",
        directory: str | None = None,
    ) -> None:
        super().__init__()
        minimums = {
            "every_n_steps": (every_n_steps, 1), "num_samples": (num_samples, 2), "iwae_samples": (iwae_samples, 0),
            "seed": (seed, 0), "sample_batch_size": (sample_batch_size, 1), "max_batches": (max_batches, 1),
            "kid_subsets": (kid_subsets, 1), "kid_subset_size": (kid_subset_size, 2),
            "pr_neighbours": (pr_neighbours, 1), "num_audio_samples": (num_audio_samples, 1),
            "feature_steps": (feature_steps, 1),
        }
        for name, (value, minimum) in minimums.items():
            if value is None and name in ("every_n_steps", "max_batches", "num_samples"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(f"Evaluation: `{name}` must be an integer >= {minimum}, got {value!r}")
        if isinstance(audio_seconds, bool) or not isinstance(audio_seconds, (int, float)) or not (
            math.isfinite(audio_seconds) and audio_seconds > 0
        ):
            raise ConfigError(f"Evaluation: `audio_seconds` must be a number > 0, got {audio_seconds!r}")
        if feature_network not in ("auto", "inception", "trained"):
            raise ConfigError(
                f"Evaluation: `feature_network` must be auto, inception or trained, got {feature_network!r}"
            )
        if not filename or Path(filename).name != filename:
            raise ConfigError(f"Evaluation: `filename` must be a plain file name, got {filename!r}")
        self.every_n_steps = every_n_steps
        self.filename = filename
        self.directory = directory
        self._num_samples_given = num_samples is not None
        self.settings = EvaluationSettings(
            num_samples=DEFAULT_NUM_SAMPLES if num_samples is None else num_samples, sample_batch_size=sample_batch_size, iwae_samples=iwae_samples, seed=seed,
            feature_network=feature_network, inception_weights=inception_weights,
            feature_recipe=FeatureRecipe(steps=feature_steps), kid_subsets=kid_subsets,
            kid_subset_size=kid_subset_size, pr_neighbours=pr_neighbours, max_batches=max_batches,
            num_audio_samples=num_audio_samples, audio_seconds=audio_seconds, sampling_options=dict(sampling or {}),
        )
        self._next_step = every_n_steps or 0
        self._checkpoint_step: int | None = None
        self._evaluated_step: int | None = None
        #: The records of the last evaluation, by metric name.
        self.last_records: dict[str, MetricRecord] = {}
        #: Where the last ``metrics.json`` was written (set on every rank).
        self.last_path: Path | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Called when a stage starts, before any checkpoint is loaded: forgets the last checkpoint's step."""
        self._checkpoint_step = None

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """Called when ``ckpt_path`` is loaded: keeps its global step for the record (test runs start at 0)."""
        self._checkpoint_step = checkpoint.get("global_step")

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Called when training starts (also after resuming): schedules the next multiple of the interval."""
        if self.every_n_steps is not None:
            self._next_step = (trainer.global_step // self.every_n_steps + 1) * self.every_n_steps

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Called after each validation run: evaluates in ``validate``, and in ``fit`` when the interval is due."""
        if trainer.sanity_checking:
            return
        if trainer.state.fn == "fit":
            if self.every_n_steps is None or trainer.global_step < self._next_step:
                return
            self._next_step = (trainer.global_step // self.every_n_steps + 1) * self.every_n_steps
        self.run(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Called after each test run: evaluates on the test split."""
        self.run(trainer, pl_module, "test")

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Called when ``fit`` has finished: evaluates the final weights (unless just done) and prints a summary."""
        if self.every_n_steps is None:
            return
        if self._evaluated_step != trainer.global_step:
            # Lightning refuses self.log once fit is over; the values go to the loggers directly instead.
            records = self.run(trainer, pl_module, "val", log=False)
            if trainer.is_global_zero:
                values = {f"val/{k}": r.value for k, r in records.items() if r.value is not None}
                for logger in trainer.loggers:
                    logger.log_metrics(values, step=trainer.global_step)
        if not trainer.is_global_zero or self.last_path is None:
            return
        if getattr(pl_module, "modality", None) == "image" and callable(getattr(pl_module, "sample", None)):
            with isolated_sampling(pl_module):
                samples = pl_module.sample(64, seed=self.settings.seed)
            grid = save_image_grid(samples, self.last_path.parent / "samples.png")
            print(f"genfw: 64 samples (seed {self.settings.seed}) written to {grid}")
        print(f"genfw: {summary_line(self.last_records, trainer.global_step)}; details in {self.last_path}")

    def run(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: Literal["val", "test"], *, log: bool = True
    ) -> dict[str, MetricRecord]:
        """Evaluate on the ``stage`` split, log ``<stage>/<name>`` (when ``log``) and write ``metrics.json``.

        Every rank calls it."""
        if not self._num_samples_given:
            self.settings = dataclasses.replace(self.settings, num_samples=evaluation_num_samples(pl_module))
        datamodule = getattr(trainer, "datamodule", None)
        if datamodule is None:
            raise ConfigError(
                "Evaluation needs a datamodule (its val/test splits and data_spec); pass one to the trainer"
            )
        spec_fn = getattr(datamodule, "data_spec", None)
        spec = dict(spec_fn() if callable(spec_fn) else getattr(pl_module, "data_spec", {}))
        data = EvaluationData(
            eval_batches=datamodule.val_dataloader if stage == "val" else datamodule.test_dataloader,
            data_spec=spec,
            split=stage,
            train_batches=getattr(datamodule, "train_dataloader", None),
            dataset_key=dataset_key(datamodule, spec),
        )
        shard = Shard(trainer.global_rank, trainer.world_size, lambda obj: trainer.strategy.broadcast(obj, src=0))
        checkpoint = None if trainer.state.fn == "fit" else trainer.ckpt_path
        with isolated_sampling(pl_module):
            records = evaluate(pl_module, data, self.settings, shard, checkpoint=checkpoint)
        self._evaluated_step = trainer.global_step
        for name, record in records.items():
            if log and record.value is not None:
                # Every rank holds the same value; syncing it keeps Lightning's distributed bookkeeping quiet.
                pl_module.log(f"{stage}/{name}", record.value, sync_dist=True)
        log_dir = trainer.log_dir or trainer.default_root_dir  # a collective call: every rank asks
        path = Path(self.directory or log_dir) / self.filename
        if trainer.is_global_zero:
            run = self._run_facts(trainer, pl_module, data, checkpoint)
            write_metrics_json(path, stage, evaluation_section(records, run=run))
            print(f"genfw: metrics written to {path}")
        self.last_records, self.last_path = records, path
        return records

    def _run_facts(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, data: EvaluationData, checkpoint: str | None
    ) -> dict[str, Any]:
        from gen_framework import __version__

        datamodule = trainer.datamodule
        return {
            "split": data.split,
            "checkpoint": checkpoint,
            "global_step": trainer.global_step if checkpoint is None or self._checkpoint_step is None
            else self._checkpoint_step,
            "world_size": trainer.world_size,
            "seed": self.settings.seed,
            "model": {
                "class_path": f"{type(pl_module).__module__}.{type(pl_module).__qualname__}",
                "family": getattr(pl_module, "family", None),
                "modality": data.data_spec.get("modality", getattr(pl_module, "modality", None)),
            },
            "data": {
                "class_path": f"{type(datamodule).__module__}.{type(datamodule).__qualname__}",
                "data_spec": {k: v for k, v in data.data_spec.items() if k != "tokenizer"},
            },
            "settings": dataclasses.asdict(self.settings),
            "framework_version": __version__,
        }


def summary_line(records: dict[str, MetricRecord], step: int) -> str:
    """``quality at step N (val, 1000 samples): fid 3.1 (lower is better), ...`` in one line."""
    parts = []
    for name, record in records.items():
        if record.value is None or name == "kid_std":
            continue
        direction = "" if record.higher_is_better is None else (" ↑" if record.higher_is_better else " ↓")
        parts.append(f"{name} {record.value:.4g}{direction}")
    first = next(iter(records.values()), None)
    split = first.details.get("split", "val") if first is not None else "val"
    samples = f", {first.num_generated} samples" if first is not None and first.num_generated else ""
    return f"quality at step {step} ({split}{samples}): " + ", ".join(parts)


def dataset_key(datamodule: Any, spec: dict[str, Any]) -> str:
    """Readable name of the data for cache files: ``<DataModule>-<S>px-<C>ch`` for images, else the class name."""
    name = type(datamodule).__name__
    if spec.get("modality") == "image" and "image_size" in spec and "channels" in spec:
        return f"{name}-{spec['image_size']}px-{spec['channels']}ch"
    return name

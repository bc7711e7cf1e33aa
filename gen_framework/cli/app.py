"""`GenFWCLI`: the LightningCLI subclass behind ``genfw`` (see :mod:`gen_framework.cli.commands` for the behaviour).

It builds on LightningCLI's public hooks (``init_parser``, ``setup_parser``, ``add_arguments_to_parser``,
``parse_arguments``, ``instantiate_trainer``, ``before_*``/``after_*``). Where Lightning has no hook, a private
method is overridden; each such override is listed in :data:`gen_framework._utils.lightning_compat.PRIVATE_METHODS`
with the signature it was written against, and checked against the installed Lightning before the CLI runs
(``tests/test_lightning_compat.py`` fails on a Lightning release that changes one).

Nothing here changes process-wide state on import: jsonargparse's parsing settings are applied when a
``GenFWCLI`` is built, warning filters only for the duration of a command (:mod:`gen_framework.cli.quiet`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import pytorch_lightning
from jsonargparse import ArgumentError, set_parsing_settings
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI

from gen_framework._utils.heap import keep_freed_memory
from gen_framework._utils.lightning_compat import check_lightning_cli
from gen_framework.callbacks.evaluation import Evaluation
from gen_framework.callbacks.hook_dispatch import skip_all_inherited_batch_hooks
from gen_framework.callbacks.preemption import Preemption
from gen_framework.callbacks.run_checkpoint import RunCheckpoint
from gen_framework.callbacks.signal_stop import SignalStop
from gen_framework.callbacks.training_health import TrainingHealth
from gen_framework.persistence.checkpoint_io import AtomicCheckpointIO
from gen_framework.cli import fast_precision
from gen_framework.cli.checkpoint_authority import CheckpointDecision, ReadOnceCheckpointIO
from gen_framework.cli.data_links import given_options, link_data_to_model
from gen_framework.cli.errors import class_aliases, describe_argument_error, describe_interpolation_error, option_keys
from gen_framework.cli.predict import (
    DEFAULT_MAX_NUM_SAMPLES,
    DEFAULT_MAX_SAMPLE_LENGTH,
    SampleRequests,
    check_predict_request,
    prepare_output_dir,
)
from gen_framework.cli.preflight import check_finite, check_output_dirs, describe_allocation_failure
from gen_framework.cli.run_dirs import DEFAULT_RUNS_DIR
from gen_framework.errors import ConfigError, GenFrameworkError
from gen_framework.families.base import GenerativeModule
from gen_framework.registry import registry

#: Sampling arguments of ``generate_samples`` that ``genfw predict`` sets itself.
_SAMPLING_SKIP = {"num_samples", "generator"}
DEFAULT_LOGGER_NAME = "genfw"
SUBCOMMANDS = ("fit", "validate", "test", "predict")
#: A key of the per-subcommand parser kwargs that tells :meth:`GenFWCLI.init_parser` which parser it builds.
_SUBCOMMAND_KWARG = "_genfw_subcommand"


def apply_parsing_settings() -> None:
    """jsonargparse settings genfw's configs rely on; process-wide, so applied when the CLI runs, not on import.

    Relative interpolations make ``${data.init_args.block_size}`` work inside subcommands (see the
    ``omegaconf+`` parser mode); ``${fast_precision:}`` is the precision this machine runs fastest
    (:mod:`gen_framework.cli.fast_precision`).
    """
    set_parsing_settings(omegaconf_absolute_to_relative_paths=True)
    fast_precision.register()


class GenFWCLI(LightningCLI):
    """LightningCLI with the framework's defaults, checkpoint authority and ``predict`` writer.

    Args:
        args: The command line, subcommand first (already rewritten by :func:`gen_framework.cli.prepare_args`).
        decision: The checkpoint that decides the model, when the command names one.
        model_class: The model whose options ``predict`` and ``--help`` show (the checkpoint's, or ``--model``'s
            for ``--help``).
    """

    def __init__(
        self, args: list[str], decision: CheckpointDecision | None = None, model_class: type | None = None
    ) -> None:
        check_lightning_cli(LightningCLI, pytorch_lightning.__version__)
        apply_parsing_settings()
        self._decision = decision
        self._options_class = model_class if model_class is not None else decision.model_class if decision else None
        self._help = any(a in ("-h", "--help") for a in args)
        self._given: set[str] | None = None
        self._parsers: dict[str, LightningArgumentParser] = {}
        self._building: str | None = None  # the subcommand whose parser is being built
        # Only the subcommand that runs gets a parser: each costs ~40 ms of start-up (see subcommands()).
        self._subcommand = args[0] if args and args[0] in SUBCOMMANDS else None
        common = {"parser_mode": "omegaconf+", "default_env": False, "prog": "genfw", "exit_on_error": False}
        super().__init__(
            model_class=GenerativeModule,
            subclass_mode_model=True,
            datamodule_class=None,
            subclass_mode_data=True,
            # A parse error raises (exit_on_error False); parse_arguments turns it into one ConfigError line.
            parser_kwargs={**common, **{sub: {**common, _SUBCOMMAND_KWARG: sub} for sub in self.subcommands()}},
            save_config_kwargs={"overwrite": True},
            trainer_defaults={
                "default_root_dir": DEFAULT_RUNS_DIR,
                "logger": {
                    "class_path": "pytorch_lightning.loggers.TensorBoardLogger",
                    "init_args": {"save_dir": DEFAULT_RUNS_DIR, "name": DEFAULT_LOGGER_NAME},
                },
            },
            # Lightning's True seeds with PL_GLOBAL_SEED or 0 and warns "No seed found" on every run: same seed,
            # without the warning (a DDP worker inherits the launcher's PL_GLOBAL_SEED).
            seed_everything_default=_default_seed(),
            args=args,
            auto_configure_optimizers=False,
        )

    # --------------------------------------------------------------- parser

    def subcommands(self) -> dict[str, set[str]]:  # type: ignore[override]  # Lightning calls self.subcommands()
        """Lightning's subcommands and the Trainer arguments each skips, reduced to the one this command runs.

        ``genfw`` prints its own overview of the subcommands, and one command runs one of them: building the
        other three parsers (every Trainer, model, data and callback argument, again) would only cost start-up.
        """
        every = LightningCLI.subcommands()
        subcommand = getattr(self, "_subcommand", None)
        return {subcommand: every[subcommand]} if subcommand is not None else every

    def init_parser(self, **kwargs: Any) -> LightningArgumentParser:
        subcommand = kwargs.pop(_SUBCOMMAND_KWARG, None)
        if subcommand is not None and self._help:
            from gen_framework.cli.plugin_help import help_description

            kwargs["description"] = help_description(subcommand, kwargs.get("description"), self._options_class)
        parser = super().init_parser(**kwargs)
        if self._help:
            from gen_framework.cli.plugin_help import keep_paragraphs

            keep_paragraphs(parser)  # subcommand parsers take the root's formatter
        if subcommand is not None:
            # add_arguments_to_parser follows for this parser: it adds what only this subcommand takes
            self._parsers[subcommand] = parser
            self._building = subcommand
        return parser

    def setup_parser(
        self, add_subcommands: bool, main_kwargs: dict[str, Any], subparser_kwargs: dict[str, Any]
    ) -> None:
        super().setup_parser(add_subcommands, main_kwargs, subparser_kwargs)
        for parser in self._parsers.values():
            try:
                parser.get_default("weights_only")
            except KeyError:  # a Trainer method without the argument
                continue
            # checkpoints are read with weights_only: a pickle that would run code is refused
            parser.set_defaults({"weights_only": True})

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        from omegaconf.errors import OmegaConfBaseException

        try:
            super().parse_arguments(parser, args)
        except ArgumentError as err:
            subcommand = args[0] if isinstance(args, list) and args else None
            sub_parser = self._parsers.get(subcommand) if subcommand else None
            known = option_keys(sub_parser) if sub_parser is not None else []
            raise ConfigError(describe_argument_error(err, known, class_aliases())) from err
        except OmegaConfBaseException as err:
            raise ConfigError(describe_interpolation_error(err)) from err
        self._given = given_options(parser, args, self.config)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # ModelCheckpoint's arguments; its last.ckpt also holds the final step of every fit
        parser.add_lightning_class_args(RunCheckpoint, "checkpoint")
        parser.add_lightning_class_args(Preemption, "preemption")
        # NaN/Inf losses stop the run with a clear error (or roll back); --training_health.on_nonfinite off.
        parser.add_lightning_class_args(TrainingHealth, "training_health")
        # Metrics for `genfw test`/`validate`, and during fit when --evaluation.every_n_steps is set.
        parser.add_lightning_class_args(Evaluation, "evaluation")
        parser.set_defaults({"checkpoint.save_last": True})
        parser.add_argument(
            "--threads", type=Optional[int], default=None,
            help="CPU threads of each process for PyTorch's operators (torch.set_num_threads). Default: PyTorch's "
            "choice, one per physical core. On a machine busy with other work, 1 can be several times faster.",
        )
        if self._building == "predict":
            self._add_predict_arguments(parser)

    def _add_predict_arguments(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--num_samples", type=int, default=64, help="How many samples to write.")
        parser.add_argument("--output_dir", type=str, default="samples", help="Where to write the samples.")
        parser.add_argument("--seed", type=int, default=0, help="Seed of the first sample batch.")
        parser.add_argument("--batch_size", type=int, default=64, help="Samples drawn per predict step.")
        parser.add_argument("--overwrite", type=bool, default=False,
                            help="Replace a previous run's samples in --output_dir (else a non-empty folder "
                            "is refused).")
        parser.add_argument("--max_num_samples", type=int, default=DEFAULT_MAX_NUM_SAMPLES,
                            help="Upper bound on --num_samples; raise it on purpose for large runs.")
        parser.add_argument("--max_sample_length", type=int, default=DEFAULT_MAX_SAMPLE_LENGTH,
                            help="Upper bound on a sample's length in steps (max_new_tokens, seconds x rate).")
        if self._options_class is not None:
            parser.add_method_arguments(
                self._options_class, "generate_samples", "sampling", as_group=True, skip=_SAMPLING_SKIP
            )

    def _parse_ckpt_path(self) -> None:
        """Version-fenced override (no public hook): Lightning's version ``torch.load``s the whole checkpoint a
        second time to read its hyperparameters; the checkpoint authority already holds them."""
        if self._decision is not None and self.config.get("subcommand"):
            self.config = self._decision.apply_to(self.parser, self.config, self.config.subcommand)

    # ---------------------------------------------------------- instantiation

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        from lightning_fabric.utilities.exceptions import MisconfigurationException

        trainer_config = {**(self.config_init[self.subcommand].get("trainer") or {}), **kwargs}
        kwargs["callbacks"] = _with_genfw_callbacks(trainer_config)
        kwargs["plugins"] = _with_checkpoint_io(
            trainer_config.get("plugins"), trainer_config.get("strategy"), self._decision
        )
        try:
            trainer = super().instantiate_trainer(**kwargs)
        except GenFrameworkError:
            raise
        # Trainer(...) only checks its options here; an unavailable accelerator raises ImportError.
        except (MisconfigurationException, ValueError, ImportError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(f"trainer: {first}") from err
        skip_all_inherited_batch_hooks(trainer.callbacks)  # inherited no-op hooks cost a dispatch per batch
        keep_freed_memory()  # each step's buffers come back from the heap, not as fresh pages (_utils/heap.py)
        return trainer

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except (ValueError, RuntimeError, MemoryError) as err:
            too_large = describe_allocation_failure(err)
            if too_large is None:
                raise
            raise ConfigError(too_large) from err

    def before_instantiate_classes(self) -> None:
        sub = self.config.subcommand
        config = self.config[sub]
        if self._given is not None:
            # the data's image size, channels, context length reach the model (and a given model's reach the data)
            fixed = {f"model.init_args.{key}" for key in self._decision.hyperparameters} if self._decision else set()
            link_data_to_model(config, self._given | fixed)
        check_finite(config)
        if config.trainer.get("enable_checkpointing") is False and "checkpoint" in self._parsers[sub].callback_keys:
            # the checkpoint callback genfw always adds would make Trainer refuse enable_checkpointing=False
            self._parsers[sub].callback_keys.remove("checkpoint")
        check_output_dirs(self.config.subcommand, config)
        if config.get("threads") is not None:
            if config.threads < 1:
                raise ConfigError(f"--threads must be >= 1, got {config.threads}")
            import torch

            torch.set_num_threads(config.threads)
        if self.config.subcommand == "predict":
            _check_predict(config, self._decision)
        logger = config.trainer.get("logger")
        init_args = getattr(logger, "init_args", None)
        default_logger = init_args is not None and getattr(init_args, "name", None) == DEFAULT_LOGGER_NAME
        if init_args is not None and getattr(init_args, "name", None) == DEFAULT_LOGGER_NAME:
            record = registry.record_for_class(_import_class(config.model.class_path))
            if record is not None:
                init_args.name = record.name
        root = config.trainer.get("default_root_dir")
        if init_args is not None and getattr(init_args, "save_dir", None) == DEFAULT_RUNS_DIR and root not in (
            None, DEFAULT_RUNS_DIR
        ):
            # --trainer.default_root_dir alone moves the whole run, logs and checkpoints included.
            init_args.save_dir = root
        if self.config.subcommand == "predict":
            # Predicting writes only the samples: no logger directory, no saved config.
            config.trainer.logger = False
            self.save_config_callback = None
        if self.config.subcommand in ("validate", "test") and self._decision is not None:
            # Evaluating a checkpoint writes its metrics.json into the checkpoint's run, beside the training it
            # describes, rather than into a new runs/<plugin>/version_N; the default logger and config copy go.
            _results_into_run(config, default_logger)
            if config.trainer.get("logger") in (False, None):
                self.save_config_callback = None
        if config.trainer.get("logger") not in (False, None):
            # only a command that still logs gets a version_N folder, claimed before anything is written
            _reserve_run_folder(getattr(config.trainer.get("logger"), "init_args", None))

    def after_instantiate_classes(self) -> None:
        if self._decision is not None and self.model is not None:
            self._decision.check_weights(self.model)

    def before_fit(self) -> None:
        self._require_data("fit")
        self._check_data("fit")

    def before_validate(self) -> None:
        self._require_data("validate")
        self._check_data("validate")

    def before_test(self) -> None:
        self._require_data("test")
        self._check_data("test")

    def _check_data(self, stage: str) -> None:
        """Loads the data and lets the model check that it fits, as Lightning's setup would, but before the
        Trainer creates log files: a missing file or a model that does not fit its data leaves nothing behind."""
        from pytorch_lightning.utilities.model_helpers import is_overridden

        from gen_framework.data import GenerativeDataModule

        datamodule = self.datamodule
        # a datamodule that downloads in prepare_data must be left to Lightning (rank 0 first)
        if isinstance(datamodule, GenerativeDataModule) and not is_overridden("prepare_data", datamodule):
            datamodule.setup(stage)
            self.model.adopt_data_spec(datamodule.data_spec())

    def _require_data(self, subcommand: str) -> None:
        if self.datamodule is None:
            from gen_framework.data import DATAMODULES

            raise ConfigError(
                f"genfw {subcommand} needs data: pass --data NAME (one of {', '.join(sorted(DATAMODULES))}) "
                "or a config with a data section"
            )

    def before_predict(self) -> None:
        from gen_framework.callbacks.sample_writer import SampleWriter

        config = self.config_init["predict"]
        self.model.sampling_options = dict(config.get("sampling") or {})
        self.model.sample_seed = int(config["seed"])
        self.datamodule = SampleRequests(num_samples=config["num_samples"], batch_size=config["batch_size"])
        self._output_dir = Path(config["output_dir"])
        prepare_output_dir(self._output_dir, overwrite=bool(config.get("overwrite")))
        self.trainer.callbacks.append(SampleWriter(str(self._output_dir)))

    def after_fit(self) -> None:
        callback = self.trainer.checkpoint_callback
        if self.trainer.is_global_zero and callback is not None:
            last = getattr(callback, "last_model_path", "") or callback.best_model_path
            print(f"genfw: checkpoint written to {last}" if last else "genfw: no checkpoint written (no step taken)")
            # trainer.log_dir broadcasts across ranks; only rank 0 is here, so ask the logger directly.
            log_dir = getattr(self.trainer.logger, "log_dir", None)
            if log_dir:
                print(f"genfw: logs in {log_dir}")

    def after_predict(self) -> None:
        if self.trainer.is_global_zero:
            print(f"genfw: samples written to {self._output_dir.resolve()}")


def _reserve_run_folder(init_args: Any) -> None:
    """Claims the logger's ``version_N`` folder atomically (two fits started together never share one)."""
    from gen_framework.cli.run_dirs import is_main_process, reserve_version

    if init_args is None or "version" not in init_args or init_args.version is not None or not is_main_process():
        return
    save_dir, name = getattr(init_args, "save_dir", None), getattr(init_args, "name", None)
    if not isinstance(save_dir, str | os.PathLike) or "://" in str(save_dir) or not isinstance(name, str | None):
        return
    init_args.version = reserve_version(Path(save_dir) / (name or ""))


def _check_predict(config: Any, decision: CheckpointDecision | None) -> None:
    """The predict request's bounds, and an output folder that holds no other run's samples (unless --overwrite)."""
    spec = decision.data_spec if decision is not None else {}
    check_predict_request(
        num_samples=config["num_samples"], batch_size=config["batch_size"], seed=config["seed"],
        sampling=dict(config.get("sampling") or {}), sample_rate=spec.get("sample_rate"),
        max_num_samples=config["max_num_samples"], max_sample_length=config["max_sample_length"],
    )
    prepare_output_dir(Path(config["output_dir"]), overwrite=bool(config["overwrite"]), check_only=True)


def _default_seed() -> int:
    """``--seed_everything``'s default: the launcher's ``PL_GLOBAL_SEED`` in a DDP worker, else 0."""
    try:
        return int(os.environ.get("PL_GLOBAL_SEED", "0"))
    except ValueError:
        return 0


def _with_genfw_callbacks(trainer_config: dict[str, Any]) -> list[Any]:
    """The configured callbacks plus genfw's: its progress bar and model summary (unless the config turns them
    off or chooses its own), the last step's logging and the SIGTERM/SIGINT stop."""
    from pytorch_lightning.callbacks import ModelSummary as LightningModelSummary
    from pytorch_lightning.callbacks import ProgressBar as LightningProgressBar

    from gen_framework.callbacks.last_step_logging import LastStepLogging
    from gen_framework.callbacks.model_summary import ModelSummary
    from gen_framework.callbacks.progress import ProgressBar

    configured = trainer_config.get("callbacks")
    callbacks = [] if configured is None else list(configured) if isinstance(configured, list) else [configured]
    if trainer_config.get("enable_progress_bar", True) is not False and not any(
        isinstance(c, LightningProgressBar) for c in callbacks
    ):
        callbacks.append(ProgressBar())
    if trainer_config.get("enable_model_summary", True) is not False and not any(
        isinstance(c, LightningModelSummary) for c in callbacks
    ):
        callbacks.append(ModelSummary())
    return [*callbacks, LastStepLogging(), SignalStop()]


def _with_checkpoint_io(plugins: Any, strategy: Any, decision: CheckpointDecision | None) -> Any:
    """Trainer plugins with :class:`AtomicCheckpointIO` added (:class:`ReadOnceCheckpointIO` when a checkpoint
    decides the model: it serves that checkpoint from memory), unless a checkpoint writer is already chosen."""
    from lightning_fabric.plugins import CheckpointIO

    listed = [] if plugins is None else list(plugins) if isinstance(plugins, list | tuple) else [plugins]
    if any(isinstance(p, CheckpointIO) for p in listed) or getattr(strategy, "_checkpoint_io", None) is not None:
        return plugins
    return [*listed, ReadOnceCheckpointIO(decision) if decision is not None else AtomicCheckpointIO()]


def checkpoint_run_dir(ckpt_path: str | os.PathLike[str]) -> Path:
    """The run folder of a checkpoint: ``runs/P/version_N`` for ``runs/P/version_N/checkpoints/last.ckpt``, else
    the checkpoint's own folder."""
    folder = Path(ckpt_path).resolve().parent
    return folder.parent if folder.name == "checkpoints" else folder


def _results_into_run(config: Any, default_logger: bool) -> None:
    evaluation = config.get("evaluation")
    if evaluation is not None and evaluation.get("directory") is None:
        evaluation.directory = str(checkpoint_run_dir(config.ckpt_path))
    if default_logger:
        config.trainer.logger = False


def _import_class(class_path: str) -> type:
    import importlib

    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)

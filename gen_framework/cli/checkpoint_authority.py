"""The checkpoint decides the model: the one place where ``genfw`` applies that rule.

A command given a checkpoint (``--ckpt_path PATH|last``, or ``ckpt_path`` in a config) runs the model the
checkpoint holds: its class and its init args. ``--model`` may be left out; a ``--model`` or ``--model.*`` that
contradicts the file is refused, naming both sides, rather than silently replaced by the stored value.

Each checkpoint is read once, here (integrity-checked, ``weights_only``, see
:func:`gen_framework.persistence.checkpoint.read_checkpoint`):

1. :func:`decide`, before the parser is built (the class decides which ``--sampling.*`` options exist), resolves
   ``last``, reads the file, finds its class and refuses contradictions;
2. :meth:`CheckpointDecision.apply_to` puts the stored class and init args into the parsed config;
3. :meth:`CheckpointDecision.check_weights` compares the built model with the stored tensors;
4. :class:`ReadOnceCheckpointIO` hands the same dict to Lightning's checkpoint loader instead of a second
   ``torch.load`` of the whole file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gen_framework.persistence.checkpoint_io import AtomicCheckpointIO
from gen_framework.cli.arguments import class_path, config_section, option, plugin_name, same_class, set_option
from gen_framework.errors import CheckpointError, ConfigError

if TYPE_CHECKING:
    from gen_framework.families.base import GenerativeModule


@dataclass
class CheckpointDecision:
    """What one checkpoint fixes for a command: its file, its model class and the stored init args.

    Attributes:
        path: The checkpoint file (``last`` already resolved).
        model_class: The class that wrote it, found among the installed plugins.
        hyperparameters: The stored init args (Lightning's private ``_`` entries left out).
        data_spec: What the model was trained on (image size, vocabulary, sample rate), ``{}`` if not stored.
    """

    path: str
    model_class: type[GenerativeModule]
    hyperparameters: dict[str, Any]
    data_spec: dict[str, Any]
    _checkpoint: dict[str, Any] | None = field(repr=False)

    @classmethod
    def read(cls, path: str, *, typed_class_path: str | None = None) -> CheckpointDecision:
        """Reads ``path`` (the only read of this file) and finds the model class it belongs to."""
        from gen_framework.persistence.checkpoint import checkpoint_class, read_checkpoint
        from gen_framework.families.base import CHECKPOINT_KEY

        checkpoint = read_checkpoint(path)
        model_class = checkpoint_class(checkpoint, source=path, typed_class_path=typed_class_path)
        stored = {k: v for k, v in (checkpoint.get("hyper_parameters") or {}).items() if not k.startswith("_")}
        spec = (checkpoint.get(CHECKPOINT_KEY) or {}).get("data_spec") or {}
        return cls(path, model_class, stored, dict(spec), checkpoint)

    @property
    def checkpoint(self) -> dict[str, Any]:
        """The checkpoint dict, until it was handed to Lightning's loader."""
        if self._checkpoint is None:
            raise RuntimeError(f"the checkpoint {self.path} was already handed to Lightning's loader")
        return self._checkpoint

    def model_config(self) -> dict[str, Any]:
        """The ``model`` section the checkpoint fixes: ``{"class_path": ..., "init_args": ...}``."""
        return {"class_path": class_path(self.model_class), "init_args": dict(self.hyperparameters)}

    def apply_to(self, parser: Any, config: Any, subcommand: str) -> Any:
        """``config`` with the checkpoint's class and init args as the ``subcommand``'s model.

        Raises:
            CheckpointError: The stored init args do not fit the class (the file was edited or written by
                another version of the plugin).
        """
        from jsonargparse import ArgumentError

        from gen_framework.cli.errors import describe_argument_error

        try:
            return parser.parse_object({subcommand: {"model": self.model_config()}}, config)
        except ArgumentError as err:
            raise CheckpointError(
                f"the hyperparameters stored in the checkpoint {self.path} do not fit {self.model_class.__name__}: "
                f"{describe_argument_error(err)}"
            ) from err

    def check_weights(self, model: Any) -> None:
        """Raises :class:`CheckpointError` when ``model``'s tensors differ in name or shape from the stored ones."""
        from gen_framework.persistence.checkpoint import check_weights_fit

        check_weights_fit(model, self.checkpoint, source=self.path)

    def hand_over(self, path: str | os.PathLike[str]) -> dict[str, Any] | None:
        """The checkpoint dict, once, when ``path`` is this checkpoint's file (Lightning restores from it and may
        change it in place, so it is given away and not kept); ``None`` otherwise."""
        if self._checkpoint is None or not _same_file(path, self.path):
            return None
        checkpoint, self._checkpoint = self._checkpoint, None
        return checkpoint


def _same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, TypeError, ValueError):  # a remote URL, a missing file
        return False


def decide(
    subcommand: str,
    ckpt_path: str,
    *,
    requested_model: str | None,
    plugin: str | None,
    overrides: dict[str, tuple[str, Any]],
    runs_root: str | os.PathLike[str],
) -> CheckpointDecision:
    """Reads the checkpoint a command names and refuses what contradicts it.

    Args:
        subcommand: ``fit`` (resuming: the file must hold the optimiser state), ``validate``, ``test``, ``predict``.
        ckpt_path: A checkpoint file, or ``last``: the newest finished run's (of ``plugin``, when given).
        requested_model: The class the command names (``--model`` or the config's ``model.class_path``), if any.
        plugin: The registry name ``requested_model`` belongs to; narrows ``last`` to that plugin's runs.
        overrides: Model init args the command sets (see :func:`gen_framework.cli.resume.model_overrides`).
        runs_root: Where ``last`` is searched (``--trainer.default_root_dir``, default ``runs``).

    Raises:
        ConfigError: ``--model`` names another class, or an init arg differs from the stored value.
        CheckpointError: The file is missing, unreadable, unsafe, or (for ``fit``) holds weights only.
    """
    from gen_framework.cli.resume import check_overrides_agree, check_resumable
    from gen_framework.cli.run_dirs import find_last_checkpoint

    if ckpt_path == "last":
        ckpt_path = str(find_last_checkpoint(runs_root, plugin=plugin))
    decision = CheckpointDecision.read(ckpt_path, typed_class_path=requested_model)
    cls = decision.model_class
    if subcommand == "fit":
        check_resumable(decision.checkpoint, ckpt_path)
    if requested_model is not None and not same_class(requested_model, cls):
        raise ConfigError(
            f"--model {requested_model} contradicts the checkpoint {ckpt_path}, which holds a {cls.__name__} "
            f"({class_path(cls)}); drop --model or pick a checkpoint of that model"
        )
    check_overrides_agree(overrides, decision.hyperparameters, ckpt_path=ckpt_path, model_name=cls.__name__)
    return decision


def decide_for_command(
    args: list[str], files: list[Path], *, plugin: str | None = None
) -> tuple[list[str], CheckpointDecision | None]:
    """The checkpoint a command line (subcommand first) and its ``--config`` files name, applied: returns the
    arguments with ``last`` resolved and ``--model`` set to the checkpoint's class, and the decision (``None`` when
    no checkpoint is named).

    Args:
        plugin: The registry name the user gave with ``--model``, if any (``last`` is searched within its runs).

    Raises:
        ConfigError: ``predict`` without a checkpoint, a config whose ``ckpt_path`` is not a string, or
            anything :func:`decide` refuses.
    """
    from gen_framework.cli.resume import model_overrides
    from gen_framework.cli.run_dirs import DEFAULT_RUNS_DIR

    subcommand = args[0]
    ckpt = option(args, "--ckpt_path")
    config_ckpt = config_section(files, "ckpt_path")
    if ckpt is None and config_ckpt is not None:
        # a config's ckpt_path gets the same checks and authority as --ckpt_path
        if not isinstance(config_ckpt, str):
            raise ConfigError(f"ckpt_path in a config must be a path or 'last', got {config_ckpt!r}")
        args = [*args, "--ckpt_path", config_ckpt]
        ckpt = option(args, "--ckpt_path")
    if ckpt is None:
        if subcommand == "predict":
            raise ConfigError("genfw predict needs --ckpt_path: a checkpoint written by genfw fit, or 'last'")
        return args, None
    requested = option(args, "--model")
    config_model = config_section(files, "model")
    if isinstance(config_model, dict) and config_model.get("class_path") and requested is None:
        requested = (-1, str(config_model["class_path"]))
        plugin = plugin_name(requested[1])
    root = option(args, "--trainer.default_root_dir")
    decision = decide(
        subcommand, ckpt[1], requested_model=requested[1] if requested else None, plugin=plugin,
        overrides=model_overrides(args, config_model), runs_root=root[1] if root else DEFAULT_RUNS_DIR,
    )
    if ckpt[1] != decision.path:  # 'last', resolved
        args = set_option(args, "--ckpt_path", decision.path)
    if option(args, "--model") is None:
        args = [*args, "--model", class_path(decision.model_class)]
    return args, decision


class ReadOnceCheckpointIO(AtomicCheckpointIO):
    """The Trainer's checkpoint writer and reader: atomic writes, and the first load of the decided checkpoint
    answered with the dict :func:`decide` already read (integrity-checked and read with ``weights_only`` then)."""

    def __init__(self, decision: CheckpointDecision | None) -> None:
        super().__init__()
        self.decision = decision

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> Any:
        served = self.decision.hand_over(path) if self.decision is not None else None
        if served is not None:
            return served
        if map_location is None:  # Lightning's own default keeps each tensor where it was saved
            return super().load_checkpoint(path, weights_only=weights_only)
        return super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)


__all__ = ["CheckpointDecision", "ReadOnceCheckpointIO", "decide", "decide_for_command"]

"""What a command may say about the model when a checkpoint decides it.

A checkpoint fixes the model's class and init args. Repeating them (re-running the original ``genfw fit``
line with ``--ckpt_path last``) is fine; a value that differs from the stored one is refused with both
values named, instead of being silently replaced by the stored one.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from gen_framework.errors import CheckpointError, ConfigError

_PREFIXES = ("--model.init_args.", "--model.")


def model_overrides(args: list[str], config_model: Any) -> dict[str, tuple[str, Any]]:
    """The model init args the command sets: ``{name: (where, value)}``, command line over config files."""
    found: dict[str, tuple[str, Any]] = {}
    if isinstance(config_model, dict) and isinstance(config_model.get("init_args"), dict):
        for name, value in config_model["init_args"].items():
            found[str(name)] = ("the config's model.init_args", value)
    for i, arg in enumerate(args):
        if not arg.startswith("--model."):
            continue
        option, has_value, value = arg.partition("=")
        if not has_value:
            if i + 1 >= len(args):
                continue
            value = args[i + 1]
        prefix = next(p for p in _PREFIXES if option.startswith(p))
        name = option[len(prefix):]
        if name == "class_path" or not name:
            continue
        found[name] = (option, _parse(value))
    return found


def check_overrides_agree(
    overrides: dict[str, tuple[str, Any]], stored: dict[str, Any], *, ckpt_path: str, model_name: str
) -> None:
    """Raises :class:`ConfigError` for the first override whose value differs from the checkpoint's."""
    for name, (where, value) in overrides.items():
        if name not in stored:
            raise ConfigError(
                f"{where.rstrip('.') if where.startswith('--') else where}: {model_name} in the checkpoint "
                f"{ckpt_path} has no init arg {name!r}; it stores {', '.join(sorted(stored)) or 'none'}"
            )
        if not _same(value, stored[name]):
            shown = where if where.startswith("--") else f"{name} in {where}"
            raise ConfigError(
                f"{shown} is {value!r} but the checkpoint {ckpt_path} was trained with {name}={stored[name]!r}; "
                "the checkpoint fixes the model's arguments: drop the option or use the stored value"
            )


def check_resumable(checkpoint: dict[str, Any], ckpt_path: str) -> None:
    """Raises :class:`CheckpointError` when ``genfw fit --ckpt_path`` is given a weights-only checkpoint."""
    missing = [key for key in ("optimizer_states", "loops") if key not in checkpoint]
    if missing:
        raise CheckpointError(
            f"{ckpt_path} holds the model's weights only (saved with save_weights_only: no {', '.join(missing)}), "
            "so a fit cannot resume from it; use it with validate, test or predict, or resume from a full "
            "checkpoint such as last.ckpt"
        )


def _parse(text: str) -> Any:
    """A command-line value as jsonargparse reads it (YAML scalars, lists and mappings)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _same(given: Any, stored: Any) -> bool:
    if isinstance(given, bool) or isinstance(stored, bool):
        return given is stored or given == stored and type(given) is type(stored)
    if isinstance(given, int | float) and isinstance(stored, int | float):
        return math.isclose(given, stored, rel_tol=1e-12, abs_tol=0.0) or given == stored
    if isinstance(given, list | tuple) and isinstance(stored, list | tuple):
        return len(given) == len(stored) and all(_same(a, b) for a, b in zip(given, stored))
    if isinstance(given, dict) and isinstance(stored, dict):
        return given.keys() == stored.keys() and all(_same(given[k], stored[k]) for k in given)
    if isinstance(given, str) and not isinstance(stored, str) and stored is not None:
        return given == str(stored)
    if isinstance(stored, Path) or isinstance(given, Path):
        return str(given) == str(stored)
    return given == stored

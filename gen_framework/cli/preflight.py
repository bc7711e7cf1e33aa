"""Checks ``genfw`` runs before it builds or writes anything: config files' shape and the output directories.

Each check raises :class:`~gen_framework.errors.ConfigError` naming the file or the option, so a mistake costs
one line on the terminal instead of a traceback after the model has been built, and no file is left half
written.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from gen_framework.errors import ConfigError

#: Top-level config sections whose value must be a mapping of options (``model`` and ``data`` may be a class path).
MAPPING_SECTIONS = ("trainer", "checkpoint", "preemption", "evaluation", "training_health", "sampling")
CLASS_SECTIONS = ("model", "data")
#: Limits far above any real config (ours hold about a hundred values, six levels deep).
MAX_CONFIG_VALUES = 100_000
MAX_CONFIG_DEPTH = 50
MAX_CONFIG_BYTES = 1024**2


def read_config(path: Path) -> dict[str, Any]:
    """The top-level mapping of the config file at ``path`` (a plain YAML read: no tags, nothing evaluated).

    Raises:
        ConfigError: naming the file (and line and column for a syntax error) when it cannot be read, is not
            valid YAML, or is not a mapping of sections whose option groups are mappings.
    """
    import yaml

    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from err
    if len(raw) > MAX_CONFIG_BYTES:
        # parsing a huge file takes minutes and gigabytes before any other check could refuse it
        raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES // 1024**2} MiB; configs are a few KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"config file {path} is not UTF-8 text: byte 0x{raw[err.start]:02x} at byte offset {err.start}"
        ) from err
    try:
        content = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {yaml_problem(err)}") from err
    except RecursionError as err:
        raise ConfigError(f"config file {path} nests lists or mappings too deeply to be read") from err
    if content is None:
        raise ConfigError(
            f"config file {path} is empty; give at least one section (trainer, model, data, ...) or drop it"
        )
    check_structure(content, path)
    if not isinstance(content, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping of sections (trainer, model, data, ...), "
            f"got a {type(content).__name__}"
        )
    for key, value in content.items():
        if not isinstance(key, str):
            raise ConfigError(f"config file {path}: section names must be text, got {key!r}")
        if key in MAPPING_SECTIONS and value is not None and not isinstance(value, dict):
            raise ConfigError(
                f"config file {path}: `{key}` must be a mapping of options ({key}: {{name: value}}), got {value!r}"
            )
        if key in CLASS_SECTIONS and isinstance(value, dict):
            init_args = value.get("init_args")
            if init_args is not None and not isinstance(init_args, dict):
                raise ConfigError(
                    f"config file {path}: `{key}.init_args` must be a mapping of options, got {init_args!r}"
                )
    return content


def check_structure(content: Any, path: Path) -> None:
    """Refuses what YAML aliases can build but no config needs: a value that contains itself, more than
    :data:`MAX_CONFIG_VALUES` values once aliases are expanded (a few lines can expand to billions), or nesting
    deeper than :data:`MAX_CONFIG_DEPTH`. Each would otherwise exhaust memory or the stack while parsing."""
    expanded: dict[int, int] = {}  # id of a list or mapping -> its number of values with aliases expanded
    # iterative depth-first walk: (node, depth, children already counted)
    stack: list[tuple[Any, int, bool]] = [(content, 1, False)]
    open_nodes: set[int] = set()
    while stack:
        node, depth, done = stack.pop()
        if not isinstance(node, (dict, list)) or (not done and id(node) in expanded):
            continue
        children = list(node.values()) if isinstance(node, dict) else node
        if done:
            open_nodes.discard(id(node))
            expanded[id(node)] = 1 + sum(expanded.get(id(c), 1) for c in children)
            if expanded[id(node)] > MAX_CONFIG_VALUES:
                raise ConfigError(
                    f"config file {path} holds more than {MAX_CONFIG_VALUES:,} values (YAML aliases, *name, count "
                    "once per use); configs hold about a hundred"
                )
            continue
        if id(node) in open_nodes:
            raise ConfigError(f"config file {path} has a value that contains itself through a YAML alias (*name)")
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"config file {path} nests lists or mappings more than {MAX_CONFIG_DEPTH} levels deep")
        open_nodes.add(id(node))
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in children)


def yaml_problem(err: Exception) -> str:
    """A YAML syntax error as one line: where, what, and in which construct."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or (str(err).strip().splitlines() or [type(err).__name__])[0]
    context = getattr(err, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    hint = "; indent with spaces, not tabs" if "'\\t'" in problem else ""
    return f"{where}{problem}" + (f" ({context})" if context else "") + hint


def check_output_dir(option: str, path: str | os.PathLike[str] | None) -> None:
    """Raises :class:`ConfigError` unless ``path`` is, or can be created as, a writable directory.

    Remote paths (``s3://...``) are left to their file system.
    """
    if path is None or "://" in str(path):
        return
    path = Path(os.path.expanduser(str(path)))
    try:
        _check_dir(option, path)
    except OSError as err:  # a name longer than the file system allows, a loop of links, ...
        raise ConfigError(f"{option} {path} cannot be used: {err.strerror or err}") from err


def _check_dir(option: str, path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path} is an existing file, not a directory; choose a directory")
    existing = path if path.exists() else next((p for p in path.absolute().parents if p.exists()), None)
    if existing is None:
        return
    if not existing.is_dir():
        raise ConfigError(f"{option} {path} cannot be created: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "is not writable" if existing == path else f"cannot be created: {existing} is not writable"
        raise ConfigError(f"{option} {path} {what}; choose another directory or change its permissions")


def check_output_dirs(subcommand: str, config: Any) -> None:
    """Checks every directory the subcommand ``config`` (a jsonargparse namespace) would write into."""
    if subcommand == "predict":
        check_output_dir("--output_dir", config.get("output_dir"))
        return
    trainer = config.get("trainer") or {}
    check_output_dir("--trainer.default_root_dir", trainer.get("default_root_dir"))
    loggers = trainer.get("logger")
    for logger in loggers if isinstance(loggers, list) else [loggers]:
        init_args = getattr(logger, "init_args", None) or {}
        for name in ("save_dir", "root_dir"):
            value = init_args.get(name) if hasattr(init_args, "get") else None
            if isinstance(value, (str, os.PathLike)):
                check_output_dir(f"--trainer.logger.init_args.{name}", value)
    checkpoint = config.get("checkpoint") or {}
    if subcommand == "fit":
        check_output_dir("--checkpoint.dirpath", checkpoint.get("dirpath"))


def check_finite(config: Any) -> None:
    """Refuses NaN anywhere in a parsed config, and an infinite number in the model's or data's init args.

    Range checks written as ``value <= 0`` let NaN through, and a NaN or infinite size, rate or weight can only
    make training diverge, so they are refused here once, for every plugin, naming the key.
    """
    for key, value in config.items():
        for number in _numbers(value):
            infinite_allowed = not key.startswith(("model.init_args.", "data.init_args."))
            if math.isnan(number) or (math.isinf(number) and not infinite_allowed):
                raise ConfigError(f"{key} must be a finite number, got {value!r}")


def describe_allocation_failure(err: BaseException) -> str | None:
    """One line for a model whose tensors could not be allocated while it was built, else ``None``.

    jsonargparse reports such a failure as a type mismatch of the ``model`` option ("Expected a NoneType"); the
    allocator's error is in the chain or quoted in the message.
    """
    import re

    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        asked = re.search(r"can't allocate memory: you tried to allocate (\d+) bytes", str(current))
        if asked is not None or isinstance(current, MemoryError):
            size = f" ({int(asked.group(1)) / 1024**3:,.1f} GiB)" if asked else ""
            return (
                f"the model is too large to build: a tensor did not fit in memory{size}; reduce the model's sizes "
                "(--model.init_args.*)"
            )
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _numbers(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, (list, tuple)):
        return [n for item in value for n in _numbers(item)]
    if isinstance(value, dict):
        return [n for item in value.values() for n in _numbers(item)]
    return []


__all__ = ["check_finite", "check_structure", "check_output_dir", "check_output_dirs", "read_config", "yaml_problem"]

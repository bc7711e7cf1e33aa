"""The ``genfw`` command: ``fit | validate | test | predict`` on LightningCLI, plus ``plugins``.

What this module adds to LightningCLI:

- plugins are discovered before the parser is built, so ``--model DCGAN`` resolves, and registry names work
  too (``--model dcgan``); datamodules by short name (``--data mnist``);
- a checkpoint decides the model: ``validate | test | predict --ckpt_path K`` need no ``--model``, a
  ``--model`` or ``--model.*`` that contradicts the checkpoint is an error rather than silently ignored, and
  ``--ckpt_path last`` finds the newest checkpoint;
- ``predict`` writes ``--num_samples`` samples to ``--output_dir`` with ``--sampling.*`` options;
- each run gets its own log directory, so running twice in one directory never fails on ``config.yaml``;
- user errors print one message and exit with code 2 (``--debug`` or ``GEN_FRAMEWORK_DEBUG=1`` for the
  traceback).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from gen_framework.errors import CheckpointError, ConfigError, GenFrameworkError, PluginError

SUBCOMMANDS = ("fit", "validate", "test", "predict")
DEBUG_ENV = "GEN_FRAMEWORK_DEBUG"
_USAGE = """usage: genfw {fit,validate,test,predict,plugins} [options]

  genfw fit --config configs/dcgan/mnist.yaml        train
  genfw predict --ckpt_path last --num_samples 64     sample from a checkpoint
  genfw plugins [--json] [--check]                    list installed plugins (--check: import each)
  genfw plugins NAME                                  a plugin's options, configs and sampling options
  genfw new-plugin NAME --family F                    write a new plugin distribution
  genfw SUBCOMMAND --help                             every option of a subcommand
"""


def main(argv: list[str] | None = None) -> int:
    """Run ``genfw`` with ``argv`` (default: the process arguments); returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")
    args = [a for a in args if a != "--debug"]
    try:
        if not args or args[0] in ("-h", "--help"):
            print(_USAGE, end="")
            return 0 if args else 2
        if args[0] == "plugins":
            return plugins_command(args[1:])
        if args[0] == "new-plugin":
            return new_plugin_command(args[1:])
        if args[0] not in SUBCOMMANDS:
            raise ConfigError(
                f"unknown subcommand {args[0]!r}; choose one of {', '.join(SUBCOMMANDS)}, plugins, new-plugin"
            )
        args = _attach_negative_values(args)
        for arg in args:
            if "\x00" in arg:
                raise ConfigError(f"argument {arg!r} contains a NUL character")
            if not arg.isascii():
                try:
                    arg.encode("utf-8")
                except UnicodeEncodeError:  # bytes that were not UTF-8 on the command line
                    raise ConfigError(f"argument {arg!r} is not valid UTF-8 text") from None
        from gen_framework._quiet import quiet_third_party

        with quiet_third_party(args[0]):
            run_lightning_cli(args)
        return 0
    except Exception as err:
        user_error = find_user_error(err) or _system_error(err)
        if user_error is None or debug:
            raise
        # one line, even when a message quotes a value or a library error that spans several
        message = " ".join(line.strip() for line in str(user_error).splitlines() if line.strip())
        print(f"genfw: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C before or after a stage (during one, SignalStop handles it)
        print("genfw: stopped by SIGINT", file=sys.stderr)
        return 130
    except SystemExit as exit_:
        stopped = _stopped_by_signal(exit_)
        if stopped is not None:
            print(stopped[1], file=sys.stderr)
            return stopped[0]
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 2)


def _system_error(err: BaseException) -> GenFrameworkError | None:
    """A full disk or quota behind ``err``, as a one-line error naming the file (``None`` for anything else)."""
    import errno

    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            where = f" while writing {current.filename}" if current.filename else ""
            return GenFrameworkError(
                f"{current.strerror or 'no space left on device'}{where}; free some space, then resume with "
                "--ckpt_path last (the last complete checkpoint was kept)"
            )
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _stopped_by_signal(exit_: SystemExit) -> tuple[int, str] | None:
    """Exit code and line for a run stopped by SIGTERM/SIGINT (only possible once Lightning is imported)."""
    if "pytorch_lightning" not in sys.modules:
        return None
    from gen_framework.callbacks.signal_stop import describe_stop

    return describe_stop(exit_)


_NEGATIVE_NUMBER = re.compile(r"-(\d[\d_]*\.?\d*|\.\d+)([eE][-+]?\d+)?|-inf|-\.inf")


def _attach_negative_values(args: list[str]) -> list[str]:
    """``--opt -1e-3`` as ``--opt=-1e-3``: argparse reads a value such as ``-1e-3`` as an option name."""
    out: list[str] = []
    for arg in args:
        if out and out[-1].startswith("--") and "=" not in out[-1] and _NEGATIVE_NUMBER.fullmatch(arg):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def find_user_error(err: BaseException) -> GenFrameworkError | None:
    """The framework error behind ``err`` (jsonargparse and Lightning wrap errors raised in user classes)."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, GenFrameworkError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


# ------------------------------------------------------------------ plugins


def plugins_command(args: list[str]) -> int:
    """``genfw plugins [--json] [--check] [NAME]``: installed plugins, or one plugin's options and configs.

    The list is read from installed metadata and a validation cache (:mod:`gen_framework.registry.plugin_index`);
    ``--check`` imports and validates every plugin again.
    """
    flags = ("--json", "--check")
    names = [a for a in args if not a.startswith("-")]
    unknown = [a for a in args if a.startswith("-") and a not in flags]
    if unknown or len(names) > 1:
        raise ConfigError(f"genfw plugins takes [--json] [--check] [NAME], got {' '.join(args)}")
    if names:
        from gen_framework._plugin_help import describe_plugin

        print(describe_plugin(names[0], as_json="--json" in args), end="")
        return 0
    from gen_framework.registry.plugin_index import plugin_rows

    records = plugin_rows(check="--check" in args)
    if "--json" in args:
        print(json.dumps(records, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="gen-framework plugins", caption="genfw plugins NAME: a plugin's options, configs, sampling")
    for column in ("name", "version", "family", "distribution", "status", "error"):
        table.add_column(column)
    for r in records:
        colour = {"ok": "green", "broken": "red", "incompatible": "yellow"}.get(r["status"], "white")
        table.add_row(
            r["name"], r["version"] or "-", r["family"] or "-", r["distribution"] or "-",
            f"[{colour}]{r['status']}[/{colour}]", r["error"] or "",
        )
    Console(width=max(120, Console().width)).print(table)
    return 0


def new_plugin_command(args: list[str]) -> int:
    """``genfw new-plugin NAME --family F [--output DIR]``: write a plugin distribution that passes the kit."""
    import argparse

    from gen_framework.registry.spec import FAMILIES
    from gen_framework.scaffold import new_plugin

    parser = argparse.ArgumentParser(prog="genfw new-plugin", description="Write a new plugin distribution.")
    parser.add_argument("name", help="registry name, ^[a-z][a-z0-9_]*$")
    parser.add_argument("--family", required=True, choices=FAMILIES)
    parser.add_argument("--output", default=None, help="directory to write (default: ./NAME)")
    options = parser.parse_args(args)
    from gen_framework._preflight import check_output_dir

    check_output_dir("--output", options.output or options.name)
    target = new_plugin(options.name, options.family, options.output)
    print(f"genfw: wrote plugin {options.name!r} to {target}; install it with: pip install {target}")
    return 0


# ------------------------------------------------------- argument rewriting


def _option(args: list[str], name: str) -> tuple[int, str] | None:
    """Index and value of the last ``--name V`` / ``--name=V`` in ``args``."""
    found = None
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            found = (i, args[i + 1])
        elif arg.startswith(name + "="):
            found = (i, arg.split("=", 1)[1])
    return found


def _set_option(args: list[str], name: str, value: str) -> list[str]:
    """``args`` with every ``--name`` occurrence's value replaced by ``value``."""
    out = list(args)
    for i, arg in enumerate(out):
        if arg == name and i + 1 < len(out):
            out[i + 1] = value
        elif arg.startswith(name + "="):
            out[i] = f"{name}={value}"
    return out


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def resolve_model_name(value: str) -> str:
    """A plugin name (``dcgan``) becomes its class path; class names and paths pass through."""
    from gen_framework.registry import registry

    if value.startswith(("{", "[")) or value.endswith((".yaml", ".yml", ".json")):
        return value
    if "." not in value and value.islower():
        return _class_path(registry.get(value).module_class)
    return value


def resolve_data_name(value: str) -> str:
    """A datamodule short name (``mnist``) becomes its class path; class names and paths pass through."""
    from gen_framework.data import DATAMODULES

    if value in DATAMODULES:
        return _class_path(DATAMODULES[value])
    if "." not in value and value.islower() and not value.startswith(("{", "[")):
        raise ConfigError(f"unknown datamodule {value!r}; available: {', '.join(sorted(DATAMODULES))}")
    return value


def _config_files(args: list[str]) -> list[Path]:
    """The ``--config`` files in ``args``, each checked to be a readable YAML mapping of sections."""
    from gen_framework._preflight import read_config

    files = []
    for i, arg in enumerate(args):
        if arg in ("-c", "--config") and i + 1 < len(args):
            files.append(Path(args[i + 1]))
        elif arg.startswith("--config="):
            files.append(Path(arg.split("=", 1)[1]))
    for path in files:
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        read_config(path)
    return files


def _config_section(files: list[Path], key: str) -> Any:
    """The value of top-level ``key`` in the last config file that sets it (plain YAML read, no eval)."""
    from gen_framework._preflight import read_config

    value = None
    for path in files:
        content = read_config(path)
        if key in content:
            value = content[key]
    return value


def _same_class(requested: str, cls: type) -> bool:
    """True when ``requested`` (class name, class path or re-exported path) names ``cls``."""
    if requested in (_class_path(cls), cls.__name__, cls.__qualname__):
        return True
    module_name, _, attr = requested.rpartition(".")
    if not module_name:
        return False
    import importlib

    try:
        return getattr(importlib.import_module(module_name), attr, None) is cls
    # a name such as "..." or ".x" is a relative import, which import_module refuses with TypeError
    except (ImportError, TypeError, ValueError):
        return False


def _plugin_name(value: str) -> str | None:
    """The registry name of the plugin a ``--model`` value names (``dcgan``, a class name or a class path)."""
    from gen_framework.registry import registry

    if "." not in value and value.islower():
        return value
    for cls in registry.module_classes():
        if value in (_class_path(cls), cls.__name__):
            record = registry.record_for_class(cls)
            return record.name if record is not None else None
    return None


def prepare_args(args: list[str]) -> tuple[list[str], type | None, dict[str, Any] | None]:
    """Rewrite short names and apply the checkpoint's authority; returns (args, checkpoint class, checkpoint)."""
    from gen_framework._resume import check_overrides_agree, check_resumable, model_overrides
    from gen_framework.persistence.checkpoint import checkpoint_class, find_last_checkpoint, read_checkpoint

    subcommand = args[0]
    if any(a in ("-h", "--help") for a in args):
        return args, _help_model_class(args), None
    model = _option(args, "--model")
    plugin_scope = _plugin_name(model[1]) if model is not None else None
    if model is not None:
        args = _set_option(args, "--model", resolve_model_name(model[1]))
    data = _option(args, "--data")
    if data is not None:
        args = _set_option(args, "--data", resolve_data_name(data[1]))
    files = _config_files(args)

    ckpt = _option(args, "--ckpt_path")
    config_ckpt = _config_section(files, "ckpt_path")
    if ckpt is None and config_ckpt is not None:
        # a config's ckpt_path gets the same checks and authority as --ckpt_path
        if not isinstance(config_ckpt, str):
            raise ConfigError(f"ckpt_path in a config must be a path or 'last', got {config_ckpt!r}")
        args = [*args, "--ckpt_path", config_ckpt]
        ckpt = _option(args, "--ckpt_path")
    if ckpt is None:
        if subcommand == "predict":
            raise ConfigError("genfw predict needs --ckpt_path: a checkpoint written by genfw fit, or 'last'")
        return _with_default_data(args, files), None, None
    ckpt_path = ckpt[1]
    requested = _option(args, "--model")
    config_model = _config_section(files, "model")
    if isinstance(config_model, dict) and config_model.get("class_path") and requested is None:
        requested = (-1, str(config_model["class_path"]))
        plugin_scope = _plugin_name(requested[1])
    if ckpt_path == "last":
        root = _option(args, "--trainer.default_root_dir")
        ckpt_path = str(find_last_checkpoint(root[1] if root else "runs", plugin=plugin_scope))
        args = _set_option(args, "--ckpt_path", ckpt_path)
    checkpoint = read_checkpoint(ckpt_path)
    cls = checkpoint_class(checkpoint, source=ckpt_path, typed_class_path=requested[1] if requested else None)
    if subcommand == "fit":
        check_resumable(checkpoint, ckpt_path)
    if requested is not None and not _same_class(requested[1], cls):
        raise ConfigError(
            f"--model {requested[1]} contradicts the checkpoint {ckpt_path}, which holds a {cls.__name__} "
            f"({_class_path(cls)}); drop --model or pick a checkpoint of that model"
        )
    stored = {k: v for k, v in (checkpoint.get("hyper_parameters") or {}).items() if not k.startswith("_")}
    check_overrides_agree(model_overrides(args, config_model), stored, ckpt_path=ckpt_path, model_name=cls.__name__)
    if _option(args, "--model") is None:
        args = [*args, "--model", _class_path(cls)]
    if subcommand in ("fit", "validate", "test"):
        args = _with_default_data(args, files, cls)
    return args, cls, checkpoint


def _help_model_class(args: list[str]) -> type | None:
    """The model whose options ``--help`` shows: the checkpoint's, else ``--model``'s (None: the generic help)."""
    from gen_framework._plugin_help import help_model_class

    ckpt, model, root = (_option(args, name) for name in ("--ckpt_path", "--model", "--trainer.default_root_dir"))
    try:
        class_path = resolve_model_name(model[1]) if model else None
    except GenFrameworkError:
        class_path = None
    return help_model_class(ckpt[1] if ckpt else None, class_path, root[1] if root else "runs")


def _with_default_data(args: list[str], files: list[Path], cls: type | None = None) -> list[str]:
    """Add the plugin's default datamodule when neither the command line nor a config chooses one."""
    if _option(args, "--data") is not None or _config_section(files, "data") is not None:
        return args
    from gen_framework.registry import registry

    if cls is None:
        model = _option(args, "--model")
        config_model = _config_section(files, "model")
        name = model[1] if model else (config_model or {}).get("class_path") if isinstance(config_model, dict) else None
        if not isinstance(name, str):
            return args
        cls = next((c for c in registry.module_classes() if _same_class(name, c)), None)
    record = registry.record_for_class(cls) if cls is not None else None
    if record is None or record.spec is None or record.spec.default_datamodule is None:
        return args
    # Right after the subcommand, so that --data.* options given later apply to it.
    return [args[0], "--data", resolve_data_name(record.spec.default_datamodule), *args[1:]]


# ---------------------------------------------------------------- the CLI


def run_lightning_cli(args: list[str]) -> Any:
    """Parse ``args`` (a subcommand first) and run it; returns the finished CLI object."""
    from gen_framework.registry import registry

    registry.discover()
    import gen_framework.data  # noqa: F401  (datamodule short class names must be importable)

    from gen_framework._run_dirs import forget_reserved, release_failed_runs

    args, ckpt_class, checkpoint = prepare_args(args)
    cli_class = _cli_class()
    try:
        cli = cli_class(args, ckpt_class, checkpoint)
    except BaseException:
        release_failed_runs()  # a start that failed leaves no empty version_N behind
        raise
    forget_reserved()
    return cli


def _cli_class() -> type:
    """``GenFWCLI``, defined on first use so that ``import gen_framework.cli`` stays cheap."""
    global _CLI_CLASS
    if _CLI_CLASS is None:
        from gen_framework._lightning_cli import GenFWCLI

        _CLI_CLASS = GenFWCLI
    return _CLI_CLASS


_CLI_CLASS: type | None = None

__all__ = ["main", "plugins_command", "prepare_args", "run_lightning_cli", "CheckpointError", "PluginError"]

"""The ``genfw`` command: ``fit | validate | test | predict`` on LightningCLI, plus ``plugins``.

What this module adds to LightningCLI:

- plugins are discovered before the parser is built, so ``--model DCGAN`` resolves, and registry names work
  too (``--model dcgan``); datamodules by short name (``--data mnist``);
- a checkpoint decides the model: ``validate | test | predict --ckpt_path K`` need no ``--model``, a
  ``--model`` or ``--model.*`` that contradicts the checkpoint is an error rather than silently ignored, and
  ``--ckpt_path last`` finds the newest finished checkpoint of the chosen plugin (one module applies this rule and
  reads the checkpoint once: :mod:`gen_framework.cli.checkpoint_authority`);
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
from typing import TYPE_CHECKING, Any

from gen_framework.cli.arguments import (
    config_files,
    option,
    plugin_name,
    resolve_data_name,
    resolve_model_name,
    set_option,
    with_default_data,
)
from gen_framework.errors import CheckpointError, ConfigError, GenFrameworkError, PluginError

if TYPE_CHECKING:
    from gen_framework.cli.checkpoint_authority import CheckpointDecision

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
        from gen_framework.cli.quiet import quiet_third_party

        with quiet_third_party(args[0]):
            run_lightning_cli(args)
        return 0
    except Exception as err:
        from gen_framework.cli.errors import find_user_error

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
        from gen_framework.cli.plugin_help import describe_plugin

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

    from typing import get_args

    from gen_framework.cli.scaffold import FamilyName, install_command, new_plugin

    parser = argparse.ArgumentParser(prog="genfw new-plugin", description="Write a new plugin distribution.")
    parser.add_argument("name", help="registry name, ^[a-z][a-z0-9_]*$")
    parser.add_argument("--family", required=True, choices=list(get_args(FamilyName)))
    parser.add_argument("--output", default=None, help="directory to write (default: ./NAME)")
    options = parser.parse_args(args)
    from gen_framework.cli.preflight import check_output_dir

    check_output_dir("--output", options.output or options.name)
    target = new_plugin(options.name, options.family, options.output)
    print(f"genfw: wrote plugin {options.name!r} to {target}; install it with: {install_command(target)}")
    return 0


# ------------------------------------------------------- before parsing


def prepare_args(args: list[str]) -> tuple[list[str], CheckpointDecision | None]:
    """Rewrite short names and find the checkpoint that decides the model; returns (args, decision)."""
    from gen_framework.cli.checkpoint_authority import decide_for_command

    model = option(args, "--model")
    if model is not None:
        args = set_option(args, "--model", resolve_model_name(model[1]))
    data = option(args, "--data")
    if data is not None:
        args = set_option(args, "--data", resolve_data_name(data[1]))
    # jsonargparse's --model.help CLASS / --data.help CLASS (a class's own options) take the short names too
    for name, resolve in (("--model.help", resolve_model_name), ("--data.help", resolve_data_name)):
        if (given := option(args, name)) is not None:
            args = set_option(args, name, resolve(given[1]))
    if any(a in ("-h", "--help") for a in args):
        # the parser only knows class paths, so --help needs the short names rewritten too; it reads no config
        # file or checkpoint (the help's model comes from _help_model_class)
        return args, None
    files = config_files(args)
    # the plugin the user named ('last' is searched within its runs), before its name became a class path
    plugin = plugin_name(model[1]) if model is not None else None
    args, decision = decide_for_command(args, files, plugin=plugin)
    if decision is None or args[0] in ("fit", "validate", "test"):
        args = with_default_data(args, files, decision.model_class if decision else None)
    return args, decision


def _help_model_class(args: list[str]) -> type | None:
    """The model whose options ``--help`` shows: the checkpoint's, else ``--model``'s (None: the generic help)."""
    from gen_framework.cli.plugin_help import help_model_class
    from gen_framework.cli.run_dirs import DEFAULT_RUNS_DIR

    ckpt, model, root = (option(args, name) for name in ("--ckpt_path", "--model", "--trainer.default_root_dir"))
    try:
        class_path = resolve_model_name(model[1]) if model else None
    except GenFrameworkError:
        class_path = None
    plugin = plugin_name(model[1]) if model else None  # 'last' within that plugin, as when the command runs
    return help_model_class(ckpt[1] if ckpt else None, class_path, root[1] if root else DEFAULT_RUNS_DIR, plugin)


# ---------------------------------------------------------------- the CLI


def run_lightning_cli(args: list[str]) -> Any:
    """Parse ``args`` (a subcommand first) and run it; returns the finished CLI object."""
    from gen_framework.registry import registry

    registry.discover()
    import gen_framework.data  # noqa: F401  (datamodule short class names must be importable)

    from gen_framework.cli.run_dirs import forget_reserved, release_failed_runs

    args, decision = prepare_args(args)
    if decision is not None:
        model_class = decision.model_class
    else:  # --help shows the options of the model a --ckpt_path or --model names
        model_class = _help_model_class(args) if any(a in ("-h", "--help") for a in args) else None
    cli_class = _cli_class()
    try:
        cli = cli_class(args, decision, model_class)
    except BaseException:
        release_failed_runs()  # a start that failed leaves no empty version_N behind
        raise
    forget_reserved()
    return cli


def _cli_class() -> type:
    """``GenFWCLI``, defined on first use so that ``import gen_framework.cli`` stays cheap."""
    global _CLI_CLASS
    if _CLI_CLASS is None:
        from gen_framework.cli.app import GenFWCLI

        _CLI_CLASS = GenFWCLI
    return _CLI_CLASS


_CLI_CLASS: type | None = None

__all__ = ["main", "plugins_command", "prepare_args", "run_lightning_cli", "CheckpointError", "PluginError"]

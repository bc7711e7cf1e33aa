"""The ``genfw`` command line (see :mod:`gen_framework.cli.commands` for what it does).

``main(argv)`` runs ``genfw`` in-process and returns the exit code; ``run_lightning_cli(args)`` runs one
LightningCLI subcommand and returns the finished CLI object. Importing this package stays cheap: Lightning is
imported when a subcommand runs.
"""

from gen_framework.cli.commands import main, plugins_command, prepare_args, run_lightning_cli

__all__ = ["main", "plugins_command", "prepare_args", "run_lightning_cli"]

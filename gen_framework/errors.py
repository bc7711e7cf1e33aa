"""Errors the framework raises for user mistakes.

Every error derived from :class:`GenFrameworkError` describes something the user can fix (a key, a file, a
value). The ``genfw`` command prints it as one message and exits with code 2, without a traceback unless
``--debug`` or ``GEN_FRAMEWORK_DEBUG=1`` asks for one.
"""

from __future__ import annotations


class GenFrameworkError(Exception):
    """Base of every error the framework raises for user mistakes; the CLI prints it as one message and exits 2."""


class DataError(GenFrameworkError, ValueError):
    """Data that cannot be used: a missing path, an empty folder, a corrupt file, values out of range."""


class ConfigError(GenFrameworkError, ValueError):
    """A configuration that cannot work: an unknown key, a wrong type, an incompatible combination."""


class CheckpointError(GenFrameworkError):
    """A checkpoint or pretrained directory that cannot be loaded safely or belongs to another model."""


class PluginError(GenFrameworkError):
    """A plugin that is unknown, broken, incompatible or registered twice."""


class TrainingError(GenFrameworkError, RuntimeError):
    """Training that cannot go on: a loss that became NaN or infinite, with the step and the remedies."""

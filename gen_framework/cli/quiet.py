"""Third-party messages ``genfw`` hides while it runs a subcommand: ones that concern Lightning, not the user.

Filters are installed for the duration of one command (:func:`quiet_third_party`), never on import, so a
program that imports the framework keeps every warning it asked for.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

#: Warnings hidden for every subcommand, as (message regex, why).
WARNINGS = (
    # torch 2.13 deprecates the LeafSpec check Lightning's _pytree still uses: nothing the user can change.
    (r".*isinstance\(treespec, LeafSpec\)", "Lightning internals"),
    # genfw logs the last training step itself (LastStepLogging), so a short run is logged anyway.
    (r".*is smaller than the logging interval", "handled by LastStepLogging"),
    # genfw passes the arguments it rewrote; they equal sys.argv apart from the rewrites, which is intended.
    (r"LightningCLI's args parameter is intended", "genfw's own rewriting"),
)
#: Hidden for validate/test/predict: the checkpoint's run folder is read, not written, so the callback's
#: directory differing from the one stored in the checkpoint is expected.
EVALUATION_WARNINGS = ((r"The dirpath has changed from", "evaluation does not write checkpoints"),)
#: Info lines hidden, by a substring of the message.
LOG_MESSAGES = ("litlogger", "Skipping setting a default `ModelSummary`")
_LOGGERS = (
    "pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric",
    "pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero",
)


class _DropMessages(logging.Filter):
    def __init__(self, needles: tuple[str, ...]) -> None:
        super().__init__()
        self.needles = needles

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(needle in message for needle in self.needles)


@contextlib.contextmanager
def quiet_third_party(subcommand: str) -> Iterator[None]:
    """Within the block, the messages above are dropped (on every handler of Lightning's loggers)."""
    drop = _DropMessages(LOG_MESSAGES)
    handlers = [h for name in _LOGGERS for h in logging.getLogger(name).handlers]
    for handler in handlers:
        handler.addFilter(drop)
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    for logger in loggers:  # records that reach the root handler (pytest's capture, a user's basicConfig)
        logger.addFilter(drop)
    try:
        with warnings.catch_warnings():
            hidden = WARNINGS + (EVALUATION_WARNINGS if subcommand != "fit" else ())
            for pattern, _why in hidden:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for handler in handlers:
            handler.removeFilter(drop)
        for logger in loggers:
            logger.removeFilter(drop)


__all__ = ["quiet_third_party"]

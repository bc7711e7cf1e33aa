"""Optional dependencies: each belongs to one extra of gen-framework, and a missing one is one clear line.

The core installs what training on the embedded digits, Python's documentation and synthesised melodies needs.
Data sources and formats that need heavier libraries live in extras (see ``[project.optional-dependencies]`` in
``pyproject.toml``)::

    photos    scikit-image, scikit-learn   the photographs PhotoPatches uses by default
    audio     soundfile, scipy             reading and writing WAV/FLAC files, resampling
    text-bpe  tokenizers                   byte-level BPE tokenizers for text
"""

from __future__ import annotations

import importlib
from types import ModuleType

from gen_framework.errors import GenFrameworkError

#: import name -> (distribution, extra that installs it)
OPTIONAL: dict[str, tuple[str, str]] = {
    "skimage": ("scikit-image", "photos"),
    "sklearn": ("scikit-learn", "photos"),
    "soundfile": ("soundfile", "audio"),
    "scipy": ("scipy", "audio"),
    "tokenizers": ("tokenizers", "text-bpe"),
}


class MissingExtraError(GenFrameworkError, ImportError):
    """An optional dependency that a feature needs is not installed; the message names the ``pip install``."""


def require(module: str, purpose: str) -> ModuleType:
    """Imports ``module`` (a dotted name whose top package is a key of :data:`OPTIONAL`) or explains the fix.

    Args:
        module: what to import, e.g. ``"scipy.signal"``.
        purpose: what needs it, completing "... needs <distribution>", e.g. ``"resampling audio"``.

    Raises:
        MissingExtraError: one line naming the distribution and ``pip install 'gen-framework[<extra>]'``.
    """
    top = module.partition(".")[0]
    distribution, extra = OPTIONAL[top]
    try:
        return importlib.import_module(module)
    except ImportError as error:
        # only the module or a package above it being absent is this error; one that it imports failing is not
        if error.name is not None and not f"{module}.".startswith(f"{error.name}."):
            raise
        raise MissingExtraError(
            f"{purpose} needs {distribution}, which is not installed: pip install 'gen-framework[{extra}]'"
        ) from None

"""gen-framework: train and sample generative models (GANs, VAEs, autoregressive models) on PyTorch Lightning.

Importing this package is cheap: the family bases, datamodules and registry load on first attribute access.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "GenerativeModule": "gen_framework.families",
    "AdversarialModule": "gen_framework.families",
    "VariationalModule": "gen_framework.families",
    "AutoregressiveModule": "gen_framework.families",
    "PluginSpec": "gen_framework.registry",
    "PLUGIN_API_VERSION": "gen_framework.registry",
    "register": "gen_framework.registry",
    "get_plugin": "gen_framework.registry",
    "list_plugins": "gen_framework.registry",
    "load_checkpoint": "gen_framework.persistence.checkpoint",
    "GenFrameworkError": "gen_framework.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gen_framework' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

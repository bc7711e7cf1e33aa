"""What a ``genfw`` command line and its ``--config`` files say, read before the parser is built.

Short names are rewritten here (``--model dcgan`` -> its class path, ``--data mnist`` -> the datamodule's), and
the few keys that must be known before parsing are looked up: the model (its sampling options and default data
shape the parser) and the checkpoint (see :mod:`gen_framework.cli.checkpoint_authority`). Config files are read
as plain YAML (:func:`gen_framework.cli.preflight.read_config`), never evaluated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gen_framework.errors import ConfigError


def option(args: list[str], name: str) -> tuple[int, str] | None:
    """Index and value of the last ``--name V`` / ``--name=V`` in ``args``."""
    found = None
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            found = (i, args[i + 1])
        elif arg.startswith(name + "="):
            found = (i, arg.split("=", 1)[1])
    return found


def set_option(args: list[str], name: str, value: str) -> list[str]:
    """``args`` with every ``--name`` occurrence's value replaced by ``value``."""
    out = list(args)
    for i, arg in enumerate(out):
        if arg == name and i + 1 < len(out):
            out[i + 1] = value
        elif arg.startswith(name + "="):
            out[i] = f"{name}={value}"
    return out


def class_path(cls: type) -> str:
    """``module.QualName`` of ``cls``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def resolve_model_name(value: str) -> str:
    """A plugin name (``dcgan``) becomes its class path; class names and paths pass through."""
    from gen_framework.registry import registry

    if value.startswith(("{", "[")) or value.endswith((".yaml", ".yml", ".json")):
        return value
    if "." not in value and value.islower():
        return class_path(registry.get(value).module_class)
    return value


def resolve_data_name(value: str) -> str:
    """A datamodule short name (``mnist``) becomes its class path; class names and paths pass through."""
    from gen_framework.data import DATAMODULES

    if value in DATAMODULES:
        return class_path(DATAMODULES[value])
    if "." not in value and value.islower() and not value.startswith(("{", "[")):
        raise ConfigError(f"unknown datamodule {value!r}; available: {', '.join(sorted(DATAMODULES))}")
    return value


def config_files(args: list[str]) -> list[Path]:
    """The ``--config`` files in ``args``, each checked to be a readable YAML mapping of sections."""
    from gen_framework.cli.preflight import read_config

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


def config_section(files: list[Path], key: str) -> Any:
    """The value of top-level ``key`` in the last config file that sets it (plain YAML read, no eval)."""
    from gen_framework.cli.preflight import read_config

    value = None
    for path in files:
        content = read_config(path)
        if key in content:
            value = content[key]
    return value


def plugin_name(value: str) -> str | None:
    """The registry name of the plugin a ``--model`` value names (``dcgan``, a class name or a class path)."""
    from gen_framework.registry import registry

    if "." not in value and value.islower():
        return value
    for cls in registry.module_classes():
        if value in (class_path(cls), cls.__name__):
            record = registry.record_for_class(cls)
            return record.name if record is not None else None
    return None


def with_default_data(args: list[str], files: list[Path], cls: type | None = None) -> list[str]:
    """Add the plugin's default datamodule when neither the command line nor a config chooses one."""
    if option(args, "--data") is not None or config_section(files, "data") is not None:
        return args
    from gen_framework.registry import registry

    if cls is None:
        model = option(args, "--model")
        config_model = config_section(files, "model")
        name = model[1] if model else (config_model or {}).get("class_path") if isinstance(config_model, dict) else None
        if not isinstance(name, str):
            return args
        cls = next((c for c in registry.module_classes() if same_class(name, c)), None)
    record = registry.record_for_class(cls) if cls is not None else None
    if record is None or record.spec is None or record.spec.default_datamodule is None:
        return args
    # Right after the subcommand, so that --data.* options given later apply to it.
    return [args[0], "--data", resolve_data_name(record.spec.default_datamodule), *args[1:]]


def same_class(requested: str, cls: type) -> bool:
    """True when ``requested`` (class name, class path or re-exported path) names ``cls``."""
    if requested in (class_path(cls), cls.__name__, cls.__qualname__):
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


__all__ = [
    "class_path", "config_files", "config_section", "option", "plugin_name", "resolve_data_name",
    "resolve_model_name", "same_class", "set_option", "with_default_data",
]

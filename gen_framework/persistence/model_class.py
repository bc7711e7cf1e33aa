"""Which class builds a saved model: the rule that a file's metadata never chooses code to import.

A checkpoint's ``gen_framework`` entry and a pretrained ``config.json`` name the plugin and the class path of
the model that wrote them. That name is only ever compared with classes that are already trusted:

1. a class the caller chose: the class ``from_pretrained`` is called on, or a class path the user typed
   (``--model pkg.Model``);
2. the classes the installed (or in-process registered) plugins provide;
3. a subclass of one of those that is already imported in this process (a user's subclass of a plugin class,
   after ``import`` of the user's own module): looked up in ``sys.modules``, never imported.

A checkpoint that names a plugin but a class none of these provide (a class renamed between plugin versions)
is built with the plugin's module class.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from gen_framework.errors import CheckpointError, PluginError
from gen_framework.registry import class_path, family_of, registry


def resolve_module_class(
    plugin: str | None, stored_path: str | None, *, source: str, chosen: type | None = None
) -> type[Any]:
    """The module class named by saved weights (``plugin``, ``stored_path``), among trusted classes only.

    Args:
        plugin: The plugin recorded with the weights, or ``None``.
        stored_path: The class path recorded with the weights (``module.QualName``).
        source: The file or folder, named in errors.
        chosen: A class the caller chose (see the module docstring); used when ``stored_path`` names it.

    Raises:
        CheckpointError: The plugin cannot be used, or the class is neither chosen nor a plugin's class.
    """
    if plugin:
        try:
            spec = registry.get(plugin)
        except PluginError as err:
            raise CheckpointError(f"{source} was written by plugin {plugin!r}, which cannot be used: {err}") from err
        provided: tuple[type, ...] = (spec.module_class, *spec.extra_classes)
    else:
        if not stored_path or "." not in stored_path:
            raise CheckpointError(f"{source} names no plugin and no model class; it was not written by gen-framework")
        provided = tuple(registry.module_classes())
    if stored_path:
        if chosen is not None and class_path(chosen) == stored_path and family_of(chosen) is not None:
            if not plugin or issubclass(chosen, provided):
                return chosen
        for cls in provided:
            if class_path(cls) == stored_path:
                return cls
        loaded = _already_imported(stored_path)
        if isinstance(loaded, type) and provided and issubclass(loaded, provided):
            return loaded
    if plugin:
        return spec.module_class
    raise CheckpointError(
        f"{source} names the model class {stored_path}, which no installed plugin provides; install its plugin or "
        "register the class (gen_framework.registry.register) — a file's metadata never chooses code to import"
    )


def substitute_hint(stored_path: str | None, built: type) -> str:
    """For an error about building ``built``: when the file named another class, how to have that one built."""
    if not stored_path or stored_path == class_path(built):
        return ""
    return (
        f" (the file was written by {stored_path}, which is not imported, so the plugin's {built.__name__} was "
        "built instead: import that class's module first, or give its path with --model)"
    )


def import_typed_class(path: str) -> type[Any] | None:
    """The class at ``path`` (``pkg.module.Class``), imported: only for a path the user typed, never a file's."""
    module_name, _, attr = path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), attr, None)
    except (ImportError, TypeError, ValueError):
        return None
    return found if isinstance(found, type) else None


def _already_imported(path: str) -> object | None:
    """The object at ``path`` when its module is already in ``sys.modules``; ``None`` otherwise (no import)."""
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:split]))
        if module is None:
            continue
        found: object | None = module
        for name in parts[split:]:
            # the object's own namespace only: getattr could run a module's lazy __getattr__, which imports
            found = vars(found).get(name) if hasattr(found, "__dict__") else None
        return found
    return None

"""What a plugin declares (:class:`PluginSpec`), the families it may belong to, and the checks a spec must pass.

This module is the one place the family names are spelled: the family bases, the CLI and the scaffold import
them from here. It imports nothing of the framework's model code: a plugin's classes are checked against the
family bases by the names in their method resolution order, so validating a plugin never imports the bases
(or Lightning) and the registry sits below the families in the import graph.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

#: The plugin API this framework provides, ``MAJOR.MINOR``. A plugin targeting ``M.m`` is compatible when
#: ``M`` equals our major and ``m`` is at most our minor.
PLUGIN_API_VERSION = "1.0"

Family = Literal["adversarial", "variational", "autoregressive"]
#: Every family, in the order they are listed to users.
FAMILIES: tuple[Family, ...] = get_args(Family)
#: The base class a plugin of each family subclasses, by import path (``gen_framework.families`` defines them;
#: a test checks that these paths name those classes).
FAMILY_BASE_PATHS: dict[Family, str] = {
    "adversarial": "gen_framework.families.adversarial.AdversarialModule",
    "variational": "gen_framework.families.variational.VariationalModule",
    "autoregressive": "gen_framework.families.autoregressive.AutoregressiveModule",
}

Status = Literal["ok", "broken", "incompatible"]
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class PluginSpec:
    """What a plugin declares about itself.

    Attributes:
        name: Registry name, ``^[a-z][a-z0-9_]*$`` (``dcgan``); equal to the entry-point name.
        family: ``adversarial``, ``variational`` or ``autoregressive``.
        module_class: The plugin's LightningModule, a subclass of its family base.
        api_version: The plugin API it targets, ``MAJOR.MINOR``.
        description: One line shown by ``genfw plugins``.
        default_datamodule: Short name of the datamodule it trains on by default (``mnist``).
        default_config: Path of its default config, relative to the repository's ``configs/`` or absolute.
        extra_classes: Further LightningModule classes the plugin provides (variants).
        test_init_args: Init args of a tiny instance, used by the conformance kit
            (:mod:`gen_framework.testing`) so its checks run in seconds.
        test_data_spec: The data spec of the tiny synthetic data the kit trains that instance on
            (``{"modality": "image", "channels": 1, "image_size": 28}``); ``None`` lets the kit derive it.
        test_sampling_options: Sampling options the kit passes to ``sample`` (e.g. a short duration).
    """

    name: str
    family: str
    module_class: type
    api_version: str = PLUGIN_API_VERSION
    description: str = ""
    default_datamodule: str | None = None
    default_config: str | None = None
    extra_classes: tuple[type, ...] = ()
    test_init_args: Mapping[str, Any] = field(default_factory=dict)
    test_data_spec: Mapping[str, Any] | None = None
    test_sampling_options: Mapping[str, Any] = field(default_factory=dict)


def class_path(cls: type) -> str:
    """``module.QualName`` of a class: how checkpoints and ``config.json`` name the model class."""
    return f"{cls.__module__}.{cls.__qualname__}"


def family_of(cls: object) -> Family | None:
    """The family whose base class ``cls`` derives from, or ``None`` (not a class, or no family base).

    The bases are recognised by their import path in ``cls.__mro__``: a subclass of a base has that very class
    in its MRO, so nothing needs importing to tell.
    """
    if not isinstance(cls, type):
        return None
    paths = {path: family for family, path in FAMILY_BASE_PATHS.items()}
    for klass in cls.__mro__:
        family = paths.get(class_path(klass))
        if family is not None:
            return family
    return None


def validate_spec(spec: object, *, expected_name: str | None = None) -> tuple[Status, str] | None:
    """``None`` when ``spec`` is a valid, compatible plugin spec, else ``(status, message)``."""
    if not isinstance(spec, PluginSpec):
        return "broken", f"the entry point must point to a gen_framework.registry.PluginSpec, got {type(spec).__name__}"
    if not _NAME.match(spec.name):
        return "broken", f"plugin name {spec.name!r} must match ^[a-z][a-z0-9_]*$"
    if expected_name is not None and spec.name != expected_name:
        return "broken", f"entry point {expected_name!r} describes a plugin named {spec.name!r}; the names must match"
    if spec.family not in FAMILIES:
        return "broken", f"plugin {spec.name!r} declares family {spec.family!r}; allowed: {', '.join(FAMILIES)}"
    base = FAMILY_BASE_PATHS[spec.family].rpartition(".")[2]  # type: ignore[index]
    for cls in (spec.module_class, *spec.extra_classes):
        if family_of(cls) != spec.family:
            return "broken", f"plugin {spec.name!r}: {cls!r} must be a subclass of {base} ({spec.family})"
    if not api_compatible(spec.api_version):
        return (
            "incompatible",
            f"plugin {spec.name!r} targets plugin API {spec.api_version}; this gen-framework provides "
            f"{PLUGIN_API_VERSION} (compatible: {PLUGIN_API_VERSION.split('.')[0]}.0 to {PLUGIN_API_VERSION})",
        )
    return None


def api_compatible(version: str) -> bool:
    """True when a plugin targeting plugin API ``version`` works with this framework."""
    try:
        major, minor = (int(part) for part in str(version).split("."))
    except ValueError:
        return False
    our_major, our_minor = (int(part) for part in PLUGIN_API_VERSION.split("."))
    return major == our_major and minor <= our_minor

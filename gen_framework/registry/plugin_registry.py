"""The plugin registry: entry-point discovery, validation, provenance and lookup.

A plugin is a distribution that declares, in the entry-point group ``gen_framework.plugins``, an entry whose
name is the plugin name and whose object is a :class:`PluginSpec`::

    [project.entry-points."gen_framework.plugins"]
    dcgan = "gen_framework_dcgan:PLUGIN"

Discovery is lazy (first lookup) and idempotent. A plugin whose import raises is recorded as ``broken`` with
its error and never breaks another plugin or the CLI; one that targets another plugin API is
``incompatible``. ``GEN_FRAMEWORK_DISABLE_PLUGIN_AUTOLOAD=1`` turns discovery off (in-process
:func:`register` still works) and ``GEN_FRAMEWORK_BLOCK_PLUGINS=a,b`` skips the named entry points.
"""

from __future__ import annotations

import contextlib
import importlib.metadata as metadata
import os
import re
import signal
import sys
import threading
import traceback
from dataclasses import dataclass, field
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from gen_framework.errors import CheckpointError, PluginError

if TYPE_CHECKING:
    from gen_framework.families.base import GenerativeModule

ENTRY_POINT_GROUP = "gen_framework.plugins"
#: The plugin API this framework provides, ``MAJOR.MINOR``. A plugin targeting ``M.m`` is compatible when
#: ``M`` equals our major and ``m`` is at most our minor.
PLUGIN_API_VERSION = "1.0"
DISABLE_AUTOLOAD_ENV = "GEN_FRAMEWORK_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "GEN_FRAMEWORK_BLOCK_PLUGINS"
FAMILIES = ("adversarial", "variational", "autoregressive")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

Status = Literal["ok", "broken", "incompatible"]


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


@dataclass
class PluginRecord:
    """A discovered or registered plugin with its provenance and status."""

    name: str
    status: Status
    spec: PluginSpec | None = None
    distribution: str | None = None
    version: str | None = None
    entry_point: str | None = None
    error: str | None = None
    details: str | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "version": self.version,
            "family": self.spec.family if self.spec else None,
            "distribution": self.distribution,
            "status": self.status,
            "error": self.error,
            "class_path": _class_path(self.spec.module_class) if self.spec else None,
            "description": self.spec.description if self.spec else None,
        }


class PluginRegistry:
    """Name-keyed plugins; discovers entry points on first use."""

    def __init__(self, group: str = ENTRY_POINT_GROUP) -> None:
        self.group = group
        self._records: dict[str, PluginRecord] = {}
        self._discovered = False

    # ------------------------------------------------------------ discovery

    def discover(self, *, force: bool = False) -> None:
        """Load every entry point of the group once (again with ``force``), recording failures per plugin."""
        if self._discovered and not force:
            return
        self._discovered = True
        if force:
            self._records = {k: r for k, r in self._records.items() if r.entry_point is None}
        if os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip() not in ("", "0"):
            return
        blocked = {n.strip() for n in os.environ.get(BLOCK_ENV, "").split(",") if n.strip()}
        seen: set[tuple[str, str]] = set()
        for ep in metadata.entry_points(group=self.group):
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else None
            version = dist.version if dist is not None else None
            if (ep.name, ep.value) in seen or ep.name in blocked:
                continue
            seen.add((ep.name, ep.value))
            self._load_entry_point(ep.name, ep.value, ep.load, dist_name, version)

    def _load_entry_point(self, name, value, load, dist_name, version) -> None:  # noqa: ANN001
        record = PluginRecord(name=name, status="ok", distribution=dist_name, version=version, entry_point=value)
        pressed: list[int] = []
        try:
            # a plugin printing at import must not corrupt `genfw plugins --json`; its output goes to stderr
            with contextlib.redirect_stdout(sys.stderr), _record_ctrl_c(pressed):
                spec = load()
        except BaseException as err:  # a plugin's import may raise anything, SystemExit included
            if isinstance(err, KeyboardInterrupt) and pressed:
                raise  # the user pressed Ctrl-C; a KeyboardInterrupt the plugin raised itself breaks only it
            record.status, record.error = "broken", f"import of {value} failed: {type(err).__name__}: {err}"
            record.details = traceback.format_exc()
            self._add(record)
            return
        record.spec = spec if isinstance(spec, PluginSpec) else None
        problem = validate_spec(spec, expected_name=name)
        if problem is not None:
            record.status, record.error = problem
        self._add(record)

    def _add(self, record: PluginRecord) -> None:
        existing = self._records.get(record.name)
        if existing is not None:
            # Neither wins silently: the name becomes unusable until one distribution is uninstalled.
            existing.status = "broken"
            existing.error = (
                f"plugin name {record.name!r} is provided twice: by {_provider(existing)} and by "
                f"{_provider(record)}; uninstall one of them"
            )
            return
        self._records[record.name] = record

    # -------------------------------------------------------- registration

    def register(
        self,
        spec: PluginSpec,
        *,
        distribution: str | None = None,
        version: str | None = None,
        replace: bool = False,
    ) -> PluginRecord:
        """Register a plugin in-process (notebooks, tests). Invalid specs raise :class:`PluginError`."""
        self.discover()
        problem = validate_spec(spec)
        if problem is not None:
            raise PluginError(problem[1])
        if spec.name in self._records and not replace:
            raise PluginError(
                f"plugin name {spec.name!r} is already registered by {_provider(self._records[spec.name])}; "
                "pass replace=True to replace it"
            )
        record = PluginRecord(
            name=spec.name, status="ok", spec=spec, distribution=distribution or "<in-process>", version=version
        )
        self._records[spec.name] = record
        return record

    def unregister(self, name: str) -> None:
        """Forget a plugin (mainly for tests)."""
        self._records.pop(name, None)

    # -------------------------------------------------------------- lookup

    def records(self) -> list[PluginRecord]:
        """Every known plugin, sorted by name, whatever its status."""
        self.discover()
        return [self._records[name] for name in sorted(self._records)]

    def get(self, name: str) -> PluginSpec:
        """The spec of a usable plugin; :class:`PluginError` names the problem (unknown, broken, incompatible)."""
        self.discover()
        record = self._records.get(name)
        if record is None:
            usable = [r.name for r in self.records() if r.status == "ok"]
            raise PluginError(
                f"unknown plugin {name!r}; available plugins: {', '.join(usable) or 'none installed'}"
            )
        if record.status != "ok" or record.spec is None:
            raise PluginError(f"plugin {name!r} ({_provider(record)}) is {record.status}: {record.error}")
        return record.spec

    def record_for_class(self, cls: type) -> PluginRecord | None:
        """The usable plugin whose module class is ``cls`` or one of its bases (most specific first)."""
        self.discover()
        for klass in cls.__mro__:
            for record in self._records.values():
                if record.status == "ok" and record.spec is not None:
                    if klass is record.spec.module_class or klass in record.spec.extra_classes:
                        return record
        return None

    def module_classes(self) -> list[type]:
        """Every LightningModule class of the usable plugins (used to make short class names resolvable)."""
        classes = []
        for record in self.records():
            if record.status == "ok" and record.spec is not None:
                classes.append(record.spec.module_class)
                classes.extend(record.spec.extra_classes)
        return classes


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
    from gen_framework.families import FAMILY_BASES

    base = FAMILY_BASES[spec.family]
    for cls in (spec.module_class, *spec.extra_classes):
        if not (isinstance(cls, type) and issubclass(cls, base)):
            return "broken", f"plugin {spec.name!r}: {cls!r} must be a subclass of {base.__name__} ({spec.family})"
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


def resolve_module_class(plugin: str | None, class_path: str | None, *, source: str) -> type[GenerativeModule]:
    """The module class named by saved weights, found among the installed plugins' classes.

    Metadata (a checkpoint's ``gen_framework`` entry, a ``config.json``) never chooses a module to import: a
    class path is only compared with the classes the registry's entry points (or :func:`register`) provide.
    A model class outside any plugin is made loadable by registering it in-process first.
    """
    if plugin:
        try:
            spec = registry.get(plugin)
        except PluginError as err:
            raise CheckpointError(f"{source} was written by plugin {plugin!r}, which cannot be used: {err}") from err
        if class_path:
            for cls in (spec.module_class, *spec.extra_classes):
                if _class_path(cls) == class_path:
                    return cls
        return spec.module_class
    if not class_path or "." not in class_path:
        raise CheckpointError(f"{source} names no plugin and no model class; it was not written by gen-framework")
    for cls in registry.module_classes():
        if _class_path(cls) == class_path:
            return cls
    raise CheckpointError(
        f"{source} names the model class {class_path}, which no installed plugin provides; install its plugin or "
        "register the class (gen_framework.registry.register) — a file's metadata never chooses code to import"
    )


@contextlib.contextmanager
def _record_ctrl_c(pressed: list[int]) -> Iterator[None]:
    """Notes in ``pressed`` a SIGINT that arrives inside the block (then raised as usual)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        pressed.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


def _provider(record: PluginRecord) -> str:
    if record.distribution is None:
        return record.entry_point or "<unknown>"
    return f"{record.distribution} {record.version or ''}".strip()


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


#: The process-wide registry used by the CLI and the module helpers.
registry = PluginRegistry()


def register(spec: PluginSpec, **kwargs: object) -> PluginRecord:
    """Register ``spec`` in the process-wide registry (see :meth:`PluginRegistry.register`)."""
    return registry.register(spec, **kwargs)  # type: ignore[arg-type]


def get_plugin(name: str) -> PluginSpec:
    """The spec of the usable plugin ``name`` from the process-wide registry."""
    return registry.get(name)


def list_plugins() -> list[PluginRecord]:
    """Every plugin known to the process-wide registry, with status and provenance."""
    return registry.records()

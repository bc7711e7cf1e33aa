"""The plugin registry: entry-point discovery, provenance and lookup (what a spec is: :mod:`.spec`).

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
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gen_framework import __version__
from gen_framework.errors import PluginError
from gen_framework.registry.spec import PLUGIN_API_VERSION, PluginSpec, Status, class_path, validate_spec

ENTRY_POINT_GROUP = "gen_framework.plugins"
DISABLE_AUTOLOAD_ENV = "GEN_FRAMEWORK_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "GEN_FRAMEWORK_BLOCK_PLUGINS"


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
            "class_path": class_path(self.spec.module_class) if self.spec else None,
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


def class_provenance(cls: type) -> dict[str, Any]:
    """Where the model class ``cls`` comes from, as saved beside its weights (checkpoints, ``config.json``).

    The plugin is the usable plugin providing ``cls`` or one of its bases (a user's subclass of a plugin class
    names that plugin, and its own ``class_path``).
    """
    record = registry.record_for_class(cls)
    return {
        "plugin": record.name if record else None,
        "plugin_version": record.version if record else None,
        "class_path": class_path(cls),
        "framework_version": __version__,
        "api_version": PLUGIN_API_VERSION,
    }

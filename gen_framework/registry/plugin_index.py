"""What ``genfw plugins`` lists, read from installed metadata without importing the plugins.

Importing a plugin imports torch and Lightning (seconds). Listing reads the entry points of
``gen_framework.plugins`` from the installed distributions' metadata and the result of the last validation of
each, cached in ``$GEN_FRAMEWORK_CACHE/plugins.json`` (default ``~/.cache/gen_framework``) under a key made of
the distribution, its version, the entry point and the newest modification time of the plugin's source files:
installing, upgrading or editing a plugin invalidates its entry. A plugin without a valid cache entry, or every
plugin with ``genfw plugins --check``, is imported and validated through the registry, and the cache updated.
"""

from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gen_framework.registry.plugin_registry import (
    BLOCK_ENV,
    DISABLE_AUTOLOAD_ENV,
    ENTRY_POINT_GROUP,
    PluginRecord,
    registry,
)

CACHE_ENV = "GEN_FRAMEWORK_CACHE"
CACHE_FILE = "plugins.json"
#: Bumped when the shape of a cache entry changes, so old entries are ignored.
CACHE_FORMAT = 1
_FIELDS = ("family", "status", "error", "class_path", "description", "default_datamodule", "default_config")


def cache_root() -> Path:
    """``$GEN_FRAMEWORK_CACHE``, default ``~/.cache/gen_framework``."""
    root = os.environ.get(CACHE_ENV)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "gen_framework"


@dataclass(frozen=True)
class _EntryPoint:
    name: str
    value: str
    distribution: str | None
    version: str | None

    def key(self) -> str:
        return f"{CACHE_FORMAT}|{self.distribution}|{self.version}|{self.name}={self.value}|{_source_mtime(self.value)}"


def installed_entry_points() -> list[_EntryPoint]:
    """The entry points of the plugin group, as the registry would load them (autoload and block list honoured)."""
    if os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip() not in ("", "0"):
        return []
    blocked = {n.strip() for n in os.environ.get(BLOCK_ENV, "").split(",") if n.strip()}
    found: dict[tuple[str, str], _EntryPoint] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in blocked or (ep.name, ep.value) in found:
            continue
        dist = getattr(ep, "dist", None)
        found[(ep.name, ep.value)] = _EntryPoint(
            ep.name, ep.value, dist.metadata["Name"] if dist is not None else None, dist.version if dist else None
        )
    return sorted(found.values(), key=lambda e: e.name)


def plugin_rows(*, check: bool = False) -> list[dict[str, Any]]:
    """One row per plugin (``PluginRecord.as_dict`` fields plus ``checked``: whether this call imported it).

    Plugins registered in this process (:func:`gen_framework.registry.register`) are listed too. Without
    ``check``, only plugins whose cache entry is missing or stale are imported.
    """
    if registry._discovered and not check:
        # This process has imported the plugins already: its registry is the truth, and costs nothing.
        return [_row(record, checked=False) for record in registry.records()]
    entry_points = installed_entry_points()
    cache = _read_cache()
    keys = {ep.name: ep.key() for ep in entry_points}
    missing = check or any(keys[ep.name] not in cache for ep in entry_points)
    if missing:
        registry.discover(force=check)
        records = {record.name: record for record in registry.records()}
        for ep in entry_points:
            record = records.get(ep.name)
            if record is not None and record.entry_point == ep.value:
                cache[keys[ep.name]] = {k: v for k, v in _row(record, checked=True).items() if k in _FIELDS}
        _write_cache(cache)
        return [_row(record, checked=True) for record in registry.records()]
    rows = []
    for ep in entry_points:
        rows.append({
            "name": ep.name, "version": ep.version, "distribution": ep.distribution,
            **{k: cache[keys[ep.name]].get(k) for k in _FIELDS}, "entry_point": ep.value, "checked": False,
        })
    return rows


def _row(record: PluginRecord, *, checked: bool) -> dict[str, Any]:
    row: dict[str, Any] = dict(record.as_dict())
    spec = record.spec
    row["default_datamodule"] = spec.default_datamodule if spec else None
    row["default_config"] = spec.default_config if spec else None
    row["entry_point"] = record.entry_point
    row["checked"] = checked
    return row


def _source_mtime(value: str) -> int:
    """Newest modification time (ns) of the ``.py`` files of the entry point's top-level package, 0 if unknown.

    Found with ``importlib.util.find_spec`` on the top-level name, which locates the package without importing it.
    """
    top = value.split(":", 1)[0].split(".", 1)[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return 0
    if spec is None or spec.origin is None:
        return 0
    origin = Path(spec.origin)
    if spec.submodule_search_locations is None:
        return origin.stat().st_mtime_ns if origin.exists() else 0
    newest = 0
    for location in spec.submodule_search_locations:
        for folder, dirs, files in os.walk(location):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                if name.endswith(".py"):
                    newest = max(newest, os.stat(os.path.join(folder, name)).st_mtime_ns)
    return newest


def _read_cache() -> dict[str, dict[str, Any]]:
    try:
        content = json.loads((cache_root() / CACHE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


def _write_cache(cache: dict[str, dict[str, Any]]) -> None:
    """Writes the cache atomically; a cache that cannot be written only costs the next listing an import."""
    from gen_framework.persistence.atomic import atomic_path

    path = cache_root() / CACHE_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(cache, indent=1, sort_keys=True), encoding="utf-8")
    except OSError:
        pass


__all__ = ["CACHE_ENV", "cache_root", "installed_entry_points", "plugin_rows"]

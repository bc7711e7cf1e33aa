"""`genfw plugins` lists from installed metadata and a validation cache, importing a plugin only when its cache
entry is missing or stale, or with ``--check``."""

from __future__ import annotations

import json

import pytest

from gen_framework.registry import plugin_index
from gen_framework.registry import PluginRegistry


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A registry that has imported nothing yet, and an empty cache."""
    registry = PluginRegistry()
    monkeypatch.setattr(plugin_index, "registry", registry)
    monkeypatch.setenv(plugin_index.CACHE_ENV, str(tmp_path / "cache"))
    return registry


def installed_names():
    return [ep.name for ep in plugin_index.installed_entry_points()]


def test_a_warm_cache_lists_every_plugin_without_importing_one(fresh, monkeypatch):
    first = plugin_index.plugin_rows()
    assert fresh._discovered, "an empty cache means importing and validating"
    assert (plugin_index.cache_root() / "plugins.json").is_file()
    untouched = PluginRegistry()
    monkeypatch.setattr(plugin_index, "registry", untouched)
    second = plugin_index.plugin_rows()
    assert not untouched._discovered, "a warm cache must not import the plugins"
    assert [r["name"] for r in second] == installed_names() == [r["name"] for r in first if r["entry_point"]]
    for before, after in zip([r for r in first if r["entry_point"]], second):
        assert {k: before[k] for k in ("family", "status", "class_path", "version")} == {
            k: after[k] for k in ("family", "status", "class_path", "version")
        }


def test_an_edited_plugin_or_check_validates_again(fresh, monkeypatch):
    plugin_index.plugin_rows()
    stale = PluginRegistry()
    monkeypatch.setattr(plugin_index, "registry", stale)
    monkeypatch.setattr(plugin_index, "_source_mtime", lambda value: 12345)  # every plugin's sources changed
    plugin_index.plugin_rows()
    assert stale._discovered
    checked = PluginRegistry()
    monkeypatch.setattr(plugin_index, "registry", checked)
    rows = plugin_index.plugin_rows(check=True)
    assert checked._discovered and all(r["checked"] for r in rows)


def test_a_corrupt_cache_is_ignored(fresh):
    path = plugin_index.cache_root() / "plugins.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    rows = plugin_index.plugin_rows()
    assert [r["name"] for r in rows if r["entry_point"]] == installed_names()
    assert json.loads(path.read_text())


def test_blocked_and_disabled_plugins_are_not_listed(fresh, monkeypatch):
    names = installed_names()
    monkeypatch.setenv("GEN_FRAMEWORK_BLOCK_PLUGINS", names[0])
    assert names[0] not in installed_names()
    monkeypatch.setenv("GEN_FRAMEWORK_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert installed_names() == []

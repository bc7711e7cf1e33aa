"""A plugin misbehaving at import (printing to stdout, raising KeyboardInterrupt) breaks only itself."""

from __future__ import annotations

import json
import textwrap

import pytest

from gen_framework.cli import main
from gen_framework.registry import registry


@pytest.fixture
def install(tmp_path, monkeypatch):
    """Installs, on a temporary sys.path entry, a distribution whose plugin module runs ``source`` at import."""

    def install_(name: str, source: str) -> None:
        site = tmp_path / "site"
        info = site / f"{name}-0.1.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[gen_framework.plugins]\n{name} = {name}_mod:PLUGIN\n")
        (site / f"{name}_mod.py").write_text(textwrap.dedent(source))
        monkeypatch.syspath_prepend(str(site))
        monkeypatch.delenv("GEN_FRAMEWORK_DISABLE_PLUGIN_AUTOLOAD", raising=False)
        registry.discover(force=True)

    yield install_
    monkeypatch.undo()
    registry.discover(force=True)


def test_a_plugin_printing_at_import_does_not_break_plugins_json(install, capsys):
    install("chatty", """
        print("hello from chatty")
        from gen_framework.registry import PluginSpec
        from toys.models import ToyImageGAN
        PLUGIN = PluginSpec(name="chatty", family="adversarial", module_class=ToyImageGAN)
    """)
    assert main(["plugins", "--json"]) == 0
    captured = capsys.readouterr()
    records = {r["name"]: r for r in json.loads(captured.out)}
    assert records["chatty"]["status"] == "ok"
    assert "hello from chatty" in captured.err


def test_a_plugin_raising_keyboard_interrupt_at_import_is_broken_not_fatal(install, capsys):
    install("grumpy", "raise KeyboardInterrupt\n")
    records = {r.name: r for r in registry.records()}
    assert records["grumpy"].status == "broken"
    assert "KeyboardInterrupt" in records["grumpy"].error
    assert records["dcgan"].status == "ok"

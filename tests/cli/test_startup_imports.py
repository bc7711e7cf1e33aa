"""Start-up: a command imports what it needs when it needs it.

``genfw --help`` and a ``genfw plugins`` listing from the validation cache run without torch, Lightning or scipy
(each would cost seconds: ``benchmarks/startup.py``), and ``genfw fit`` builds the parser of ``fit`` only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from gen_framework.cli import main
from gen_framework.cli.app import GenFWCLI
from gen_framework.registry import PluginRegistry, plugin_index

HEAVY = ("torch", "pytorch_lightning", "lightning_fabric", "torchmetrics", "scipy", "matplotlib", "sklearn", "mlxtend")

PROBE = r"""
import contextlib, io, json, sys
from gen_framework.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "output": out.getvalue(),
                  "imported": sorted(m for m in HEAVY if m in sys.modules)}))
"""


def run_genfw(args: list[str], env_cache) -> dict:
    """``genfw ARGS`` in a fresh interpreter; its exit code, output and which heavy packages it imported."""
    code = f"HEAVY = {HEAVY!r}\n{PROBE}"
    env = {**os.environ, plugin_index.CACHE_ENV: str(env_cache)}
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_help_imports_no_heavy_package(tmp_path):
    run = run_genfw(["--help"], tmp_path / "cache")
    assert run["code"] == 0 and "genfw fit" in run["output"]
    assert run["imported"] == []


def test_a_cached_plugins_listing_imports_no_heavy_package(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    # this process has imported the plugins already: writing the cache here costs nothing
    monkeypatch.setenv(plugin_index.CACHE_ENV, str(cache))
    monkeypatch.setattr(plugin_index, "registry", PluginRegistry())
    names = [row["name"] for row in plugin_index.plugin_rows(check=True) if row["entry_point"]]
    run = run_genfw(["plugins", "--json"], cache)
    assert run["code"] == 0
    listed = [row["name"] for row in json.loads(run["output"])]
    assert "dcgan" in listed and set(listed) <= set(names)  # (pytest's path adds the example plugins here)
    assert run["imported"] == []


def test_fit_builds_the_parser_of_fit_only(monkeypatch):
    built: list[str | None] = []
    init_parser = GenFWCLI.init_parser

    def counting(self, **kwargs):
        built.append(kwargs.get("_genfw_subcommand"))
        return init_parser(self, **kwargs)

    monkeypatch.setattr(GenFWCLI, "init_parser", counting)
    code = main(["fit", "--help"])
    assert code == 0
    assert built == [None, "fit"], "the root parser and fit's, not validate's, test's or predict's"


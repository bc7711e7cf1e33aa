"""`genfw new-plugin` writes a distribution that pip installs, genfw lists, and the conformance kit passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gen_framework.cli import main
from gen_framework.errors import ConfigError
from gen_framework.cli.scaffold import new_plugin


def install(source: Path, site: Path) -> dict[str, str]:
    """pip-install ``source`` into its own ``site`` directory; returns an environment that sees it."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *filter(None, sys.path)])}


@pytest.mark.parametrize(
    "family",
    ["adversarial", pytest.param("variational", marks=pytest.mark.slow), pytest.param("autoregressive", marks=pytest.mark.slow)],
)
def test_a_generated_plugin_installs_is_listed_and_passes_the_kit(family, tmp_path):
    name = f"scaffolded_{family[:3]}"
    assert main(["new-plugin", name, "--family", family, "--output", str(tmp_path / name)]) == 0
    env = install(tmp_path / name, tmp_path / "site")
    listed = subprocess.run([sys.executable, "-m", "gen_framework", "plugins", "--json"],
                            capture_output=True, text=True, env=env, timeout=120)
    record = {r["name"]: r for r in json.loads(listed.stdout)}[name]
    assert record["status"] == "ok" and record["family"] == family
    assert record["distribution"] == f"gen-framework-{name.replace('_', '-')}"
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / name / "tests")],
                           capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path / name)
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert " passed" in tests.stdout and "failed" not in tests.stdout


def test_scaffold_refuses_bad_names_and_non_empty_targets(tmp_path):
    with pytest.raises(ConfigError, match="must match"):
        new_plugin("Bad-Name", "adversarial", tmp_path / "x")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("keep me")
    with pytest.raises(ConfigError, match="not empty"):
        new_plugin("fine", "adversarial", tmp_path / "taken")
    assert (tmp_path / "taken" / "file").read_text() == "keep me"

"""`genfw new-plugin` writes a distribution that pip installs, genfw lists, and the conformance kit passes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import gen_framework

from gen_framework.cli import main
from gen_framework.errors import ConfigError
from gen_framework.cli.scaffold import compatible_range, new_plugin


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
    # each runs the generated kit's DDP check: two processes
    [pytest.param("adversarial", marks=pytest.mark.distributed),
     pytest.param("variational", marks=[pytest.mark.slow, pytest.mark.distributed]),
     pytest.param("autoregressive", marks=[pytest.mark.slow, pytest.mark.distributed])],
)
def test_a_generated_plugin_installs_is_listed_and_passes_the_kit(family, tmp_path, capsys):
    name = f"scaffolded_{family[:3]}"
    assert main(["new-plugin", name, "--family", family, "--output", str(tmp_path / name)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"install it with: pip install -e {(tmp_path / name).resolve()}")
    env = install(tmp_path / name, tmp_path / "site")
    listed = subprocess.run([sys.executable, "-m", "gen_framework", "plugins", "--json"],
                            capture_output=True, text=True, env=env, timeout=120)
    record = {r["name"]: r for r in json.loads(listed.stdout)}[name]
    assert record["status"] == "ok" and record["family"] == family
    assert record["distribution"] == f"gen-framework-{name.replace('_', '-')}"
    # the whole kit as docs/plugins.md shows it, DDP included, under the generated project's --strict-markers
    tests = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", str(tmp_path / name / "tests")],
                           capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path / name)
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert " passed" in tests.stdout and "failed" not in tests.stdout
    assert re.search(r"ddp_two_processes\S* PASSED", tests.stdout), tests.stdout[-3000:]
    assert "PytestUnknownMarkWarning" not in tests.stdout + tests.stderr


def test_the_install_command_is_the_local_folder_never_a_bare_name(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["new-plugin", "my_gan", "--family", "adversarial"]) == 0  # --output defaults to ./my_gan
    line = capsys.readouterr().out.strip()
    command = line.split("install it with: ", 1)[1]
    # `pip install my_gan` would ask the package index for a distribution of that name
    assert command == f"pip install -e {tmp_path.resolve() / 'my_gan'}"
    pyproject = (tmp_path / "my_gan" / "pyproject.toml").read_text()
    assert '"distributed: ' in pyproject and '"learning: ' in pyproject and "--strict-markers" in pyproject
    # one version scheme, the package version: the release series the plugin was generated with
    dependencies = pyproject.split("dependencies = ", 1)[1].split("]")[0]
    assert dependencies == f'["gen-framework{compatible_range(gen_framework.__version__)}"'
    assert compatible_range("0.1.3") == ">=0.1,<0.2" and compatible_range("1.2.0") == ">=1.2,<2"
    assert 'api_version="' in (tmp_path / "my_gan" / "gen_framework_my_gan" / "__init__.py").read_text()
    assert "include_distributed" not in (tmp_path / "my_gan" / "tests" / "test_conformance.py").read_text()


def test_scaffold_refuses_bad_names_and_non_empty_targets(tmp_path):
    with pytest.raises(ConfigError, match="must match"):
        new_plugin("Bad-Name", "adversarial", tmp_path / "x")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("keep me")
    with pytest.raises(ConfigError, match="not empty"):
        new_plugin("fine", "adversarial", tmp_path / "taken")
    assert (tmp_path / "taken" / "file").read_text() == "keep me"

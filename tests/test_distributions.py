"""The built artefacts, not the editable checkout: the sdist and wheel of the core and of every plugin build
(the wheel from the sdist), carry their package data and entry points, and install into a clean environment.
The core installed alone, without extras, imports, lists plugins, and trains DCGAN on the embedded digits.

Slow (several minutes: building six distributions, a fresh environment with torch); `.ci/packaging` runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))
EMBEDDED = ["gen_framework/data/embedded/mnist_5k.npz", "gen_framework/data/embedded/digits_8x8.npz",
            "gen_framework/data/embedded/README.md"]
#: what the core must not pull in: the extras' libraries and what mlxtend used to bring
NOT_IN_CORE = {"mlxtend", "pandas", "matplotlib", "scikit-learn", "scikit-image", "scipy", "soundfile", "tokenizers"}


def run(*command: str | Path, cwd: Path | None = None, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=timeout)


def checked(*command: str | Path, cwd: Path | None = None) -> str:
    result = run(*command, cwd=cwd)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """sdist and wheel of the core and every plugin; the wheel is built from the unpacked sdist."""
    out = tmp_path_factory.mktemp("dist")
    for project in [ROOT, *PLUGINS]:
        checked(sys.executable, "-m", "build", "--outdir", out, project)
    return out


def wheel(dist: Path, name: str) -> Path:
    (found,) = dist.glob(f"{name}-*.whl")
    return found


@pytest.fixture(scope="module")
def core_env(tmp_path_factory, dist) -> Path:
    """A fresh environment with the core wheel and the DCGAN wheel only (no extras); returns its bin folder."""
    venv = tmp_path_factory.mktemp("core") / "venv"
    checked(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    checked(python, "-m", "pip", "install", "-q", "torch==2.13.0")
    checked(python, "-m", "pip", "install", "-q", "-c", ROOT / ".ci" / "constraints-cpu.txt",
            wheel(dist, "gen_framework"), wheel(dist, "gen_framework_dcgan"))
    return venv / "bin"


def test_every_distribution_builds_an_sdist_and_a_wheel(dist):
    names = sorted(p.name for p in dist.iterdir())
    assert len([n for n in names if n.endswith(".whl")]) == 1 + len(PLUGINS)
    assert len([n for n in names if n.endswith(".tar.gz")]) == 1 + len(PLUGINS)


def test_the_embedded_digits_are_in_the_sdist_and_the_wheel(dist):
    (sdist,) = dist.glob("gen_framework-*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = {m.split("/", 1)[1] for m in archive.getnames() if "/" in m}
    with zipfile.ZipFile(wheel(dist, "gen_framework")) as archive:
        in_wheel = set(archive.namelist())
    assert set(EMBEDDED) <= members and set(EMBEDDED) <= in_wheel
    assert not any(n.startswith(("tests/", "plugins/", "benchmarks/")) for n in in_wheel)


def read_metadata(path: Path) -> tuple[str, str]:
    with zipfile.ZipFile(path) as archive:
        info = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        entry = next((n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")), None)
        return archive.read(info).decode(), archive.read(entry).decode() if entry else ""


def test_core_metadata_states_floors_bounds_and_extras(dist):
    metadata, entry_points = read_metadata(wheel(dist, "gen_framework"))
    assert "License-Expression: Apache-2.0 AND CC-BY-SA-3.0 AND CC-BY-4.0" in metadata
    assert "Requires-Dist: pytorch-lightning<2.7,>=2.6" in metadata
    assert "Requires-Dist: jsonargparse[omegaconf,signatures]<5,>=4.42" in metadata
    assert "Requires-Dist: torch>=2.4" in metadata
    for extra in ("photos", "audio", "text-bpe", "all"):
        assert f"Provides-Extra: {extra}" in metadata
    assert "genfw = gen_framework.cli:main" in entry_points


@pytest.mark.parametrize("plugin", [p.name for p in PLUGINS])
def test_plugin_wheels_register_their_entry_point_and_declare_torch(dist, plugin):
    metadata, entry_points = read_metadata(wheel(dist, f"gen_framework_{plugin}"))
    assert f"[gen_framework.plugins]\n{plugin} = gen_framework_{plugin}:PLUGIN" in entry_points
    assert "Requires-Dist: torch>=2.4" in metadata and "License-Expression: Apache-2.0" in metadata


def test_the_core_install_is_light_and_consistent(core_env):
    checked(core_env / "python", "-m", "pip", "check")
    installed = {d["name"].lower() for d in json.loads(checked(core_env / "python", "-m", "pip", "list",
                                                                   "--format", "json"))}
    assert not installed & NOT_IN_CORE, f"the core pulled in {sorted(installed & NOT_IN_CORE)}"


def test_the_core_install_runs_from_site_packages_and_lists_plugins(core_env, tmp_path):
    location = checked(core_env / "python", "-c", "import gen_framework; print(gen_framework.__file__)", cwd=tmp_path)
    assert "site-packages" in location and str(ROOT) not in location
    listing = json.loads(checked(core_env / "genfw", "plugins", "--json", cwd=tmp_path))
    assert [p["name"] for p in listing if p["status"] == "ok"] == ["dcgan"], listing


@pytest.mark.parametrize("data", ["mnist", "digits"])
def test_the_core_install_trains_dcgan(core_env, tmp_path, data):
    checked(core_env / "genfw", "fit", "--model", "dcgan", "--data", data, "--data.image_size", "28",
            "--trainer.max_steps", "4", "--trainer.limit_val_batches", "1", "--data.batch_size", "8",
            "--trainer.enable_progress_bar", "false", cwd=tmp_path)
    assert list((tmp_path / "runs" / "dcgan").glob("version_0/checkpoints/last.ckpt"))


def test_a_missing_extra_is_one_line_from_the_installed_command(core_env, tmp_path):
    result = run(core_env / "genfw", "fit", "--model", "dcgan", "--data", "PhotoPatches", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith("pip install 'gen-framework[photos]'"), result.stderr


def test_core_environment_size_is_reported(core_env):
    code = (
        "import sys, pathlib, importlib.metadata as md\n"
        "sizes = {d.metadata['Name'].lower().replace('_', '-'): sum((d.locate_file(f).stat().st_size for f in d.files or []\n"
        "         if d.locate_file(f).exists()), 0) for d in md.distributions()}\n"
        "torch_own = {'torch', 'sympy', 'mpmath', 'networkx', 'jinja2', 'markupsafe', 'filelock', 'fsspec',\n"
        "             'typing-extensions', 'setuptools', 'pip'}\n"
        "print(round(sum(v for k, v in sizes.items() if k != 'torch') / 2**20, 1),\n"
        "      round(sum(v for k, v in sizes.items() if k not in torch_own) / 2**20, 1), len(sizes))\n"
    )
    without_torch, without_torch_deps, count = checked(core_env / "python", "-c", code).split()
    print(f"core environment: {count} distributions, {without_torch} MiB excluding torch, "
          f"{without_torch_deps} MiB excluding torch, its own dependencies, pip and setuptools")


def test_every_plugin_installs_with_its_extras_and_pip_check_is_clean(core_env, dist, tmp_path):
    plugin_wheels = [wheel(dist, f"gen_framework_{p.name}") for p in PLUGINS]
    checked(core_env / "python", "-m", "pip", "install", "-q", "-c", ROOT / ".ci" / "constraints-cpu.txt",
            "--find-links", dist, *plugin_wheels)
    checked(core_env / "python", "-m", "pip", "check")
    listing = json.loads(checked(core_env / "genfw", "plugins", "--json", cwd=tmp_path))
    assert sorted(p["name"] for p in listing if p["status"] == "ok") == sorted(p.name for p in PLUGINS)

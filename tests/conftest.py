"""Shared fixtures: quiet Lightning trainers, and a suite that writes nothing outside its temporary folders."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import pytest
import torch

CHECKOUT = Path(__file__).resolve().parents[1]
#: Folders of the checkout that tests may change (the environment, caches of Python and tools).
_CHECKOUT_SKIP = {".venv", ".git", "__pycache__", "site"}

# Caches and the home directory point into one temporary folder for the whole session, set on import so that
# every test (and every subprocess it starts) sees them: the suite must not touch ~/.cache/gen_framework or any
# other file of the user's.
# Tests import this module again as plain `conftest` (for trainer_kwargs): the second import must find the same root.
SESSION_ROOT = Path(os.environ.get("GEN_FRAMEWORK_TEST_ROOT") or tempfile.mkdtemp(prefix="genfw-tests-"))
os.environ["GEN_FRAMEWORK_TEST_ROOT"] = str(SESSION_ROOT)
ISOLATED_ENV = {
    "HOME": SESSION_ROOT / "home",
    "GEN_FRAMEWORK_CACHE": SESSION_ROOT / "gen_framework_cache",
    "XDG_CACHE_HOME": SESSION_ROOT / "xdg_cache",
    "MPLCONFIGDIR": SESSION_ROOT / "matplotlib",
    "TORCHINDUCTOR_CACHE_DIR": SESSION_ROOT / "inductor",
    "HYPOTHESIS_STORAGE_DIRECTORY": SESSION_ROOT / "hypothesis",  # else .hypothesis/ in the working directory
}
# Tool chains found through HOME (rustup, cargo: pip may run them while building a wheel) keep their real homes, so
# that they read their settings instead of initialising new ones in the empty home.
for _tool, _folder in (("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo")):
    if _tool not in os.environ and (Path.home() / _folder).is_dir():
        os.environ[_tool] = str(Path.home() / _folder)
for _name, _path in ISOLATED_ENV.items():
    _path.mkdir(parents=True, exist_ok=True)
    os.environ[_name] = str(_path)
atexit.register(shutil.rmtree, SESSION_ROOT, ignore_errors=True)

# Tiny tensors gain nothing from intra-op threads, and on a busy machine extra threads make them far slower.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _quiet_lightning():
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        yield


def checkout_files(root: Path = CHECKOUT) -> set[str]:
    """Relative paths of the checkout's files, environment and tool caches left out."""
    found: set[str] = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _CHECKOUT_SKIP and not d.endswith(".egg-info")]
        found.update(os.path.relpath(os.path.join(folder, name), root) for name in files)
    return found


def new_files_report(before: set[str], after: set[str], home: Path) -> str | None:
    """What the suite left behind: files new in the checkout, and any file in the session's home directory."""
    added = sorted(after - before)
    in_home = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
    problems = []
    if added:
        problems.append(f"the checkout gained {len(added)} file(s): {', '.join(added[:10])}")
    if in_home:
        problems.append(f"the home directory gained {len(in_home)} file(s): {', '.join(in_home[:10])}")
    return "; ".join(problems) or None


@pytest.fixture(scope="session", autouse=True)
def _leaves_checkout_and_home_untouched():
    """Fails the session (an error at teardown) when tests wrote into the checkout or the home directory: they
    must write under ``tmp_path`` and the caches above."""
    before = checkout_files()
    yield
    report = new_files_report(before, checkout_files(), ISOLATED_ENV["HOME"])
    if report:
        pytest.fail(f"tests must write only under their temporary folders: {report}", pytrace=False)


def trainer_kwargs(**overrides):
    """Keyword arguments of a silent CPU Trainer for tests."""
    kwargs = dict(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    kwargs.update(overrides)
    return kwargs

"""Shared by the metric tests: a private feature cache, one thread, and the DDP script's cases as a module."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch

DDP_SCRIPT = Path(__file__).resolve().parent / "scripts" / "ddp_evaluation.py"


@pytest.fixture(autouse=True)
def _private_feature_cache(tmp_path_factory, monkeypatch):
    """Trained feature networks go to a per-session folder, never to ~/.cache."""
    monkeypatch.setenv("GEN_FRAMEWORK_CACHE", str(tmp_path_factory.getbasetemp() / "gen_framework_cache"))


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: the tensors are tiny, and on a shared 2-core machine two threads contend badly."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def ddp_cases() -> ModuleType:
    """tests/metrics/scripts/ddp_evaluation.py loaded as a module (its toy models and its ``run``)."""
    spec = importlib.util.spec_from_file_location("ddp_evaluation", DDP_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module

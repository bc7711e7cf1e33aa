"""Shared fixtures: quiet Lightning trainers and a clean plugin registry per test."""

from __future__ import annotations

import logging
import warnings

import pytest
import torch

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

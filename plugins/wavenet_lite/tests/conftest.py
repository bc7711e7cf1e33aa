"""Shared by the WaveNet-lite tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """Run every test on one intra-op thread.

    Generation runs thousands of operations on tensors of a few hundred numbers: a second thread only adds
    synchronisation, and on a busy machine (more runnable threads than cores) it made a generation step dozens
    of times slower. One thread also makes the learning test's numbers the same on every machine.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

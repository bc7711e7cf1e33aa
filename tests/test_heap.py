"""gen_framework._utils.heap: a step's freed buffers are reused from the heap instead of faulting in fresh pages."""

from __future__ import annotations

import subprocess
import sys

import pytest

# A training step in miniature: activations of a GPT-mini step's sizes (1.5 MiB down to 0.3 MiB) allocated,
# half of them freed, more allocated, all freed; repeated. Prints the minor page faults of the last 10 rounds.
# Run in a fresh process: mallopt settings are process-wide and permanent.
ROUNDS = """
import resource, sys
import torch
if sys.argv[1] == "tuned":
    from gen_framework._utils.heap import keep_freed_memory
    assert keep_freed_memory()
shapes = [(768, 512), (768, 384), (768, 128), (48, 64, 64), (768, 103)]
def round_():
    live = [torch.ones(*shapes[i % 5]) for i in range(40)]
    del live[::2]
    more = [torch.ones(*shapes[(i + 2) % 5]) for i in range(20)]
    del live, more
for _ in range(3):
    round_()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    round_()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", ROUNDS, mode], capture_output=True, text=True, check=True).stdout
    return int(out.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt tuning is for glibc on Linux")
def test_freed_step_buffers_are_reused_without_page_faults() -> None:
    # Each round touches about 9k pages; reused memory faults almost none of them in again.
    assert faults("tuned") < 2_000
    # Without the tuning glibc returns much of the memory and faults it in again (about 10k pages measured):
    # the check tells the two apart.
    assert faults("default") > 5_000


def test_turned_off_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import gen_framework._utils.heap as heap

    monkeypatch.setenv("GENFW_MALLOC_TUNING", "0")
    monkeypatch.setattr(heap, "_applied", False)
    assert heap.keep_freed_memory() is False

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
# glibc's starting thresholds (128 KiB), held fixed: glibc raises them by itself after some frees, depending on
# the allocation history, so without this the untuned count varies from run to run (0 to 10k faults measured)
import ctypes, ctypes.util
libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
assert libc.mallopt(-3, 128 * 1024) and libc.mallopt(-1, 128 * 1024)  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
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
    # At glibc's starting thresholds freed buffers go back to the kernel and fault in again (about 125k faults):
    # the check tells the two apart, and a keep_freed_memory() that does nothing fails the first assertion.
    assert faults("untuned") > 5_000


def test_turned_off_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import gen_framework._utils.heap as heap

    monkeypatch.setenv("GENFW_MALLOC_TUNING", "0")
    monkeypatch.setattr(heap, "_applied", False)
    assert heap.keep_freed_memory() is False

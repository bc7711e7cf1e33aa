"""Keep a training step's freed buffers in the process heap, so the next step reuses them without page faults.

A training step allocates and frees the same activation buffers every step, many of them between 128 KiB and
a few MiB (GPT-mini's ``(B * T, 4C)`` MLP activations are 1.5 MiB). glibc's malloc serves a block that large
with its own ``mmap`` and returns the memory to the kernel when it is freed, or trims the heap's top once more
than a few MiB are free there; either way the next step touches fresh pages, and every 4 KiB page costs a
fault and zeroing in the kernel: about 250 faults and 0.7 ms of system time in a 65 ms GPT-mini step on a
2-core EPYC (``benchmarks/gpt_mini.py``), time a plain loop under a tuned allocator does not spend.

:func:`keep_freed_memory` raises both thresholds with ``mallopt``: blocks below 32 MiB come from the heap, and
up to 256 MiB of free memory stays mapped. The process keeps its peak heap size instead of returning it, which
is what a long-running training process wants. It acts only on glibc (Linux); elsewhere it does nothing, and
``GENFW_MALLOC_TUNING=0`` turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

# mallopt parameter numbers from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 << 20  # glibc's own ceiling for its adaptive threshold (DEFAULT_MMAP_THRESHOLD_MAX)
TRIM_THRESHOLD = 256 << 20

_applied = False


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds for a training process (once per process); ``True`` if they were set."""
    global _applied
    if _applied:
        return True
    if os.environ.get("GENFW_MALLOC_TUNING", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc: musl, macOS, Windows
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success, 0 on an unknown or invalid parameter.
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _applied

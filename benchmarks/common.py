"""What every benchmark shares: machine information, medians, and writing results as JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine_info(threads: int | None = None) -> dict[str, Any]:
    """CPU model, core count, threads used, torch, Lightning and Python versions, 1-minute load average."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    try:
        lightning = version("pytorch-lightning")
    except PackageNotFoundError:
        lightning = None

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": threads if threads is not None else torch.get_num_threads(),
        "torch": torch.__version__,
        "lightning": lightning,
        "python": platform.python_version(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def write_results(
    name: str,
    results: dict[str, Any],
    *,
    threads: int | None = None,
    output: Path | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``{"machine": ..., **extra, "results": ...}`` as JSON and return the path.

    Args:
        name: the benchmark's name; the file is ``benchmarks/results/<name>.json`` unless ``output`` is given.
        results: the measurements.
        threads: torch threads the measurements used (default: the current setting).
        output: another file to write (``benchmarks/run.py --quick`` keeps smoke runs out of the recorded results).
        extra: further top-level entries, such as ``settings`` or ``wall_seconds``.
    """
    path = Path(output) if output is not None else RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine_info(threads), **(extra or {}), "results": results}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path

"""Prints the last logged value of every validation scalar of a `genfw fit` run, from its TensorBoard log.

    python docs/scripts/last_scalars.py runs/docs-samples/vae/version_0
"""

from __future__ import annotations

import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def last_scalars(log_dir: Path, prefix: str = "val/") -> dict[str, tuple[int, float]]:
    """``{tag: (step, value)}`` of the last event of each scalar whose tag starts with ``prefix``."""
    found: dict[str, tuple[int, float]] = {}
    for events in sorted(log_dir.glob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            if tag.startswith(prefix):
                last = accumulator.Scalars(tag)[-1]
                found[tag] = (last.step, last.value)
    return found


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python docs/scripts/last_scalars.py RUN_LOG_DIR")
    for tag, (step, value) in sorted(last_scalars(Path(sys.argv[1])).items()):
        print(f"{tag} = {value:.4g} (step {step})")

"""The evaluation protocol as data: one :class:`MetricRecord` per value, written to ``metrics.json``.

``metrics.json`` holds one section per stage (``"val"``, ``"test"``); a new evaluation replaces its stage's
section and keeps the others. Each section records the run (checkpoint, step, model, data, seed, number of
processes) and, per metric, its value together with how it was computed: the feature network and its weights
hash, the number of real and generated samples, the resize method, the seed and the checkpoint. The file is
written to a temporary name and renamed, so a reader never sees half of it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gen_framework.persistence.atomic import atomic_path

FORMAT = "gen_framework.metrics/1"


@dataclass
class MetricRecord:
    """One metric value and the protocol that produced it.

    Attributes:
        value: the value (``None`` when it could not be computed, with the reason in ``details``).
        higher_is_better: the metric's direction.
        method: one line on how it was computed.
        feature_network: :meth:`~gen_framework.metrics.features.FeatureNetwork.describe` of the network used,
            or ``None``.
        num_real: real examples used (images, windows, clips), or ``None``.
        num_generated: generated samples used, or ``None`` when none were drawn.
        resize: how images were resized for the feature network, or ``None``.
        seed: seed of the sampling and of any random estimate.
        checkpoint: checkpoint the weights came from, or ``None`` (in-memory weights during ``fit``).
        details: anything else (k of the IWAE bound, likelihood, subset sizes, ...).
    """

    value: float | None
    higher_is_better: bool | None
    method: str
    feature_network: dict[str, Any] | None = None
    num_real: int | None = None
    num_generated: int | None = None
    resize: str | None = None
    seed: int | None = None
    checkpoint: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        if self.value is not None and not math.isfinite(self.value):
            record["value"] = None  # JSON has no NaN; the reason stays in details
            record["details"] = {**self.details, "non_finite_value": str(self.value)}
        return record


def evaluation_section(
    metrics: dict[str, MetricRecord], *, run: dict[str, Any]
) -> dict[str, Any]:
    """One stage's section of ``metrics.json``: ``run`` facts, a UTC timestamp and the metric records."""
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **run,
        "metrics": {name: record.to_json() for name, record in metrics.items()},
    }


def write_metrics_json(path: str | Path, stage: str, section: dict[str, Any]) -> Path:
    """Replace ``stage``'s section of the ``metrics.json`` at ``path`` (created if missing), atomically.

    An unreadable existing file is replaced rather than merged.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {"format": FORMAT}
    if path.is_file():
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(existing, dict) and existing.get("format") == FORMAT:
                document = existing
        except (OSError, ValueError):
            pass
    document[stage] = section
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path

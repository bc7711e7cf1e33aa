"""WaveNet-lite through gen-framework's conformance kit (tiny instance from ``PLUGIN.test_init_args``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gen_framework.testing import conformance_cases

CONFIGS = sorted((Path(__file__).resolve().parents[3] / "configs" / "wavenet_lite").glob("*.yaml"))


@pytest.mark.parametrize(
    "case", conformance_cases("wavenet_lite", configs=CONFIGS, sampling_options={"seconds": 0.01, "temperature": 0.9})
)
def test_conformance(case, tmp_path):
    case(tmp_path)

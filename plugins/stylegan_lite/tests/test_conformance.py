"""StyleGAN-lite through gen-framework's conformance kit (tiny instance from ``PLUGIN.test_init_args``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gen_framework.testing import conformance_cases

CONFIGS = sorted((Path(__file__).resolve().parents[3] / "configs" / "stylegan_lite").glob("*.yaml"))


@pytest.mark.parametrize(
    "case",
    conformance_cases(
        "stylegan_lite", configs=CONFIGS, sampling_options={"truncation_psi": 0.7},
    ),
)
def test_conformance(case, tmp_path):
    case(tmp_path)

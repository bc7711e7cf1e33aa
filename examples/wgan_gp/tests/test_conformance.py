"""The example plugin passes gen-framework's whole conformance kit, with no declared failures.

The kit is given the plugin's spec object rather than its registry name, so this runs from a checkout as well
as after ``pip install``. The two DDP checks start processes (about 25 s each on a CPU): they run in a test of
their own, marked ``slow``.
"""

from pathlib import Path

import pytest
from gen_framework_wgan_gp import PLUGIN

from gen_framework.testing import check_plugin, conformance_cases

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "gen_framework_wgan_gp" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("case", conformance_cases(PLUGIN, configs=CONFIGS, include_distributed=False))
def test_conformance(case, tmp_path):
    case(tmp_path)


@pytest.mark.slow
@pytest.mark.distributed
def test_conformance_under_ddp(tmp_path):
    check_plugin(PLUGIN, select=["ddp_two_processes", "ddp_ranks_draw_differently"], workdir=tmp_path)

"""The example plugin passes gen-framework's conformance kit.

The kit is given the plugin's spec object rather than its registry name, so this runs from a checkout as well
as after ``pip install``.
"""

import pytest
from gen_framework_conv_gan import PLUGIN

from gen_framework.testing import conformance_cases


@pytest.mark.parametrize("case", conformance_cases(PLUGIN, include_distributed=False))
def test_conformance(case, tmp_path):
    case(tmp_path)

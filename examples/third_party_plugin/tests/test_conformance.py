"""The example plugin passes gen-framework's conformance kit."""

import pytest

from gen_framework.testing import conformance_cases


@pytest.mark.parametrize("case", conformance_cases("conv_gan", include_distributed=False))
def test_conformance(case, tmp_path):
    case(tmp_path)

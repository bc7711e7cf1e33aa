"""The conformance kit: checks every plugin — ours or a third party's — must pass.

Shaped like scikit-learn's ``check_estimator``: plain ``check_*`` functions chosen by family
(:mod:`gen_framework.testing.checks`), :func:`check_plugin` to run them all, and :func:`conformance_cases`
for one pytest test id per check::

    import pytest
    from gen_framework.testing import conformance_cases

    @pytest.mark.parametrize("case", conformance_cases("my_plugin"))
    def test_conformance(case, tmp_path):
        case(tmp_path)
"""

from gen_framework.testing.kit import CheckResult, CheckSkipped, KitContext, KitReport, check_plugin, conformance_cases, plugin_checks
from gen_framework.testing.synthetic import SyntheticData

__all__ = [
    "CheckResult",
    "CheckSkipped",
    "KitContext",
    "KitReport",
    "SyntheticData",
    "check_plugin",
    "conformance_cases",
    "plugin_checks",
]

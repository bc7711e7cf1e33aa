"""Importing the CLI changes nothing process-wide: jsonargparse's parsing settings, omegaconf's resolvers and the
warning filters are what they were (the CLI applies its settings when it runs; its warning filters last one command)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r"""
import json, warnings
import jsonargparse._common as common  # the settings' store; read-only here
import pytorch_lightning.cli  # what Lightning itself does on import is not ours to judge

from omegaconf import OmegaConf

def state():
    return {"settings": {k: repr(v) for k, v in common.parsing_settings.items()},
            "resolvers": OmegaConf.has_resolver("fast_precision"),
            "filters": [repr(f) for f in warnings.filters]}

before = state()
import gen_framework.cli
import gen_framework.cli.app
after_import = state()
gen_framework.cli.app.apply_parsing_settings()
after_run = state()
print(json.dumps({"before": before, "after_import": after_import, "after_run": after_run}))
"""


def test_importing_the_cli_changes_no_process_wide_state():
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    states = json.loads(result.stdout.strip().splitlines()[-1])
    assert states["after_import"] == states["before"]
    # the probe can see a change: running the CLI's setup does change the settings
    assert states["after_run"]["settings"] != states["before"]["settings"]
    assert states["after_run"]["resolvers"] and not states["before"]["resolvers"]

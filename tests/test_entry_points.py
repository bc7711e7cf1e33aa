"""The installed commands: the `genfw` console script and `python -m gen_framework` (real subprocesses)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_python_m_gen_framework_lists_plugins_as_json():
    result = subprocess.run([sys.executable, "-m", "gen_framework", "plugins", "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert isinstance(records, list)
    for record in records:
        assert {"name", "version", "family", "status", "error"} <= set(record)


def test_genfw_console_script_reports_user_errors_with_exit_code_2():
    genfw = shutil.which("genfw") or str(Path(sys.executable).with_name("genfw"))
    if not Path(genfw).exists():
        pytest.skip("genfw console script not installed")
    result = subprocess.run([genfw, "fit", "--model", "no_such_plugin"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "unknown plugin 'no_such_plugin'" in result.stderr
    assert "Traceback" not in result.stderr


def test_import_gen_framework_is_light():
    code = "import sys, gen_framework; print('torch' in sys.modules, 'pytorch_lightning' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["False", "False"]

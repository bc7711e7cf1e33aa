"""`genfw predict` into a read-only output folder fails with one clear line, also as root.

Root ignores permission bits (the chmod case of test_bad_input_matrix.py skips there), but not a read-only
mount: the folder is bind-mounted read-only in a private mount namespace (``unshare -m``), where CI runs as root.
"""

import os
import shutil
import subprocess
import sys

import pytest

from gen_framework.registry import registry
from gen_framework.testing.kit import KitContext


def read_only_mount_works(folder) -> bool:
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount --bind '{folder}' '{folder}' && "
                            f"mount -o remount,bind,ro '{folder}' && ! touch '{folder}/probe' 2>/dev/null"],
                           capture_output=True, timeout=60)
    return probe.returncode == 0


@pytest.mark.skipif(os.name != "posix" or shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_predict_into_a_read_only_mount_gives_one_line_and_writes_nothing(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "old.png").write_bytes(b"keep")
    if os.geteuid() != 0 or not read_only_mount_works(locked):
        pytest.skip("needs root with mount namespaces for a read-only bind mount")
    checkpoint = KitContext(registry.get("dcgan"), tmp_path / "kit").checkpoint_path()
    script = (f"mount --bind '{locked}' '{locked}' && mount -o remount,bind,ro '{locked}' && "
              f"exec '{sys.executable}' -m gen_framework predict --ckpt_path '{checkpoint}' --num_samples 2 "
              f"--output_dir '{locked}/samples' --trainer.enable_progress_bar false")
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=300,
                            cwd=tmp_path)
    assert result.returncode != 0, result.stdout[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert any("--output_dir" in line and "not writable" in line for line in lines), result.stderr[-2000:]
    assert sorted(p.name for p in locked.iterdir()) == ["old.png"] and (locked / "old.png").read_bytes() == b"keep"

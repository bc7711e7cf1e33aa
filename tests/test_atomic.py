"""Every file the framework writes is replaced atomically and gets the user's usual permissions."""

from __future__ import annotations

import os
import stat

import pytest
import torch

from gen_framework.persistence.atomic import atomic_path
from gen_framework.data.writers import write_samples


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX permissions")
def test_written_files_get_the_umask_permissions_not_mkstemps_0600(tmp_path):
    previous = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "a.bin", durable=True) as tmp:
            tmp.write_bytes(b"x")
        write_samples(torch.zeros(2, 1, 4, 4), {"modality": "image"}, tmp_path / "samples")
    finally:
        os.umask(previous)
    written = [tmp_path / "a.bin", *sorted((tmp_path / "samples").iterdir())]
    assert len(written) > 2
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path

"""AtomicCheckpointIO: temporary file beside the target, fsync, os.replace; genfw trainers use it by default."""

from __future__ import annotations

import os
import stat

import fsspec
import pytest
import torch
from pytorch_lightning.plugins import TorchCheckpointIO

from gen_framework.persistence.checkpoint_io import AtomicCheckpointIO
from gen_framework.cli import run_lightning_cli


class Unpicklable:
    def __reduce__(self):
        raise RuntimeError("cannot be saved")


def test_save_writes_a_complete_file_with_ordinary_permissions_and_no_leftovers(tmp_path):
    target = tmp_path / "deeper" / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.arange(4.0)}}, target)
    assert torch.equal(torch.load(target, weights_only=True)["state_dict"]["w"], torch.arange(4.0))
    assert os.listdir(target.parent) == ["last.ckpt"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_a_failed_save_keeps_the_previous_checkpoint_and_removes_its_temporary_file(tmp_path):
    target = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": 1}, target)
    with pytest.raises(RuntimeError, match="cannot be saved"):
        io.save_checkpoint({"step": 2, "bad": Unpicklable()}, target)
    assert torch.load(target, weights_only=True) == {"step": 1}
    assert os.listdir(tmp_path) == ["last.ckpt"]


def test_temporaries_left_by_a_killed_save_are_removed_by_the_next_save(tmp_path):
    (tmp_path / ".last.ckpt.abc123.tmp").write_bytes(b"torn")
    (tmp_path / ".other.ckpt.abc123.tmp").write_bytes(b"not ours to remove")
    AtomicCheckpointIO().save_checkpoint({"step": 1}, tmp_path / "last.ckpt")
    assert sorted(os.listdir(tmp_path)) == [".other.ckpt.abc123.tmp", "last.ckpt"]


def test_urls_go_through_lightnings_fsspec_saving():
    AtomicCheckpointIO().save_checkpoint({"step": 3}, "memory://checkpoints/last.ckpt")
    with fsspec.open("memory://checkpoints/last.ckpt", "rb") as handle:
        assert torch.load(handle, weights_only=True) == {"step": 3}


@pytest.mark.parametrize(("extra", "expected"), [([], AtomicCheckpointIO),
                                                 (["--trainer.plugins", "pytorch_lightning.plugins.TorchCheckpointIO"],
                                                  TorchCheckpointIO)])
def test_genfw_trainers_write_checkpoints_atomically_unless_told_otherwise(tmp_path, extra, expected):
    cli = run_lightning_cli([
        "fit", "--model", "toys.models.ToyVAE", "--data", "toys.data.ToyImages", "--trainer.max_steps", "1",
        "--trainer.default_root_dir", str(tmp_path), "--trainer.logger", "false",
        "--trainer.enable_progress_bar", "false", "--trainer.limit_val_batches", "0", *extra,
    ])
    assert type(cli.trainer.strategy.checkpoint_io) is expected
    assert cli.trainer.checkpoint_callback.last_model_path.endswith("last.ckpt")

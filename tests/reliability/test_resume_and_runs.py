"""Resume semantics a user can predict, run folders that are never shared or orphaned, and ``--ckpt_path last``
scoped to the chosen plugin and to finished runs."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time

import pytest
import torch
from toys.registered import toy_plugins

from gen_framework.cli import run_dirs as _run_dirs
from gen_framework.callbacks.run_checkpoint import RUNNING_MARKER
from gen_framework.cli.run_dirs import find_last_checkpoint
from gen_framework.cli import main

QUIET = ["--trainer.enable_progress_bar", "false"]
FIT = ["fit", "--model", "resumetoy", "--data", "toys.data.ToyImages", "--trainer.limit_val_batches", "0", *QUIET]


@pytest.fixture
def toys(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with toy_plugins("resumetoy"):
        yield tmp_path


def step_of(path) -> int:
    return torch.load(path, weights_only=True)["global_step"]


def test_rerunning_the_original_command_with_the_models_own_values_resumes(toys):
    original = [*FIT, "--model.init_args.hidden", "16", "--trainer.max_steps", "2"]
    assert main(original) == 0
    assert main([*original[:-1], "4", "--ckpt_path", "last"]) == 0
    newest = max(toys.rglob("last.ckpt"), key=lambda p: p.stat().st_mtime)
    assert step_of(newest) == 4
    assert main(["validate", "--ckpt_path", "last", "--model", "resumetoy", "--model.init_args.hidden", "16",
                 "--data", "toys.data.ToyImages", *QUIET]) == 0


def test_a_different_value_is_refused_naming_both(toys, capsys):
    assert main([*FIT, "--model.init_args.hidden", "16", "--trainer.max_steps", "2"]) == 0
    capsys.readouterr()
    assert main([*FIT, "--model.init_args.hidden", "24", "--trainer.max_steps", "4", "--ckpt_path", "last"]) == 2
    line = capsys.readouterr().err.strip()
    assert "--model.init_args.hidden is 24" in line and "hidden=16" in line


def test_ckpt_path_last_stays_within_the_chosen_plugin(toys):
    assert main([*FIT, "--trainer.max_steps", "2"]) == 0
    time.sleep(0.01)
    assert main(["fit", "--model", "othertoy", "--data", "toys.data.ToyImages", "--trainer.limit_val_batches", "0",
                 "--trainer.max_steps", "1", *QUIET]) == 0
    assert find_last_checkpoint("runs").parts[1] == "othertoy"  # the newest overall
    assert find_last_checkpoint("runs", plugin="resumetoy").parts[1] == "resumetoy"
    assert main(["predict", "--ckpt_path", "last", "--model", "resumetoy", "--num_samples", "2",
                 "--output_dir", "s"]) == 0
    assert json.loads((toys / "s" / "manifest.json").read_text())["checkpoint"].startswith("runs/resumetoy")


def test_ckpt_path_last_skips_a_run_still_being_written(toys):
    assert main([*FIT, "--trainer.max_steps", "2"]) == 0
    finished = find_last_checkpoint("runs")
    running = toys / "runs" / "resumetoy" / "version_9" / "checkpoints"
    running.mkdir(parents=True)
    shutil.copyfile(finished, running / "last.ckpt")
    (running / RUNNING_MARKER).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    assert find_last_checkpoint("runs", plugin="resumetoy") == finished
    # a marker left by a process that no longer exists (kill -9) does not hide the run: it can be resumed
    (running / RUNNING_MARKER).write_text(json.dumps({"pid": 2**22 + 12345, "host": socket.gethostname()}))
    assert find_last_checkpoint("runs", plugin="resumetoy").resolve() == running / "last.ckpt"


def test_two_fits_choosing_a_version_at_the_same_moment_get_different_folders(tmp_path, monkeypatch):
    # Both look for the next version before either creates it (forced with a barrier), as two processes can.
    barrier = threading.Barrier(2)
    real = _run_dirs.next_version

    def racing(root):
        number = real(root)
        barrier.wait(timeout=10)
        return number

    monkeypatch.setattr(_run_dirs, "next_version", racing)
    got: list[int] = []
    threads = [threading.Thread(target=lambda: got.append(_run_dirs.reserve_version(tmp_path))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _run_dirs.forget_reserved()
    assert sorted(got) == [0, 1]


def test_a_failed_start_leaves_no_run_folder(toys, capsys):
    code = main(["fit", "--model", "resumetoy", "--data", "image_folder", "--data.init_args.root", "missing",
                 "--trainer.max_steps", "1", *QUIET])
    assert code == 2
    assert not list(toys.rglob("version_*"))


def test_a_full_disk_during_fit_is_one_line_and_keeps_the_last_checkpoint(toys, monkeypatch, capsys):
    import errno

    from gen_framework.persistence import checkpoint_io

    assert main([*FIT, "--trainer.max_steps", "2"]) == 0
    capsys.readouterr()

    def full(obj, handle):
        raise OSError(errno.ENOSPC, "No space left on device", str(handle.name))

    monkeypatch.setattr(checkpoint_io.torch, "save", full)
    code = main([*FIT, "--trainer.max_steps", "4", "--ckpt_path", "last"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    line = [ln for ln in err.splitlines() if ln.startswith("genfw:")]
    assert len(line) == 1 and "No space left on device" in line[0] and "--ckpt_path last" in line[0]
    assert step_of(find_last_checkpoint("runs")) == 2
    assert not [p for p in toys.rglob(".*.tmp")], "a temporary checkpoint was left behind"


def test_resuming_removes_what_a_killed_save_left_beside_the_checkpoint(toys):
    assert main([*FIT, "--trainer.max_steps", "2"]) == 0
    last = find_last_checkpoint("runs")
    stale = last.parent / ".last.ckpt.k2j4x9.tmp"
    stale.write_bytes(b"half a checkpoint")
    assert main([*FIT, "--trainer.max_steps", "3", "--ckpt_path", "last"]) == 0
    assert not stale.exists()
    assert last.exists()

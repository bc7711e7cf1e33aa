"""The checkpoint decides the model, in one place that reads each checkpoint once."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

import pytest
import torch
from toys.models import ToyImageGAN
from toys.registered import toy_plugins

from gen_framework.callbacks.run_checkpoint import RUNNING_MARKER
from gen_framework.cli import main
from gen_framework.cli import checkpoint_authority
from gen_framework.cli.checkpoint_authority import CheckpointDecision, decide
from gen_framework.errors import CheckpointError, ConfigError

QUIET = ["--trainer.enable_progress_bar", "false"]
FIT = ["fit", "--model", "authoritytoy", "--data", "toys.data.ToyImages", "--trainer.limit_val_batches", "0", *QUIET]


@pytest.fixture
def toys(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with toy_plugins("authoritytoy"):
        yield tmp_path


@pytest.fixture
def loads(monkeypatch):
    """Every file torch.load reads during the test, resolved."""
    seen: list[Path] = []
    real = torch.load

    def counting(f, *args, **kwargs):
        # a path, or an open file (Lightning's loader opens the file through fsspec and passes the handle)
        name = f if isinstance(f, str | os.PathLike) else getattr(f, "path", None) or getattr(f, "name", None)
        seen.append(Path(name).resolve() if isinstance(name, str | os.PathLike) else f)
        return real(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", counting)
    return seen


def fitted(toys: Path, steps: int = 2) -> Path:
    assert main([*FIT, "--trainer.max_steps", str(steps)]) == 0
    return max(toys.rglob("last.ckpt"), key=lambda p: p.stat().st_mtime).resolve()


@pytest.mark.parametrize("subcommand", ["validate", "predict", "fit"])
def test_each_command_reads_its_checkpoint_once(toys, loads, subcommand):
    ckpt = fitted(toys)
    loads.clear()
    extra = {
        "validate": ["--data", "toys.data.ToyImages", "--trainer.logger", "false"],
        "predict": ["--num_samples", "2", "--output_dir", "s"],
        "fit": ["--data", "toys.data.ToyImages", "--trainer.max_steps", "3", "--trainer.limit_val_batches", "0"],
    }[subcommand]
    assert main([subcommand, "--ckpt_path", str(ckpt), *extra, *QUIET]) == 0
    # Lightning restored the weights (and, for fit, the step) from the dict the authority had read
    assert loads.count(ckpt) == 1, loads


def test_a_served_checkpoint_is_handed_over_once_and_only_for_its_own_file(toys):
    ckpt = fitted(toys)
    decision = CheckpointDecision.read(str(ckpt))
    assert decision.model_class is ToyImageGAN and decision.hyperparameters
    assert decision.hand_over(toys / "elsewhere.ckpt") is None
    assert decision.hand_over(ckpt)["state_dict"]
    assert decision.hand_over(ckpt) is None  # Lightning may change it in place: it is not kept
    with pytest.raises(RuntimeError, match="already handed"):
        decision.checkpoint


def test_decide_refuses_a_contradicting_model_and_override(toys):
    ckpt = str(fitted(toys))
    with pytest.raises(ConfigError, match=r"--model .*ToyVAE contradicts the checkpoint .* holds a ToyImageGAN"):
        decide("predict", ckpt, requested_model="toys.models.ToyVAE", plugin="othertoy", overrides={},
               runs_root="runs")
    stored = CheckpointDecision.read(ckpt).hyperparameters
    name = next(iter(stored))
    with pytest.raises(ConfigError, match=rf"--model.{name} is .* but the checkpoint"):
        decide("validate", ckpt, requested_model=None, plugin=None,
               overrides={name: (f"--model.{name}", "not-the-stored-value")}, runs_root="runs")


def test_ckpt_path_last_resolves_within_the_plugin_and_never_to_a_live_run(toys):
    mine = fitted(toys)
    time.sleep(0.01)
    assert main(["fit", "--model", "othertoy", "--data", "toys.data.ToyImages", "--trainer.limit_val_batches", "0",
                 "--trainer.max_steps", "1", *QUIET]) == 0
    # a newer run of the same plugin that is still being written (its process is alive: this one)
    live = toys / "runs" / "authoritytoy" / "version_9" / "checkpoints"
    live.mkdir(parents=True)
    shutil.copyfile(mine, live / "last.ckpt")
    (live / RUNNING_MARKER).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    decision = decide("predict", "last", requested_model=None, plugin="authoritytoy", overrides={}, runs_root="runs")
    assert Path(decision.path).resolve() == mine
    assert main(["predict", "--ckpt_path", "last", "--model", "authoritytoy", "--num_samples", "2",
                 "--output_dir", "s", *QUIET]) == 0
    assert json.loads((toys / "s" / "manifest.json").read_text())["checkpoint"] == str(
        mine.relative_to(toys)
    )
    # the only checkpoint of a plugin is live: nothing to resolve to, and the message says why
    shutil.rmtree(toys / "runs" / "othertoy")
    other_live = toys / "runs" / "othertoy" / "version_0" / "checkpoints"
    other_live.mkdir(parents=True)
    shutil.copyfile(mine, other_live / "last.ckpt")
    (other_live / RUNNING_MARKER).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    with pytest.raises(CheckpointError, match="of plugin 'othertoy' .*still being written"):
        decide("predict", "last", requested_model=None, plugin="othertoy", overrides={}, runs_root="runs")


def test_the_rule_lives_in_one_module():
    root = Path(checkpoint_authority.__file__).parent
    for module in root.glob("*.py"):
        if module.name == "checkpoint_authority.py":
            continue
        text = module.read_text()
        # only the authority reads checkpoints (plugin_help's --help reads through CheckpointDecision too)
        assert "read_checkpoint(" not in text and "torch.load(" not in text, module.name
        assert "checkpoint_class(" not in text, module.name

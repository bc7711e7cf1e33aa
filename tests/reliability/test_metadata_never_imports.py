"""A file's metadata never chooses code to import: checkpoints, ``config.json`` and the plugins' scripts.

Each test puts ``evil_mod.py`` (which leaves a marker file when imported) in the working directory, which is
also on ``sys.path``, and a checkpoint or pretrained folder naming ``evil_mod.Model`` with no plugin.
"""

from __future__ import annotations

import json
import sys

import pytest
import torch
from toys.models import ToyImageGAN

from gen_framework.persistence.checkpoint import load_checkpoint
from gen_framework.errors import CheckpointError
from gen_framework.families.base import GenerativeModule
from gen_framework.registry import PluginSpec, registry


@pytest.fixture
def hostile_folder(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "evil_mod.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Model: pass\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path, marker
    sys.modules.pop("evil_mod", None)


@pytest.fixture
def toy_checkpoint(tmp_path):
    """A checkpoint of a registered toy plugin, saved through Lightning."""
    import pytorch_lightning as pl
    from conftest import trainer_kwargs
    from toys.data import ToyImages

    registry.register(PluginSpec(name="metatoy", family="adversarial", module_class=ToyImageGAN), replace=True)
    trainer = pl.Trainer(**trainer_kwargs(max_steps=1, limit_val_batches=0))
    trainer.fit(ToyImageGAN(), datamodule=ToyImages())
    path = tmp_path / "toy.ckpt"
    trainer.save_checkpoint(path)
    yield path
    registry.unregister("metatoy")


def _point_at_evil(path) -> None:
    state = torch.load(path, weights_only=True)
    state["gen_framework"].update(plugin=None, class_path="evil_mod.Model")
    torch.save(state, path)


def test_load_checkpoint_does_not_import_the_module_a_checkpoint_names(hostile_folder, toy_checkpoint):
    _, marker = hostile_folder
    _point_at_evil(toy_checkpoint)
    with pytest.raises(CheckpointError, match="evil_mod.Model, which no installed plugin provides"):
        load_checkpoint(toy_checkpoint)
    assert not marker.exists() and "evil_mod" not in sys.modules


def test_from_pretrained_does_not_import_the_module_config_json_names(hostile_folder):
    folder, marker = hostile_folder
    (folder / "pretrained").mkdir()
    (folder / "pretrained" / "model.safetensors").write_bytes(b"")
    (folder / "pretrained" / "config.json").write_text(json.dumps({"plugin": None, "class_path": "evil_mod.Model"}))
    with pytest.raises(CheckpointError, match="no installed plugin provides"):
        GenerativeModule.from_pretrained(folder / "pretrained")
    assert not marker.exists() and "evil_mod" not in sys.modules


def test_the_vae_visualise_script_does_not_import_it_either(hostile_folder, toy_checkpoint, capsys):
    from gen_framework_vae import visualise

    _, marker = hostile_folder
    _point_at_evil(toy_checkpoint)
    assert visualise.main(["--ckpt_path", str(toy_checkpoint)]) == 2
    assert "no installed plugin provides" in capsys.readouterr().err
    assert not marker.exists() and "evil_mod" not in sys.modules


def test_a_registered_class_still_resolves_by_its_path(toy_checkpoint):
    state = torch.load(toy_checkpoint, weights_only=True)
    state["gen_framework"]["plugin"] = None
    torch.save(state, toy_checkpoint)
    assert type(load_checkpoint(toy_checkpoint)) is ToyImageGAN


@pytest.mark.parametrize("config,words", [
    ([1, 2], "JSON object"),
    ({"plugin": "metatoy", "init_args": {"widht": 3}}, "do not build a ToyImageGAN"),
    ({"plugin": "metatoy", "init_args": "hidden=3"}, "`init_args` object"),
])
def test_from_pretrained_with_a_malformed_config_json_is_one_error(tmp_path, toy_checkpoint, config, words):
    load_checkpoint(toy_checkpoint).save_pretrained(tmp_path / "p")
    (tmp_path / "p" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=words):
        GenerativeModule.from_pretrained(tmp_path / "p")

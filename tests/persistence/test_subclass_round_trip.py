"""A user's subclass of a plugin class is saved under its own class path and loads back as that subclass,
through Lightning checkpoints and pretrained folders, without a file ever choosing a module to import."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
import types

import pytest
import pytorch_lightning as pl
import torch
from conftest import trainer_kwargs
from toys.data import ToyImages

from gen_framework.errors import CheckpointError
from gen_framework.families.base import GenerativeModule
from gen_framework.persistence.checkpoint import checkpoint_class, load_checkpoint, read_checkpoint
from gen_framework.persistence.model_class import resolve_module_class
from gen_framework.registry import PluginSpec, registry

USER_MODULE = "user_gans"
USER_CLASS = f"{USER_MODULE}.SmallToyGAN"


@pytest.fixture
def plugin_class(tmp_path, monkeypatch):
    """A plugin's class in its own module, registered as plugin ``basegan`` (no other plugin provides it)."""
    (tmp_path / "plugin_gans.py").write_text(textwrap.dedent("""
        from toys.models import ToyImageGAN

        class PluginGAN(ToyImageGAN):
            pass
    """))
    (tmp_path / f"{USER_MODULE}.py").write_text(textwrap.dedent("""
        from plugin_gans import PluginGAN

        class SmallToyGAN(PluginGAN):
            def __init__(self, hidden: int = 8, tag: str = "small", **kwargs):  # a smaller default, an option
                super().__init__(hidden=hidden, **kwargs)
                self.tag = tag
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("plugin_gans", USER_MODULE):
        sys.modules.pop(name, None)
    cls = importlib.import_module("plugin_gans").PluginGAN
    registry.register(PluginSpec(name="basegan", family="adversarial", module_class=cls), replace=True)
    yield cls
    registry.unregister("basegan")
    for name in ("plugin_gans", USER_MODULE):
        sys.modules.pop(name, None)


def _small(**kwargs) -> GenerativeModule:
    """An instance of the user's subclass (its module imported by the user's code)."""
    return importlib.import_module(USER_MODULE).SmallToyGAN(**kwargs)


def test_a_pretrained_subclass_loads_as_itself(plugin_class, tmp_path):
    model = _small(hidden=6, tag="six")
    model.save_pretrained(tmp_path / "small")
    config = json.loads((tmp_path / "small" / "config.json").read_text())
    assert (config["plugin"], config["class_path"]) == ("basegan", USER_CLASS)

    cls = type(model)
    for loader in (cls, GenerativeModule, plugin_class):  # the subclass itself, or any base of it
        loaded = loader.from_pretrained(tmp_path / "small")
        assert type(loaded) is cls, loader
        assert (loaded.hparams["hidden"], loaded.tag) == (6, "six")
        for key, value in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value), key


def test_a_checkpointed_subclass_loads_as_itself(plugin_class, tmp_path):
    model = _small(hidden=6)
    trainer = pl.Trainer(**trainer_kwargs(max_steps=1, limit_val_batches=0))
    trainer.fit(model, datamodule=ToyImages())
    path = tmp_path / "small.ckpt"
    trainer.save_checkpoint(path)
    assert read_checkpoint(path)["gen_framework"]["class_path"] == USER_CLASS

    assert type(load_checkpoint(path)) is type(model)  # the user's module is imported: no import needed

    sys.modules.pop(USER_MODULE)  # a new process: only a class path the user types is imported
    assert checkpoint_class(read_checkpoint(path), source="x") is plugin_class
    with pytest.raises(CheckpointError, match=f"written by {USER_CLASS}, which is not imported"):
        load_checkpoint(path)  # the plugin's class does not take the subclass's options: the error says why
    assert USER_MODULE not in sys.modules, "the checkpoint's class path was imported"
    typed = checkpoint_class(read_checkpoint(path), source="x", typed_class_path=USER_CLASS)
    assert typed.__qualname__ == "SmallToyGAN" and issubclass(typed, plugin_class)


def test_a_file_still_never_chooses_a_module_to_import(plugin_class, tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "evil_sub.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    # A registered plugin with a foreign class path: the plugin's class, nothing imported.
    assert resolve_module_class("basegan", "evil_sub.Model", source="x") is plugin_class
    # An already imported class that is no subclass of the plugin's is not taken either.
    assert resolve_module_class("basegan", "collections.OrderedDict", source="x") is plugin_class
    with pytest.raises(CheckpointError, match="no installed plugin provides"):
        resolve_module_class(None, "evil_sub.Model", source="x")
    # Looking a class up among imported modules runs no module's lazy __getattr__ (which may import).
    lazy = types.ModuleType("lazy_mod")
    lazy.__getattr__ = lambda name: (_ for _ in ()).throw(AssertionError(f"__getattr__ ran for {name}"))
    monkeypatch.setitem(sys.modules, "lazy_mod", lazy)
    assert resolve_module_class("basegan", "lazy_mod.Model", source="x") is plugin_class
    # A chosen class must fit the plugin the file names.
    assert resolve_module_class("basegan", "collections.OrderedDict", source="x", chosen=dict) is plugin_class
    assert not marker.exists() and "evil_sub" not in sys.modules


def test_a_subclass_round_trips_through_genfw(plugin_class, tmp_path, monkeypatch):
    """genfw fit --model <the user's class path>, then predict from its checkpoint: the subclass, with its options."""
    from gen_framework.cli import main

    monkeypatch.chdir(tmp_path)
    quiet = ["--trainer.enable_progress_bar", "false", "--trainer.limit_val_batches", "0"]
    fit = ["fit", "--model", USER_CLASS, "--model.tag", "cli", "--data", "toys.data.ToyImages"]
    assert main([*fit, "--trainer.max_steps", "1", *quiet]) == 0
    ckpt = max(tmp_path.rglob("last.ckpt"), key=lambda p: p.stat().st_mtime)
    stored = read_checkpoint(ckpt)
    assert stored["gen_framework"]["class_path"] == USER_CLASS
    assert stored["hyper_parameters"]["tag"] == "cli"

    # the user's module is imported (this process built the model): the checkpoint decides, --model not needed
    assert main(["predict", "--ckpt_path", str(ckpt), "--num_samples", "2", "--output_dir", "a",
                 "--trainer.enable_progress_bar", "false"]) == 0
    assert len(list((tmp_path / "a").glob("sample_*.png"))) == 2
    # a new process: the class path the user types is imported, and it must agree with the checkpoint
    sys.modules.pop(USER_MODULE)
    assert main(["predict", "--ckpt_path", str(ckpt), "--model", USER_CLASS, "--num_samples", "2",
                 "--output_dir", "b", "--trainer.enable_progress_bar", "false"]) == 0
    assert len(list((tmp_path / "b").glob("sample_*.png"))) == 2

"""Changing a family option's default from a plugin: declared in the signature it works everywhere; the
``kwargs.setdefault`` way, which genfw silently undoes, is refused when the class is defined."""

from __future__ import annotations

import pytest
from toys import defaults
from toys.defaults import HingeToyGAN

import gen_framework.families.base as base
from gen_framework.cli import main
from gen_framework.registry import PluginSpec, registry

DATA = "toys.data.ToyImages"


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def printed_model_config(name: str, module_class: type, capsys) -> str:
    registry.register(PluginSpec(name=name, family="adversarial", module_class=module_class), replace=True)
    try:
        capsys.readouterr()
        assert main(["fit", "--model", name, "--data", DATA, "--print_config"]) == 0
        return capsys.readouterr().out
    finally:
        registry.unregister(name)


def test_a_default_declared_in_the_signature_reaches_python_and_genfw(capsys):
    assert HingeToyGAN().loss_type == "hinge" and HingeToyGAN().d_steps == 2
    printed = printed_model_config("hinge_toy", HingeToyGAN, capsys)
    assert "loss: hinge" in printed and "d_steps: 2" in printed


def test_setdefault_is_undone_by_genfw_which_is_why_it_is_refused(capsys, monkeypatch):
    # With the refusal switched off, the trap is real: Python gets hinge, genfw the family's default.
    monkeypatch.setattr(base, "refuse_hidden_family_defaults", lambda cls: None)
    trap = defaults.define_setdefault_gan()
    assert trap().loss_type == "hinge"
    printed = printed_model_config("setdefault_toy", trap, capsys)
    assert "loss: non_saturating" in printed


def test_setdefault_of_a_family_option_is_refused_at_class_definition():
    with pytest.raises(TypeError, match=r"inherited option 'loss' with kwargs.setdefault\(\).*loss='hinge', \*\*kwargs"):
        defaults.define_setdefault_gan()


def test_setdefault_of_any_inherited_option_is_refused_and_other_setdefaults_are_not():
    from toys.models import ToyImageGAN

    with pytest.raises(TypeError, match="inherited option 'hidden'"):
        class Wider(ToyImageGAN):  # noqa: F841 - ToyImageGAN's own option: genfw passes it explicitly too
            def __init__(self, **kwargs):
                kwargs.setdefault("hidden", 16)
                super().__init__(**kwargs)

    class Unrelated(ToyImageGAN):
        def __init__(self, **kwargs):
            options = dict(kwargs)
            options.setdefault("loss", "hinge")  # another mapping than **kwargs: not this trap
            super().__init__(**kwargs)

    assert Unrelated().loss_type == "non_saturating"

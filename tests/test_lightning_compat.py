"""The fence around the private LightningCLI methods genfw overrides: a Lightning outside the supported range,
or one lacking an overridden method or changing its signature, stops genfw with one line naming the version to
install."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning
from packaging.requirements import Requirement
from pytorch_lightning.cli import LightningCLI

from gen_framework._utils.lightning_compat import (
    PRIVATE_METHODS,
    IncompatibleLightningError,
    check_lightning_cli,
    signature_of,
    supported_spec,
)
from gen_framework.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_the_range_is_the_one_pyproject_states():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the package itself supports 3.10
    with open(ROOT / "pyproject.toml", "rb") as handle:
        dependencies = tomllib.load(handle)["project"]["dependencies"]
    stated = next(Requirement(d) for d in dependencies if Requirement(d).name == "pytorch-lightning")
    assert Requirement(f"pytorch-lightning{supported_spec()}").specifier == stated.specifier
    assert stated.specifier.contains(pytorch_lightning.__version__)


def test_the_installed_lightning_passes():
    check_lightning_cli(LightningCLI, pytorch_lightning.__version__)
    from gen_framework.cli.app import GenFWCLI

    overridden = {name for name in vars(GenFWCLI) if name.startswith("_") and not name.startswith("__")}
    private_of_lightning = {name for name in overridden if hasattr(LightningCLI, name)}
    # every private LightningCLI method GenFWCLI overrides is fenced (listed with its signature), and only those
    assert private_of_lightning == set(PRIVATE_METHODS)


def test_every_fenced_method_has_the_signature_it_was_written_against():
    # Fails on a Lightning upgrade that changes an overridden private method: re-check the override, then update
    # PRIVATE_METHODS (and the supported range in pyproject.toml).
    for name, expected in PRIVATE_METHODS.items():
        assert signature_of(getattr(LightningCLI, name)) == expected, name


def test_a_changed_signature_is_refused():
    class Changed(LightningCLI):
        def _parse_ckpt_path(self, strict: bool) -> None:  # as if a release had added an argument
            pass

    with pytest.raises(IncompatibleLightningError, match=r"changed LightningCLI\._parse_ckpt_path\(self, strict"):
        check_lightning_cli(Changed, pytorch_lightning.__version__)


def test_the_app_overrides_no_other_private_method_and_patches_no_parser_method():
    source = (ROOT / "gen_framework" / "cli" / "app.py").read_text()
    for private in ("_prepare_subcommand_parser", "_set_seed", "_instantiate_trainer", "_subcommand_parsers",
                    "_option_string_actions", "format_usage", "self._get(", "self._parser("):
        assert private not in source, private


@pytest.mark.parametrize("version", ["2.5.5", "2.4.0", "2.7.0", "3.0.0"])
def test_a_version_outside_the_range_is_refused(version):
    with pytest.raises(IncompatibleLightningError, match=rf"but {version} is installed: pip install 'pytorch-lightning"):
        check_lightning_cli(LightningCLI, version)


def test_a_missing_private_method_is_named():
    class Renamed(LightningCLI):
        _parse_ckpt_path = None  # as if a release had renamed it

    with pytest.raises(IncompatibleLightningError, match=r"lacks LightningCLI\._parse_ckpt_path, which genfw"):
        check_lightning_cli(Renamed, pytorch_lightning.__version__)


def test_the_cli_stops_with_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(pytorch_lightning, "__version__", "2.5.5")
    code = main(["fit", "--model", "dcgan", "--data", "digits", "--trainer.default_root_dir", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("genfw: error: genfw supports pytorch-lightning") and "2.5.5 is installed" in err[0]

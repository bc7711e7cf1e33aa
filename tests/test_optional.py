"""Optional dependencies: each missing one gives one line naming the extra to install, and the table of
optional modules agrees with the extras pyproject.toml declares."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement

from gen_framework._utils import optional as _optional
from gen_framework._utils.optional import OPTIONAL, MissingExtraError, require
from gen_framework.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _photos():
    from gen_framework.data.photo_patches import bundled_photos

    return bundled_photos()


def _read_audio(tmp_path):
    from gen_framework.data.audio_io import read_mono

    return read_mono(tmp_path / "a.wav")


def _resample():
    from gen_framework.data.audio_io import resample

    return resample(np.zeros(100, np.float32), 16000, 8000)


def _write_wav():
    from gen_framework.data.writers import _wav_writer

    return _wav_writer(np.zeros(10, np.float32), 8000)


def _bpe():
    from gen_framework.data.tokenizers import BPETokenizer

    return BPETokenizer.train("hello world", 260)


CASES = [
    ("skimage", "photos", lambda tmp: _photos()),
    ("sklearn", "photos", lambda tmp: _photos()),
    ("soundfile", "audio", _read_audio),
    ("soundfile", "audio", lambda tmp: _write_wav()),
    ("scipy", "audio", lambda tmp: _resample()),
    ("tokenizers", "text-bpe", lambda tmp: _bpe()),
]


@pytest.mark.parametrize(("module", "extra", "call"), CASES, ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(CASES)])
def test_missing_module_names_the_pip_install(module, extra, call, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == module or m.startswith(f"{module}.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError, as if not installed
    with pytest.raises(MissingExtraError) as info:
        call(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert message.endswith(f"pip install 'gen-framework[{extra}]'")
    assert f"needs {OPTIONAL[module][0]}, which is not installed" in message


def test_the_cli_prints_one_line_and_exits_2(tmp_path, monkeypatch, capsys):
    for name in [m for m in sys.modules if m == "skimage" or m.startswith("skimage.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "skimage", None)
    code = main(["fit", "--model", "dcgan", "--data", "PhotoPatches", "--trainer.max_steps", "1",
                 "--trainer.default_root_dir", str(tmp_path), "--trainer.logger", "false"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.splitlines() == [
        "genfw: error: PhotoPatches with its default photographs (files=None) needs scikit-image, which is not "
        "installed: pip install 'gen-framework[photos]'"
    ]


def test_a_failure_inside_an_installed_optional_package_is_not_hidden(tmp_path, monkeypatch):
    package = tmp_path / "brokenopt"
    package.mkdir()
    (package / "__init__.py").write_text("import a_dependency_it_lacks\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(_optional.OPTIONAL, "brokenopt", ("brokenopt", "photos"))
    with pytest.raises(ModuleNotFoundError, match="a_dependency_it_lacks") as info:
        require("brokenopt", "a test")
    assert not isinstance(info.value, MissingExtraError)


def test_optional_table_matches_the_extras_in_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the package itself supports 3.10
    with open(ROOT / "pyproject.toml", "rb") as handle:
        extras = tomllib.load(handle)["project"]["optional-dependencies"]
    declared = {
        (Requirement(line).name, extra) for extra in ("photos", "audio", "text-bpe") for line in extras[extra]
    }
    assert set(OPTIONAL.values()) == declared
    assert Requirement(extras["all"][0]).extras == {"photos", "audio", "text-bpe"}

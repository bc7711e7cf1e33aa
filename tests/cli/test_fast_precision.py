"""``${fast_precision:}``: bf16-mixed where the accelerator runs bf16 natively, 32-true elsewhere, a clear error on misuse.

The capability probe is replaced in each test, so both answers are checked on any machine.
"""

from __future__ import annotations

import pytest
import torch
import yaml
from omegaconf import OmegaConf
from toys.registered import toy_plugins

from gen_framework.cli import fast_precision, main
from gen_framework.errors import ConfigError

DATA = "toys.data.ToyImages"


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def probes(monkeypatch, *, cpu: bool, cuda: bool = False, cuda_visible: bool = False) -> None:
    monkeypatch.setitem(fast_precision.PROBES, "cpu", lambda: cpu)
    monkeypatch.setitem(fast_precision.PROBES, "cuda", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda_visible)


def printed_precision(tmp_path, capsys, value: str) -> object:
    """``trainer.precision`` as ``genfw fit --print_config`` shows it for a config that sets it to ``value``."""
    config = tmp_path / "run.yaml"
    config.write_text(
        f"trainer:\n  precision: {value}\n  max_steps: 1\n"
        f"model:\n  class_path: ToyImageGAN\ndata:\n  class_path: {DATA}\n"
    )
    with toy_plugins("fastprecisiongan"):
        assert main(["fit", "--config", str(config), "--print_config"]) == 0
    return yaml.safe_load(capsys.readouterr().out)["trainer"]["precision"]


@pytest.mark.parametrize(("native", "expected"), [(True, "bf16-mixed"), (False, "32-true")])
def test_a_config_gets_bf16_only_where_the_cpu_runs_it_natively(tmp_path, capsys, monkeypatch, native, expected):
    probes(monkeypatch, cpu=native)
    assert printed_precision(tmp_path, capsys, "${fast_precision:}") == expected


@pytest.mark.parametrize(
    ("argument", "cpu", "cuda", "cuda_visible", "expected"),
    [
        ("", False, True, True, "bf16-mixed"),  # auto follows Lightning's choice: the GPU when one is visible
        ("", True, False, True, "32-true"),  # a GPU without native bf16 (pre-Ampere) under a bf16 CPU
        ("", True, True, False, "bf16-mixed"),  # no GPU visible: the CPU decides
        ("cpu", True, False, True, "bf16-mixed"),
        ("cuda", True, False, False, "32-true"),
        ("gpu", False, True, True, "bf16-mixed"),
        ("auto", False, False, False, "32-true"),
    ],
)
def test_the_argument_names_the_accelerator_asked(monkeypatch, argument, cpu, cuda, cuda_visible, expected):
    probes(monkeypatch, cpu=cpu, cuda=cuda, cuda_visible=cuda_visible)
    fast_precision.register()
    config = OmegaConf.create({"precision": f"${{fast_precision:{argument}}}"})
    assert OmegaConf.to_container(config, resolve=True)["precision"] == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("${fast_precision:tpu}", "trainer.precision: ${fast_precision:tpu}: unknown accelerator 'tpu'; write "
                                  "${fast_precision:} or name one of: cpu, cuda, gpu"),
        ("${fast_precision:cpu,cuda}", "trainer.precision: ${fast_precision:cpu,cuda}: takes at most one argument"),
    ],
)
def test_misuse_is_one_line_naming_the_key_and_what_is_accepted(tmp_path, capsys, value, message):
    config = tmp_path / "run.yaml"
    config.write_text(f"trainer:\n  precision: {value}\nmodel:\n  class_path: ToyImageGAN\ndata:\n  class_path: {DATA}\n")
    with toy_plugins("fastprecisiongan"):
        assert main(["fit", "--config", str(config), "--trainer.max_steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_the_function_refuses_an_unknown_accelerator():
    with pytest.raises(ConfigError, match="unknown accelerator 'xla'"):
        fast_precision.fast_precision("xla")


def test_the_real_probes_answer_a_bool():
    assert isinstance(fast_precision.cpu_runs_bf16(), bool)
    assert isinstance(fast_precision.cuda_runs_bf16(), bool)
    assert fast_precision.fast_precision() in ("bf16-mixed", "32-true")

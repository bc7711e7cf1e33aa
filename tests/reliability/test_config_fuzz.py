"""Property tests: any config file given to ``genfw fit --config F --print_config`` gives exit code 0 or 2.

``--print_config`` parses (config files, interpolations, class paths and init args) and prints the result
without building a model, so each example costs only the parse. Whatever the file holds (broken YAML, odd
unicode, wrong types, unknown keys, nested junk, interpolations that resolve, fail or name resolvers), the
command must either print the config (0) or print one ``genfw: error:`` line (2): never a traceback or an
exception of another type, and never run anything the file names.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from toys.models import ToyImageGAN

from gen_framework.cli import main
from gen_framework.registry import PluginSpec, registry

FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

MARKER = "genfw-fuzz-executed"
TOY_DATA = "toys.data.ToyImages"

# Keys that exist somewhere in a config, keys that do not, and ones that look alike.
KEYS = st.sampled_from([
    "trainer", "model", "data", "class_path", "init_args", "max_steps", "max_epochs", "logger", "callbacks",
    "latent_dim", "hidden", "batch_size", "image_size", "seed_everything", "checkpoint", "dirpath", "ckpt_path",
    "precision", "lr_g", "ema_decay", "nope", "max_stepz", "Trainer", "", "${x}", "1", "ünïcødé", "a.b",
])
INTERPOLATIONS = st.sampled_from([
    "${foo}", "${oops", "${model.init_args.hidden}", "${data.init_args.batch_size}", "${trainer.max_steps}",
    "${oc.env:HOME}", "${oc.env:NO_SUCH_VARIABLE_HERE}", "${eval:1+1}", "${python:__import__('os')}",
    f"${{oc.create:{{a: !!python/object/apply:pathlib.Path.touch ['{MARKER}']}}}}", "$${escaped}", "${}", "${.}",
    "${..}", "x ${foo} y", "${oc.decode:'[1, 2]'}", "${oc.select:nope,3}",
])
CLASS_PATHS = st.sampled_from([
    "ToyImageGAN", "toys.models.ToyImageGAN", "gen_framework_dcgan.DCGAN", "dcgan", "DCGAN", "foo.Bar",
    "toys.data.ToyImages", "gen_framework.data.Digits", "os.system", "builtins.eval", "", "...",
])
TEXT = st.one_of(st.text(max_size=12), st.sampled_from(["\u0000", "\u202e", "\ufeff", "\U0001f600", "\udcff"]))
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), TEXT, INTERPOLATIONS, CLASS_PATHS,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)
SECTION = st.one_of(
    VALUES,
    st.fixed_dictionaries({"class_path": CLASS_PATHS}, optional={"init_args": st.dictionaries(KEYS, VALUES,
                                                                                               max_size=4)}),
)
CONFIGS = st.dictionaries(st.one_of(KEYS, st.sampled_from(["trainer", "model", "data"])), SECTION, max_size=5)

# Pieces of YAML syntax, joined at random: indentation, flow collections, anchors, tags, quotes, comments.
TOKENS = st.sampled_from([
    "trainer", "model", "data", "class_path", "init_args", "max_steps", ":", ": ", " ", "  ", "\t", "\n", "\n  ",
    "- ", "[", "]", "{", "}", ",", "&a ", "*a", "!!python/object/apply:os.system ", "!!str ", "!!binary ", "'",
    '"', "#", "|", ">", "---", "...", "%YAML 1.1", "1", "-1", "1.5e3", ".nan", ".inf", "null", "~", "yes", "é",
    "\u2028", "\ufeff", "${", "${foo}", "${oops", "?", "<<: *a", "ToyImageGAN",
])
YAML_TEXTS = st.lists(TOKENS, max_size=40).map("".join)


@pytest.fixture(autouse=True)
def toy_plugin():
    for record in registry.records():
        if record.spec is not None and record.spec.module_class is ToyImageGAN:
            registry.unregister(record.name)
    registry.register(PluginSpec(name="toygan", family="adversarial", module_class=ToyImageGAN), replace=True)
    yield
    registry.unregister("toygan")


def run_print_config(path: Path, capsys) -> None:
    """Runs ``genfw fit --config path --print_config`` and checks the outcome is a printed config or one error."""
    capsys.readouterr()
    code = main(["fit", "--config", str(path), "--print_config"])
    captured = capsys.readouterr()
    assert code in (0, 2), captured.err
    assert "Traceback" not in captured.err
    if code == 2:
        lines = [line for line in captured.err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("genfw: error: "), captured.err
    assert not (path.parent / MARKER).exists() and not Path(MARKER).exists(), "the config ran code"


@FUZZ
@given(config=CONFIGS)
def test_random_config_mappings_print_or_fail_cleanly(config, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "config.yaml"
    # a lone surrogate cannot be UTF-8: it is written as is, and reading the file must say so
    path.write_bytes(yaml.safe_dump(config, allow_unicode=True).encode("utf-8", "surrogatepass"))
    run_print_config(path, capsys)


@settings(FUZZ, max_examples=60)  # most texts stop at the YAML read, so examples are cheap
@given(text=st.one_of(YAML_TEXTS, st.text(max_size=80)))
def test_random_yaml_text_prints_or_fails_cleanly(text, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "config.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    run_print_config(path, capsys)


OPTIONS = st.sampled_from([
    "--model", "--data", "--trainer.max_steps", "--trainer.logger", "--model.init_args.hidden", "--model.hidden",
    "--model.init_args.nope", "--data.init_args.batch_size", "--seed_everything", "--trainer", "--checkpoint.dirpath",
    "--trainer.callbacks", "--trainer.precision", "--ckpt_path", "--print_config", "-c", "--", "-x", "--=",
])
ARGUMENTS = st.lists(st.tuples(OPTIONS, st.one_of(SCALARS.map(str), st.sampled_from(["toygan", TOY_DATA]))),
                     max_size=4)


@FUZZ
@given(pairs=ARGUMENTS)
@example(pairs=[("--trainer", "\udcff")])  # a command-line byte that was not UTF-8
def test_random_command_lines_print_or_fail_cleanly(pairs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["fit", *(part for pair in pairs for part in pair), "--print_config"]
    code = main(argv)
    captured = capsys.readouterr()
    assert code in (0, 2), captured.err
    if code == 2:
        lines = [line for line in captured.err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("genfw: error: "), captured.err
    assert not Path(MARKER).exists()


def test_a_valid_config_prints_with_interpolations_resolved(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "config.yaml"
    path.write_text("model:\n  class_path: ToyImageGAN\n  init_args:\n    latent_dim: ${model.init_args.hidden}\n"
                    "    hidden: 12\n")
    assert main(["fit", "--config", str(path), "--print_config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["init_args"]["latent_dim"] == 12


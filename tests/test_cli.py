"""The genfw command, in-process, through a tiny toy plugin: fit, predict, validate/test and error paths."""

from __future__ import annotations

import csv
import json
import logging
import warnings
from pathlib import Path

import pytest
import torch
from toys.models import ToyImageGAN, ToyVAE

from gen_framework.cli import main
from gen_framework.registry import PluginSpec, registry

DATA = "toys.data.ToyImages"


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    # genfw writes runs/ and samples/ into the working directory by default: never into the checkout
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def toy_plugins():
    # Other tests may have registered these classes under other names; runs must be grouped under ours.
    for record in registry.records():
        if record.spec is not None and record.spec.module_class in (ToyImageGAN, ToyVAE):
            registry.unregister(record.name)
    registry.register(PluginSpec(name="toygan", family="adversarial", module_class=ToyImageGAN,
                                 description="toy GAN", default_datamodule=None), replace=True)
    registry.register(PluginSpec(name="toyvae", family="variational", module_class=ToyVAE,
                                 description="toy VAE"), replace=True)
    yield
    registry.unregister("toygan")
    registry.unregister("toyvae")


def fit(tmp_path: Path, *extra: str, model: str = "toygan", steps: int = 3) -> Path:
    root = tmp_path / "runs"
    code = main([
        "fit", "--model", model, "--data", DATA, "--trainer.max_steps", str(steps),
        "--trainer.default_root_dir", str(root), "--trainer.logger.init_args.save_dir", str(root),
        "--trainer.enable_progress_bar", "false", "--trainer.limit_val_batches", "1", *extra,
    ])
    assert code == 0
    checkpoints = sorted(root.rglob("last.ckpt"))
    assert checkpoints, "fit wrote no last.ckpt"
    return checkpoints[-1]


def test_fit_then_predict_writes_samples_and_manifest(tmp_path, capsys):
    ckpt = fit(tmp_path)
    assert "toygan" in str(ckpt), "runs are grouped by plugin name"
    out = tmp_path / "samples"
    code = main(["predict", "--ckpt_path", str(ckpt), "--num_samples", "5", "--batch_size", "2",
                 "--output_dir", str(out), "--sampling.truncation_psi", "0.7", "--trainer.enable_progress_bar", "false"])
    assert code == 0
    pngs = sorted(p.name for p in out.glob("sample_*.png"))
    assert len(pngs) == 5
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sampling_options"] == {"truncation_psi": 0.7}
    assert Path(manifest["checkpoint"]).resolve() == ckpt.resolve()
    assert "samples written to" in capsys.readouterr().out


def test_predict_is_deterministic_for_a_seed(tmp_path):
    ckpt = fit(tmp_path)
    outputs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert main(["predict", "--ckpt_path", str(ckpt), "--num_samples", "3", "--output_dir", str(out),
                     "--seed", "5", "--trainer.enable_progress_bar", "false"]) == 0
        outputs.append([p.read_bytes() for p in sorted(out.glob("sample_*.png"))])
    assert outputs[0] == outputs[1]


def test_second_run_in_the_same_directory_works(tmp_path):
    fit(tmp_path)
    fit(tmp_path)
    assert len(list((tmp_path / "runs").rglob("config.yaml"))) == 2


def test_ckpt_path_last_finds_the_newest_checkpoint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ckpt = fit(tmp_path)
    assert main(["predict", "--ckpt_path", "last", "--trainer.default_root_dir", str(ckpt.parents[3]),
                 "--num_samples", "2", "--output_dir", "out", "--trainer.enable_progress_bar", "false"]) == 0
    assert len(list(Path("out").glob("sample_*.png"))) == 2


def test_validate_and_test_from_a_checkpoint_need_no_model(tmp_path):
    ckpt = fit(tmp_path)
    for subcommand in ("validate", "test"):
        assert main([subcommand, "--ckpt_path", str(ckpt), "--data", DATA, "--trainer.logger", "false",
                     "--trainer.enable_progress_bar", "false"]) == 0


def test_a_model_that_contradicts_the_checkpoint_is_an_error(tmp_path, capsys):
    ckpt = fit(tmp_path)
    code = main(["predict", "--ckpt_path", str(ckpt), "--model", "toyvae", "--output_dir", str(tmp_path / "x")])
    assert code == 2
    err = capsys.readouterr().err
    assert "contradicts the checkpoint" in err and "ToyImageGAN" in err and "Traceback" not in err
    code = main(["predict", "--ckpt_path", str(ckpt), "--model.hidden", "4", "--output_dir", str(tmp_path / "x")])
    assert code == 2
    assert "--model.hidden" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_unknown_plugin_lists_the_available_ones(capsys):
    assert main(["fit", "--model", "nosuchplugin", "--data", DATA]) == 2
    err = capsys.readouterr().err
    assert "unknown plugin 'nosuchplugin'" in err and "toygan" in err and "Traceback" not in err


def test_unknown_datamodule_lists_the_available_ones(capsys):
    assert main(["fit", "--model", "toygan", "--data", "nosuchdata"]) == 2
    assert "mnist" in capsys.readouterr().err


def test_unknown_config_key_and_wrong_type_exit_2(tmp_path, capsys):
    assert main(["fit", "--model", "toygan", "--data", DATA, "--model.init_args.no_such_arg", "3"]) == 2
    assert "no_such_arg" in capsys.readouterr().err
    assert main(["fit", "--model", "toygan", "--data", DATA, "--trainer.max_steps", "many"]) == 2
    assert "max_steps" in capsys.readouterr().err


def test_missing_config_file_and_malformed_yaml(tmp_path, capsys):
    assert main(["fit", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    assert main(["fit", "--config", str(bad)]) == 2
    assert "bad.yaml" in capsys.readouterr().err


def test_predict_without_checkpoint_says_what_is_needed(capsys):
    assert main(["predict", "--num_samples", "2"]) == 2
    assert "--ckpt_path" in capsys.readouterr().err


def test_a_checkpoint_whose_pickle_would_run_code_is_refused_without_running_it(tmp_path, capsys):
    marker = tmp_path / "executed"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": Exploit()}, evil)
    assert main(["predict", "--ckpt_path", str(evil), "--output_dir", str(tmp_path / "o")]) == 2
    assert not marker.exists(), "loading the checkpoint executed code"
    assert "refused" in capsys.readouterr().err


def test_a_truncated_checkpoint_is_a_clear_error(tmp_path, capsys):
    ckpt = fit(tmp_path)
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(ckpt.read_bytes()[:500])
    assert main(["predict", "--ckpt_path", str(broken)]) == 2
    assert "truncated or corrupt" in capsys.readouterr().err


def test_config_with_interpolation_and_override(tmp_path):
    config = tmp_path / "toy.yaml"
    config.write_text(
        f"trainer:\n  max_steps: 2\n  logger: false\n  enable_progress_bar: false\n  limit_val_batches: 1\n"
        f"  default_root_dir: {tmp_path}\n"
        f"checkpoint:\n  dirpath: {tmp_path / 'ckpt'}\n"
        "model:\n  class_path: ToyImageGAN\n  init_args:\n    latent_dim: ${model.init_args.hidden}\n    hidden: 16\n"
        f"data:\n  class_path: {DATA}\n  init_args:\n    batch_size: 4\n"
    )
    assert main(["fit", "--config", str(config), "--model.init_args.hidden", "12"]) == 0
    state = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert state["hyper_parameters"]["hidden"] == 12
    assert state["hyper_parameters"]["latent_dim"] == 12, "a command-line override must reach interpolations"


def test_plugins_command_lists_json(capsys):
    assert main(["plugins", "--json"]) == 0
    records = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert records["toygan"]["status"] == "ok" and records["toygan"]["family"] == "adversarial"
    assert {"name", "version", "family", "status", "error"} <= set(records["toygan"])
    assert main(["plugins"]) == 0
    assert "toygan" in capsys.readouterr().out


def test_default_root_dir_alone_moves_logs_and_checkpoints(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "elsewhere"
    code = main(["fit", "--model", "toygan", "--data", DATA, "--trainer.max_steps", "2",
                 "--trainer.default_root_dir", str(root), "--trainer.enable_progress_bar", "false",
                 "--trainer.limit_val_batches", "1"])
    assert code == 0
    assert list(root.rglob("last.ckpt")) and list(root.rglob("events.out.tfevents.*"))
    assert not (tmp_path / "runs").exists()
    out = tmp_path / "samples"
    assert main(["predict", "--ckpt_path", "last", "--trainer.default_root_dir", str(root), "--num_samples", "2",
                 "--output_dir", str(out), "--trainer.enable_progress_bar", "false"]) == 0
    assert len(list(out.glob("sample_*.png"))) == 2


# ------------------------------------------------------------ last step, evaluation folder, noise


def test_a_run_shorter_than_the_logging_interval_logs_its_last_step(tmp_path):
    root = tmp_path / "runs"
    assert main(["fit", "--model", "toygan", "--data", DATA, "--trainer.max_steps", "3",
                 "--trainer.logger", "CSVLogger", "--trainer.logger.save_dir", str(root),
                 "--trainer.default_root_dir", str(root), "--trainer.enable_progress_bar", "false",
                 "--trainer.limit_val_batches", "0"]) == 0
    (metrics,) = root.rglob("metrics.csv")
    rows = list(csv.DictReader(metrics.open()))
    logged = [r for r in rows if any(v for k, v in r.items() if k.startswith("train/"))]
    assert logged, f"no training values in {metrics}: {rows}"
    assert int(logged[-1]["step"]) == 2, "the last of 3 steps (0-based) is logged"


def test_validate_and_test_write_metrics_into_the_checkpoints_run(tmp_path, capsys):
    ckpt = fit(tmp_path)
    run = ckpt.parents[1]
    runs_before = sorted(p.name for p in run.parent.iterdir())
    for subcommand in ("validate", "test"):
        assert main([subcommand, "--ckpt_path", str(ckpt), "--data", DATA,
                     "--trainer.enable_progress_bar", "false"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"val", "test"} <= set(metrics)
    assert sorted(p.name for p in run.parent.iterdir()) == runs_before, "no new version_N folder"
    assert f"metrics written to {run / 'metrics.json'}" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["toygan"], "nothing beside the runs"


def test_lightning_noise_is_hidden_while_a_command_runs(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="pytorch_lightning")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ckpt = fit(tmp_path)
        assert main(["test", "--ckpt_path", str(ckpt), "--data", DATA, "--checkpoint.dirpath", str(tmp_path / "x"),
                     "--trainer.enable_progress_bar", "false"]) == 0
    messages = [str(w.message) for w in caught]
    assert "GPU available" in caplog.text, "Lightning's own information still shows"
    assert "litlogger" not in caplog.text
    assert not [m for m in messages if "LeafSpec" in m or "dirpath has changed" in m], messages
    # outside a command, nothing is filtered
    from gen_framework.cli.quiet import quiet_third_party

    with warnings.catch_warnings(record=True) as outside:
        warnings.simplefilter("always")
        with quiet_third_party("test"):
            pass
        warnings.warn("The dirpath has changed from 'a' to 'b'")
    assert len(outside) == 1


# ------------------------------------------------------------------ help and plugin listing


def test_predict_help_lists_every_plugins_sampling_options(capsys):
    assert main(["predict", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("usage: genfw [options] predict")
    assert "toygan: truncation_psi" in out and "takes a plugin name (" in out


def test_predict_help_with_a_checkpoint_shows_its_models_sampling_options(tmp_path, capsys):
    ckpt = fit(tmp_path)
    capsys.readouterr()
    assert main(["predict", "--ckpt_path", str(ckpt), "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--sampling.truncation_psi" in out and "default: 1.0" in out


def test_fit_help_names_the_short_plugin_and_data_names(capsys):
    assert main(["fit", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "toygan" in out and "digits" in out and "image_folder" in out


@pytest.mark.parametrize("subcommand", ["fit", "validate", "test", "predict"])
@pytest.mark.parametrize("form", [["--model", "toygan", "--help"], ["--model=toygan", "-h"],
                                  ["--help", "--model", "toygan"]])
def test_help_with_a_plugin_short_name_is_the_help_of_its_class(subcommand, form, capsys):
    # --model NAME is the form every error message recommends: its --help must not be refused
    assert main([subcommand, *form]) == 0
    short = capsys.readouterr()
    assert main([subcommand, "--model", "toys.models.ToyImageGAN", "--help"]) == 0
    assert short.err == "" and short.out == capsys.readouterr().out
    assert short.out.startswith(f"usage: genfw [options] {subcommand}")
    if subcommand == "predict":  # the named model's sampling options, not every plugin's overview
        out = " ".join(short.out.split())
        assert "--sampling.truncation_psi" in out and "toygan: truncation_psi" not in out


def test_help_with_a_data_short_name_and_class_help_take_short_names(capsys):
    assert main(["fit", "--data", "digits", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: genfw [options] fit")
    assert main(["fit", "--model.help", "toygan"]) == 0
    assert "--model.hidden" in capsys.readouterr().out
    assert main(["fit", "--data.help=digits"]) == 0
    assert "--data.batch_size" in capsys.readouterr().out
    assert main(["fit", "--model", "nosuch", "--help"]) == 2
    assert "unknown plugin 'nosuch'; available plugins:" in capsys.readouterr().err


def test_plugins_name_shows_options_configs_and_sampling(capsys):
    assert main(["plugins", "toygan"]) == 0
    out = capsys.readouterr().out
    assert "--model.init_args.hidden" in out and "--sampling.truncation_psi" in out
    assert main(["plugins", "toygan", "--json"]) == 0
    details = json.loads(capsys.readouterr().out)
    assert details["sampling_options"] == ["--sampling.truncation_psi"] and details["family"] == "adversarial"
    assert main(["plugins", "nosuch"]) == 2
    assert "unknown plugin 'nosuch'" in capsys.readouterr().err


def test_threads_sets_torchs_thread_count(tmp_path, capsys):
    before = torch.get_num_threads()
    try:
        fit(tmp_path, "--threads", "2")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert main(["fit", "--model", "toygan", "--data", DATA, "--threads", "0"]) == 2
    assert "--threads must be >= 1" in capsys.readouterr().err

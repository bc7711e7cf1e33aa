"""The data's shape reaches the model through the CLI (image size, channels, context length, vocabulary), and
only values given on both sides can contradict each other."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gen_framework.cli import main

#: A DCGAN small enough that building and one step cost well under a second.
TINY_DCGAN = ["--model.init_args.base_channels", "4", "--model.init_args.latent_dim", "8"]
QUICK = ["--trainer.max_steps", "1", "--trainer.limit_val_batches", "0", "--trainer.enable_progress_bar", "false",
         "--trainer.enable_model_summary", "false", "--data.init_args.batch_size", "8"]


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def fit_hparams(*args: str) -> dict:
    """Run ``genfw fit ARGS`` (tiny, one step) and return the checkpoint's hyperparameters and data spec."""
    assert main(["fit", *args, *QUICK]) == 0
    (ckpt,) = Path("runs").rglob("last.ckpt")
    state = torch.load(ckpt, weights_only=True)
    return {**state["hyper_parameters"], "data_spec": state["gen_framework"]["data_spec"]}


def test_readme_line_the_datas_image_size_reaches_the_model():
    hparams = fit_hparams("--model", "dcgan", "--data", "digits", "--data.image_size", "32", *TINY_DCGAN)
    assert hparams["image_size"] == 32 and hparams["data_spec"]["image_size"] == 32


def test_an_rgb_image_folder_reaches_the_models_channels(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "imgs").mkdir()
    for i in range(10):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "imgs" / f"{i}.png")
    hparams = fit_hparams("--model", "dcgan", "--data", "image_folder", "--data.root", "imgs",
                          "--data.image_size", "28", *TINY_DCGAN)
    assert (hparams["image_size"], hparams["channels"]) == (28, 3)


def test_a_value_given_only_for_the_model_reaches_the_data():
    # digits default to 32 pixels; the model's 28 is the only one given
    hparams = fit_hparams("--model", "dcgan", "--model.init_args.image_size", "28", "--data", "digits", *TINY_DCGAN)
    assert hparams["image_size"] == 28 and hparams["data_spec"]["image_size"] == 28


def test_values_given_for_both_that_differ_are_an_error_naming_both(capsys):
    code = main(["fit", "--model", "dcgan", "--model.init_args.image_size", "28", "--data", "digits",
                 "--data.image_size", "32", *TINY_DCGAN, *QUICK])
    assert code == 2
    err = capsys.readouterr().err
    assert "--model.init_args.image_size 28 contradicts --data.init_args.image_size 32" in err
    assert "Traceback" not in err and not Path("runs").exists()


def test_equal_values_given_for_both_are_fine():
    hparams = fit_hparams("--model", "dcgan", "--model.init_args.image_size", "32", "--data", "digits",
                          "--data.image_size", "32", *TINY_DCGAN)
    assert hparams["image_size"] == 32


def test_values_given_in_a_config_count_as_given(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("model:\n  class_path: gen_framework_dcgan.DCGAN\n  init_args:\n    image_size: 28\n"
                      "    base_channels: 4\n    latent_dim: 8\n"
                      "data:\n  class_path: gen_framework.data.Digits\n  init_args:\n    channels: 1\n")
    hparams = fit_hparams("--config", str(config))
    assert hparams["image_size"] == 28 and hparams["data_spec"]["image_size"] == 28, "the data followed the config"
    assert main(["fit", "--config", str(config), "--data.image_size", "32", *QUICK]) == 2
    assert "--model.init_args.image_size 28 contradicts --data.init_args.image_size 32" in capsys.readouterr().err


def test_the_text_datas_context_and_vocabulary_reach_gpt_mini(tmp_path):
    (tmp_path / "t.txt").write_text("hello world, a small corpus for a tiny model\n" * 40)
    hparams = fit_hparams("--model", "gpt_mini", "--data", "text_file", "--data.files", "t.txt",
                          "--data.block_size", "24", "--model.init_args.n_layer", "1",
                          "--model.init_args.n_embd", "16", "--model.init_args.n_head", "2")
    assert hparams["block_size"] == 24
    assert hparams["vocab_size"] == len(set("hello world, a small corpus for a tiny model\n"))

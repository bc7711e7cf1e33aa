"""StyleGAN-lite through ``genfw`` in-process: a 2-step fit from the shipped config, predict with truncation,
and a style-mixing grid written from the checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gen_framework.persistence.checkpoint import load_checkpoint
from gen_framework.cli import main
from gen_framework.registry import registry
from gen_framework_stylegan_lite import PLUGIN, StyleGANLite, write_style_mixing_grid
from gen_framework_stylegan_lite.mixing import main as mixing_main

CONFIGS = Path(__file__).resolve().parents[3] / "configs" / "stylegan_lite"
TINY_MODEL = [
    "--model.init_args.latent_dim", "8", "--model.init_args.w_dim", "8", "--model.init_args.mapping_layers", "2",
    "--model.init_args.channel_base", "64", "--model.init_args.channel_max", "8",
]
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A StyleGAN-lite checkpoint after 2 training steps with configs/stylegan_lite/photos.yaml (tiny sizes)."""
    root = tmp_path_factory.mktemp("fit")
    code = main([
        "fit", "--config", str(CONFIGS / "photos.yaml"), *TINY_MODEL, *QUIET,
        "--trainer.max_steps", "2", "--trainer.logger", "false", "--trainer.default_root_dir", str(root),
        "--trainer.limit_val_batches", "1", "--checkpoint.dirpath", str(root / "ckpt"),
        "--data.init_args.patches_per_epoch", "16", "--data.init_args.batch_size", "8",
    ])
    assert code == 0
    return root / "ckpt" / "last.ckpt"


def test_registered_under_its_name():
    assert registry.get("stylegan_lite").module_class is StyleGANLite
    assert PLUGIN.family == "adversarial"
    assert (CONFIGS.parent / PLUGIN.default_config).is_file()


def test_two_step_fit_trains_both_players(checkpoint):
    stored = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert stored["global_step"] == 2
    model = load_checkpoint(checkpoint)
    assert isinstance(model, StyleGANLite) and model.image_size == 32 and model.channels == 3
    fresh = StyleGANLite(**{k: v for k, v in model.hparams.items()})
    for player in ("generator", "discriminator"):
        before = {k: v for k, v in fresh.state_dict().items() if k.startswith(player) and "weight" in k}
        changed = [k for k, v in before.items() if v.shape == model.state_dict()[k].shape
                   and not torch.equal(v, model.state_dict()[k])]
        assert changed, player
    assert model.generator.mapping.w_avg.abs().sum() > 0, "training updated the tracked mean w"
    assert model.ema is not None and "generator" in model.ema


def test_predict_with_truncation_psi_from_the_command_line(checkpoint, tmp_path):
    outputs = {}
    for psi in ("0.7", "0.0"):
        out = tmp_path / psi
        code = main(["predict", "--ckpt_path", str(checkpoint), "--num_samples", "3", "--batch_size", "3",
                     "--output_dir", str(out), "--sampling.truncation_psi", psi, *QUIET])
        assert code == 0
        pngs = sorted(out.glob("sample_*.png"))
        assert len(pngs) == 3
        assert Image.open(pngs[0]).size == (32, 32)
        assert json.loads((out / "manifest.json").read_text())["sampling_options"] == {"truncation_psi": float(psi)}
        outputs[psi] = [torch.from_numpy(np.asarray(Image.open(p), dtype=np.float32)) for p in pngs]
    spread = {psi: torch.stack(images).std(dim=0).mean() for psi, images in outputs.items()}
    assert spread["0.0"] < 0.5 * spread["0.7"], f"psi=0 collapses samples toward the mean image: {spread}"


def test_style_mixing_grid_png_has_the_right_size(checkpoint, tmp_path):
    model = load_checkpoint(checkpoint)
    path = write_style_mixing_grid(model, tmp_path / "grid.png", rows=2, cols=3, seed=1, truncation_psi=0.7)
    assert Image.open(path).size == (4 * 34 + 2, 3 * 34 + 2)  # (cols + 1, rows + 1) tiles of 32 + 2 padding
    assert Image.open(path).mode == "RGB"
    again = write_style_mixing_grid(model, tmp_path / "again.png", rows=2, cols=3, seed=1, truncation_psi=0.7)
    assert Image.open(again).tobytes() == Image.open(path).tobytes(), "a seed fixes the grid"


def test_style_mixing_command_line(checkpoint, tmp_path, capsys):
    assert mixing_main(["--ckpt_path", str(checkpoint), "--output", str(tmp_path / "out"), "--rows", "1",
                        "--cols", "2"]) == 0
    assert Image.open(tmp_path / "out" / "style_mixing.png").size == (3 * 34 + 2, 2 * 34 + 2)
    assert "style-mixing grid written" in capsys.readouterr().out
    assert mixing_main(["--ckpt_path", str(tmp_path / "missing.ckpt"), "--output", str(tmp_path)]) == 2
    assert "no checkpoint file" in capsys.readouterr().err


def test_cli_rejects_an_unsupported_image_size_naming_it(tmp_path, capsys):
    code = main([
        "fit", "--config", str(CONFIGS / "photos.yaml"), *TINY_MODEL, *QUIET, "--data.init_args.image_size", "48",
        "--trainer.max_steps", "1", "--trainer.logger", "false", "--checkpoint.dirpath", str(tmp_path),
    ])
    assert code == 2
    assert "image_size must be one of 32, 64, got 48" in capsys.readouterr().err

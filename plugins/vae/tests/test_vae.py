"""ConvVAE: shapes per size and likelihood, errors, sampling, pretrained round trip, pictures and the configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from gen_framework.cli import main
from gen_framework.errors import ConfigError
from gen_framework.registry import registry
from gen_framework_vae import IMAGE_SIZES, PLUGIN, ConvVAE, write_interpolation, write_reconstructions
from gen_framework_vae.visualise import main as visualise_main

REPO = Path(__file__).resolve().parents[3]
CONFIGS = sorted((REPO / "configs" / "vae").glob("*.yaml"))
TINY = {"latent_dim": 4, "base_channels": 4}


def images(n: int, channels: int = 1, size: int = 28, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("image_size", IMAGE_SIZES)
def test_encoder_and_decoder_shapes(image_size, channels):
    model = ConvVAE(image_size=image_size, channels=channels, **TINY)
    mean, log_var = model.encode(images(3, channels, image_size))
    assert mean.shape == log_var.shape == (3, 4)
    assert model.decode(mean).shape == (3, channels, image_size, image_size)
    terms = model.elbo_terms(images(3, channels, image_size))
    assert terms["recon"].shape == terms["kl"].shape == (3,)
    assert torch.isfinite(terms["recon"]).all() and (terms["kl"] >= 0).all()


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "discretized_logistic"])
def test_decoder_gives_the_parameters_each_likelihood_needs(likelihood):
    model = ConvVAE(image_size=32, channels=3, likelihood=likelihood, **TINY)
    params = model.decode(torch.zeros(2, 4))
    assert params.shape == (2, 6 if likelihood == "discretized_logistic" else 3, 32, 32)
    nll = model.iwae_nll(images(2, 3, 32), k=4)
    assert nll.shape == (2,) and torch.isfinite(nll).all()


def test_binarised_bernoulli_targets_are_zero_or_one():
    model = ConvVAE(binarize=True, **TINY)
    target = model.target(images(2))
    assert set(target.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("image_size", [16, 48, 128])
def test_unsupported_image_size_is_a_config_error_listing_the_allowed_sizes(image_size):
    with pytest.raises(ConfigError, match=r"image_size must be one of 28, 32, 64, got " + str(image_size)):
        ConvVAE(image_size=image_size, **TINY)


def test_unsupported_channel_count_is_a_config_error():
    with pytest.raises(ConfigError, match="channels must be 1 or 3, got 4"):
        ConvVAE(channels=4, **TINY)


def test_data_of_another_shape_is_refused_naming_both_options():
    model = ConvVAE(image_size=28, channels=1, **TINY)
    with pytest.raises(ConfigError, match=r"image_size=28, channels=1 but the data has image_size=64, channels=3"):
        model.adopt_data_spec({"modality": "image", "image_size": 64, "channels": 3})


def test_sample_is_seeded_in_range_and_leaves_the_mode_alone():
    model = ConvVAE(image_size=64, channels=3, **TINY)
    model.train()
    first, again, other = model.sample(4, seed=1), model.sample(4, seed=1), model.sample(4, seed=2)
    assert first.shape == (4, 3, 64, 64)
    assert torch.equal(first, again) and not torch.allclose(first, other)
    assert first.min() >= -1 and first.max() <= 1
    cooler = model.sample(4, seed=1, prior_temperature=0.0)
    assert torch.allclose(cooler, cooler[:1].expand_as(cooler)), "temperature 0 decodes the prior mean"
    assert model.training


def test_pretrained_round_trip_gives_identical_samples(tmp_path):
    torch.manual_seed(0)
    model = ConvVAE(likelihood="gaussian", learn_sigma=True, **TINY)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    model.save_pretrained(tmp_path / "vae")
    loaded = ConvVAE.from_pretrained(tmp_path / "vae")
    assert loaded.likelihood == "gaussian" and loaded.learn_sigma
    assert torch.equal(model.sample(3, seed=0), loaded.sample(3, seed=0))
    assert torch.equal(model.log_sigma, loaded.log_sigma)


def test_reconstruction_grid_pairs_each_row_of_originals_with_its_reconstructions(tmp_path):
    model = ConvVAE(**TINY)
    x = images(10)
    path = write_reconstructions(model, x, tmp_path / "r.png", per_row=4)
    with Image.open(path) as picture:
        # 10 images in rows of 4 -> 3 rows of originals + 3 of reconstructions, 2-pixel padding.
        assert picture.size == (4 * 30 + 2, 6 * 30 + 2)
        pixels = torch.tensor(list(picture.getdata()), dtype=torch.float32).view(picture.size[1], picture.size[0])
    first_original = pixels[2:30, 2:30] / 127.5 - 1
    assert torch.allclose(first_original, x[0, 0], atol=1 / 127)
    first_reconstruction = pixels[32:60, 2:30] / 127.5 - 1
    assert torch.allclose(first_reconstruction, model.reconstruct(x[:1])[0, 0], atol=1 / 127)


def test_interpolation_strip_runs_from_one_reconstruction_to_the_other(tmp_path):
    model = ConvVAE(image_size=32, channels=3, **TINY)
    x0, x1 = images(2, 3, 32, seed=1), images(2, 3, 32, seed=2)
    path = write_interpolation(model, x0, x1, tmp_path / "i.png", steps=5)
    with Image.open(path) as picture:
        assert picture.size == (7 * 34 + 2, 2 * 34 + 2) and picture.mode == "RGB"
    strip = model.interpolate(x0[0], x1[0], 5)
    assert torch.allclose(strip[0], model.reconstruct(x0[:1])[0], atol=1e-5)
    assert torch.allclose(strip[-1], model.reconstruct(x1[:1])[0], atol=1e-5)
    with pytest.raises(ValueError, match="steps must be >= 2"):
        write_interpolation(model, x0[0], x1[0], tmp_path / "j.png", steps=1)


def test_plugin_is_registered_and_listed_as_ok(capsys):
    assert PLUGIN.name == "vae" and PLUGIN.module_class is ConvVAE and PLUGIN.family == "variational"
    assert registry.get("vae").module_class is ConvVAE
    assert main(["plugins", "--json"]) == 0
    records = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert records["vae"]["status"] == "ok" and records["vae"]["distribution"] == "gen-framework-vae"


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_config_parses_with_the_model_sized_like_the_data(config, capsys):
    assert main(["fit", "--config", str(config), "--print_config"]) == 0
    printed = capsys.readouterr().out
    assert "class_path: gen_framework_vae.ConvVAE" in printed
    sizes = [line.split(":")[1].strip() for line in printed.splitlines() if line.strip().startswith("image_size:")]
    assert len(sizes) == 2 and sizes[0] == sizes[1], "model.image_size must follow data.image_size"


def test_config_list_is_complete():
    assert {c.stem for c in CONFIGS} == {"mnist", "digits", "image_folder"}


@pytest.fixture(scope="module")
def mnist_checkpoint(tmp_path_factory) -> Path:
    """A ConvVAE checkpoint from a 3-step ``genfw fit --config configs/vae/mnist.yaml``."""
    tmp_path = tmp_path_factory.mktemp("vae_fit")
    checkpoints = tmp_path / "checkpoints"
    code = main([
        "fit", "--config", str(REPO / "configs" / "vae" / "mnist.yaml"), "--trainer.max_steps", "3",
        "--trainer.logger", "false", "--trainer.enable_progress_bar", "false", "--trainer.limit_val_batches", "1",
        "--checkpoint.dirpath", str(checkpoints), "--trainer.default_root_dir", str(tmp_path),
        "--model.init_args.base_channels", "4", "--model.init_args.iwae_samples", "2",
        "--data.init_args.batch_size", "8",
    ])
    assert code == 0
    return checkpoints / "last.ckpt"


def test_mnist_config_fits_and_predict_writes_png_samples(mnist_checkpoint, tmp_path):
    assert torch.load(mnist_checkpoint, weights_only=True)["global_step"] == 3
    out = tmp_path / "samples"
    assert main(["predict", "--ckpt_path", str(mnist_checkpoint), "--num_samples", "6", "--output_dir", str(out),
                 "--sampling.prior_temperature", "0.8", "--trainer.enable_progress_bar", "false"]) == 0
    pngs = sorted(out.glob("sample_*.png"))
    assert len(pngs) == 6
    with Image.open(pngs[0]) as image:
        assert image.size == (28, 28) and image.mode == "L"


def test_visualise_command_writes_both_pictures_from_a_checkpoint(mnist_checkpoint, tmp_path, capsys):
    out = tmp_path / "pictures"
    code = visualise_main(["--ckpt_path", str(mnist_checkpoint), "--output_dir", str(out),
                           "--num_images", "16", "--pairs", "3", "--steps", "6"])
    assert code == 0, capsys.readouterr().err
    with Image.open(out / "reconstructions.png") as picture:
        assert picture.size == (8 * 30 + 2, 4 * 30 + 2)
    with Image.open(out / "interpolation.png") as picture:
        assert picture.size == (8 * 30 + 2, 3 * 30 + 2)


def test_visualise_command_reports_a_missing_checkpoint_in_one_line(tmp_path, capsys):
    assert visualise_main(["--ckpt_path", str(tmp_path / "none.ckpt")]) == 2
    assert "no checkpoint file" in capsys.readouterr().err

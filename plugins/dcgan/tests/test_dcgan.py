"""DCGAN: network shapes, the paper's initialisation, errors, sampling, pretrained round trip and the configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from gen_framework.cli import main
from gen_framework.errors import ConfigError
from gen_framework.registry import registry
from gen_framework_dcgan import DCGAN, IMAGE_SIZES, PLUGIN

REPO = Path(__file__).resolve().parents[3]
CONFIGS = sorted((REPO / "configs" / "dcgan").glob("*.yaml"))
TINY = {"latent_dim": 8, "base_channels": 4}


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("image_size", IMAGE_SIZES)
def test_networks_map_latents_to_images_and_images_to_one_logit(image_size, channels):
    model = DCGAN(image_size=image_size, channels=channels, **TINY)
    images = model.generator(torch.randn(5, 8))
    assert images.shape == (5, channels, image_size, image_size)
    assert images.min() >= -1 and images.max() <= 1
    assert model.discriminator(images).shape == (5,)


@pytest.mark.parametrize("image_size", [16, 48, 128])
def test_unsupported_image_size_is_a_config_error_listing_the_allowed_sizes(image_size):
    with pytest.raises(ConfigError, match=r"image_size must be one of 28, 32, 64, got " + str(image_size)):
        DCGAN(image_size=image_size, **TINY)


def test_unsupported_channel_count_is_a_config_error():
    with pytest.raises(ConfigError, match="channels must be 1 or 3, got 2"):
        DCGAN(channels=2, **TINY)


def test_data_of_another_shape_is_refused_naming_both_options():
    model = DCGAN(image_size=28, channels=1, **TINY)
    model.adopt_data_spec({"modality": "image", "image_size": 28, "channels": 1})
    with pytest.raises(ConfigError, match=r"image_size=28, channels=1 but the data has image_size=32, channels=3"):
        model.adopt_data_spec({"modality": "image", "image_size": 32, "channels": 3})
    with pytest.raises(ConfigError, match="generates image"):
        model.adopt_data_spec({"modality": "text", "tokenizer": {}})


def test_architecture_follows_the_paper():
    model = DCGAN(image_size=64, channels=3, base_channels=8, latent_dim=16)
    g_layers, d_layers = list(model.generator.net), list(model.discriminator.net)
    assert isinstance(g_layers[-1], nn.Tanh)
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in g_layers) == 5
    assert all(isinstance(m, nn.ReLU) for m in g_layers if isinstance(m, nn.ReLU | nn.LeakyReLU))
    # The discriminator's first convolution feeds a LeakyReLU(0.2) directly, without BatchNorm.
    assert isinstance(d_layers[0], nn.Conv2d) and isinstance(d_layers[1], nn.LeakyReLU)
    assert all(m.negative_slope == 0.2 for m in d_layers if isinstance(m, nn.LeakyReLU))
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d_layers) == 3
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g_layers) == 4
    widths = [m.out_channels for m in d_layers if isinstance(m, nn.Conv2d)]
    assert widths == [8, 16, 32, 64, 1]


def test_weights_are_initialised_as_in_the_paper():
    torch.manual_seed(0)
    model = DCGAN(image_size=64, channels=3, base_channels=64)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    weights = torch.cat([m.weight.flatten() for m in convs])
    assert abs(float(weights.mean())) < 1e-3
    assert float(weights.std()) == pytest.approx(0.02, rel=0.02)
    # Each layer large enough to estimate its spread is initialised at std 0.02 too.
    for m in convs:
        if m.weight.numel() > 5000:
            assert float(m.weight.std()) == pytest.approx(0.02, rel=0.1)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    scales = torch.cat([m.weight for m in norms])
    assert float(scales.mean()) == pytest.approx(1.0, abs=3e-3)
    assert float(scales.std()) == pytest.approx(0.02, rel=0.1)
    assert all(float(m.bias.abs().max()) == 0 for m in norms)
    assert all(m.bias is None for m in convs)


def test_default_optimisers_are_the_papers_adam():
    opt_g, opt_d = DCGAN(**TINY).configure_optimizers()
    for opt in (opt_g, opt_d):
        assert isinstance(opt, torch.optim.Adam)
        assert opt.defaults["lr"] == 2e-4 and opt.defaults["betas"] == (0.5, 0.999)


def test_sample_is_seeded_in_range_and_leaves_the_mode_alone():
    model = DCGAN(image_size=32, channels=3, **TINY)
    model.train()
    first, again, other = model.sample(6, seed=3), model.sample(6, seed=3), model.sample(6, seed=4)
    assert first.shape == (6, 3, 32, 32)
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)
    assert first.min() >= -1 and first.max() <= 1
    assert model.training


def _train_a_little(model: DCGAN, steps: int = 3) -> None:
    """Moves weights and BatchNorm statistics away from their initial values."""
    opt_g, opt_d = model.configure_optimizers()
    for _ in range(steps):
        fake = model.generator(torch.randn(8, model.latent_dim))
        loss = model.discriminator(fake).mean()
        opt_g.zero_grad()
        opt_d.zero_grad()
        loss.backward()
        opt_g.step()
        opt_d.step()


def test_pretrained_round_trip_gives_identical_samples(tmp_path):
    model = DCGAN(image_size=28, channels=1, ema_decay=0.9, **TINY)
    model._build_ema()
    _train_a_little(model)
    model.update_ema()
    model.adopt_data_spec({"modality": "image", "image_size": 28, "channels": 1})
    model.save_pretrained(tmp_path / "dcgan")
    loaded = DCGAN.from_pretrained(tmp_path / "dcgan")
    assert type(loaded) is DCGAN and loaded.hparams["ema_decay"] == 0.9
    assert loaded.data_spec == {"modality": "image", "image_size": 28, "channels": 1}
    assert torch.equal(model.sample(5, seed=0), loaded.sample(5, seed=0))


def test_plugin_is_registered_under_its_name():
    assert PLUGIN.name == "dcgan" and PLUGIN.module_class is DCGAN and PLUGIN.family == "adversarial"
    assert registry.get("dcgan").module_class is DCGAN


def test_genfw_plugins_lists_dcgan_as_ok(capsys):
    assert main(["plugins", "--json"]) == 0
    records = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert records["dcgan"]["status"] == "ok"
    assert records["dcgan"]["distribution"] == "gen-framework-dcgan"


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_config_parses_with_the_model_sized_like_the_data(config, capsys):
    assert main(["fit", "--config", str(config), "--print_config"]) == 0
    printed = capsys.readouterr().out
    assert "class_path: gen_framework_dcgan.DCGAN" in printed
    sizes = [line.split(":")[1].strip() for line in printed.splitlines() if line.strip().startswith("image_size:")]
    assert len(sizes) == 2 and sizes[0] == sizes[1], "model.image_size must follow data.image_size"


def test_config_list_is_complete():
    assert {c.stem for c in CONFIGS} == {"mnist", "digits", "image_folder"}


def _fit(config: Path, tmp_path: Path, *extra: str) -> Path:
    checkpoints = tmp_path / "checkpoints"
    code = main([
        "fit", "--config", str(config), "--trainer.max_steps", "2", "--trainer.logger", "false",
        "--trainer.enable_progress_bar", "false", "--trainer.limit_val_batches", "1",
        "--checkpoint.dirpath", str(checkpoints), "--trainer.default_root_dir", str(tmp_path),
        "--model.init_args.base_channels", "4", *extra,
    ])
    assert code == 0
    return checkpoints / "last.ckpt"


def test_mnist_config_fits_then_predict_writes_png_samples(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GEN_FRAMEWORK_CACHE", str(tmp_path / "cache"))
    # The config evaluates its final weights; a small protocol keeps this test fast.
    small = ["--evaluation.num_samples", "20", "--evaluation.sample_batch_size", "20", "--evaluation.kid_subsets",
             "2", "--evaluation.kid_subset_size", "10", "--evaluation.feature_steps", "5"]
    ckpt = _fit(REPO / "configs" / "dcgan" / "mnist.yaml", tmp_path, "--data.init_args.batch_size", "8", *small)
    assert ckpt.is_file()
    printed = capsys.readouterr().out
    assert "genfw: quality at step 2 (val, 20 samples): fid " in printed and "samples.png" in printed
    meta = torch.load(ckpt, weights_only=True)
    assert meta["global_step"] == 2
    out = tmp_path / "samples"
    assert main(["predict", "--ckpt_path", str(ckpt), "--num_samples", "5", "--output_dir", str(out),
                 "--trainer.enable_progress_bar", "false"]) == 0
    pngs = sorted(out.glob("sample_*.png"))
    assert len(pngs) == 5
    from PIL import Image

    with Image.open(pngs[0]) as image:
        assert image.size == (28, 28) and image.mode == "L"


def test_digits_config_fits_at_32_pixels(tmp_path):
    ckpt = _fit(REPO / "configs" / "dcgan" / "digits.yaml", tmp_path, "--data.init_args.batch_size", "8")
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    assert state["generator.net.1.weight"].shape[1] == 4 * 4  # 32 px: three stages, width 4 x 2^2


def test_mismatched_data_is_a_one_line_error(tmp_path, capsys):
    code = main([
        "fit", "--config", str(REPO / "configs" / "dcgan" / "mnist.yaml"), "--trainer.max_steps", "1",
        "--trainer.logger", "false", "--trainer.enable_progress_bar", "false",
        "--checkpoint.dirpath", str(tmp_path), "--model.init_args.image_size", "32",
    ])
    assert code == 2
    # both sides given (the config's data, the command line's model): one line naming both values
    assert "--model.init_args.image_size 32 contradicts --data.init_args.image_size 28" in capsys.readouterr().err


# ---------------------------------------------------------------- recipe options


def test_diffaugment_transforms_every_discriminator_input_in_training_only():
    from gen_framework_dcgan.augment import random_cutout, random_translation

    torch.manual_seed(0)
    model = DCGAN(augment="translation_cutout", **TINY)
    images = torch.rand(16, 1, 28, 28) * 2 - 1
    shifted = random_translation(images)
    assert shifted.shape == images.shape and not torch.equal(shifted, images)
    # a translation moves pixels without changing them: every output value is an input value or the 0 border
    assert torch.isin(shifted[shifted != 0], images).all()
    holed = random_cutout(images)
    assert ((holed == 0).flatten(1).sum(1) >= 7 * 7).all()  # at least a quarter of the half-side square
    seen = []
    model.discriminator.net.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    model.discriminator.train()
    model.discriminator(images)
    model.discriminator.eval()
    model.discriminator(images)
    assert not torch.equal(seen[0], images) and torch.equal(seen[1], images)
    # differentiable: the generator's gradient flows through the augmentation
    fake = images.clone().requires_grad_(True)
    model.discriminator.train()
    model.discriminator(fake).sum().backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_default_discriminator_keeps_the_papers_layers_and_checkpoint_keys():
    keys = set(DCGAN(**TINY).discriminator.state_dict())
    assert keys == {"net.0.weight", "net.2.weight", "net.3.weight", "net.3.bias", "net.3.running_mean",
                    "net.3.running_var", "net.3.num_batches_tracked", "net.5.weight"}
    assert keys == set(DCGAN(augment="translation", **TINY).discriminator.state_dict())


def test_spectral_norm_discriminator_has_no_batchnorm_and_unit_spectral_norms():
    model = DCGAN(discriminator_norm="spectral", **TINY)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.discriminator.modules())
    model.discriminator.train()
    for _ in range(30):  # power iterations run in training-mode forwards
        model.discriminator(torch.randn(4, 1, 28, 28))
    model.discriminator.eval()
    convs = [m for m in model.discriminator.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3
    for conv in convs:
        sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, abs=0.05)


def test_ema_warmup_ramps_the_decay_up_to_ema_decay():
    model = DCGAN(ema_decay=0.99, ema_warmup=True, **TINY)
    assert model.ema_decay_at(0) == pytest.approx(0.1)
    assert model.ema_decay_at(90) == pytest.approx(91 / 100)
    assert model.ema_decay_at(5000) == 0.99
    assert DCGAN(ema_decay=0.99, **TINY).ema_decay_at(0) == 0.99


def test_each_player_can_have_its_own_width():
    model = DCGAN(generator_channels=6, discriminator_channels=3, **TINY)
    assert model.generator.net[1].out_channels == 12  # the width doubles towards the latent (two stages at 28 px)
    assert model.discriminator.net[0].out_channels == 3
    same = DCGAN(**TINY)
    assert same.generator.net[1].out_channels == 8 and same.discriminator.net[0].out_channels == 4


def test_lr_decay_holds_then_falls_linearly_to_zero_over_the_last_fraction():
    model = DCGAN(lr_decay_fraction=0.25, **TINY)
    assert [model.lr_factor(step, 1000) for step in (0, 750, 875, 1000)] == [1.0, 1.0, 0.5, 0.0]
    assert DCGAN(**TINY).lr_factor(900, 1000) == 1.0
    assert model.lr_factor(900, -1) == 1.0  # no max_steps: nothing to decay towards


def test_lr_decay_reaches_both_optimisers_during_fit(tmp_path):
    import pytorch_lightning as pl

    class Recorder(pl.Callback):
        rates: list[tuple[float, float]] = []

        def on_train_batch_end(self, trainer, module, *args):
            self.rates.append(tuple(opt.param_groups[0]["lr"] for opt in module.optimizers()))

    model = DCGAN(lr_g=1e-3, lr_d=2e-3, lr_decay_fraction=0.5, **TINY)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.rand(8, 1, 28, 28) * 2 - 1), batch_size=2)
    trainer = pl.Trainer(max_steps=8, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[Recorder()], default_root_dir=tmp_path)
    trainer.fit(model, loader)
    rates = Recorder.rates
    assert rates[0] == (1e-3, 2e-3)
    assert rates[-1][0] < 1e-3 / 2 and rates[-1][1] < 2e-3 / 2
    assert all(a[0] >= b[0] for a, b in zip(rates, rates[1:]))


@pytest.mark.parametrize("kwargs, message", [
    ({"augment": "flip"}, "augment must be one of none, translation, translation_cutout, got 'flip'"),
    ({"discriminator_norm": "layer"}, "discriminator_norm must be batch or spectral, got 'layer'"),
    ({"generator_channels": 0}, "generator_channels must be >= 1, got 0"),
    ({"discriminator_channels": -2}, "discriminator_channels must be >= 1, got -2"),
    ({"lr_decay_fraction": 1.5}, r"lr_decay_fraction must be in \[0, 1\], got 1.5"),
])
def test_unknown_recipe_option_is_a_config_error_naming_it(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        DCGAN(**kwargs, **TINY)


def test_sampling_predict_and_the_evaluation_grid_use_the_generator_ema():
    """``sample`` (the evaluation's grid and metrics call it) and ``predict_step`` draw from the averaged generator."""
    model = DCGAN(ema_decay=0.99, ema_warmup=True, **TINY)
    model._build_ema()
    averaged = model.ema["generator"]
    with torch.no_grad():
        averaged.update_parameters(model.generator)
        # The averaged generator's last convolution is zeroed: its images are exactly tanh(0) = 0.
        averaged.module.net[-2].weight.zero_()
    live_before = model.generator.net[-2].weight.detach().clone()
    assert model.generator(torch.randn(4, TINY["latent_dim"])).abs().amax() > 0
    assert model.sample(4, seed=0).abs().amax() == 0
    assert model.predict_step(torch.arange(4), 0).abs().amax() == 0
    assert torch.equal(model.generator.net[-2].weight, live_before)  # the live weights are back after sampling

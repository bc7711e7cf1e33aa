"""StyleGAN-lite's parts in isolation: equalised lr, modulated convolution, mapping, truncation, mixing, D."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gen_framework.errors import ConfigError
from gen_framework_stylegan_lite import StyleGANLite, modulated_conv2d
from gen_framework_stylegan_lite.discriminator import MinibatchStd
from gen_framework_stylegan_lite.layers import EqualConv2d, EqualLinear

TINY = dict(latent_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=8)


def tiny(**overrides) -> StyleGANLite:
    return StyleGANLite(**{"image_size": 32, "channels": 3, **TINY, **overrides})


def randomise_noise_and_w_avg(model: StyleGANLite) -> None:
    """Trained-looking state: noise strengths and the tracked mean w away from their zero initial values."""
    with torch.no_grad():
        for name, param in model.generator.named_parameters():
            if name.endswith("noise_strength"):
                param.fill_(0.5)
        model.generator.mapping.w_avg.normal_()


# ------------------------------------------------------------------ modulated convolution


@pytest.mark.parametrize("fused", [True, False])
def test_modulated_conv_with_unit_styles_and_no_demodulation_is_a_plain_conv(fused):
    torch.manual_seed(0)
    x, weight = torch.randn(3, 5, 9, 9), torch.randn(4, 5, 3, 3)
    out = modulated_conv2d(x, weight, torch.ones(3, 5), demodulate=False, fused=fused)
    torch.testing.assert_close(out, F.conv2d(x, weight, padding=1), rtol=1e-5, atol=1e-5)


def test_modulated_conv_scales_each_samples_input_channels_by_its_style():
    torch.manual_seed(0)
    x, weight, styles = torch.randn(2, 5, 8, 8), torch.randn(4, 5, 3, 3), torch.rand(2, 5) + 0.5
    out = modulated_conv2d(x, weight, styles, demodulate=False)
    expected = torch.stack(
        [F.conv2d(x[i : i + 1] * styles[i].view(1, 5, 1, 1), weight, padding=1)[0] for i in range(2)]
    )
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fused", [True, False])
def test_demodulation_gives_unit_std_outputs_for_unit_variance_inputs(fused):
    torch.manual_seed(0)
    x = torch.randn(4, 32, 40, 40)
    weight = torch.randn(16, 32, 3, 3) * 7.0  # scale must not matter
    styles = torch.rand(4, 32) * 3.0 + 0.1  # nor must the styles
    out = modulated_conv2d(x, weight, styles, demodulate=True, fused=fused)[:, :, 1:-1, 1:-1]  # skip padding
    std = out.std(dim=(2, 3))  # (B, O)
    assert std.min() > 0.9 and std.max() < 1.1, std
    without = modulated_conv2d(x, weight, styles, demodulate=False, fused=fused)[:, :, 1:-1, 1:-1]
    assert without.std() > 5.0, "the check above must be due to demodulation"


def test_fused_and_unfused_modulation_agree():
    torch.manual_seed(0)
    x, weight, styles = torch.randn(3, 6, 8, 8), torch.randn(5, 6, 3, 3), torch.randn(3, 6)
    for demodulate in (True, False):
        torch.testing.assert_close(
            modulated_conv2d(x, weight, styles, demodulate=demodulate, fused=True),
            modulated_conv2d(x, weight, styles, demodulate=demodulate, fused=False),
            rtol=1e-4, atol=1e-5,
        )


# ------------------------------------------------------------------ equalised learning rate


def test_equalised_lr_scales_weights_at_runtime_by_one_over_sqrt_fan_in():
    torch.manual_seed(0)
    linear = EqualLinear(50, 7)
    x = torch.randn(4, 50)
    torch.testing.assert_close(linear(x), x @ (linear.weight / math.sqrt(50)).t() + linear.bias)
    assert 0.8 < linear.weight.std() < 1.2, "stored weights are N(0, 1): the scale lives in the forward pass"
    conv = EqualConv2d(6, 4, 3)
    images = torch.randn(2, 6, 5, 5)
    torch.testing.assert_close(conv(images), F.conv2d(images, conv.weight / math.sqrt(6 * 9), conv.bias, padding=1))
    # outputs keep the input's scale whatever the fan-in
    for fan_in in (16, 1024):
        y = EqualLinear(fan_in, 256)(torch.randn(512, fan_in))
        assert 0.85 < y.std() < 1.15


def test_mapping_lr_multiplier_slows_the_effective_weight_updates():
    """Adam's first step moves every raw weight by lr; the effective weight then moves by lr·multiplier/√fan_in."""
    torch.manual_seed(0)
    lr = 1e-2
    for multiplier in (1.0, 0.01):
        layer = EqualLinear(16, 8, lr_multiplier=multiplier)
        assert 0.8 / multiplier < layer.weight.std() < 1.2 / multiplier
        before = (layer.weight * layer.weight_gain).detach().clone()
        optimizer = torch.optim.Adam(layer.parameters(), lr=lr)
        layer(torch.randn(32, 16)).square().sum().backward()
        optimizer.step()
        step = ((layer.weight * layer.weight_gain).detach() - before).abs()
        torch.testing.assert_close(step, torch.full_like(step, lr * multiplier / 4.0), rtol=1e-3, atol=1e-9)
    model = tiny(mapping_lr_multiplier=0.01)
    assert all(layer.weight_gain == pytest.approx(0.01 / math.sqrt(8)) for layer in model.generator.mapping.layers)


# ------------------------------------------------------------------ shapes and options


@pytest.mark.parametrize("image_size", [32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_for_each_size_and_channel_count(image_size, channels):
    model = tiny(image_size=image_size, channels=channels)
    assert model.num_ws == 2 * int(math.log2(image_size)) - 2
    images = model.sample(3, seed=0)
    assert images.shape == (3, channels, image_size, image_size)
    assert images.min() >= -1 and images.max() <= 1
    model.train()
    fake = model.generate(model.sample_latent(4))
    assert fake.shape == (4, channels, image_size, image_size)
    assert model.discriminator(fake).shape == (4,)


@pytest.mark.parametrize("size", [16, 28, 48, 128])
def test_unsupported_image_size_is_a_config_error_naming_the_allowed_values(size):
    with pytest.raises(ConfigError, match=r"image_size must be one of 32, 64"):
        tiny(image_size=size)


def test_wrong_channels_and_mismatched_data_are_config_errors():
    with pytest.raises(ConfigError, match="channels must be 1 or 3"):
        tiny(channels=2)
    model = tiny(image_size=32, channels=3)
    with pytest.raises(ConfigError, match="image_size=64"):
        model.adopt_data_spec({"modality": "image", "channels": 3, "image_size": 64})
    with pytest.raises(ConfigError, match="channels=1"):
        model.adopt_data_spec({"modality": "image", "channels": 1, "image_size": 32})
    model.adopt_data_spec({"modality": "image", "channels": 3, "image_size": 32})


def test_ema_covers_mapping_synthesis_and_w_avg():
    model = tiny(ema_decay=0.9)
    model._build_ema()
    averaged = model.ema["generator"].module.state_dict()
    assert "mapping.w_avg" in averaged
    assert any(k.startswith("mapping.layers") for k in averaged)
    assert any(k.startswith("synthesis.") for k in averaged)


# ------------------------------------------------------------------ truncation, determinism, mixing


def test_truncation_psi_zero_gives_the_mean_w_image_for_every_z():
    torch.manual_seed(0)
    model = tiny()
    randomise_noise_and_w_avg(model)
    with torch.no_grad():  # noise off, so z is the only per-sample randomness
        for name, param in model.generator.named_parameters():
            if name.endswith("noise_strength"):
                param.zero_()
    images = model.sample(4, seed=0, truncation_psi=0.0)
    torch.testing.assert_close(images, images[:1].expand_as(images))
    mean_image = model.generator.synthesis(model.generator.mapping.w_avg.expand(1, model.num_ws, -1))
    torch.testing.assert_close(images[:1], mean_image.clamp(-1, 1), rtol=1e-4, atol=1e-5)
    full = model.sample(4, seed=0, truncation_psi=1.0)
    assert (full - full[:1]).abs().amax() > 1e-3, "without truncation different z give different images"
    half = model.sample(4, seed=0, truncation_psi=0.5)
    assert (half - half.mean(0)).abs().mean() < (full - full.mean(0)).abs().mean()


def test_seeded_sampling_is_deterministic_noise_included():
    model = tiny()
    randomise_noise_and_w_avg(model)
    a = model.sample(3, seed=7)
    torch.manual_seed(123)  # the global RNG must not matter
    b = model.sample(3, seed=7)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, model.sample(3, seed=8))
    # the noise is drawn from the seed too: same z, different noise draws differ
    z = model.sample_latent(1, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.eval()
        one = model.generator(z, noise_generator=torch.Generator().manual_seed(1))
        two = model.generator(z, noise_generator=torch.Generator().manual_seed(2))
    assert (one - two).abs().amax() > 1e-3


def test_style_mixing_changes_the_output():
    torch.manual_seed(0)
    model = tiny()
    randomise_noise_and_w_avg(model)
    latents = model.sample_latent(6, generator=torch.Generator().manual_seed(0))
    images = model.style_mixing_images(latents[:2], latents[2:5], generator=torch.Generator().manual_seed(0))
    rows, cols, cells = images[:2], images[2:5], images[5:].view(2, 3, *images.shape[1:])
    assert cells.shape[:2] == (2, 3)
    for i in range(2):
        for j in range(3):
            assert (cells[i, j] - rows[i]).abs().amax() > 1e-3, "coarse styles of the column source must show"
            assert (cells[i, j] - cols[j]).abs().amax() > 1e-3, "fine styles of the row source must show"
    # crossover 0 takes every layer from the row source, num_ws every layer from the column source
    def grid(crossover):
        out = model.style_mixing_images(latents[:2], latents[2:5], crossover=crossover,
                                        generator=torch.Generator().manual_seed(0))
        return out[:2], out[2:5], out[5:].view(2, 3, *out.shape[1:])
    rows, cols, cells = grid(0)
    torch.testing.assert_close(cells, rows.unsqueeze(1).expand_as(cells))
    rows, cols, cells = grid(model.num_ws)
    torch.testing.assert_close(cells, cols.unsqueeze(0).expand_as(cells))
    with pytest.raises(ConfigError, match="crossover"):
        model.style_mixing_images(latents[:1], latents[1:2], crossover=model.num_ws + 1)


def test_training_mode_applies_style_mixing_and_tracks_w_avg():
    model = tiny(style_mixing_prob=1.0)
    randomise_noise_and_w_avg(model)
    with torch.no_grad():
        for name, param in model.generator.named_parameters():
            if name.endswith("noise_strength"):
                param.zero_()
    z = model.sample_latent(4, generator=torch.Generator().manual_seed(0))
    model.eval()
    plain = model.generate(z)
    w_avg = model.generator.mapping.w_avg.clone()
    torch.testing.assert_close(model.generate(z), plain)
    assert torch.equal(model.generator.mapping.w_avg, w_avg), "eval passes leave w_avg alone"
    model.train()
    torch.manual_seed(1)  # not 0: the second latent would then equal z
    mixed = model.generate(z)
    assert (mixed - plain).flatten(1).abs().amax(dim=1).min() > 1e-4, "every sample is mixed at probability 1"
    assert not torch.equal(model.generator.mapping.w_avg, w_avg), "training passes update w_avg"
    model_no_mix = tiny(style_mixing_prob=0.0)
    model_no_mix.load_state_dict(model.state_dict())
    model_no_mix.train()
    torch.testing.assert_close(model_no_mix.generate(z), plain)


def test_minibatch_std_adds_a_channel_holding_the_group_std():
    layer = MinibatchStd(group_size=4)
    x = torch.randn(8, 5, 4, 4)
    out = layer(x)
    assert out.shape == (8, 6, 4, 4)
    torch.testing.assert_close(out[:, :5], x)
    # samples n and n + 2 form a group of 4 with n + 4 and n + 6; the extra channel is its mean std
    group = x[0::2]
    expected = group.std(dim=0, unbiased=False).mean()
    torch.testing.assert_close(out[0, 5], torch.full((4, 4), float(expected)), rtol=1e-4, atol=1e-5)
    assert layer(torch.randn(6, 5, 4, 4)).shape == (6, 6, 4, 4), "batches not divisible by 4 use a smaller group"
    assert layer(torch.randn(1, 5, 4, 4))[0, 5].abs().max() < 1e-3


def test_path_length_regularizer_is_lazy_and_differentiable():
    model = tiny(pl_weight=2.0, pl_interval=2)
    model.train()
    latent = model.sample_latent(4)
    penalty = model.generator_regularizer(latent, model.generate(latent))  # global_step 0: applies
    assert penalty is not None and penalty.requires_grad
    penalty.backward()
    assert model.generator.synthesis.const.grad is not None
    assert model.generator.pl_mean > 0
    assert tiny(pl_weight=0.0).generator_regularizer(latent, latent) is None


def test_ema_ramps_up_to_the_configured_decay():
    model = tiny(ema_decay=0.99, ema_rampup=0.05)
    decays = [model.ema_decay_at(step) for step in (0, 10, 100, 1000, 10_000)]
    assert decays == sorted(decays) and decays[0] < 0.01, "early weights are forgotten fast"
    assert decays[-1] == pytest.approx(0.99), "the ramp ends at ema_decay"
    assert tiny(ema_decay=0.99, ema_rampup=None).ema_decay_at(0) == 0.99


def test_adam_is_corrected_for_both_lazy_regularisers():
    model = tiny(lr_g=2e-3, lr_d=2e-3, betas_g=(0.0, 0.99), betas_d=(0.0, 0.99), r1_gamma=1.0, r1_interval=16,
                 pl_weight=2.0, pl_interval=4)
    opt_g, opt_d = model.configure_optimizers()
    assert opt_g.param_groups[0]["lr"] == pytest.approx(2e-3 * 4 / 5)
    assert opt_d.param_groups[0]["lr"] == pytest.approx(2e-3 * 16 / 17)
    assert opt_d.param_groups[0]["betas"][1] == pytest.approx(0.99 ** (16 / 17))
    plain_g, _ = tiny(lr_g=2e-3, pl_weight=0.0).configure_optimizers()
    assert plain_g.param_groups[0]["lr"] == pytest.approx(2e-3), "no lazy regulariser, no correction"


def test_tanh_output_bounds_the_linear_output_and_keeps_its_sign():
    """``output_activation: tanh`` is tanh of exactly what the linear output gives (same weights, same noise)."""
    torch.manual_seed(0)
    linear = tiny(channels=1)
    bounded = tiny(channels=1, output_activation="tanh")
    bounded.load_state_dict(linear.state_dict())
    z = torch.randn(16, TINY["latent_dim"])
    raw = linear.generator(z, noise_generator=torch.Generator().manual_seed(1))
    out = bounded.generator(z, noise_generator=torch.Generator().manual_seed(1))
    assert (raw.abs() > 1).any()  # the untrained linear output leaves the data's range
    torch.testing.assert_close(out, torch.tanh(raw))


def test_unknown_output_activation_is_a_config_error_naming_the_allowed_values():
    with pytest.raises(ConfigError, match="output_activation must be one of linear, tanh"):
        tiny(output_activation="sigmoid")

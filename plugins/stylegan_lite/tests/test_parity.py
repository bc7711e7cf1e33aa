"""Reference parity, component by component: each StyleGAN2 part loaded with the same weights into a
hand-written formula from the paper (Karras et al., 2020) or NVlabs' reference implementation's documented
equations, outputs compared numerically, and gradients checked against finite differences (``gradcheck``, in
float64)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gen_framework_stylegan_lite import StyleGANLite
from gen_framework_stylegan_lite.discriminator import MinibatchStd
from gen_framework_stylegan_lite.layers import (
    EqualConv2d,
    EqualLinear,
    lrelu,
    modulated_conv2d,
    normalize_2nd_moment,
)
from gen_framework_stylegan_lite.mapping import MappingNetwork
from gen_framework_stylegan_lite.synthesis import SynthesisLayer, ToRGB

torch.set_default_dtype(torch.float32)
DOUBLE = torch.float64


def small_model(**overrides) -> StyleGANLite:
    options = dict(image_size=32, channels=1, latent_dim=8, w_dim=8, mapping_layers=2, channel_base=64,
                   channel_max=4)
    return StyleGANLite(**{**options, **overrides})


# ------------------------------------------------------------------ equalised learning rate


def test_equal_linear_matches_the_formula_and_its_gradients():
    torch.manual_seed(0)
    layer = EqualLinear(5, 3, bias_init=1.0, lr_multiplier=0.01, activation=True).to(DOUBLE)
    x = torch.randn(4, 5, dtype=DOUBLE)
    # y = lrelu(x (W · c/√in)ᵀ + b · c) · √2; the stored bias is b / c so the effective bias starts at bias_init.
    w_eff = layer.weight * 0.01 / math.sqrt(5)
    b_eff = layer.bias * 0.01
    expected = F.leaky_relu(x @ w_eff.T + b_eff, 0.2) * math.sqrt(2)
    torch.testing.assert_close(layer(x), expected)
    torch.testing.assert_close(b_eff, torch.ones(3, dtype=DOUBLE))
    assert float(layer.weight.detach().std()) == pytest.approx(100.0, rel=0.5)  # stored N(0, 1/c²)
    assert torch.autograd.gradcheck(lambda x, w, b: _equal_linear(layer, x, w, b),
                                    (x.requires_grad_(), layer.weight.detach().clone().requires_grad_(),
                                     layer.bias.detach().clone().requires_grad_()))


def _equal_linear(layer, x, w, b):
    with torch.no_grad():
        layer.weight.copy_(w)
        layer.bias.copy_(b)
    return F.leaky_relu(F.linear(x, w * layer.weight_gain, b * layer.bias_gain), 0.2) * math.sqrt(2)


def test_equal_conv_gradients_match_finite_differences():
    torch.manual_seed(0)
    conv = EqualConv2d(2, 3, 3, activation=True, down=True).to(DOUBLE)
    x = torch.randn(2, 2, 6, 6, dtype=DOUBLE, requires_grad=True)
    pooled = F.avg_pool2d(F.conv2d(x, conv.weight / math.sqrt(18), padding=1), 2)
    expected = lrelu(pooled + conv.bias.view(1, -1, 1, 1))
    torch.testing.assert_close(conv(x), expected)
    assert torch.autograd.gradcheck(conv, (x,))


# ------------------------------------------------------------------ modulation / demodulation


def reference_modulated_conv(x, weight, styles, demodulate):
    """The paper's equations written as loops: w'_{oik} = s_i w_{oik} (eq. 1);
    w''_{oik} = w'_{oik} / sqrt(Σ_{i,k} w'_{oik}² + ε) (eq. 3); then a per-sample convolution."""
    batch, out = x.shape[0], weight.shape[0]
    outputs = []
    for b in range(batch):
        w = weight * styles[b].view(1, -1, 1, 1)
        if demodulate:
            norms = torch.stack([(w[o].square().sum() + 1e-8).rsqrt() for o in range(out)])
            w = w * norms.view(-1, 1, 1, 1)
        outputs.append(F.conv2d(x[b : b + 1], w, padding=weight.shape[-1] // 2))
    return torch.cat(outputs)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_matches_the_papers_equations_and_gradients(fused, demodulate):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 5, dtype=DOUBLE, requires_grad=True)
    weight = torch.randn(4, 3, 3, 3, dtype=DOUBLE, requires_grad=True)
    styles = (torch.rand(2, 3, dtype=DOUBLE) + 0.5).requires_grad_()
    ours = modulated_conv2d(x, weight, styles, demodulate=demodulate, fused=fused)
    torch.testing.assert_close(ours, reference_modulated_conv(x, weight, styles, demodulate))
    assert torch.autograd.gradcheck(
        lambda x, w, s: modulated_conv2d(x, w, s, demodulate=demodulate, fused=fused), (x, weight, styles)
    )


# ------------------------------------------------------------------ synthesis layer, noise, toRGB


def test_synthesis_layer_is_modulated_conv_plus_scaled_noise_plus_bias_then_lrelu():
    torch.manual_seed(0)
    layer = SynthesisLayer(3, 4, 6).to(DOUBLE)
    with torch.no_grad():
        layer.noise_strength.fill_(0.3)
        layer.bias.normal_()
    x, w = torch.randn(2, 3, 5, 5, dtype=DOUBLE), torch.randn(2, 6, dtype=DOUBLE)
    out = layer(x, w, noise_generator=torch.Generator().manual_seed(7))
    styles = F.linear(w, layer.affine.weight / math.sqrt(6), layer.affine.bias)  # affine: bias starts at 1
    noise = torch.randn(2, 1, 5, 5, generator=torch.Generator().manual_seed(7), dtype=DOUBLE)
    conv = reference_modulated_conv(x, layer.weight / math.sqrt(27), styles, demodulate=True)
    expected = F.leaky_relu(conv + 0.3 * noise + layer.bias.view(1, -1, 1, 1), 0.2) * math.sqrt(2)
    torch.testing.assert_close(out, expected)
    assert float(SynthesisLayer(3, 4, 6).noise_strength) == 0.0  # StyleGAN2 starts without noise


def test_noise_strength_gradient_is_the_noise_weighted_upstream_gradient():
    torch.manual_seed(0)
    layer = SynthesisLayer(2, 2, 4).to(DOUBLE)
    x, w = torch.randn(2, 2, 4, 4, dtype=DOUBLE), torch.randn(2, 4, dtype=DOUBLE)
    with torch.no_grad():
        layer.noise_strength.fill_(0.5)
    out = layer(x, w, noise_generator=torch.Generator().manual_seed(3))
    out.sum().backward()
    noise = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(3), dtype=DOUBLE)
    # d out / d strength = noise · lrelu'(pre-activation) · √2, summed
    pre = out.detach() / math.sqrt(2)
    slope = torch.where(pre > 0, 1.0, 0.2) * math.sqrt(2)
    torch.testing.assert_close(layer.noise_strength.grad, (slope * noise).sum())


def test_to_rgb_is_an_undemodulated_1x1_modulated_conv():
    torch.manual_seed(0)
    rgb = ToRGB(4, 3, 5).to(DOUBLE)
    x, w = torch.randn(2, 4, 3, 3, dtype=DOUBLE), torch.randn(2, 5, dtype=DOUBLE)
    styles = F.linear(w, rgb.affine.weight / math.sqrt(5), rgb.affine.bias)
    expected = torch.einsum("oi,bi,bihw->bohw", rgb.weight[:, :, 0, 0] / 2.0, styles, x) + rgb.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(rgb(x, w), expected)


def test_synthesis_output_is_the_sum_of_upsampled_skip_rgb_outputs():
    torch.manual_seed(0)
    model = small_model().to(DOUBLE)
    synthesis = model.generator.synthesis
    ws = torch.randn(2, model.num_ws, 8, dtype=DOUBLE)
    out = synthesis(ws, noise_generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(0)
    x = synthesis.const.unsqueeze(0).expand(2, -1, -1, -1)
    x = synthesis.input_conv(x, ws[:, 0], noise_generator=gen)
    image = synthesis.input_rgb(x, ws[:, 1])
    for k, block in enumerate(synthesis.blocks):
        x = block.conv1(block.conv0(x, ws[:, 2 * k + 1], noise_generator=gen), ws[:, 2 * k + 2], noise_generator=gen)
        image = F.interpolate(image, scale_factor=2, mode="bilinear") + block.to_rgb(x, ws[:, 2 * k + 3])
    torch.testing.assert_close(out, image)


# ------------------------------------------------------------------ mapping network


def test_mapping_is_normalised_z_through_lrelu_layers_with_the_lr_multiplier():
    torch.manual_seed(0)
    mapping = MappingNetwork(6, 5, 2, lr_multiplier=0.01).to(DOUBLE)
    z = torch.randn(3, 6, dtype=DOUBLE) * 4
    h = z / z.square().mean(1, keepdim=True).sqrt()
    for layer in mapping.layers:
        h = F.leaky_relu(h @ (layer.weight * 0.01 / math.sqrt(layer.weight.shape[1])).T + layer.bias * 0.01, 0.2)
        h = h * math.sqrt(2)
    ws = mapping(z, 4, update_w_avg=True)
    torch.testing.assert_close(ws, h.unsqueeze(1).expand(-1, 4, -1))
    torch.testing.assert_close(mapping.w_avg, 0.005 * h.mean(0))  # lerp(0, mean w, 1 - 0.995)
    torch.testing.assert_close(normalize_2nd_moment(z).square().mean(1), torch.ones(3, dtype=DOUBLE))


# ------------------------------------------------------------------ discriminator parts


def test_minibatch_std_matches_the_reference_grouping():
    torch.manual_seed(0)
    x = torch.randn(8, 6, 2, 2, dtype=DOUBLE)
    out = MinibatchStd(group_size=4, num_channels=2)(x)
    # Reference: sample n is in group n % (B / G); per group, std over its G members, averaged over the
    # channels of each of the F channel groups and over pixels.
    for n in range(8):
        members = x[n % 2 :: 2]
        for f in range(2):
            part = members[:, 3 * f : 3 * f + 3]
            std = (part.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
            torch.testing.assert_close(out[n, 6 + f], std.expand(2, 2))
    torch.testing.assert_close(out[:, :6], x)


def test_r1_penalty_is_half_gamma_squared_input_gradient_times_interval():
    torch.manual_seed(0)
    model = small_model(r1_gamma=0.5, r1_interval=4)
    model.discriminator = torch.nn.Linear(32 * 32, 1)
    model.discriminator.forward = lambda x, f=model.discriminator.forward: f(x.flatten(1)).squeeze(1)
    model._d_updates = 0
    real = torch.randn(3, 1, 32, 32)
    penalty = model.discriminator_regularizer(real, real)
    # D(x) = a·x + b → ∇ₓD = a for every sample: R1 = γ/2 · |a|² · interval.
    expected = 0.5 / 2 * model.discriminator.weight.square().sum() * 4
    torch.testing.assert_close(penalty, expected)
    model._d_updates = 1
    assert model.discriminator_regularizer(real, real) is None  # lazy: only every r1_interval-th update


def test_path_length_penalty_matches_a_finite_difference_jacobian():
    torch.manual_seed(0)
    model = small_model(pl_weight=2.0, pl_interval=1, pl_batch_shrink=1).to(DOUBLE)
    with torch.no_grad():
        for layer in model.generator.synthesis.modules():
            if isinstance(layer, SynthesisLayer):
                layer.noise_strength.zero_()  # noise then does not change the images
    z = torch.randn(2, 8, dtype=DOUBLE)
    torch.manual_seed(5)
    penalty = model.generator_regularizer(z, None)
    torch.manual_seed(5)
    ws = model.generator.mapping(z, model.num_ws).detach()
    images = model.generator.synthesis(ws)
    y = torch.randn_like(images) / 32  # image-space noise / sqrt(H·W)
    lengths = []
    for b in range(2):
        # J_wᵀ y by central differences of y · G(w), one w coordinate at a time (independent of autograd).
        def projected(w, b=b):
            return (model.generator.synthesis(w.unsqueeze(0))[0] * y[b]).sum()

        flat = ws[b].flatten()
        jty = torch.zeros_like(flat)
        with torch.no_grad():
            for i in range(flat.numel()):
                step = torch.zeros_like(flat)
                step[i] = 1e-6
                jty[i] = (projected((flat + step).view_as(ws[b])) - projected((flat - step).view_as(ws[b]))) / 2e-6
        jty = jty.view_as(ws[b])  # (L, w_dim)
        # ‖J_wᵀ y‖ with the squared norm averaged over the L copies of w, as in the reference
        lengths.append(jty.square().sum(1).mean().sqrt())
    lengths = torch.stack(lengths)
    pl_mean = 0.01 * lengths.mean()  # lerp(0, mean length, pl_decay)
    expected = (lengths - pl_mean).square().mean() * 2.0
    torch.testing.assert_close(penalty.detach(), expected.detach())
    torch.testing.assert_close(model.generator.pl_mean, pl_mean)


# ------------------------------------------------------------------ training recipe


def test_adam_settings_and_lazy_regularisation_correction_match_stylegan2():
    model = small_model(lr_g=0.0025, lr_d=0.0025, r1_interval=16, r1_gamma=0.01, pl_weight=2.0, pl_interval=4)
    opt_g, opt_d = model.configure_optimizers()
    # Appendix B: lr · c and β^c with c = k / (k + 1); β = (0, 0.99).
    assert opt_d.defaults["lr"] == pytest.approx(0.0025 * 16 / 17)
    assert opt_d.defaults["betas"] == pytest.approx((0.0, 0.99 ** (16 / 17)))
    assert opt_g.defaults["lr"] == pytest.approx(0.0025 * 4 / 5)
    assert opt_g.defaults["betas"] == pytest.approx((0.0, 0.99 ** (4 / 5)))


@pytest.mark.parametrize("batch", [32, 64])
def test_ema_rampup_matches_the_reference_formula(batch):
    # Reference (training_loop.py): ema_nimg = min(ema_kimg·1000, cur_nimg · ramp); β = 0.5 ** (batch / ema_nimg).
    model = small_model(ema_decay=0.999, ema_rampup=0.05)
    ema_nimg_full = batch * math.log(0.5) / math.log(0.999)  # the decay 0.999 per step, as images
    for step in (1, 10, 100, 1000, 10_000, 100_000):
        ema_nimg = min(ema_nimg_full, step * batch * 0.05)
        assert model.ema_decay_at(step) == pytest.approx(0.5 ** (batch / ema_nimg), rel=1e-9)


def test_style_mixing_takes_the_second_latents_w_from_the_cutoff_on():
    torch.manual_seed(0)
    model = small_model(style_mixing_prob=1.0).train()
    z = torch.randn(16, 8)
    ws = model.generator.mapping(z, model.num_ws)
    torch.manual_seed(1)
    mixed = model._mix_styles(z, ws)
    torch.manual_seed(1)
    other = model.generator.mapping(torch.randn_like(z), model.num_ws)
    for b in range(16):
        same = (mixed[b] == ws[b]).all(dim=1)
        cutoff = int(same.float().argmin())  # first layer not from the sample's own w
        assert 1 <= cutoff < model.num_ws
        assert same[:cutoff].all() and (mixed[b, cutoff:] == other[b, cutoff:]).all()

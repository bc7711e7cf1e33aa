import math

import pytorch_lightning as pl
import pytest
import torch
from conftest import trainer_kwargs
from torch.utils.data import DataLoader, TensorDataset
from toys.models import ToyGAN, ToyImageGAN

from gen_framework.errors import ConfigError


def ring_of_gaussians(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    angles = torch.arange(8) * (2 * math.pi / 8)
    modes = 2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)
    points = modes[torch.randint(0, 8, (n,), generator=generator)] + 0.05 * torch.randn(n, 2, generator=generator)
    return points, modes


def test_gan_recovers_modes_of_a_ring_of_gaussians():
    pl.seed_everything(0)
    points, modes = ring_of_gaussians(4096)
    model = ToyGAN(hidden=128, lr_g=5e-4, lr_d=5e-4, loss="hinge")
    trainer = pl.Trainer(max_steps=3000, **trainer_kwargs())
    trainer.fit(model, DataLoader(TensorDataset(points), batch_size=128, shuffle=True))
    samples = model.sample(2000, seed=0)
    distance, nearest = torch.cdist(samples, modes).min(dim=1)
    close = distance < 0.3
    counts = torch.bincount(nearest[close], minlength=8)
    # A mode counts as recovered when at least 1% of the samples lie within 6σ of it.
    recovered = int((counts >= 0.01 * len(samples)).sum())
    assert recovered >= 7, f"modes recovered: {counts.tolist()}"
    assert close.float().mean() > 0.5, "most samples should lie near a mode"


def test_max_steps_counts_generator_updates_with_several_discriminator_steps():
    model = ToyGAN(d_steps=3)
    data = DataLoader(TensorDataset(torch.randn(64, 2)), batch_size=8)
    trainer = pl.Trainer(max_steps=5, **trainer_kwargs())
    trainer.fit(model, data)
    assert trainer.global_step == 5
    assert model._d_updates == 15


@pytest.mark.parametrize("loss", ["non_saturating", "hinge", "wasserstein", "least_squares"])
def test_every_loss_trains_both_players(loss):
    torch.manual_seed(0)
    model = ToyGAN(loss=loss, r1_gamma=1.0, r1_interval=2, grad_clip_d=1.0, grad_clip_g=1.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = pl.Trainer(max_steps=3, **trainer_kwargs())
    trainer.fit(model, DataLoader(TensorDataset(torch.randn(32, 2)), batch_size=8))
    after = model.state_dict()
    for player in ("generator", "discriminator"):
        changed = [k for k in before if k.startswith(player) and not torch.equal(before[k], after[k])]
        assert changed, f"{player} did not change with loss={loss}"


def test_losses_have_the_textbook_values():
    model = ToyGAN(loss="hinge")
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-2.0, 0.5])
    assert model.discriminator_loss(real, fake).item() == pytest.approx((0 + 1) / 2 + (0 + 1.5) / 2)
    model = ToyGAN(loss="non_saturating")
    expected = torch.nn.functional.softplus(-real).mean() + torch.nn.functional.softplus(fake).mean()
    assert model.discriminator_loss(real, fake).item() == pytest.approx(expected.item())


def test_r1_penalty_matches_its_closed_form_on_a_linear_discriminator():
    model = ToyGAN(r1_gamma=10.0)
    model.discriminator = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.discriminator.weight.copy_(torch.tensor([[3.0, 4.0]]))
    # D(x) = w·x + b, so ∇D = w and ‖∇D‖² = 25 for every x.
    assert model._r1_penalty(torch.randn(5, 2)).item() == pytest.approx(25.0)


def test_sampling_is_seeded_and_restores_training_mode():
    model = ToyImageGAN()
    model.train()
    a, b = model.sample(4, seed=3), model.sample(4, seed=3)
    assert torch.equal(a, b)
    assert not torch.equal(a, model.sample(4, seed=4))
    assert model.training
    assert a.shape == (4, 1, 8, 8) and a.min() >= -1 and a.max() <= 1


def test_truncation_shrinks_latents():
    model = ToyGAN()
    latent = torch.randn(3, model.latent_dim)
    assert torch.allclose(model.truncate(latent, 0.5), latent * 0.5)
    assert model.truncate(latent, 1.0) is latent


def test_ema_survives_a_checkpoint_round_trip(tmp_path):
    model = ToyImageGAN(ema_decay=0.5)
    trainer = pl.Trainer(max_steps=4, **trainer_kwargs(enable_checkpointing=True, default_root_dir=tmp_path))
    trainer.fit(model, DataLoader(TensorDataset(torch.rand(32, 1, 8, 8) * 2 - 1), batch_size=8))
    path = tmp_path / "gan.ckpt"
    trainer.save_checkpoint(path)
    ema = {k: v.clone() for k, v in model.ema.state_dict().items()}
    assert int(model.ema["generator"].n_averaged) == 4
    restored = ToyImageGAN.load_from_checkpoint(path, weights_only=True)
    assert restored.ema is not None
    for key, value in restored.ema.state_dict().items():
        assert torch.equal(value, ema[key]), key
    assert torch.equal(restored.sample(3, seed=1), model.sample(3, seed=1))
    # EMA weights differ from the live generator, and sampling uses them.
    live = {k: v for k, v in model.generator.state_dict().items()}
    assert any(not torch.equal(live[k], v) for k, v in model.ema["generator"].module.state_dict().items())


def test_seeded_sampling_hands_its_generator_to_generate():
    seen = []

    class NoisyGAN(ToyImageGAN):
        def generate(self, latent, *, truncation_psi=1.0, generator=None):
            seen.append(generator)
            noise = torch.rand(latent.shape, generator=generator)  # a noise input besides the latent
            return super().generate(latent + noise, truncation_psi=truncation_psi)

    model = NoisyGAN()
    assert torch.equal(model.sample(3, seed=5), model.sample(3, seed=5)), "noise drawn from the seed too"
    assert all(isinstance(g, torch.Generator) for g in seen)


def test_ema_decay_hook_sets_the_decay_of_each_update():
    class WarmedUp(ToyImageGAN):
        def ema_decay_at(self, step):
            return 0.0 if step <= 2 else super().ema_decay_at(step)

    model = WarmedUp(ema_decay=0.9)
    trainer = pl.Trainer(max_steps=2, **trainer_kwargs())
    trainer.fit(model, DataLoader(TensorDataset(torch.rand(32, 1, 8, 8) * 2 - 1), batch_size=8))
    for key, value in model.ema["generator"].module.state_dict().items():
        # decay 0 copies the live weights: after two such updates the average equals the generator
        assert torch.equal(value, model.generator.state_dict()[key]), key
    assert model.ema_decay_at(5) == 0.9


def test_ema_averages_floats_and_copies_integer_buffers():
    model = ToyImageGAN(ema_decay=0.9)
    trainer = pl.Trainer(max_steps=3, **trainer_kwargs())
    trainer.fit(model, DataLoader(TensorDataset(torch.rand(32, 1, 8, 8) * 2 - 1), batch_size=8))
    averaged = model.ema["generator"].module
    # BatchNorm's step count is a count: the average holds the generator's, not a decayed blend of it.
    assert int(averaged[1].num_batches_tracked) == int(model.generator[1].num_batches_tracked) > 0
    # Weights: three updates of w_ema <- 0.9 w_ema + 0.1 w, so they trail the live weights.
    assert not torch.equal(averaged[0].weight, model.generator[0].weight)


def test_generator_update_freezes_the_discriminator_and_restores_it():
    seen = []

    class Watched(ToyGAN):
        def generator_loss(self, fake_logits):
            seen.append([p.requires_grad for p in self.discriminator.parameters()])
            return super().generator_loss(fake_logits)

    torch.manual_seed(0)
    model = Watched()
    user_frozen = model.discriminator[0].bias
    user_frozen.requires_grad_(False)  # frozen by the user: must stay frozen and unchanged
    kept = user_frozen.detach().clone()
    trainer = pl.Trainer(max_steps=3, **trainer_kwargs())
    trainer.fit(model, DataLoader(TensorDataset(torch.randn(32, 2)), batch_size=8))
    assert len(seen) == 3 and all(not any(state) for state in seen), "discriminator trainable in the G update"
    assert [p.requires_grad for p in model.discriminator.parameters()] == [
        p is not user_frozen for p in model.discriminator.parameters()
    ]
    assert torch.equal(user_frozen, kept)
    assert all(p.requires_grad for p in model.generator.parameters())


def test_lazy_r1_corrects_the_discriminators_adam():
    lazy = ToyImageGAN(lr_d=1e-3, betas_d=(0.5, 0.99), r1_gamma=1.0, r1_interval=4)
    _, opt_d = lazy.configure_optimizers()
    assert opt_d.param_groups[0]["lr"] == pytest.approx(1e-3 * 4 / 5)
    assert opt_d.param_groups[0]["betas"] == pytest.approx((0.5 ** 0.8, 0.99 ** 0.8))
    opt_g, opt_d = ToyImageGAN(lr_d=1e-3, r1_gamma=1.0, r1_interval=1).configure_optimizers()
    assert opt_d.param_groups[0]["lr"] == 1e-3 and opt_g.param_groups[0]["lr"] == 2e-4


def test_invalid_options_are_refused_with_their_names():
    with pytest.raises(ConfigError, match="d_steps"):
        ToyGAN(d_steps=0)
    with pytest.raises(ConfigError, match="lr_g"):
        ToyGAN(lr_g=0.0)
    with pytest.raises(ConfigError, match="ema_decay"):
        ToyGAN(ema_decay=1.5)

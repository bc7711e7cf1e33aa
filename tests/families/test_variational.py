import math

import pytorch_lightning as pl
import pytest
import torch
from conftest import trainer_kwargs
from torch.utils.data import DataLoader, TensorDataset
from toys.models import ToyVAE


def prototypes_dataset(n: int = 2048, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    protos = (torch.rand(4, 1, 8, 8, generator=generator) > 0.5).float() * 2 - 1
    x = protos[torch.randint(0, 4, (n,), generator=generator)]
    return (x + 0.2 * torch.randn(x.shape, generator=generator)).clamp(-1, 1)


def negative_elbo(model: ToyVAE, x: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        torch.manual_seed(0)
        terms = model.elbo_terms(x)
        return float((terms["recon"] + terms["kl"]).mean())


def test_vae_lowers_its_negative_elbo_and_iwae_bounds_it():
    pl.seed_everything(0)
    x = prototypes_dataset()
    model = ToyVAE(lr=3e-3)
    before = negative_elbo(model, x[:256])
    trainer = pl.Trainer(max_steps=400, **trainer_kwargs())
    trainer.fit(model, DataLoader(TensorDataset(x), batch_size=64, shuffle=True))
    after = negative_elbo(model, x[:256])
    assert after < 0.5 * before, (before, after)
    torch.manual_seed(1)
    iwae = float(model.iwae_nll(x[:256], k=64).mean())
    assert iwae <= after + 0.05, (iwae, after)


class _LinearGaussianVAE(ToyVAE):
    """p(z) = N(0,1), p(x|z) = N(z, σ²): the marginal p(x) = N(0, 1 + σ²) is known in closed form."""

    def __init__(self, **kwargs):
        super().__init__(latent_dim=1, shape=(1, 1, 1), likelihood="gaussian", sigma=0.5, **kwargs)

    def encode(self, x):
        # The exact posterior: mean x/(1+σ²), variance σ²/(1+σ²).
        s2 = 0.25
        mean = x.flatten(1) / (1 + s2)
        return mean, torch.full_like(mean, math.log(s2 / (1 + s2)))

    def decode(self, z):
        return z.view(-1, 1, 1, 1)


def test_iwae_matches_a_closed_form_likelihood():
    model = _LinearGaussianVAE()
    x = torch.tensor([-0.8, 0.0, 0.3, 0.9]).view(-1, 1, 1, 1)
    exact = 0.5 * x.flatten() ** 2 / 1.25 + 0.5 * math.log(2 * math.pi * 1.25)
    torch.manual_seed(0)
    # With the exact posterior every importance weight equals p(x): the estimate is exact for any k.
    assert torch.allclose(model.iwae_nll(x, k=8), exact, atol=1e-5)


def test_kl_warmup_and_beta():
    model = ToyVAE(beta=2.0, kl_warmup_steps=10)
    assert model.kl_weight() == 0.0
    assert ToyVAE(beta=0.5).kl_weight() == 0.5


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "discretized_logistic"])
def test_each_likelihood_trains_and_samples_in_range(likelihood):
    x = prototypes_dataset(128)
    model = ToyVAE(likelihood=likelihood, learn_sigma=likelihood == "gaussian", iwae_samples=4)
    trainer = pl.Trainer(max_steps=3, limit_val_batches=1, **trainer_kwargs())
    loader = DataLoader(TensorDataset(x), batch_size=32)
    trainer.fit(model, loader, loader)
    samples = model.sample(5, seed=0)
    assert samples.shape == (5, 1, 8, 8)
    assert samples.min() >= -1 and samples.max() <= 1
    assert torch.isfinite(model.log_likelihood(model.decode(torch.zeros(2, 4)), x[:2])).all()
    assert torch.equal(samples, model.sample(5, seed=0))


def test_discretized_logistic_is_a_distribution_over_256_levels():
    from gen_framework.families.variational import _discretized_logistic_log_prob

    levels = torch.linspace(-1, 1, 256)
    mean, log_scale = torch.full_like(levels, 0.1), torch.full_like(levels, -2.0)
    total = _discretized_logistic_log_prob(levels, mean, log_scale).exp().sum()
    assert total.item() == pytest.approx(1.0, abs=1e-3)


def test_reconstruct_and_interpolate_shapes():
    model = ToyVAE()
    x = prototypes_dataset(4)
    assert model.reconstruct(x).shape == x.shape
    strip = model.interpolate(x[0], x[1], steps=6)
    assert strip.shape == (6, 1, 8, 8)
    assert torch.allclose(strip[0], model.reconstruct(x[:1])[0], atol=1e-6)


def test_kl_is_non_negative():
    model = ToyVAE()
    terms = model.elbo_terms(prototypes_dataset(16))
    assert (terms["kl"] >= 0).all()


class _CountingVAE(ToyVAE):
    """Records the ``k`` of each IWAE evaluation and whether Lightning's sanity check asked for it."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.iwae_calls: list[tuple[bool, int]] = []

    def iwae_nll(self, x, k, **kwargs):
        self.iwae_calls.append((self.trainer.sanity_checking, k))
        return super().iwae_nll(x, k, **kwargs)


def test_the_sanity_check_runs_the_iwae_bound_with_two_samples_and_validation_with_all():
    # The sanity check before step 1 only looks for errors (Lightning discards what it logs): a full k there
    # costs start-up time (k = 64 on MNIST: about a CPU second) and measures nothing.
    x = prototypes_dataset(64)
    model = _CountingVAE(iwae_samples=8)
    trainer = pl.Trainer(
        max_steps=1, val_check_interval=1, limit_val_batches=1, num_sanity_val_steps=1, **trainer_kwargs()
    )
    loader = DataLoader(TensorDataset(x), batch_size=32)
    trainer.fit(model, loader, loader)
    assert model.iwae_calls == [(True, 2), (False, 8)]

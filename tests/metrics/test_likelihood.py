"""Likelihood metrics: the IWAE NLL of a model with a closed-form likelihood, and the unit conversions."""

import math

import pytest
import torch
from torch import Tensor, nn

from gen_framework.families import VariationalModule
from gen_framework.metrics.evaluation import EvaluationData, EvaluationSettings, Shard, evaluate, reconstruction_metrics
from gen_framework.metrics.likelihood import NegativeLogLikelihood

SCALES = (1.5, 0.5)  # singular values of W
SIGMA = 1.0


class LinearGaussianVAE(VariationalModule):
    """p(z) = N(0, I₂), p(x|z) = N(Wz + b, σ²I₄) on 1×2×2 images, so p(x) = N(b, WWᵀ + σ²I) in closed form.

    W has orthogonal columns, so the true posterior is diagonal and ``exact_posterior`` can encode it exactly;
    otherwise the encoder proposes the prior.
    """

    def __init__(self, exact_posterior: bool = True, **kwargs) -> None:
        super().__init__(likelihood="gaussian", sigma=SIGMA, **kwargs)
        self.latent_dim = 2
        self.exact_posterior = exact_posterior
        q, _ = torch.linalg.qr(torch.randn(4, 2, generator=torch.Generator().manual_seed(0)))
        self.weight = nn.Parameter(q * torch.tensor(SCALES), requires_grad=False)  # (4, 2)
        self.bias = nn.Parameter(torch.tensor([0.1, -0.2, 0.3, 0.0]), requires_grad=False)

    def posterior_variance(self) -> Tensor:
        return 1.0 / (1.0 + torch.tensor(SCALES) ** 2 / SIGMA**2)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        flat = x.flatten(1) - self.bias
        if not self.exact_posterior:
            return torch.zeros(len(x), 2), torch.zeros(len(x), 2)
        variance = self.posterior_variance()
        return variance * (flat @ self.weight) / SIGMA**2, variance.log().expand(len(x), 2)

    def decode(self, z: Tensor) -> Tensor:
        return (z @ self.weight.T + self.bias).view(-1, 1, 2, 2)

    def exact_nll(self, x: Tensor) -> Tensor:
        covariance = self.weight @ self.weight.T + SIGMA**2 * torch.eye(4)
        distribution = torch.distributions.MultivariateNormal(self.bias.detach(), covariance.detach())
        return -distribution.log_prob(x.flatten(1))


def draw(model: LinearGaussianVAE, n: int) -> Tensor:
    """n images ``(n, 1, 2, 2)`` from the model's own distribution."""
    generator = torch.Generator().manual_seed(1)
    z = torch.randn(n, 2, generator=generator)
    return model.decode(z) + SIGMA * torch.randn(n, 1, 2, 2, generator=generator)


def test_iwae_with_the_exact_posterior_equals_the_closed_form_likelihood():
    model = LinearGaussianVAE(exact_posterior=True)
    x = draw(model, 64)
    torch.manual_seed(0)
    for k in (1, 8):
        assert torch.allclose(model.iwae_nll(x, k), model.exact_nll(x), atol=1e-4)


def test_iwae_with_a_poor_proposal_tightens_towards_the_closed_form_as_k_grows():
    model = LinearGaussianVAE(exact_posterior=False)
    x = draw(model, 256)
    exact = float(model.exact_nll(x).mean())
    bounds = []
    for k in (1, 16, 1024):
        torch.manual_seed(0)
        bounds.append(float(model.iwae_nll(x, k, chunk=256).mean()))
    assert bounds[0] > bounds[1] > bounds[2] > exact - 0.01
    assert bounds[2] == pytest.approx(exact, abs=0.03)
    assert bounds[0] - exact > 0.3  # the prior is a poor proposal: k matters


def test_evaluate_reports_the_closed_form_nll_in_nats_and_bits_per_dim():
    model = LinearGaussianVAE(exact_posterior=True)
    x = draw(model, 40)
    batches = [(x[i : i + 16], torch.zeros(len(x[i : i + 16]), dtype=torch.long)) for i in range(0, 40, 16)]
    data = EvaluationData(eval_batches=lambda: batches, data_spec={"modality": "image", "channels": 1, "image_size": 2},
                          split="test")
    records = reconstruction_metrics(model, data, EvaluationSettings(iwae_samples=4), Shard())
    exact = float(model.exact_nll(x).mean())
    assert records["iwae_nll"].value == pytest.approx(exact, abs=1e-4)
    assert records["iwae_bits_per_dim"].value == pytest.approx(exact / (4 * math.log(2)), abs=1e-4)
    assert records["iwae_nll"].num_real == 40 and records["iwae_nll"].details["k"] == 4
    assert "log2(127.5)" in records["iwae_nll"].details["note"]  # a Gaussian density is not an 8-bit likelihood
    assert "ssim" not in records  # 2×2 images are smaller than SSIM's window


def test_evaluate_dispatches_a_vae_to_sample_and_reconstruction_metrics(monkeypatch):
    calls = []
    module = "gen_framework.metrics.evaluation"
    monkeypatch.setattr(f"{module}.image_sample_metrics", lambda *a: calls.append("samples") or {})
    monkeypatch.setattr(f"{module}.reconstruction_metrics", lambda *a: calls.append("recon") or {})
    data = EvaluationData(eval_batches=list, data_spec={"modality": "image"}, split="val")
    evaluate(LinearGaussianVAE(), data)
    assert calls == ["samples", "recon"]


def test_negative_log_likelihood_converts_units():
    metric = NegativeLogLikelihood()
    v = 16
    # 3 windows of 10 tokens under a uniform model over V tokens, decoded to 25 characters each
    for _ in range(3):
        metric.update(torch.full((1,), 10 * math.log(v)), units=10, characters=25)
    values = metric.compute()
    assert float(values["bits_per_unit"]) == pytest.approx(4.0)
    assert float(values["perplexity"]) == pytest.approx(v)
    assert float(values["nats_per_item"]) == pytest.approx(10 * math.log(v))
    assert float(values["bits_per_char"]) == pytest.approx(3 * 40 / 75)
    with pytest.warns(UserWarning, match="before the ``update``"):
        assert math.isnan(float(NegativeLogLikelihood().compute()["bits_per_char"]))

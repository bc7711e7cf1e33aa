"""`VariationalModule`: the VAE family base, which owns the ELBO, likelihoods and the IWAE bound.

A plugin implements :meth:`VariationalModule.encode` (images ``(B, C, H, W)`` in [-1, 1] → posterior mean and
log-variance, each ``(B, *latent_shape)``) and :meth:`VariationalModule.decode` (latents → likelihood
parameters ``(B, likelihood_channels(C), H, W)``), and sets ``self.latent_dim``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal, final

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gen_framework.errors import ConfigError
from gen_framework.families.base import GenerativeModule, images_of
from gen_framework.metrics.collapse import active_units

#: Importance samples of the IWAE bound during Lightning's sanity check (its metrics are discarded).
_SANITY_IWAE_SAMPLES = 2

Likelihood = Literal["bernoulli", "gaussian", "discretized_logistic"]


class VariationalModule(GenerativeModule):
    """Base of VAEs: reparameterised ELBO with β and KL warm-up, three likelihoods, IWAE evaluation.

    Args:
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        beta: Weight β of the KL term (β-VAE); 1 gives the ELBO.
        kl_warmup_steps: Steps over which the KL weight rises linearly from 0 to ``beta``; 0 disables warm-up.
        likelihood: ``bernoulli`` (data mapped to [0, 1]), ``gaussian`` (on [-1, 1] data) or
            ``discretized_logistic`` (8-bit data, per-pixel mean and scale).
        binarize: With ``bernoulli``, threshold the data at 0.5 (binarised images).
        sigma: Standard deviation of the Gaussian likelihood (initial value when ``learn_sigma``).
        learn_sigma: Learn one σ per channel for the Gaussian likelihood.
        iwae_samples: k of the importance-weighted bound logged in validation and test; 0 disables it.
        ema_decay: Decay of an EMA of the decoder used for sampling; ``None`` disables it.

    At the end of each validation and test epoch it logs latent usage over the whole epoch (every rank):
    ``val/active_units`` (units with Cov_x(E_q[z_u|x]) > 0.01, Burda et al. 2016; 0 is posterior collapse)
    and ``val/kl_per_unit_min`` / ``val/kl_per_unit_max`` (nats per unit, averaged over the data).
    """

    family: ClassVar[Literal["variational"]] = "variational"
    modality: ClassVar[Literal["image"]] = "image"
    latent_dim: int

    def __init__(
        self,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        beta: float = 1.0,
        kl_warmup_steps: int = 0,
        likelihood: Likelihood = "bernoulli",
        binarize: bool = False,
        sigma: float = 0.1,
        learn_sigma: bool = False,
        iwae_samples: int = 0,
        ema_decay: float | None = None,
    ) -> None:
        super().__init__(ema_decay=ema_decay)
        if lr <= 0 or beta < 0 or kl_warmup_steps < 0 or sigma <= 0 or iwae_samples < 0:
            raise ConfigError(
                f"{type(self).__name__}: need lr > 0, beta >= 0, kl_warmup_steps >= 0, sigma > 0 and "
                "iwae_samples >= 0; got "
                f"lr={lr}, beta={beta}, kl_warmup_steps={kl_warmup_steps}, sigma={sigma}, iwae_samples={iwae_samples}"
            )
        if likelihood not in ("bernoulli", "gaussian", "discretized_logistic"):
            raise ConfigError(
                f"{type(self).__name__}: likelihood must be bernoulli, gaussian or discretized_logistic; "
                f"got {likelihood!r}"
            )
        self.lr, self.weight_decay = lr, weight_decay
        self.beta, self.kl_warmup_steps = beta, kl_warmup_steps
        self.likelihood = likelihood
        self.binarize = binarize
        self.learn_sigma = learn_sigma
        self.iwae_samples = iwae_samples
        self.log_sigma = nn.Parameter(torch.full((1,), math.log(sigma)), requires_grad=learn_sigma)
        # Per evaluation epoch: count, Σμ, Σμ² and ΣKL per latent unit (see _accumulate_posterior).
        self._posterior_sums: Tensor | None = None

    # ------------------------------------------------------------------ hooks

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Called for every batch: images ``(B, C, H, W)`` in [-1, 1] → ``(mean, log_var)``, each ``(B, Z)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement encode()")

    def decode(self, z: Tensor) -> Tensor:
        """Called on posterior and prior latents ``(B, Z)`` → parameters ``(B, likelihood_channels(C), H, W)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement decode()")

    def likelihood_channels(self, channels: int) -> int:
        """The number of decoder output channels the likelihood needs for ``channels`` image channels."""
        return 2 * channels if self.likelihood == "discretized_logistic" else channels

    def sample_prior(self, num: int, *, generator: torch.Generator | None = None, temperature: float = 1.0) -> Tensor:
        """Called when sampling: ``num`` latents ``(num, latent_dim)`` from N(0, temperature² I)."""
        return temperature * torch.randn(num, self.latent_dim, device=self.device, generator=generator)

    # --------------------------------------------------------- likelihoods

    def target(self, x: Tensor) -> Tensor:
        """The data as the likelihood sees it: [0, 1] (optionally binarised) for Bernoulli, else [-1, 1]."""
        if self.likelihood != "bernoulli":
            return x
        x01 = (x + 1.0) / 2.0
        return (x01 > 0.5).to(x.dtype) if self.binarize else x01.clamp(0.0, 1.0)

    def log_likelihood(self, params: Tensor, x: Tensor) -> Tensor:
        """log p(x | z) in nats per example ``(B,)`` for decoder output ``params`` and data ``x`` in [-1, 1]."""
        target = self.target(x)
        if self.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(params, target, reduction="none").flatten(1).sum(1)
        if self.likelihood == "gaussian":
            log_sigma = self.log_sigma.to(params.dtype)
            log_prob = -0.5 * ((target - params) / log_sigma.exp()) ** 2 - log_sigma - 0.5 * math.log(2 * math.pi)
            return log_prob.flatten(1).sum(1)
        mean, log_scale = params.chunk(2, dim=1)
        return _discretized_logistic_log_prob(target, mean, log_scale).flatten(1).sum(1)

    def mean_image(self, params: Tensor) -> Tensor:
        """The likelihood's mean as an image ``(B, C, H, W)`` in [-1, 1]."""
        if self.likelihood == "bernoulli":
            return torch.sigmoid(params) * 2.0 - 1.0
        if self.likelihood == "discretized_logistic":
            params = params.chunk(2, dim=1)[0]
        return params.clamp(-1.0, 1.0)

    # --------------------------------------------------------------- the loss

    def kl_weight(self) -> float:
        """β times the warm-up factor at the current global step."""
        if self.kl_warmup_steps == 0:
            return self.beta
        return self.beta * min(1.0, self.global_step / self.kl_warmup_steps)

    @final
    def elbo_terms(self, x: Tensor) -> dict[str, Tensor]:
        """Per-example terms ``(B,)``: ``recon`` = −log p(x|z), ``kl`` = KL(q(z|x) ‖ p(z)), both in nats."""
        return self._elbo(x)[0]

    def _elbo(self, x: Tensor) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """:meth:`elbo_terms` plus the posterior's mean and log-variance, each ``(B, Z)``."""
        mean, log_var = self.encode(x)
        z = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
        recon = -self.log_likelihood(self.decode(z), x)
        kl = 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).flatten(1).sum(1)
        return {"recon": recon, "kl": kl}, mean, log_var

    @final
    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        # The reparameterisation noise comes from this rank's stream for this step.
        with self.training_randomness():
            terms = self.elbo_terms(images_of(batch))
        recon, kl = terms["recon"].mean(), terms["kl"].mean()
        loss = recon + self.kl_weight() * kl
        self.step_losses = {"train/loss": loss.detach()}
        # The statistics are built on logging steps only: between them a logger would never see them, and the
        # dict and the ELBO's extra autograd-tracked ops cost tens of microseconds of a ~20 ms CPU step.
        if self.is_logging_step:
            self.log_train_metrics(self._train_metrics(loss, recon, kl))
        return loss

    def _train_metrics(self, loss: Tensor, recon: Tensor, kl: Tensor) -> dict[str, Tensor]:
        """The per-step values logged on logging steps: loss, reconstruction, KL and ELBO, each a scalar in nats."""
        return {"train/loss": loss, "train/recon": recon, "train/kl": kl, "train/elbo": -(recon + kl).detach()}

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.update_ema()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(images_of(batch), "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(images_of(batch), "test")

    def _evaluate(self, x: Tensor, stage: str) -> None:
        terms, mean, log_var = self._elbo(x)
        self._accumulate_posterior(mean, log_var)
        neg_elbo = terms["recon"] + terms["kl"]
        metrics = {
            f"{stage}/recon": terms["recon"].mean(),
            f"{stage}/kl": terms["kl"].mean(),
            f"{stage}/elbo": -neg_elbo.mean(),
            f"{stage}/bits_per_dim": neg_elbo.mean() / (x[0].numel() * math.log(2)),
        }
        if self.iwae_samples > 0:
            # Lightning's sanity check runs validation before step 1 to catch errors, and discards what it logs:
            # two samples run the same code as k (k = 64 costs about a CPU second of every fit's start).
            sanity = self._trainer is not None and self.trainer.sanity_checking
            nll = self.iwae_nll(x, min(self.iwae_samples, _SANITY_IWAE_SAMPLES) if sanity else self.iwae_samples)
            metrics[f"{stage}/nll_iwae"] = nll.mean()
            metrics[f"{stage}/bits_per_dim_iwae"] = nll.mean() / (x[0].numel() * math.log(2))
        self.log_dict(metrics, sync_dist=True)

    # ----------------------------------------------------------- latent usage

    def on_validation_epoch_start(self) -> None:
        self._posterior_sums = None

    def on_validation_epoch_end(self) -> None:
        self._log_latent_usage("val")

    def on_test_epoch_start(self) -> None:
        self._posterior_sums = None

    def on_test_epoch_end(self) -> None:
        self._log_latent_usage("test")

    def _accumulate_posterior(self, mean: Tensor, log_var: Tensor) -> None:
        """Add a batch's posterior means and per-unit KL to the epoch's sums: count, Σμ, Σμ², ΣKL per unit."""
        # float64: the variance is a difference of sums over the whole validation set (MPS has no float64).
        dtype = torch.float32 if mean.device.type == "mps" else torch.float64
        mean, log_var = mean.detach().flatten(1).to(dtype), log_var.detach().flatten(1).to(dtype)
        kl = 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var)
        sums = torch.cat([mean.new_full((1,), mean.shape[0]), mean.sum(0), mean.pow(2).sum(0), kl.sum(0)])
        previous = self._posterior_sums
        self._posterior_sums = sums if previous is None else previous + sums

    def _log_latent_usage(self, stage: str) -> None:
        """Log ``{stage}/active_units`` and the per-unit KL range over the epoch, summed over every rank."""
        sums, self._posterior_sums = self._posterior_sums, None
        if sums is None or self._trainer is None:
            return
        # One all-reduce of the sums under DDP; a no-op on one device.
        sums = self.trainer.strategy.reduce(sums, reduce_op="sum")
        units = (sums.numel() - 1) // 3
        count = sums[0]
        mean_sum, square_sum, kl_sum = sums[1:].split(units)
        variance = square_sum / count - (mean_sum / count).pow(2)
        kl_per_unit = kl_sum / count
        # Identical on every rank after the reduction; sync_dist only keeps Lightning's epoch-level check quiet.
        self.log_dict(
            {
                f"{stage}/active_units": active_units(variance).float(),
                f"{stage}/kl_per_unit_min": kl_per_unit.min().float(),
                f"{stage}/kl_per_unit_max": kl_per_unit.max().float(),
            },
            sync_dist=True,
        )

    @torch.no_grad()
    def iwae_nll(self, x: Tensor, k: int, *, chunk: int = 16) -> Tensor:
        """Importance-weighted estimate of −log p(x) in nats per example ``(B,)`` with ``k`` samples.

        −log (1/k) Σ_i p(x|z_i) p(z_i) / q(z_i|x), z_i ~ q(z|x); it upper-bounds the NLL and tightens as k grows.
        """
        mean, log_var = self.encode(x)
        std = (0.5 * log_var).exp()
        log_weights = []
        for start in range(0, k, chunk):
            n = min(chunk, k - start)
            eps = torch.randn(n, *mean.shape, device=mean.device, dtype=mean.dtype)
            z = mean + eps * std  # (n, B, Z)
            params = self.decode(z.flatten(0, 1))
            log_px = self.log_likelihood(params, x.repeat(n, *([1] * (x.dim() - 1)))).view(n, -1)
            log_pz = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).flatten(2).sum(2)
            log_qz = (-0.5 * eps.pow(2) - 0.5 * log_var - 0.5 * math.log(2 * math.pi)).flatten(2).sum(2)
            log_weights.append(log_px + log_pz - log_qz)
        return -(torch.logsumexp(torch.cat(log_weights), dim=0) - math.log(k))

    def configure_optimizers(self) -> Any:
        params = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)

    # --------------------------------------------------------------- sampling

    def generate_samples(
        self, num_samples: int, *, generator: torch.Generator, prior_temperature: float = 1.0
    ) -> Tensor:
        """Images ``(N, C, H, W)`` in [-1, 1]: likelihood means decoded from prior latents.

        Args:
            prior_temperature: Scale of the prior's standard deviation; below 1 gives cleaner, less varied samples.
        """
        z = self.sample_prior(num_samples, generator=generator, temperature=prior_temperature)
        return self.mean_image(self.decode(z))

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Images ``(B, C, H, W)`` in [-1, 1] → reconstructions from the posterior mean, same shape and range."""
        was_training = self.training
        self.eval()
        try:
            return self.mean_image(self.decode(self.encode(x)[0]))
        finally:
            self.train(was_training)

    @torch.no_grad()
    def interpolate(self, x0: Tensor, x1: Tensor, steps: int = 8) -> Tensor:
        """Decode ``steps`` points on the line between the posterior means of images ``(C, H, W)`` ``x0`` and ``x1``.

        Returns:
            Images ``(steps, C, H, W)`` in [-1, 1], from ``x0``'s reconstruction to ``x1``'s.
        """
        was_training = self.training
        self.eval()
        try:
            means = self.encode(torch.stack([x0, x1]))[0]
            weights = torch.linspace(0.0, 1.0, steps, device=means.device, dtype=means.dtype).view(-1, 1)
            z = (1 - weights) * means[0:1] + weights * means[1:2]
            return self.mean_image(self.decode(z))
        finally:
            self.train(was_training)

    def ema_module_names(self) -> list[str]:
        return ["decoder"] if isinstance(getattr(self, "decoder", None), nn.Module) else []


def _discretized_logistic_log_prob(x: Tensor, mean: Tensor, log_scale: Tensor, bins: int = 256) -> Tensor:
    """log P(x) of 8-bit data ``x`` in [-1, 1] under a logistic discretised into ``bins`` bins (PixelCNN++)."""
    log_scale = log_scale.clamp(min=-7.0)
    half_bin = 1.0 / (bins - 1)
    centred = x - mean
    inv_scale = torch.exp(-log_scale)
    cdf_plus = torch.sigmoid(inv_scale * (centred + half_bin))
    cdf_minus = torch.sigmoid(inv_scale * (centred - half_bin))
    log_cdf_plus = (inv_scale * (centred + half_bin)) - F.softplus(inv_scale * (centred + half_bin))
    log_one_minus_cdf_minus = -F.softplus(inv_scale * (centred - half_bin))
    mid = inv_scale * centred
    log_pdf_mid = mid - log_scale - 2.0 * F.softplus(mid)
    prob = (cdf_plus - cdf_minus).clamp(min=1e-12)
    interior = torch.where(prob > 1e-5, torch.log(prob), log_pdf_mid + math.log(2 * half_bin))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_minus, interior))

"""Indicators of collapse during training, as pure functions the family bases log.

- :func:`discriminator_accuracy`: how often the discriminator tells real from generated. Near 1 on both for
  long means the generator gets no useful gradient; exactly 0.5 can mean a discriminator that gave up.
- :func:`sample_diversity`: spread of a generated batch relative to a real batch; near 0 is mode collapse.
- :func:`active_units`: latent units of a VAE that the encoder uses (Burda et al., 2016, "Importance
  Weighted Autoencoders"); 0 is posterior collapse.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Burda et al.'s threshold on Cov_x(E_q[z_u | x]) above which latent unit u counts as active.
ACTIVE_UNIT_THRESHOLD = 0.01
#: Samples per batch used by :func:`mean_pairwise_distance`: its cost grows with the square of the count.
MAX_DIVERSITY_SAMPLES = 64


def discriminator_accuracy(real_logits: Tensor, fake_logits: Tensor, threshold: float = 0.0) -> tuple[Tensor, Tensor]:
    """Fractions of real logits above ``threshold`` and of generated-image logits at or below it.

    Args:
        real_logits: Discriminator outputs ``(B,)`` on real images.
        fake_logits: Discriminator outputs ``(B,)`` on generated images.
        threshold: The decision boundary: 0 for logistic and hinge losses, 0.5 for least squares (targets 0, 1).

    Returns:
        ``(accuracy_real, accuracy_fake)``, scalars in [0, 1].
    """
    return (real_logits > threshold).float().mean(), (fake_logits <= threshold).float().mean()


def mean_pairwise_distance(x: Tensor) -> Tensor:
    """Mean Euclidean distance between the first :data:`MAX_DIVERSITY_SAMPLES` samples of ``x`` ``(B, ...)``.

    Returns a scalar; 0 when fewer than two samples are given.
    """
    flat = x[:MAX_DIVERSITY_SAMPLES].detach().flatten(1).float()
    if flat.shape[0] < 2:
        return flat.new_zeros(())
    return torch.pdist(flat).mean()


def sample_diversity(fake: Tensor, real: Tensor) -> Tensor:
    """Mean pairwise distance of generated samples divided by that of real samples (same shapes ``(B, ...)``).

    About 1 when generated samples are as spread as the data, near 0 under mode collapse. The ratio makes it
    comparable across datasets and image sizes; a small constant in both distances keeps it finite (1 when
    both batches are constant).
    """
    eps = 1e-8
    return (mean_pairwise_distance(fake) + eps) / (mean_pairwise_distance(real) + eps)


def active_units(posterior_mean_variance: Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> Tensor:
    """Number of latent units whose posterior mean varies across the data by more than ``threshold``.

    Args:
        posterior_mean_variance: Var_x(E_q[z_u | x]) per latent unit ``(Z,)``, over a dataset.
    """
    return (posterior_mean_variance > threshold).sum()

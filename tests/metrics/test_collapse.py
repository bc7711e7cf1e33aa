"""The collapse indicators' mathematics, on inputs whose answers are known."""

import torch

from gen_framework.metrics.collapse import (
    ACTIVE_UNIT_THRESHOLD,
    active_units,
    discriminator_accuracy,
    mean_pairwise_distance,
    sample_diversity,
)


def test_discriminator_accuracy_counts_each_side_at_the_threshold():
    real, fake = torch.tensor([2.0, -1.0, 0.5, 3.0]), torch.tensor([-2.0, 0.0, 1.0, -0.1])
    acc_real, acc_fake = discriminator_accuracy(real, fake)
    assert acc_real.item() == 0.75 and acc_fake.item() == 0.75
    acc_real, acc_fake = discriminator_accuracy(real, fake, threshold=0.5)
    assert acc_real.item() == 0.5 and acc_fake.item() == 0.75


def test_mean_pairwise_distance_of_known_points():
    corners = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])  # distances 3, 4, 5
    assert mean_pairwise_distance(corners).item() == torch.tensor(4.0).item()
    assert mean_pairwise_distance(corners[:1]).item() == 0.0


def test_sample_diversity_is_zero_for_identical_samples_and_about_one_for_the_data_itself():
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(64, 1, 8, 8, generator=generator)
    other = torch.randn(64, 1, 8, 8, generator=generator)
    assert sample_diversity(real[:1].expand(64, -1, -1, -1), real).item() < 1e-8
    assert abs(sample_diversity(other, real).item() - 1.0) < 0.05
    assert sample_diversity(other, torch.zeros_like(real)).isfinite()
    assert sample_diversity(torch.zeros_like(real), torch.zeros_like(real)).item() == 1.0


def test_active_units_use_burdas_threshold():
    variance = torch.tensor([0.5, ACTIVE_UNIT_THRESHOLD, 0.02, 0.0])
    assert active_units(variance).item() == 2

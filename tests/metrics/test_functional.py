"""The pure functions behind the metrics, against closed forms and constructed cases."""

import math
import random
import string

import numpy as np
import pytest
import scipy.linalg
import torch

from gen_framework.metrics.functional import (
    bits_per_dim,
    class_coverage,
    frechet_distance,
    gaussian_statistics,
    knn_radii,
    log_mel_spectrogram,
    mel_filterbank,
    nats_to_bits,
    perplexity,
    precision_recall,
    xz_bits_per_char,
)


def random_covariance(dim: int, seed: int) -> torch.Tensor:
    a = torch.randn(dim, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return a @ a.T + 0.1 * torch.eye(dim, dtype=torch.float64)


def test_frechet_distance_of_diagonal_gaussians_matches_closed_form():
    mu1, mu2 = torch.tensor([0.0, 1.0, -2.0]).double(), torch.tensor([0.5, 1.0, 0.0]).double()
    var1, var2 = torch.tensor([1.0, 4.0, 0.25]).double(), torch.tensor([2.0, 1.0, 0.25]).double()
    expected = ((mu1 - mu2) ** 2).sum() + ((var1.sqrt() - var2.sqrt()) ** 2).sum()
    got = frechet_distance(mu1, torch.diag(var1), mu2, torch.diag(var2))
    assert float(got) == pytest.approx(float(expected), rel=1e-10)


def test_frechet_distance_of_full_covariances_matches_scipy_sqrtm():
    s1, s2 = random_covariance(6, 0), random_covariance(6, 1)
    mu1, mu2 = torch.zeros(6, dtype=torch.float64), torch.arange(6, dtype=torch.float64) / 3
    root = scipy.linalg.sqrtm(s1.numpy() @ s2.numpy()).real
    expected = float(((mu1 - mu2) ** 2).sum()) + float(np.trace(s1.numpy() + s2.numpy() - 2 * root))
    assert float(frechet_distance(mu1, s1, mu2, s2)) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_is_zero_for_identical_and_symmetric():
    s1, s2 = random_covariance(5, 2), random_covariance(5, 3)
    mu = torch.randn(5, dtype=torch.float64)
    assert float(frechet_distance(mu, s1, mu, s1)) == pytest.approx(0.0, abs=1e-9)
    assert float(frechet_distance(mu, s1, -mu, s2)) == pytest.approx(float(frechet_distance(-mu, s2, mu, s1)), rel=1e-9)


def test_frechet_distance_handles_singular_covariances_of_few_samples():
    x = torch.randn(4, 16, generator=torch.Generator().manual_seed(0))  # rank-3 covariance in 16 dimensions
    mean, cov = gaussian_statistics(x)
    assert float(frechet_distance(mean, cov, mean, cov)) == pytest.approx(0.0, abs=1e-8)
    assert float(frechet_distance(mean, cov, mean + 1, cov)) == pytest.approx(16.0, rel=1e-6)


def test_gaussian_statistics_match_numpy():
    x = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    mean, cov = gaussian_statistics(x)
    np.testing.assert_allclose(mean.numpy(), x.double().numpy().mean(0), rtol=1e-12)
    np.testing.assert_allclose(cov.numpy(), np.cov(x.double().numpy(), rowvar=False), rtol=1e-10)
    with pytest.raises(ValueError, match="N >= 2"):
        gaussian_statistics(x[:1])


def test_knn_radii_on_a_line():
    points = torch.tensor([[0.0], [1.0], [3.0], [6.0]])
    assert knn_radii(points, 1).tolist() == [1.0, 1.0, 2.0, 3.0]
    assert knn_radii(points, 2).tolist() == [3.0, 2.0, 3.0, 5.0]
    with pytest.raises(ValueError, match="more than k points"):
        knn_radii(points, 4)


def test_precision_recall_on_constructed_point_clouds():
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(400, 8, generator=generator)
    # identical sets: every point lies in its own ball
    assert [float(v) for v in precision_recall(real, real.clone(), k=3)] == [1.0, 1.0]
    # disjoint: a far-away cloud
    far = torch.randn(300, 8, generator=generator) + 100.0
    assert [float(v) for v in precision_recall(real, far, k=3)] == [0.0, 0.0]
    # half the modes: two well separated clusters in real data, samples from one only
    centres = torch.zeros(2, 8)
    centres[1, 0] = 50.0
    two_modes = torch.cat([torch.randn(300, 8, generator=generator) + c for c in centres])
    both_modes = torch.cat([torch.randn(150, 8, generator=generator) + c for c in centres])
    one_mode = torch.randn(300, 8, generator=generator)
    full_precision, full_recall = precision_recall(two_modes, both_modes, k=3)
    precision, recall = precision_recall(two_modes, one_mode, k=3)
    assert float(full_precision) > 0.8 and float(full_recall) > 0.8
    assert float(precision) > 0.8  # every sample is realistic...
    assert 0.4 < float(recall) / float(full_recall) < 0.6  # ...but only half of the real data is covered


def test_class_coverage_counts_classes_with_enough_samples():
    real = torch.full((10,), 100.0)
    assert float(class_coverage(real, real)) == 1.0
    collapsed = torch.tensor([300.0, 300.0, 300.0, 40.0, 0, 0, 0, 0, 0, 0])  # class 3 has under half its share
    assert float(class_coverage(collapsed, real)) == pytest.approx(0.3)
    # classes absent from real data do not count
    real_missing = torch.tensor([100.0, 100.0, 0.0])
    assert float(class_coverage(torch.tensor([450.0, 450.0, 100.0]), real_missing)) == 1.0


def test_unit_conversions():
    assert nats_to_bits(math.log(2)) == pytest.approx(1.0)
    assert bits_per_dim(784 * math.log(2) * 1.5, 784) == pytest.approx(1.5)
    assert perplexity(math.log(7.0)) == pytest.approx(7.0)
    assert float(perplexity(torch.tensor(math.log(3.0)))) == pytest.approx(3.0)
    # a uniform model over V symbols needs log2(V) bits per symbol and has perplexity V
    v = 50
    assert nats_to_bits(math.log(v)) == pytest.approx(math.log2(v))


def test_xz_baseline_separates_repetitive_from_random_text():
    repetitive = "the quick brown fox. " * 2000
    rng = random.Random(0)
    letters = "".join(rng.choice(string.ascii_lowercase) for _ in range(40_000))
    assert xz_bits_per_char(repetitive) < 0.1
    # i.i.d. letters carry log2(26) = 4.70 bits each; a compressor cannot beat that, and xz comes close
    assert math.log2(26) - 0.01 < xz_bits_per_char(letters) < math.log2(26) + 0.5
    with pytest.raises(ValueError):
        xz_bits_per_char("")


def test_mel_filterbank_is_triangular_and_ordered():
    bank = mel_filterbank(n_fft=512, n_mels=40, sample_rate=16000)
    assert bank.shape == (40, 257)
    assert float(bank.min()) >= 0.0 and float(bank.max()) <= 1.0 + 1e-6
    peaks = bank.argmax(dim=1)
    assert (peaks[1:] >= peaks[:-1]).all() and int(peaks[-1]) > 200
    # high bands are wide enough to reach 1 exactly at their centre bin, low ones overlap neighbours
    assert (bank[20:].max(dim=1).values > 0.9).all()
    with pytest.raises(ValueError):
        mel_filterbank(n_fft=512, n_mels=40, sample_rate=16000, f_max=9000)


def test_log_mel_of_a_tone_peaks_in_the_band_of_its_frequency():
    rate, frequency = 16000, 1000.0
    t = torch.arange(rate // 2) / rate
    tone = 0.5 * torch.sin(2 * math.pi * frequency * t)
    bank = mel_filterbank(512, 40, rate)
    mel = log_mel_spectrogram(tone[None], bank, n_fft=512, hop_length=160, win_length=400)
    assert mel.shape == (1, 51, 40)
    band = int(mel[0, 10:-10].mean(dim=0).argmax())
    bins_hz = torch.linspace(0, rate / 2, 257)
    assert bank[band, (bins_hz - frequency).abs().argmin()] > 0.5

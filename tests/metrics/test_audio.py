"""The log-mel Fréchet distance between real and generated audio."""

import math

import pytest
import torch

from gen_framework.metrics.audio import MelFrechetDistance

RATE = 16000


def tones(count: int, seed: int, seconds: float = 0.5) -> torch.Tensor:
    """``count`` clips ``(count, T)`` of two random harmonics between 200 and 2000 Hz with random loudness."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * RATE)) / RATE
    frequencies = 200 + 1800 * torch.rand(count, 2, 1, generator=generator)
    loudness = 0.2 + 0.6 * torch.rand(count, 1, generator=generator)
    return loudness * torch.sin(2 * math.pi * frequencies * t).mean(dim=1)


def distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    metric = MelFrechetDistance(RATE)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return float(metric.compute())


def test_identical_audio_is_at_distance_zero():
    real = tones(8, seed=0)
    assert distance(real, real.clone()) == pytest.approx(0.0, abs=1e-6)


def test_distance_grows_with_added_noise():
    real = tones(8, seed=0)
    noise = torch.randn(real.shape, generator=torch.Generator().manual_seed(1))
    values = [distance(real, (real + level * noise).clamp(-1, 1)) for level in (0.0, 0.003, 0.03, 0.3)]
    assert values == sorted(values) and len(set(values)) == 4, values


def test_same_kind_of_audio_is_closer_than_a_different_kind():
    real, other_tones = tones(16, seed=0), tones(16, seed=5)
    noise = 0.3 * torch.randn(real.shape, generator=torch.Generator().manual_seed(2))
    assert distance(real, other_tones) < 0.2 * distance(real, noise)


def test_states_accumulate_clips_in_any_grouping():
    real, fake = tones(6, seed=0), tones(6, seed=3)
    whole = distance(real, fake)
    metric = MelFrechetDistance(RATE)
    for part in (real[4:], real[:1], real[1:4]):
        metric.update(part, real=True)
    for part in (fake[:3], fake[3:]):
        metric.update(part, real=False)
    assert float(metric.compute()) == pytest.approx(whole, rel=1e-9)


def test_frame_geometry_follows_the_sample_rate():
    metric = MelFrechetDistance(8000, n_mels=20)
    assert (metric.win_length, metric.hop_length, metric.n_fft) == (200, 80, 256)
    assert metric.frames(torch.zeros(2, 800)).shape == (2 * 11, 20)
    with pytest.warns(UserWarning, match="before the ``update``"), pytest.raises(ValueError, match="2 real frames"):
        metric.compute()

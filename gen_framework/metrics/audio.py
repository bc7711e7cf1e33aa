"""Spectral distance between generated and real audio: the Fréchet distance of log-mel frame statistics.

Every frame of every clip is a point in log-mel space (``n_mels`` bands over windows of ``window_seconds``
every ``hop_seconds``). Gaussians are fitted to the frames of real and of generated audio, and their Fréchet
distance is reported — the construction of the Fréchet Audio Distance with log-mel frames in place of a
learned embedding, so it needs no downloaded network. It compares spectral content and its variability
(timbre, pitch range, loudness, noise), not temporal structure.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor
from torchmetrics import Metric

from gen_framework.metrics.functional import frechet_distance, log_mel_spectrogram, mel_filterbank


class MelFrechetDistance(Metric):
    """Fréchet distance between Gaussians fitted to the log-mel frames of real and generated audio.

    States are the frame count, sum and sum of outer products per set (float64 sums), so DDP reduces them
    exactly and memory does not grow with the amount of audio.

    Args:
        sample_rate: Hz of the waveforms.
        n_mels: mel bands.
        window_seconds: STFT window (25 ms); ``n_fft`` is the next power of two.
        hop_seconds: hop between frames (10 ms).
        f_min: lowest filter edge in Hz.
    """

    higher_is_better: ClassVar[bool] = False
    is_differentiable: ClassVar[bool] = False
    full_state_update: ClassVar[bool] = False

    def __init__(
        self,
        sample_rate: int,
        n_mels: int = 40,
        window_seconds: float = 0.025,
        hop_seconds: float = 0.010,
        f_min: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sample_rate = int(sample_rate)
        self.win_length = max(2, round(window_seconds * sample_rate))
        self.hop_length = max(1, round(hop_seconds * sample_rate))
        self.n_fft = 2 ** math.ceil(math.log2(self.win_length))
        self.n_mels = n_mels
        filterbank = mel_filterbank(self.n_fft, n_mels, self.sample_rate, f_min)
        self.register_buffer("filterbank", filterbank, persistent=False)
        for which in ("real", "fake"):
            self.add_state(f"{which}_count", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{which}_sum", torch.zeros(n_mels, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{which}_outer", torch.zeros(n_mels, n_mels, dtype=torch.float64), dist_reduce_fx="sum")

    def frames(self, waveforms: Tensor) -> Tensor:
        """Waveforms ``(B, T)`` in [-1, 1] → log-mel frames ``(B * frames, n_mels)``."""
        if waveforms.dim() == 1:
            waveforms = waveforms[None]
        mel = log_mel_spectrogram(
            waveforms, self.filterbank, n_fft=self.n_fft, hop_length=self.hop_length, win_length=self.win_length
        )
        return mel.reshape(-1, self.n_mels)

    def update(self, waveforms: Tensor, real: bool) -> None:
        """Add real or generated waveforms ``(B, T)`` in [-1, 1]; T must exceed half an STFT window."""
        frames = self.frames(waveforms).double()
        which = "real" if real else "fake"
        setattr(self, f"{which}_count", getattr(self, f"{which}_count") + frames.shape[0])
        setattr(self, f"{which}_sum", getattr(self, f"{which}_sum") + frames.sum(dim=0))
        setattr(self, f"{which}_outer", getattr(self, f"{which}_outer") + frames.T @ frames)

    def _statistics(self, which: str) -> tuple[Tensor, Tensor]:
        count = getattr(self, f"{which}_count")
        if count < 2:
            raise ValueError(f"MelFrechetDistance needs at least 2 {which} frames, got {int(count)}")
        mean = getattr(self, f"{which}_sum") / count
        covariance = (getattr(self, f"{which}_outer") - count * torch.outer(mean, mean)) / (count - 1)
        return mean, covariance

    def compute(self) -> Tensor:
        """The squared Fréchet distance (float64 scalar, >= 0; 0 for identical statistics)."""
        return frechet_distance(*self._statistics("real"), *self._statistics("fake"))

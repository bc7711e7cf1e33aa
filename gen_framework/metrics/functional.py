"""The mathematics of the metrics as pure functions on tensors; the `Metric` classes call these.

Feature-space distances (Fréchet, k-NN precision/recall), likelihood unit conversions, the ``xz`` compression
baseline, and a log-mel front end built from ``torch.stft`` and a triangular mel filterbank.
"""

from __future__ import annotations

import lzma
import math

import torch
from torch import Tensor

LN2 = math.log(2.0)
#: ``xz -9e``: the strongest preset of the xz format, used for the compression baseline.
XZ_PRESET = 9 | lzma.PRESET_EXTREME


# ---------------------------------------------------------------- Fréchet distance


def gaussian_statistics(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean ``(D,)`` and unbiased covariance ``(D, D)`` of features ``(N, D)``, N >= 2, in float64."""
    if features.dim() != 2 or features.shape[0] < 2:
        raise ValueError(f"need features of shape (N >= 2, D), got {tuple(features.shape)}")
    x = features.double()
    mean = x.mean(dim=0)
    centred = x - mean
    return mean, centred.T @ centred / (x.shape[0] - 1)


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> Tensor:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2), float64 scalar.

    ``|mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))``. The trace of the matrix square root is
    taken as the sum of square roots of the eigenvalues of the symmetric ``sigma1^(1/2) sigma2 sigma1^(1/2)``,
    which stays real and stable for the singular covariances of small sample sets.

    Args:
        mu1, mu2: means ``(D,)``.
        sigma1, sigma2: positive semi-definite covariances ``(D, D)``.
    """
    mu1, mu2, sigma1, sigma2 = (t.double() for t in (mu1, mu2, sigma1, sigma2))
    values, vectors = torch.linalg.eigh(sigma1)
    root1 = (vectors * values.clamp(min=0).sqrt()) @ vectors.T
    inner = root1 @ sigma2 @ root1
    trace_root = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp(min=0).sqrt().sum()
    distance = (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * trace_root
    # The distance is non-negative; rounding can leave -1e-12 for identical inputs.
    return distance.clamp(min=0)


# ------------------------------------------------------- k-NN precision and recall


def knn_radii(features: Tensor, k: int, *, chunk: int = 1024) -> Tensor:
    """Distance from each point of ``features`` ``(N, D)`` to its k-th nearest other point → ``(N,)``.

    Raises:
        ValueError: when N <= k (there is no k-th neighbour).
    """
    n = features.shape[0]
    if k < 1 or n <= k:
        raise ValueError(f"the k-th nearest neighbour needs k >= 1 and more than k points; got k={k}, N={n}")
    x = features.float()
    radii = []
    for start in range(0, n, chunk):
        distances = torch.cdist(x[start : start + chunk], x)
        # The point itself is among the k + 1 smallest (at distance 0), so the (k + 1)-th is the k-th other.
        radii.append(distances.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)


def within_manifold(queries: Tensor, reference: Tensor, radii: Tensor, *, chunk: int = 1024) -> Tensor:
    """Whether each query ``(M, D)`` lies in a ball around ``reference`` ``(N, D)`` of ``radii`` ``(N,)``.

    Returns:
        bool ``(M,)``.
    """
    inside = []
    q, r = queries.float(), reference.float()
    for start in range(0, q.shape[0], chunk):
        inside.append((torch.cdist(q[start : start + chunk], r) <= radii[None, :]).any(dim=1))
    return torch.cat(inside) if inside else torch.zeros(0, dtype=torch.bool)


def precision_recall(real: Tensor, fake: Tensor, k: int = 3) -> tuple[Tensor, Tensor]:
    """Improved precision and recall (Kynkäänniemi et al., 2019) of ``fake`` against ``real`` features.

    Each set's manifold is the union of balls around its points reaching their k-th nearest neighbour.
    Precision is the share of fake points inside the real manifold (fidelity); recall the share of real points
    inside the fake manifold (diversity).

    Args:
        real: ``(N, D)`` features of real data, N > k.
        fake: ``(M, D)`` features of generated data, M > k.
        k: neighbourhood size (3 in the paper).

    Returns:
        ``(precision, recall)``, float scalars in [0, 1].
    """
    precision = within_manifold(fake, real, knn_radii(real, k)).float().mean()
    recall = within_manifold(real, fake, knn_radii(fake, k)).float().mean()
    return precision, recall


# ------------------------------------------------------------------- classifiers


def class_coverage(fake_counts: Tensor, real_counts: Tensor, min_share: float = 0.5) -> Tensor:
    """Share of the classes present in real data that generated data covers, float scalar in [0, 1].

    A class counts as covered when its share of generated samples is at least ``min_share`` times its share
    of real samples; a generator that collapses onto a few modes covers only those.

    Args:
        fake_counts: ``(K,)`` predicted-class counts of generated samples.
        real_counts: ``(K,)`` predicted-class counts of real samples (classes with 0 are ignored).
        min_share: fraction of the real share a class needs, in (0, 1].
    """
    fake_share = fake_counts.double() / fake_counts.sum().clamp(min=1)
    real_share = real_counts.double() / real_counts.sum().clamp(min=1)
    present = real_share > 0
    covered = fake_share[present] >= min_share * real_share[present]
    return covered.double().mean() if present.any() else torch.tensor(float("nan"), dtype=torch.float64)


# ------------------------------------------------------------------- likelihoods


def nats_to_bits(nats: Tensor | float) -> Tensor | float:
    """Nats to bits (divides by ln 2)."""
    return nats / LN2


def bits_per_dim(nll_nats: Tensor | float, num_dims: int) -> Tensor | float:
    """Negative log-likelihood of one example in nats → bits per dimension (``num_dims`` = C·H·W, or T)."""
    return nll_nats / (num_dims * LN2)


def perplexity(mean_nll_nats: Tensor | float) -> Tensor | float:
    """Perplexity ``exp(mean NLL per token in nats)``."""
    return torch.exp(mean_nll_nats) if isinstance(mean_nll_nats, Tensor) else math.exp(mean_nll_nats)


def xz_compressed_bytes(data: bytes) -> int:
    """Bytes of ``data`` compressed by ``xz -9e`` (``lzma`` preset 9 | PRESET_EXTREME), headers included."""
    return len(lzma.compress(data, format=lzma.FORMAT_XZ, preset=XZ_PRESET))


def xz_bits_per_char(text: str) -> float:
    """Bits per character that ``xz -9e`` needs for ``text`` (UTF-8 encoded): an honest baseline for models.

    Raises:
        ValueError: for empty text.
    """
    if not text:
        raise ValueError("cannot compute bits per character of empty text")
    return 8.0 * xz_compressed_bytes(text.encode("utf-8")) / len(text)


# ----------------------------------------------------------------------- log-mel


def hz_to_mel(hz: Tensor | float) -> Tensor | float:
    """HTK mel scale: ``2595 log10(1 + f / 700)``."""
    if isinstance(hz, Tensor):
        return 2595.0 * torch.log10(1.0 + hz / 700.0)
    return 2595.0 * math.log10(1.0 + hz / 700.0)


def mel_to_hz(mel: Tensor) -> Tensor:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(
    n_fft: int, n_mels: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None
) -> Tensor:
    """Triangular filters equally spaced on the HTK mel scale → float32 ``(n_mels, n_fft // 2 + 1)``.

    Filter m rises linearly from mel point m to m + 1 and falls to m + 2 (``n_mels + 2`` points between
    ``f_min`` and ``f_max``, default the Nyquist frequency); multiply a power spectrogram by it to get mel bands.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2 or n_mels < 1 or n_fft < 2:
        raise ValueError(
            f"need n_fft >= 2, n_mels >= 1 and 0 <= f_min < f_max <= sample_rate / 2; got n_fft={n_fft}, "
            f"n_mels={n_mels}, f_min={f_min}, f_max={f_max}, sample_rate={sample_rate}"
        )
    bins = torch.linspace(0.0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    points = mel_to_hz(torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2, dtype=torch.float64))
    lower, centre, upper = points[:-2, None], points[1:-1, None], points[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    return torch.minimum(rising, falling).clamp(min=0.0).float()


def log_mel_spectrogram(
    waveforms: Tensor, filterbank: Tensor, *, n_fft: int, hop_length: int, win_length: int, floor: float = 1e-5
) -> Tensor:
    """Log mel-band power of waveforms ``(B, T)`` in [-1, 1] → ``(B, frames, n_mels)`` (natural log).

    Hann-windowed ``torch.stft`` (centred, reflect-padded), power spectrum, mel filterbank
    ``(n_mels, n_fft // 2 + 1)``, then ``log(power + floor)``; the floor keeps silence finite.
    """
    window = torch.hann_window(win_length, device=waveforms.device, dtype=torch.float32)
    spectrum = torch.stft(
        waveforms.float(), n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
        center=True, pad_mode="reflect", return_complex=True,
    )  # (B, n_fft // 2 + 1, frames)
    power = spectrum.abs().square()
    mel = filterbank.to(power.device) @ power  # (B, n_mels, frames)
    return torch.log(mel + floor).transpose(1, 2)

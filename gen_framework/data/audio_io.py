"""Reading audio files to mono float waveforms, and band-limited resampling."""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np

from gen_framework._optional import require
from gen_framework.errors import DataError

AUDIO_EXTENSIONS = frozenset({".wav", ".flac"})


def read_mono(path: str | Path) -> tuple[np.ndarray, int]:
    """Decodes a WAV or FLAC file and mixes its channels down to mono by averaging.

    Returns:
        ``(waveform, sample_rate)``: float32 ``(T,)`` in [-1, 1] for integer formats (float files as stored).

    Raises:
        DataError: naming the file when it cannot be decoded, is empty, or holds NaN/Inf.
    """
    soundfile = require("soundfile", f"reading the audio file {path}")

    try:
        data, sample_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:  # noqa: BLE001 - libsndfile failures surface as several exception types
        raise DataError(f"cannot decode audio file {path}: {type(error).__name__}: {error}") from None
    if data.shape[0] == 0:
        raise DataError(f"audio file {path} holds no samples")
    if not np.isfinite(data).all():
        raise DataError(f"audio file {path} holds NaN or infinite samples")
    if sample_rate <= 0:
        raise DataError(f"audio file {path} declares sample rate {sample_rate}")
    return data.mean(axis=1, dtype=np.float32), int(sample_rate)


def resample(waveform: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resamples with a polyphase windowed-sinc filter (scipy's ``resample_poly``, Kaiser window).

    The filter removes content above the lower rate's Nyquist frequency before decimation, so nothing aliases.

    Args:
        waveform: float ``(T,)``.
        from_rate: its sample rate in Hz, >= 1.
        to_rate: the wanted rate in Hz, >= 1.

    Returns:
        float32 ``(ceil(T * to_rate / from_rate),)``.
    """
    if from_rate == to_rate:
        return waveform.astype(np.float32, copy=False)
    resample_poly = require("scipy.signal", "resampling audio").resample_poly

    common = gcd(from_rate, to_rate)
    return resample_poly(waveform, to_rate // common, from_rate // common).astype(np.float32)

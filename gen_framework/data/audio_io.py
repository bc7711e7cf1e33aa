"""Reading audio files to mono float waveforms, and band-limited resampling."""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np

from gen_framework._utils.optional import require
from gen_framework.data._files import check_regular_file, check_size
from gen_framework.errors import DataError

AUDIO_EXTENSIONS = frozenset({".wav", ".flac"})
#: Above any real recording's rate (studio audio goes to 384 kHz); a larger header value is damage or an attack
#: (resampling from 2**31 - 1 Hz would allocate hundreds of GiB).
MAX_SAMPLE_RATE = 768_000


def read_mono(path: str | Path) -> tuple[np.ndarray, int]:
    """Decodes a WAV or FLAC file and mixes its channels down to mono by averaging.

    Returns:
        ``(waveform, sample_rate)``: float32 ``(T,)`` in [-1, 1] for integer formats (float files as stored).

    Raises:
        DataError: naming the file when it cannot be decoded, is empty, holds NaN/Inf, declares a sample rate
            above :data:`MAX_SAMPLE_RATE` or more decoded samples than the per-file limit
            (:func:`~gen_framework.data._files.max_file_bytes`).
    """
    soundfile = require("soundfile", f"reading the audio file {path}")

    check_regular_file(path, "audio")
    try:
        info = soundfile.info(str(path))
    except Exception as error:  # noqa: BLE001 - libsndfile failures surface as several exception types
        raise DataError(f"cannot decode audio file {path}: {type(error).__name__}: {error}") from None
    # the header's numbers decide every later allocation (decoding, resampling): check them first
    if not 1 <= info.samplerate <= MAX_SAMPLE_RATE:
        raise DataError(
            f"audio file {path} declares sample rate {info.samplerate} Hz; accepted: 1 to {MAX_SAMPLE_RATE:,} Hz"
        )
    check_size(path, int(info.frames) * max(int(info.channels), 1) * 4, "the decoded audio")
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

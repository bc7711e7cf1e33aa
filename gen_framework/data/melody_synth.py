"""Synthesised melodies: pentatonic notes with a few harmonics and ADSR envelopes, vectorised with numpy.

Each clip is a random walk over two octaves of the C major pentatonic scale at a clip-wide tempo; each note is
a sum of harmonics whose weights are the clip's timbre, shaped by an attack-decay-sustain-release envelope.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# C major pentatonic (C D E G A) from C4 to A5, as MIDI notes
SCALE_MIDI = np.array([60, 62, 64, 67, 69, 72, 74, 76, 79, 81], dtype=np.int64)
SCALE_HZ = 440.0 * 2.0 ** ((SCALE_MIDI - 69) / 12.0)

# harmonic weights (fundamental first) of the timbres a clip can have: pure, hollow (odd), bright (1/k), mellow
TIMBRES = np.array(
    [
        [1.0, 0.0, 0.0, 0.0, 0.0],
        [1.0, 0.0, 0.33, 0.0, 0.2],
        [1.0, 0.5, 0.33, 0.25, 0.2],
        [1.0, 0.6, 0.15, 0.05, 0.0],
    ]
)
NOTE_SECONDS = np.array([0.125, 0.1875, 0.25])  # sixteenth to eighth notes at 120 bpm, per clip
ATTACK, DECAY, SUSTAIN, RELEASE = 0.01, 0.05, 0.7, 0.04  # seconds, seconds, level, seconds


@dataclass(frozen=True)
class Melodies:
    """Clips and what was played in them.

    Attributes:
        waveforms: float32 ``(N, T)`` in [-1, 1].
        timbres: int64 ``(N,)`` timbre index of each clip.
        notes_hz: float64 ``(N, K)`` fundamental of each note slot of each clip (slots past the clip unused).
    """

    waveforms: np.ndarray
    timbres: np.ndarray
    notes_hz: np.ndarray


def adsr(local_time: np.ndarray, note_seconds: np.ndarray) -> np.ndarray:
    """Envelope in [0, 1] at ``local_time`` seconds into a note lasting ``note_seconds`` (broadcast shapes)."""
    attack = np.clip(local_time / ATTACK, 0.0, 1.0)
    decay = 1.0 - (1.0 - SUSTAIN) * np.clip((local_time - ATTACK) / DECAY, 0.0, 1.0)
    release = np.clip((note_seconds - local_time) / RELEASE, 0.0, 1.0)
    return attack * decay * release


def synthesize(num_clips: int, clip_seconds: float, sample_rate: int, timbres: int, seed: int) -> Melodies:
    """Renders ``num_clips`` melodies; the same arguments always give the same samples.

    Args:
        num_clips: clips to render, >= 1.
        clip_seconds: length of each clip in seconds, > 0.
        sample_rate: Hz; harmonics at or above the Nyquist frequency are dropped.
        timbres: how many of the timbres in :data:`TIMBRES` to use, 1-4; clip ``i`` gets timbre ``i % timbres``.
        seed: seed of the melodies, tempi and loudness.
    """
    rng = np.random.default_rng(seed)
    length = round(clip_seconds * sample_rate)
    note_seconds = rng.choice(NOTE_SECONDS, size=num_clips)
    slots = int(np.ceil(clip_seconds / NOTE_SECONDS.min()))
    # random walk in scale degrees, reflected at the ends of the scale
    steps = rng.choice([-2, -1, 1, 2], size=(num_clips, slots))
    start = rng.integers(0, len(SCALE_HZ), size=(num_clips, 1))
    walk = (start + np.cumsum(steps, axis=1) - steps[:, :1]) % (2 * len(SCALE_HZ) - 2)
    degree = np.where(walk < len(SCALE_HZ), walk, 2 * len(SCALE_HZ) - 2 - walk)
    notes_hz = SCALE_HZ[degree]
    loudness = rng.uniform(0.5, 0.9, size=(num_clips, slots))
    timbre = np.arange(num_clips) % timbres
    waveforms = np.empty((num_clips, length), dtype=np.float32)
    time = np.arange(length) / sample_rate
    chunk = max(1, 2_000_000 // max(length, 1))  # bounds the (clips, T) temporaries to a few tens of MB
    for first in range(0, num_clips, chunk):
        rows = slice(first, min(first + chunk, num_clips))
        beat = note_seconds[rows, None]
        slot = np.minimum((time[None] // beat).astype(np.int64), slots - 1)
        local = time[None] - slot * beat
        f0 = np.take_along_axis(notes_hz[rows], slot, axis=1)
        wave = np.zeros_like(local)
        for k, weights in enumerate(TIMBRES[timbre[rows]].T, start=1):
            audible = (weights > 0)[:, None] & (k * f0 < sample_rate / 2)
            wave += np.where(audible, weights[:, None] * np.sin(2 * np.pi * k * f0 * local), 0.0)
        wave *= adsr(local, beat) * np.take_along_axis(loudness[rows], slot, axis=1)
        waveforms[rows] = wave / TIMBRES[timbre[rows]].sum(axis=1, keepdims=True)
    return Melodies(waveforms=waveforms, timbres=timbre.astype(np.int64), notes_hz=notes_hz)

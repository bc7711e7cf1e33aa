"""Draws spectrograms of generated WAV files under one of a synthesised melody like the training data.

    python docs/scripts/spectrogram.py OUT.png a.wav [b.wav ...]

The dotted lines are the ten notes of the melodies' scale (C major pentatonic, C4 to A5); audio that learnt
the data puts its energy on them. Each panel's title gives that share of the spectral energy (within half a
semitone of a note; white noise scores about 4%, the melodies about 95%).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
from gen_framework_wavenet_lite.spectrum import energy_near
from PIL import Image

from gen_framework.data.audio_io import read_mono
from gen_framework.data.melody_synth import SCALE_HZ, synthesize

MAX_HZ = 2000


def spectrogram_figure(waves: list[tuple[str, np.ndarray, int]]) -> plt.Figure:
    """One panel per ``(title, waveform, sample_rate)``, 0-2 kHz, with the scale's notes marked."""
    fig, axes = plt.subplots(len(waves), 1, figsize=(7, 1.7 * len(waves)), sharex=True, squeeze=False)
    for ax, (title, waveform, rate) in zip(axes[:, 0], waves, strict=True):
        title = f"{title}: {energy_near(waveform, rate, SCALE_HZ):.0%} of the energy on the notes"
        ax.specgram(waveform, NFFT=1024, Fs=rate, noverlap=768, cmap="magma", vmin=-120)
        for hz in SCALE_HZ:
            ax.axhline(hz, color="white", linestyle=":", linewidth=0.6, alpha=0.6)
        ax.set_ylim(0, MAX_HZ)
        ax.set_ylabel("Hz")
        ax.set_title(title, fontsize=9)
    axes[-1, 0].set_xlabel("seconds")
    fig.tight_layout()
    return fig


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        raise SystemExit("usage: python docs/scripts/spectrogram.py OUT.png a.wav [b.wav ...]")
    output, paths = Path(argv[0]), [Path(p) for p in argv[1:]]
    waves = [(f"generated {p.name}", *read_mono(p)) for p in paths]
    seconds = len(waves[0][1]) / waves[0][2]
    melody = synthesize(num_clips=1, clip_seconds=seconds, sample_rate=waves[0][2], timbres=1, seed=0)
    waves.insert(0, ("a synthesised melody like the training data", melody.waveforms[0], waves[0][2]))
    fig = spectrogram_figure(waves)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)
    # A palette of 64 colours keeps the noisy texture of generated audio from making the PNG large.
    Image.open(buffer).convert("RGB").quantize(colors=64).save(output, optimize=True)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

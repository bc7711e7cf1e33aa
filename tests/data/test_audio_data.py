"""mu-law coding, reading and resampling audio, WavFolder and the synthesised Melodies."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile
import torch

from gen_framework.data import Melodies, MuLawQuantizer, WavFolder, mu_law_decode, mu_law_encode
from gen_framework.data.audio_io import read_mono, resample
from gen_framework.data.melody_synth import SCALE_HZ, synthesize
from gen_framework.errors import DataError


@pytest.mark.parametrize("levels", [256, 16])
def test_mu_law_round_trip_error_is_within_the_companding_bound(levels):
    x = torch.linspace(-1, 1, 20001, dtype=torch.float64)
    codes = mu_law_encode(x, levels)
    assert codes.dtype == torch.int64 and codes.min() == 0 and codes.max() == levels - 1
    assert (codes.diff() >= 0).all()  # monotone
    error = (mu_law_decode(codes, levels).double() - x).abs()
    mu = levels - 1
    # half a step in the companded domain, mapped through the slope of the expansion
    bound = math.log1p(mu) * (1 + mu * x.abs()) / mu**2 * (1 + mu) ** (1 / mu) + 1e-6
    assert (error <= bound).all()
    assert error.max() > 0.3 * bound.max()  # the bound is tight, not vacuous


def test_mu_law_silence_clamping_and_quantizer_dict():
    assert mu_law_encode(torch.zeros(3)).tolist() == [128, 128, 128]
    assert mu_law_encode(torch.tensor([-5.0, 5.0])).tolist() == [0, 255]
    assert abs(float(mu_law_decode(torch.tensor([128])))) < 1e-3
    quantizer = MuLawQuantizer.from_dict({"kind": "mu_law", "levels": 256})
    assert quantizer.to_dict() == {"kind": "mu_law", "levels": 256}
    assert torch.equal(quantizer.encode(torch.tensor([0.5])), mu_law_encode(torch.tensor([0.5])))
    with pytest.raises(DataError, match="`levels` must be an integer in \\[2, 65536\\]"):
        MuLawQuantizer(levels=1)
    with pytest.raises(DataError, match="quantization must be"):
        MuLawQuantizer.from_dict({"kind": "linear"})


def peak_hz(wave: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.fft.rfftfreq(len(wave), 1 / rate)[spectrum.argmax()])


def test_resampling_a_1khz_sine_from_44100_keeps_its_peak_and_removes_aliases():
    t = np.arange(44100) / 44100
    sine = np.sin(2 * np.pi * 1000 * t)
    out = resample(sine, 44100, 16000)
    assert out.dtype == np.float32 and len(out) == 16000
    assert abs(peak_hz(out, 16000) - 1000) <= 1.0
    assert abs(np.abs(out[1000:-1000]).max() - 1.0) < 0.01  # amplitude kept
    # a 10 kHz tone is above the new Nyquist (8 kHz): a band-limited resampler removes it instead of aliasing
    # it down to 6 kHz
    high = resample(np.sin(2 * np.pi * 10000 * t), 44100, 16000)
    assert np.abs(high[1000:-1000]).max() < 0.01


def write_tone(path, hz, seconds, rate=16000, channels=1, amplitude=0.5, subtype=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(round(seconds * rate)) / rate
    wave = amplitude * np.sin(2 * np.pi * hz * t)
    data = np.stack([wave] * channels, axis=1) if channels > 1 else wave
    soundfile.write(str(path), data, rate, subtype=subtype)
    return path


def test_read_mono_mixes_channels_and_rejects_bad_files(tmp_path):
    path = tmp_path / "stereo.flac"
    t = np.arange(800) / 8000
    soundfile.write(str(path), np.stack([np.sin(2 * np.pi * 500 * t), np.zeros_like(t)], 1) * 0.8, 8000)
    wave, rate = read_mono(path)
    assert rate == 8000 and wave.shape == (800,) and abs(np.abs(wave).max() - 0.4) < 0.01
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(DataError, match="cannot decode audio file .*bad.wav"):
        read_mono(tmp_path / "bad.wav")
    soundfile.write(str(tmp_path / "nan.wav"), np.array([0.0, np.nan, 0.1]), 8000, subtype="FLOAT")
    with pytest.raises(DataError, match="nan.wav holds NaN"):
        read_mono(tmp_path / "nan.wav")


def test_wav_folder_resamples_normalises_labels_and_skips_corrupt(tmp_path):
    write_tone(tmp_path / "low" / "a.wav", 440, 1.0, rate=44100, channels=2)
    write_tone(tmp_path / "low" / "b.flac", 440, 0.5, rate=22050)
    write_tone(tmp_path / "high" / "c.WAV", 2000, 1.0, subtype="PCM_24")
    write_tone(tmp_path / "high" / "short.wav", 2000, 0.01)
    (tmp_path / "high" / "broken.wav").write_bytes(b"not audio at all")
    dm = WavFolder(root=str(tmp_path), segment_length=1024, batch_size=4, val_fraction=0.0)
    with pytest.warns(UserWarning, match="skipped 1 of 5 file\\(s\\) .*broken.wav"):
        dm.setup()
    assert dm.classes == ["high", "low"] and dm.num_labels == 2
    assert dm.data_spec() == {"modality": "audio", "sample_rate": 16000,
                              "quantization": {"kind": "mu_law", "levels": 256}, "num_labels": 2}
    clips = dm.splits.train.clips
    # 1 s at 44.1 kHz and 0.5 s at 22.05 kHz become 16000 and 8000 samples; the short file is padded to a window
    assert sorted(clips.lengths.tolist()) == [1025, 8000, 16000, 16000]
    codes, labels = next(iter(dm.train_dataloader()))
    assert codes.shape == (4, 1025) and codes.dtype == torch.int64 and labels.dtype == torch.int64
    assert codes.min() >= 0 and codes.max() <= 255
    for clip in range(len(clips.lengths)):
        start, length = clips.starts[clip], clips.lengths[clip]
        wave = mu_law_decode(clips.codes[start : start + length].long()).numpy()
        expected = 2000 if int(clips.labels[clip]) == 0 else 440
        if length >= 8000:
            assert abs(peak_hz(wave, 16000) - expected) < 5
            assert np.abs(wave).max() > 0.97  # peak-normalised from 0.5


def test_wav_folder_splits_by_files_or_time_and_pads_or_skips(tmp_path):
    for i in range(5):
        write_tone(tmp_path / f"{i}.wav", 300 + 100 * i, 0.5)
    by_files = WavFolder(root=str(tmp_path), segment_length=256, val_fraction=0.2, batch_size=2)
    by_files.setup()
    assert len(by_files.splits.train.clips.lengths) == 4 and len(by_files.splits.val.clips.lengths) == 1
    val = torch.cat(list(by_files.val_dataloader()))
    assert val.shape == ((8000 - 1) // 256, 257) and torch.equal(val[1:, 0], val[:-1, -1])
    assert by_files.num_labels is None and "num_labels" not in by_files.data_spec()
    by_time = WavFolder(root=str(tmp_path), segment_length=256, val_fraction=0.25, split="time")
    by_time.setup()
    assert by_time.splits.train.clips.lengths.tolist() == [6000] * 5
    assert by_time.splits.val.clips.lengths.tolist() == [2000] * 5
    with pytest.raises(DataError, match="every file under .* is shorter than segment_length \\+ 1 = 8001"):
        WavFolder(root=str(tmp_path), segment_length=8000, short_files="skip").setup()
    padded = WavFolder(root=str(tmp_path), segment_length=8000, val_fraction=0.0)
    sample = padded.splits.train[0]
    assert sample.shape == (8001,) and int(sample[-1]) == 128  # padded with silence


def test_wav_folder_errors(tmp_path):
    with pytest.raises(DataError, match="`root` .*nothing does not exist"):
        WavFolder(root=str(tmp_path / "nothing")).setup()
    (tmp_path / "x.wav").write_bytes(b"\0" * 100)
    with pytest.raises(DataError, match="none of the 1 file\\(s\\) under .* could be read"):
        WavFolder(root=str(tmp_path)).setup()
    write_tone(tmp_path / "y.wav", 440, 0.2)
    with pytest.raises(DataError, match="split='files' needs at least 2 usable files"):
        with pytest.warns(UserWarning):
            WavFolder(root=str(tmp_path)).setup()


def test_melodies_are_deterministic_and_tonal():
    first = synthesize(num_clips=6, clip_seconds=1.0, sample_rate=16000, timbres=3, seed=4)
    again = synthesize(num_clips=6, clip_seconds=1.0, sample_rate=16000, timbres=3, seed=4)
    other = synthesize(num_clips=6, clip_seconds=1.0, sample_rate=16000, timbres=3, seed=5)
    assert np.array_equal(first.waveforms, again.waveforms)
    assert not np.array_equal(first.waveforms, other.waveforms)
    assert first.waveforms.shape == (6, 16000) and np.abs(first.waveforms).max() <= 1.0
    assert first.timbres.tolist() == [0, 1, 2, 0, 1, 2]
    for wave in first.waveforms:
        spectrum = np.abs(np.fft.rfft(wave))
        freqs = np.fft.rfftfreq(len(wave), 1 / 16000)
        strongest = freqs[np.argsort(spectrum)[-5:]]
        # the strongest components sit on scale notes (within a note-length's spectral blur of ~8 Hz)
        assert all(np.abs(SCALE_HZ - f).min() < 8 for f in strongest), strongest
    assert all(len(set(notes)) > 2 for notes in first.notes_hz)  # melodies, not drones


def test_melodies_datamodule_segments_and_timbre_labels():
    dm = Melodies(num_clips=10, clip_seconds=0.5, timbres=2, segment_length=512, batch_size=4, val_fraction=0.2)
    codes, labels = next(iter(dm.train_dataloader()))
    assert codes.shape == (4, 513) and codes.dtype == torch.int64 and 0 <= codes.min() and codes.max() <= 255
    assert set(labels.tolist()) <= {0, 1}
    assert dm.data_spec()["num_labels"] == 2 and dm.data_spec()["sample_rate"] == 16000
    assert len(dm.splits.val.clips.lengths) == 2
    assert len(dm.splits.train) == 8 * 8000 // 512
    plain = Melodies(num_clips=4, clip_seconds=0.5, segment_length=100, batch_size=2)
    batch = next(iter(plain.train_dataloader()))
    assert isinstance(batch, torch.Tensor) and batch.shape == (2, 101)
    assert "num_labels" not in plain.data_spec()

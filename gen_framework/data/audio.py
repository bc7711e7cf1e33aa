"""mu-law coded audio segments: from a folder of WAV/FLAC files, or synthesised melodies as the offline default.

Clips are mu-law encoded once at setup and kept as uint8 codes (one byte per sample). Training segments start
at positions drawn per ``(seed, epoch, index)``, uniformly over every position of every clip; validation
segments are consecutive and non-overlapping.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from gen_framework.data._checks import check_choice, check_float, check_int
from gen_framework.data._files import find_files, report_failures
from gen_framework.data._random import RandomDrawDataset, integers, split_keys, unbind
from gen_framework.data.audio_io import AUDIO_EXTENSIONS, read_mono, resample
from gen_framework.data.base import GenerativeDataModule, Splits, split_indices
from gen_framework.data.melody_synth import TIMBRES, synthesize
from gen_framework.data.mu_law import MuLawQuantizer
from gen_framework.errors import DataError

QUANTIZER = MuLawQuantizer(levels=256)
SILENCE = 128  # the mu-law code of 0.0 with 256 levels


@dataclass(frozen=True)
class Clips:
    """Coded clips laid end to end: clip ``i`` is ``codes[starts[i] : starts[i] + lengths[i]]``.

    Attributes:
        codes: uint8 ``(total,)`` mu-law codes.
        starts: int64 ``(F,)``.
        lengths: int64 ``(F,)``, each at least one segment long.
        labels: int64 ``(F,)`` or ``None`` when the data is unlabelled.
    """

    codes: torch.Tensor
    starts: np.ndarray
    lengths: np.ndarray
    labels: torch.Tensor | None

    @classmethod
    def join(cls, coded: Sequence[torch.Tensor], labels: Sequence[int] | None, window: int) -> Clips:
        """Lays uint8 code clips end to end; clips shorter than ``window`` are padded with silence."""
        padded = [
            torch.cat([c, torch.full((window - len(c),), SILENCE, dtype=torch.uint8)]) if len(c) < window else c
            for c in coded
        ]
        lengths = np.array([len(c) for c in padded], dtype=np.int64)
        starts = np.cumsum(lengths) - lengths
        label_tensor = None if labels is None else torch.tensor(list(labels), dtype=torch.int64)
        codes = torch.cat(padded) if padded else torch.empty(0, dtype=torch.uint8)
        return cls(codes=codes, starts=starts, lengths=lengths, labels=label_tensor)


def encode_clip(wave: np.ndarray, chunk: int = 1 << 20) -> torch.Tensor:
    """Mu-law codes of a float ``(T,)`` waveform as uint8 ``(T,)``, in chunks to bound float64 temporaries."""
    source = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    if not len(source):
        return torch.empty(0, dtype=torch.uint8)
    return torch.cat([QUANTIZER.encode(part).to(torch.uint8) for part in source.split(chunk)])


def _items(clips: Clips, clip_index: np.ndarray, positions: np.ndarray, window: int) -> list[Any]:
    segments = clips.codes[torch.from_numpy(positions)[:, None] + torch.arange(window)].long()
    if clips.labels is None:
        return unbind(segments)
    return unbind(segments, clips.labels[torch.from_numpy(clip_index)])


class RandomSegments(RandomDrawDataset):
    """Segments of ``window`` codes at positions drawn uniformly over all clips' valid starts.

    Items are int64 ``(window,)`` codes in [0, 255], or ``(codes, label)`` when the clips are labelled.
    """

    def __init__(self, clips: Clips, window: int, num_items: int, seed: int) -> None:
        super().__init__(num_items, seed)
        self.clips = clips
        self.window = window
        self.valid_starts = np.cumsum(clips.lengths - window + 1)

    def draw(self, epoch: int, indices: np.ndarray) -> list[Any]:
        flat = integers(self.seed, epoch, indices, 0, int(self.valid_starts[-1]))
        clip = np.searchsorted(self.valid_starts, flat, side="right")
        offset = flat - (self.valid_starts[clip] - (self.clips.lengths[clip] - self.window + 1))
        return _items(self.clips, clip, self.clips.starts[clip] + offset, self.window)


class FixedSegments(Dataset):
    """Consecutive segments every ``window - 1`` codes of every clip, so each code is predicted once."""

    def __init__(self, clips: Clips, window: int) -> None:
        self.clips = clips
        self.window = window
        per_clip = np.maximum(1, (clips.lengths - 1) // (window - 1))
        self.clip_index = np.repeat(np.arange(len(clips.lengths)), per_clip)
        first = np.cumsum(per_clip) - per_clip
        within = np.arange(len(self.clip_index)) - np.repeat(first, per_clip)
        self.positions = clips.starts[self.clip_index] + within * (window - 1)

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, index: int) -> Any:
        return self.__getitems__([index])[0]

    def __getitems__(self, keys: Sequence[Any]) -> list[Any]:
        _, indices = split_keys(keys)
        return _items(self.clips, self.clip_index[indices], self.positions[indices], self.window)


class AudioDataModule(GenerativeDataModule):
    """Shared machinery of the audio datamodules; subclasses implement :meth:`load_splits`.

    Args:
        sample_rate: rate of the served audio in Hz, 1000-192000.
        segment_length: samples a model reads per item, >= 1; items hold ``segment_length + 1`` codes.
        segments_per_epoch: training segments per epoch, >= 1; ``None`` for about one pass over the training audio.
        batch_size: segments per batch, >= 1.
        num_workers: dataloader worker processes, >= 0.
        val_fraction: share of the audio held out for validation, in [0, 1).
        seed: seed of the split and the segment positions, >= 0.
    """

    modality = "audio"

    def __init__(
        self,
        sample_rate: int = 16000,
        segment_length: int = 4096,
        segments_per_epoch: int | None = None,
        batch_size: int = 16,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, val_fraction=val_fraction, seed=seed)
        owner = type(self).__name__
        self.sample_rate = check_int(owner, "sample_rate", sample_rate, minimum=1000, maximum=192000)
        self.segment_length = check_int(owner, "segment_length", segment_length, minimum=1, maximum=10_000_000)
        if segments_per_epoch is not None:
            check_int(owner, "segments_per_epoch", segments_per_epoch, minimum=1)
        self.segments_per_epoch = segments_per_epoch

    @abstractmethod
    def load_splits(self) -> tuple[Clips, Clips, int | None]:
        """Called once by :meth:`setup`: returns the train clips, the validation clips and the label count."""

    def build_splits(self) -> Splits:
        train_clips, val_clips, num_labels = self.load_splits()
        window = self.segment_length + 1
        num_train = self.segments_per_epoch or max(1, len(train_clips.codes) // self.segment_length)
        train = RandomSegments(train_clips, window, num_train, self.seed)
        val = FixedSegments(val_clips, window)
        return Splits(train=train, val=val, test=val, num_labels=num_labels)

    def data_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "modality": "audio",
            "sample_rate": self.sample_rate,
            "quantization": QUANTIZER.to_dict(),
        }
        if self.num_labels is not None:
            spec["num_labels"] = self.num_labels
        return spec


def split_time(clips: list[torch.Tensor], val_fraction: float) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Splits every clip in two: the last ``val_fraction`` of its samples for validation, the rest training."""
    cuts = [len(c) - round(val_fraction * len(c)) for c in clips]
    return [c[:cut] for c, cut in zip(clips, cuts)], [c[cut:] for c, cut in zip(clips, cuts)]


class WavFolder(AudioDataModule):
    """Every ``.wav`` and ``.flac`` file (any case) under ``root``, searched recursively, as mu-law segments.

    Each file is decoded with soundfile, mixed down to mono, resampled to ``sample_rate`` with a band-limited
    polyphase filter and, with ``normalize``, scaled so its peak is 1. Files that fail to decode (or hold NaN)
    are skipped with one warning that counts them; if none decodes, a :class:`DataError` is raised. A file
    shorter than ``segment_length + 1`` samples is padded with silence (``short_files="pad"``) or left out
    (``"skip"``). Labels come from subfolders as in :class:`ImageFolder` (index of the immediate subfolder
    among their sorted names, -1 for files directly in ``root``).

    With ``split="files"`` whole files are held out for validation (chosen by ``seed``; needs at least two
    files when ``val_fraction > 0``); with ``split="time"`` the last ``val_fraction`` of every file is. The test
    split is the validation split.

    Batches are int64 ``(B, segment_length + 1)`` codes in [0, 255], or ``(codes, label)`` with label int64
    ``(B,)`` when ``root`` has labelled subfolders.

    Args:
        root: the folder to search.
        sample_rate: rate of the served audio in Hz, 1000-192000.
        segment_length: samples a model reads per item, >= 1; items hold ``segment_length + 1`` codes.
        normalize: scale each file so its largest absolute sample is 1 (silent files are left as they are).
        short_files: "pad" files shorter than a segment with silence, or "skip" them.
        split: "files" to hold out whole files, "time" to hold out the end of every file.
        segments_per_epoch: training segments per epoch, >= 1; ``None`` for about one pass over the training audio.
        batch_size: segments per batch, >= 1.
        num_workers: dataloader worker processes, >= 0.
        val_fraction: share of the files (or of each file's duration) held out for validation, in [0, 1).
        seed: seed of the split and the segment positions, >= 0.
    """

    def __init__(
        self,
        root: str,
        sample_rate: int = 16000,
        segment_length: int = 4096,
        normalize: bool = True,
        short_files: Literal["pad", "skip"] = "pad",
        split: Literal["files", "time"] = "files",
        segments_per_epoch: int | None = None,
        batch_size: int = 16,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__(
            sample_rate=sample_rate,
            segment_length=segment_length,
            segments_per_epoch=segments_per_epoch,
            batch_size=batch_size,
            num_workers=num_workers,
            val_fraction=val_fraction,
            seed=seed,
        )
        self.root = root
        self.normalize = normalize
        self.short_files = check_choice("WavFolder", "short_files", short_files, ("pad", "skip"))
        self.split = check_choice("WavFolder", "split", split, ("files", "time"))
        self.classes: list[str] = []

    def load_clips(self) -> tuple[list[torch.Tensor], list[int]]:
        """Decodes, mixes down, resamples, normalises and codes every usable file; returns codes and labels."""
        found = find_files(self.root, AUDIO_EXTENSIONS, "WavFolder")
        clips, labels, failures = [], [], []
        for path, label in zip(found.paths, found.labels):
            try:
                wave, rate = read_mono(path)
            except DataError as error:
                failures.append((Path(path), str(error)))
                continue
            wave = resample(wave, rate, self.sample_rate)
            peak = float(np.abs(wave).max(initial=0.0))
            if self.normalize and peak > 0:
                wave = wave / peak
            clips.append(encode_clip(wave))  # one byte per sample from here on
            labels.append(label)
        report_failures("WavFolder", self.root, failures, len(found.paths))
        self.classes = found.classes
        if self.short_files == "skip":
            keep = [i for i, c in enumerate(clips) if len(c) > self.segment_length]
            if not keep:
                raise DataError(
                    f"WavFolder: every file under {self.root} is shorter than segment_length + 1 = "
                    f"{self.segment_length + 1} samples at {self.sample_rate} Hz; lower `segment_length` or "
                    "set short_files='pad'"
                )
            clips, labels = [clips[i] for i in keep], [labels[i] for i in keep]
        return clips, labels

    def load_splits(self) -> tuple[Clips, Clips, int | None]:
        clips, labels = self.load_clips()
        window = self.segment_length + 1
        labelled = bool(self.classes)

        def join(chosen: list[int], parts: list[torch.Tensor]) -> Clips:
            return Clips.join([parts[i] for i in chosen], [labels[i] for i in chosen] if labelled else None, window)

        if self.split == "time":
            train_parts, val_parts = split_time(clips, self.val_fraction)
            train = join(list(range(len(clips))), train_parts)
            val = join([i for i, part in enumerate(val_parts) if len(part)], val_parts)
        else:
            if self.val_fraction > 0 and len(clips) < 2:
                raise DataError(
                    f"WavFolder: split='files' needs at least 2 usable files under {self.root} to hold some out, "
                    "found 1; use split='time', add files or set val_fraction=0"
                )
            train_index, val_index = split_indices(len(clips), self.val_fraction, self.seed, owner="WavFolder")
            train, val = join(train_index.tolist(), clips), join(val_index.tolist(), clips)
        return train, val, len(self.classes) if labelled else None


class Melodies(AudioDataModule):
    """Synthesised pentatonic melodies with harmonics and ADSR envelopes: an offline default for audio models.

    ``num_clips`` clips of ``clip_seconds`` are rendered at setup, deterministically from ``seed`` (see
    :mod:`gen_framework.data.melody_synth`); whole clips are held out for validation (and test). With
    ``timbres > 1`` clip ``i`` is played with timbre ``i % timbres`` and batches carry it as a label.

    Batches are int64 ``(B, segment_length + 1)`` codes in [0, 255], or ``(codes, label)`` with label int64
    ``(B,)`` in ``[0, timbres)`` when ``timbres > 1``.

    Args:
        num_clips: clips to render, 1-100000.
        clip_seconds: length of each clip in seconds, in (0, 600].
        timbres: number of timbres (harmonic profiles), 1-4; above 1 the timbre is the label.
        sample_rate: rate of the audio in Hz, 1000-192000.
        segment_length: samples a model reads per item, >= 1; items hold ``segment_length + 1`` codes.
        segments_per_epoch: training segments per epoch, >= 1; ``None`` for about one pass over the training audio.
        batch_size: segments per batch, >= 1.
        num_workers: dataloader worker processes, >= 0.
        val_fraction: share of the clips held out for validation, in [0, 1).
        seed: seed of the melodies, the split and the segment positions, >= 0.
    """

    def __init__(
        self,
        num_clips: int = 128,
        clip_seconds: float = 2.0,
        timbres: int = 1,
        sample_rate: int = 16000,
        segment_length: int = 4096,
        segments_per_epoch: int | None = None,
        batch_size: int = 16,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__(
            sample_rate=sample_rate,
            segment_length=segment_length,
            segments_per_epoch=segments_per_epoch,
            batch_size=batch_size,
            num_workers=num_workers,
            val_fraction=val_fraction,
            seed=seed,
        )
        self.num_clips = check_int("Melodies", "num_clips", num_clips, minimum=1, maximum=100_000)
        self.clip_seconds = check_float(
            "Melodies", "clip_seconds", clip_seconds, minimum=0.0, maximum=600.0, include_minimum=False
        )
        self.timbres = check_int("Melodies", "timbres", timbres, minimum=1, maximum=len(TIMBRES))

    def load_splits(self) -> tuple[Clips, Clips, int | None]:
        melodies = synthesize(self.num_clips, self.clip_seconds, self.sample_rate, self.timbres, self.seed)
        train_index, val_index = split_indices(self.num_clips, self.val_fraction, self.seed, owner="Melodies")
        window = self.segment_length + 1
        labelled = self.timbres > 1

        def pick(index: torch.Tensor) -> Clips:
            rows = index.numpy()
            labels = melodies.timbres[rows].tolist() if labelled else None
            return Clips.join([encode_clip(wave) for wave in melodies.waveforms[rows]], labels, window)

        return pick(train_index), pick(val_index), self.timbres if labelled else None

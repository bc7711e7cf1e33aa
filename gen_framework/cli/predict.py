"""The data of ``genfw predict``: the indices of the samples to draw, split into batches.

Each predict batch holds the global indices ``(N,)`` of its samples; ``GenerativeModule.predict_step`` seeds
the batch from its first index, so the files written do not depend on the number of processes.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from gen_framework.errors import ConfigError


class _Indices(Dataset):
    def __init__(self, count: int) -> None:
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor(index, dtype=torch.long)


class SampleRequests(pl.LightningDataModule):
    """Requests ``num_samples`` samples in batches of ``batch_size``.

    Args:
        num_samples: How many samples to draw.
        batch_size: Samples drawn per ``predict_step``.
    """

    def __init__(self, num_samples: int = 64, batch_size: int = 64) -> None:
        super().__init__()
        if num_samples < 1 or batch_size < 1:
            raise ConfigError(f"num_samples and batch_size must be >= 1, got {num_samples} and {batch_size}")
        self.num_samples = num_samples
        self.batch_size = batch_size

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(_Indices(self.num_samples), batch_size=self.batch_size, shuffle=False)


# ------------------------------------------------------------------ limits

#: ``--seed`` must fit the 64-bit seed of ``torch.Generator`` once the sample index is added to it.
MAX_SEED = 2**63 - 1
#: Default bounds of one ``genfw predict`` run; ``--max_num_samples`` / ``--max_sample_length`` raise them.
DEFAULT_MAX_NUM_SAMPLES = 100_000
DEFAULT_MAX_SAMPLE_LENGTH = 65_536
#: Names ``genfw predict`` gives its samples (``SampleWriter``'s default prefix, ranks and dataloaders included).
_SAMPLE_NAME = re.compile(r"sample(_dl\d+)?(_rank\d+)?_\d{5,}\.(png|wav|txt)")


def check_predict_request(
    *,
    num_samples: int,
    batch_size: int,
    seed: int,
    sampling: dict[str, Any],
    sample_rate: int | None,
    max_num_samples: int = DEFAULT_MAX_NUM_SAMPLES,
    max_sample_length: int = DEFAULT_MAX_SAMPLE_LENGTH,
) -> None:
    """Refuses a ``genfw predict`` request that cannot work or would run away, naming the option.

    Lengths are bounded because a sampler's cost grows with them and a typo (``max_new_tokens 1e9``) would
    otherwise hold the machine for hours: ``max_new_tokens`` and ``seconds * sample_rate`` (audio) must not
    exceed ``max_sample_length``, and ``num_samples`` must not exceed ``max_num_samples``; both limits can be
    raised explicitly.

    Raises:
        ConfigError: naming the option, its value and what is allowed.
    """
    for name, value in (("num_samples", num_samples), ("batch_size", batch_size)):
        if value < 1:
            raise ConfigError(f"--{name} must be >= 1, got {value}")
    if num_samples > max_num_samples:
        raise ConfigError(
            f"--num_samples {num_samples} is above the limit of {max_num_samples:,}; "
            "pass --max_num_samples to raise it"
        )
    if not 0 <= seed <= MAX_SEED - num_samples:
        raise ConfigError(f"--seed must be in [0, {MAX_SEED - num_samples}] (a 64-bit seed per sample), got {seed}")
    tokens = sampling.get("max_new_tokens")
    if tokens is not None:
        _check_length("--sampling.max_new_tokens", tokens, tokens, max_sample_length)
    seconds = sampling.get("seconds")
    if seconds is not None:
        if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds > 0):
            raise ConfigError(f"--sampling.seconds must be a finite number > 0, got {seconds}")
        if sample_rate:
            _check_length("--sampling.seconds", seconds, round(seconds * sample_rate), max_sample_length)
    psi = sampling.get("truncation_psi")
    if psi is not None and not (isinstance(psi, int | float) and 0.0 <= psi <= 1.0):
        raise ConfigError(
            f"--sampling.truncation_psi must be in [0, 1] (1: full variety, 0: the average sample), got {psi}"
        )


def _check_length(option: str, value: Any, length: int, limit: int) -> None:
    if length < 1:
        raise ConfigError(f"{option} must make samples of at least 1 step, got {value}")
    if length > limit:
        raise ConfigError(
            f"{option} {value} makes samples of {length:,} steps, above the limit of {limit:,}; "
            "pass --max_sample_length to raise it"
        )


def prepare_output_dir(directory: Path, *, overwrite: bool, check_only: bool = False) -> None:
    """Makes sure the samples of this run are not mixed with another run's files in ``directory``.

    A folder that does not exist or holds no files but hidden ones is used as it is; subfolders do not count,
    since samples are written at its top (``samples/`` may hold ``samples/dcgan/`` of another run). Otherwise the
    run is refused unless ``overwrite``: then the previous run's files (those its ``manifest.json`` lists, files named
    like samples, ``grid.png`` and ``manifest.json``) are removed first, so the new manifest describes every
    sample in the folder. Other files are left where they are.

    Raises:
        ConfigError: naming the folder and a few of its files, when it is not empty and ``overwrite`` is off.
    """
    if not directory.is_dir():
        return
    present = sorted(p.name for p in directory.iterdir() if not p.name.startswith(".") and not p.is_dir())
    if not present:
        return
    if not overwrite:
        shown = ", ".join(present[:3]) + (f" and {len(present) - 3} more" if len(present) > 3 else "")
        raise ConfigError(
            f"--output_dir {directory} already holds {len(present)} file(s) ({shown}); choose an empty or new "
            "folder, or pass --overwrite to replace a previous run's samples"
        )
    if check_only:
        return
    for name in _previous_run_files(directory):
        path = directory / name
        if path.is_file() or path.is_symlink():
            path.unlink()


def _previous_run_files(directory: Path) -> list[str]:
    """Names a previous ``genfw predict`` wrote into ``directory``, read from its manifest."""
    names = ["manifest.json", "grid.png"]
    # samples of a run killed before it wrote its manifest
    names += [p.name for p in directory.iterdir() if _SAMPLE_NAME.fullmatch(p.name)]
    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return names
    listed = manifest.get("files") if isinstance(manifest, dict) else None
    if isinstance(listed, list):
        # only plain names inside the folder: a manifest must not make us delete anything elsewhere
        names += [n for n in listed if isinstance(n, str) and n == Path(n).name and not n.startswith(".")]
    return names

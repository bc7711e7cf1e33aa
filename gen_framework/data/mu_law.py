"""mu-law companding: waveforms in [-1, 1] to ``levels`` integer codes and back (ITU-T G.711 curve, WaveNet style).

Quiet samples get finer steps than loud ones: the round-trip error at amplitude ``|x|`` is at most about
``ln(1 + mu) * (1 + mu * |x|) / mu**2`` with ``mu = levels - 1`` (8.5e-5 near 0, 0.022 near 1 for 256 levels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from gen_framework.errors import DataError


def _check_levels(levels: int) -> int:
    if isinstance(levels, bool) or not isinstance(levels, int) or not 2 <= levels <= 65536:
        raise DataError(f"mu-law: `levels` must be an integer in [2, 65536], got {levels!r}")
    return levels


def mu_law_encode(x: torch.Tensor, levels: int = 256) -> torch.Tensor:
    """Compands and quantises a waveform.

    Args:
        x: float tensor of any shape, values in [-1, 1] (values outside are clamped).
        levels: number of codes, 2-65536.

    Returns:
        int64 tensor of ``x``'s shape, codes in ``[0, levels - 1]``; silence maps to ``levels // 2``.
    """
    mu = _check_levels(levels) - 1
    x = x.to(torch.float64).clamp(-1.0, 1.0)
    companded = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    return torch.floor((companded + 1.0) / 2.0 * mu + 0.5).to(torch.int64)


def mu_law_decode(codes: torch.Tensor, levels: int = 256) -> torch.Tensor:
    """Inverts :func:`mu_law_encode` up to the quantisation error.

    Args:
        codes: integer tensor of any shape, values in ``[0, levels - 1]`` (values outside are clamped).
        levels: number of codes, 2-65536.

    Returns:
        float32 tensor of ``codes``' shape in [-1, 1].
    """
    mu = _check_levels(levels) - 1
    companded = codes.to(torch.float64).clamp(0, mu) * (2.0 / mu) - 1.0
    x = torch.sign(companded) * torch.expm1(companded.abs() * math.log1p(mu)) / mu
    return x.to(torch.float32)


@dataclass(frozen=True)
class MuLawQuantizer:
    """The quantisation an audio data spec names, with :meth:`to_dict`/:meth:`from_dict` for the spec.

    Args:
        levels: number of codes, 2-65536.
    """

    levels: int = 256

    def __post_init__(self) -> None:
        _check_levels(self.levels)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """float waveform in [-1, 1] -> int64 codes in ``[0, levels - 1]``, same shape."""
        return mu_law_encode(x, self.levels)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """int codes in ``[0, levels - 1]`` -> float32 waveform in [-1, 1], same shape."""
        return mu_law_decode(codes, self.levels)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "mu_law", "levels": self.levels}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MuLawQuantizer:
        """Rebuilds from :meth:`to_dict` output; raises :class:`DataError` for another ``kind``."""
        if not isinstance(data, dict) or data.get("kind") != "mu_law":
            raise DataError(f"quantization must be {{'kind': 'mu_law', 'levels': int}}, got {data!r}")
        return cls(levels=data.get("levels", 256))

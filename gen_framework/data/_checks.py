"""Argument checks shared by the datamodules: each raises :class:`DataError` naming the argument and the range."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from gen_framework.errors import DataError


def check_int(owner: str, name: str, value: Any, *, minimum: int, maximum: int | None = None) -> int:
    """Returns ``value`` if it is an int in ``[minimum, maximum]``; raises :class:`DataError` otherwise."""
    # bool is an int subclass, but `batch_size=True` is always a mistake
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(f"{owner}: `{name}` must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum or (maximum is not None and value > maximum):
        allowed = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise DataError(f"{owner}: `{name}` must be {allowed}, got {value}")
    return value


def check_float(
    owner: str,
    name: str,
    value: Any,
    *,
    minimum: float,
    maximum: float,
    include_minimum: bool = True,
    include_maximum: bool = True,
) -> float:
    """Returns ``value`` as a float if it is a finite number in the given interval; raises :class:`DataError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DataError(f"{owner}: `{name}` must be a finite number, got {value!r}")
    low_ok = value >= minimum if include_minimum else value > minimum
    high_ok = value <= maximum if include_maximum else value < maximum
    if not (low_ok and high_ok):
        interval = f"{'[' if include_minimum else '('}{minimum}, {maximum}{']' if include_maximum else ')'}"
        raise DataError(f"{owner}: `{name}` must be in {interval}, got {value}")
    return float(value)


def check_choice(owner: str, name: str, value: Any, choices: Collection[Any]) -> Any:
    """Returns ``value`` if it is one of ``choices``; raises :class:`DataError` listing them otherwise."""
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise DataError(f"{owner}: `{name}` must be one of {listed}, got {value!r}")
    return value


def check_range_pair(
    owner: str, name: str, value: Any, *, allow_equal: bool = False, positive: bool = False
) -> tuple[float, float]:
    """Returns ``value`` as a finite ``(low, high)`` pair with ``low < high`` (or ``<=`` when ``allow_equal``).

    Raises:
        DataError: naming the argument when the pair is malformed, unordered or (with ``positive``) not above 0.
    """
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise DataError(f"{owner}: `{name}` must be a pair of numbers (low, high), got {value!r}") from None
    ordered = low <= high if allow_equal else low < high
    if not (math.isfinite(low) and math.isfinite(high)) or not ordered:
        relation = "low <= high" if allow_equal else "low < high"
        raise DataError(f"{owner}: `{name}` must be finite with {relation}, got {value!r}")
    if positive and low <= 0:
        raise DataError(f"{owner}: `{name}` must be positive, got {value!r}")
    return low, high

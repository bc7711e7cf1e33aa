"""Kept for existing imports: the digit judge lives in :mod:`gen_framework.metrics.digits`; import it from there."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from gen_framework.metrics import digits
from gen_framework.metrics.digits import CONFIDENT, DigitScores


class DigitJudge(digits.DigitJudge):
    """:class:`gen_framework.metrics.digits.DigitJudge` with its former arguments.

    ``train_batches`` and ``dataset_key`` are not used: the judge is always trained on the embedded MNIST digits'
    training split (what callers passed) at the reference's image size.
    """

    def __init__(self, train_batches: Any, reference: Tensor, floor_images: Tensor, dataset_key: str = "") -> None:
        super().__init__(reference, floor_images)


__all__ = ["CONFIDENT", "DigitJudge", "DigitScores"]

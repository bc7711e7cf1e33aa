"""Kept for existing imports: the digit judge lives in :mod:`gen_framework.metrics.digits`; import it from there.

``train_digit_classifier()`` is :func:`~gen_framework.metrics.digits.digit_classifier` at 28 pixels.
"""

from __future__ import annotations

from gen_framework.metrics.digits import (
    DigitClassifier,
    DigitScores,
    digit_feature_distance,
    digit_scores,
)
from gen_framework.metrics.digits import digit_classifier as train_digit_classifier

__all__ = ["DigitClassifier", "DigitScores", "digit_feature_distance", "digit_scores", "train_digit_classifier"]

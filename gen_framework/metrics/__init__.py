"""Evaluation built on torchmetrics: the right metrics for each family, offline, with their protocol recorded.

- :mod:`~gen_framework.metrics.functional`: the mathematics as pure functions (Fréchet distance, k-NN
  precision/recall, bits conversions, the ``xz`` baseline, log-mel features).
- :mod:`~gen_framework.metrics.image`, :mod:`~gen_framework.metrics.likelihood`,
  :mod:`~gen_framework.metrics.audio`: torchmetrics ``Metric`` classes, exact under DDP.
- :mod:`~gen_framework.metrics.features`, :mod:`~gen_framework.metrics.trained_features`: feature networks
  (InceptionV3 from local weights, or a network trained on the data and cached).
- :mod:`~gen_framework.metrics.digits`: the digit judge (one classifier trained on the embedded MNIST digits)
  that benchmarks, learning tests and plugins score generated digits with.
- :mod:`~gen_framework.metrics.evaluation`: which metrics a model gets; :mod:`~gen_framework.metrics.report`:
  ``metrics.json``.

Importing this package is cheap: each name loads its module on first access, so torch-fidelity (which
torchmetrics' FID/KID modules import when it is installed) loads only when an image metric is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "MelFrechetDistance": "audio",
    "DigitClassifier": "digits",
    "DigitJudge": "digits",
    "DigitScores": "digits",
    "digit_classifier": "digits",
    "digit_feature_distance": "digits",
    "digit_scores": "digits",
    "EvaluationData": "evaluation",
    "EvaluationSettings": "evaluation",
    "Shard": "evaluation",
    "evaluate": "evaluation",
    "ConvFeatureNet": "features",
    "FeatureNetwork": "features",
    "FeatureNetworkKind": "features",
    "FlattenFeatures": "features",
    "InceptionFeatures": "features",
    "choose_feature_network": "features",
    "bits_per_dim": "functional",
    "frechet_distance": "functional",
    "gaussian_statistics": "functional",
    "log_mel_spectrogram": "functional",
    "mel_filterbank": "functional",
    "nats_to_bits": "functional",
    "perplexity": "functional",
    "precision_recall": "functional",
    "xz_bits_per_char": "functional",
    "ClassCoverage": "image",
    "KernelDistance": "image",
    "PrecisionRecall": "image",
    "frechet_distance_metric": "image",
    "NegativeLogLikelihood": "likelihood",
    "MetricRecord": "report",
    "write_metrics_json": "report",
    "CACHE_ENV": "trained_features",
    "FeatureRecipe": "trained_features",
    "cache_dir": "trained_features",
    "trained_feature_network": "trained_features",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gen_framework.metrics' has no attribute {name!r}")
    return getattr(importlib.import_module(f"gen_framework.metrics.{module}"), name)

"""Scores generated MNIST digits with the framework's trained digit classifier: the check that sees collapse.

A pixel statistic cannot tell a diverse generator from one that draws the mean digit (a blurred "average"
digit sits close to the data in pooled-pixel space). The classifier's view can: a collapsed generator covers
few classes, and its Fréchet distance on the classifier's features stays far above the real-vs-real floor.

Used by the learning test, the collapse probe (``plugins/stylegan_lite/tools/collapse_probe.py``) and
``benchmarks/stylegan_lite.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from gen_framework.metrics.functional import class_coverage, frechet_distance, gaussian_statistics
from gen_framework.metrics.trained_features import collect_images, trained_feature_network

#: Softmax probability at or above which a sample counts as read confidently as its class.
CONFIDENT = 0.9


@dataclass
class DigitScores:
    """What the judge reports for a set of images.

    Attributes:
        fd: Fréchet distance on the classifier's features to the reference digits.
        fd_ratio: ``fd`` divided by the real-vs-real floor (1 is as good as held-out real digits).
        classes_confident: classes among the samples read with softmax >= :data:`CONFIDENT`.
        coverage: share of the 10 classes with at least half their real share among predictions.
        confident_fraction: share of samples read confidently.
    """

    fd: float
    fd_ratio: float
    classes_confident: int
    coverage: float
    confident_fraction: float

    def as_dict(self) -> dict[str, Any]:
        return {"fd_digits": round(self.fd, 2), "fd_ratio": round(self.fd_ratio, 2),
                "classes_confident": self.classes_confident, "coverage": round(self.coverage, 2),
                "confident_fraction": round(self.confident_fraction, 3)}


class DigitJudge:
    """Classifier features of reference digits, and a scorer for generated ones.

    Args:
        train_batches: the training digits as a dataset of ``(x, y)`` pairs, read in order so the classifier's
            cache key is stable (or any iterable of ``(x, y)`` batches); trains, or loads from the cache, the
            framework's digit classifier (see
            :func:`~gen_framework.metrics.trained_features.trained_feature_network`).
        reference: real digits ``(N, 1, S, S)`` in [-1, 1] that samples are compared with (validation digits).
        floor_images: other real digits ``(M, 1, S, S)`` (training digits) that give the real-vs-real floor.
        dataset_key: name of the data in the classifier's cache file.
    """

    def __init__(self, train_batches: Any, reference: Tensor, floor_images: Tensor, dataset_key: str) -> None:
        if hasattr(train_batches, "__getitem__"):
            train_batches = DataLoader(train_batches, batch_size=256, shuffle=False)
        images, labels = collect_images(train_batches, max_images=10_000)
        if labels is None:
            raise ValueError("DigitJudge needs labelled digits (the MNIST datamodule yields (x, y) batches)")
        network = trained_feature_network(images, labels, dataset_key=dataset_key)
        assert network.classifier is not None
        self.features, self.classifier = network.module.eval(), network.classifier.eval()
        with torch.no_grad():
            self.reference_stats = gaussian_statistics(self.features(reference).double())
            self.real_counts = torch.bincount(self.classifier(self.features(reference)).argmax(1), minlength=10)
        self.floor = 1.0
        self.floor = self(floor_images).fd

    @torch.no_grad()
    def __call__(self, images: Tensor) -> DigitScores:
        """Scores of images ``(N, 1, S, S)`` in [-1, 1] (N of a few hundred; FD is biased upward for small N)."""
        features = self.features(images.clamp(-1, 1))
        probs = self.classifier(features).softmax(1)
        confidence, predicted = probs.max(1)
        fd = float(frechet_distance(*gaussian_statistics(features.double()), *self.reference_stats))
        confident = confidence >= CONFIDENT
        counts = torch.bincount(predicted, minlength=self.real_counts.numel())
        return DigitScores(
            fd=fd, fd_ratio=fd / self.floor, classes_confident=int(predicted[confident].unique().numel()),
            coverage=float(class_coverage(counts, self.real_counts)),
            confident_fraction=float(confident.float().mean()),
        )
